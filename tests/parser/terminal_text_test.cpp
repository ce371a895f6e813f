// Control characters and invalid UTF-8 from rule files: escaped in messages and source lines,
// with the caret under the escaped text.
#include "parser/terminal_text.hpp"

#include <gtest/gtest.h>

#include "parse_helpers.hpp"

namespace sockgate::parser {
namespace {

using testing::parse;

struct EscapeCase {
  std::string text;
  std::string expected;
};

TEST(EscapeControlCharacters, Table) {
  const std::vector<EscapeCase> cases = {
      {"plain text", "plain text"},
      {"tab\tkept", "tab\tkept"},
      {std::string("nul\0byte", 8), "nul\\x00byte"},
      {"\x1b]0;title\x07", "\\x1b]0;title\\x07"},
      {"cr\rlf\n", "cr\\x0dlf\\x0a"},
      {"del\x7f", "del\\x7f"},
      // Valid UTF-8 stays: é, €, and an emoji of four bytes.
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
      // C1 controls: U+009B (CSI) and U+0085 (next line).
      {"\xc2\x9b"
       "2J \xc2\x85",
       "\\xc2\\x9b2J \\xc2\\x85"},
      // U+202E (right-to-left override), U+2066 (left-to-right isolate), U+2028.
      {"a\xe2\x80\xae"
       "b\xe2\x81\xa6"
       "c\xe2\x80\xa8",
       "a\\xe2\\x80\\xaeb\\xe2\\x81\\xa6c\\xe2\\x80\\xa8"},
      // Invalid: a lone continuation byte, 0xff, a cut sequence, an overlong '/', a surrogate.
      {"\x80", "\\x80"},
      {"x\xffy", "x\\xffy"},
      {"\xe2\x82", "\\xe2\\x82"},
      {"\xc0\xaf", "\\xc0\\xaf"},
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},
      {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(escape_control_characters(text), expected) << "input of " << text.size() << " bytes";
  }
}

TEST(EscapedDiagnostic, TerminalSequencesInRuleName) {
  const auto parsed = parse("rule \x1b]0;title\x07\x1b[2J: deny connect\n");
  EXPECT_EQ(format_diagnostics(parsed.diagnostics, parsed.program.sources),
            "test.rules:1:6: error: expected a rule name after 'rule', found "
            "'\\x1b]0;title\\x07\\x1b[2J:'\n"
            "rule \\x1b]0;title\\x07\\x1b[2J: deny connect\n"
            "     ^\n");
}

TEST(EscapedDiagnostic, CaretMovesPastEscapedBytes) {
  // The error is at byte 35, and the caret is 3 columns further right: the escaped ESC before
  // it takes 4 columns instead of 1.
  const auto parsed = parse("deny connect if label app=\"\x1b[31m\" prot 80\n");
  EXPECT_EQ(format_diagnostics(parsed.diagnostics, parsed.program.sources),
            "test.rules:1:35: error: expected 'to', 'on', 'port', 'if', 'publish', 'errno' or "
            "the end of the rule, found 'prot'\n"
            "deny connect if label app=\"\\x1b[31m\" prot 80\n"
            "                                     ^\n");
}

TEST(EscapedDiagnostic, CaretCountsCharactersNotBytes) {
  // The error is at byte 33: "é" is 2 bytes and 1 column, and 0xff is 1 byte and 4 columns.
  const auto parsed = parse("deny connect if label app=\"\xc3\xa9\xff\" prot 80\n");
  EXPECT_EQ(format_diagnostics(parsed.diagnostics, parsed.program.sources),
            "test.rules:1:33: error: expected 'to', 'on', 'port', 'if', 'publish', 'errno' or "
            "the end of the rule, found 'prot'\n"
            "deny connect if label app=\"\xc3\xa9\\xff\" prot 80\n"
            "                                  ^\n");
}

TEST(EscapedDiagnostic, FoundTokenKeepsWholeCharacters) {
  // The quoted token stops after 24 bytes, which falls inside the two bytes of "é".
  const auto parsed = parse("deny connect aaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9z\n");
  EXPECT_EQ(format_diagnostics(parsed.diagnostics, parsed.program.sources),
            "test.rules:1:14: error: expected 'to', 'on', 'port', 'if', 'publish', 'errno' or "
            "the end of the rule, found 'aaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9'\n"
            "deny connect aaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9z\n"
            "             ^\n");
}

TEST(EscapedDiagnostic, FileNameAndMessage) {
  Sources sources;
  const auto file = sources.add(SourceFile{"evil\x1b[2J.rules", "deny\n", std::nullopt});
  Diagnostics diagnostics;
  diagnostics.warning(Location{file, 1, 1}, "value 'a\x07' is odd");
  EXPECT_EQ(format_diagnostics(diagnostics, sources),
            "evil\\x1b[2J.rules:1:1: warning: value 'a\\x07' is odd\n"
            "deny\n"
            "^\n");
}

}  // namespace
}  // namespace sockgate::parser
