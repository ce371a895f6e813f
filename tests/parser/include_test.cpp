// Include statements: loading, the include chain in messages, cycles and missing files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "parse_helpers.hpp"

namespace sockgate::parser {
namespace {

namespace fs = std::filesystem;

class Include : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = fs::temp_directory_path() /
                 ("sockgate-include-" + std::to_string(::getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(directory_ / "sub");
  }
  void TearDown() override { fs::remove_all(directory_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path path = directory_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  struct Loaded {
    ast::Program program;
    Diagnostics diagnostics;
  };

  Loaded load(const std::string& path) {
    Loaded loaded;
    parse_file(loaded.program, loaded.diagnostics, path);
    check_program(loaded.program, loaded.diagnostics);
    return loaded;
  }

  fs::path directory_;
};

TEST_F(Include, LoadsRelativeToTheIncludingFile) {
  write("sub/inner.rules", "rule inner: deny connect to @lan\n");
  write("sub/lan.rules", "set lan = { 10.0.0.0/8 }\ninclude \"inner.rules\"\n");
  const auto main = write("main.rules",
                          "rule first: pass\ninclude \"sub/lan.rules\"\nrule last: "
                          "pass\n");
  const Loaded loaded = load(main);
  EXPECT_EQ(format_diagnostics(loaded.diagnostics, loaded.program.sources), "");

  const PolicyOutline outline = outline_program(loaded.program);
  ASSERT_EQ(outline.entries.size(), 3U);
  EXPECT_EQ(entry_name(loaded.program, outline.entries[0]), "first");
  EXPECT_EQ(entry_name(loaded.program, outline.entries[1]), "inner");
  EXPECT_EQ(entry_name(loaded.program, outline.entries[2]), "last");
  EXPECT_EQ(loaded.program.roots.size(), 1U);
  EXPECT_EQ(loaded.program.units.size(), 3U);
}

TEST_F(Include, ErrorShowsTheIncludeChain) {
  write("sub/inner.rules", "\n\nrule bad deny\n");
  write("sub/middle.rules", "include \"inner.rules\"\n");
  const auto main = write("main.rules", "# top\ninclude \"sub/middle.rules\"\n");
  const Loaded loaded = load(main);
  const std::string sub = (directory_ / "sub").string();
  EXPECT_EQ(format_diagnostics(loaded.diagnostics, loaded.program.sources),
            "in file included from " + sub +
                "/middle.rules:1\n"
                "in file included from " +
                main + ":2\n" + sub +
                "/inner.rules:3:10: error: expected ':' after the rule name, found 'deny'\n"
                "rule bad deny\n"
                "         ^\n");
}

TEST_F(Include, MissingFileNamesThePath) {
  const auto main = write("main.rules", "include \"nope.rules\"\n");
  const Loaded loaded = load(main);
  EXPECT_EQ(format_diagnostics(loaded.diagnostics, loaded.program.sources),
            main + ":1:9: error: cannot read included file '" +
                (directory_ / "nope.rules").string() +
                "': No such file or directory\n"
                "include \"nope.rules\"\n"
                "        ^\n");
}

TEST_F(Include, CycleIsAnError) {
  write("a.rules", "rule a: pass\ninclude \"b.rules\"\n");
  write("b.rules", "include \"sub/../a.rules\"\n");
  const Loaded loaded = load((directory_ / "a.rules").string());
  ASSERT_EQ(loaded.diagnostics.all().size(), 1U);
  const auto& diagnostic = loaded.diagnostics.all()[0];
  EXPECT_EQ(diagnostic.message, "include cycle: '" + (directory_ / "sub/../a.rules").string() +
                                    "' is already being loaded by an enclosing include");
  EXPECT_EQ(loaded.program.sources.describe(diagnostic.location),
            (directory_ / "b.rules").string() + ":1:9");
}

TEST_F(Include, SelfIncludeIsACycle) {
  const auto main = write("self.rules", "include \"self.rules\"\n");
  const Loaded loaded = load(main);
  ASSERT_EQ(loaded.diagnostics.error_count(), 1U);
  EXPECT_EQ(loaded.diagnostics.all()[0].message,
            "include cycle: '" + main + "' is already being loaded by an enclosing include");
}

TEST_F(Include, DirectoryAndEmptyPath) {
  const auto main = write("main.rules", "include \"sub\"\ninclude \"\"\n");
  const Loaded loaded = load(main);
  ASSERT_EQ(loaded.diagnostics.error_count(), 2U);
  EXPECT_EQ(loaded.diagnostics.all()[0].message,
            "cannot read included file '" + (directory_ / "sub").string() + "': it is a directory");
  EXPECT_EQ(loaded.diagnostics.all()[1].message, "the include path is empty");
}

TEST_F(Include, DeviceIsNotRead) {
  const auto main = write("main.rules", "include \"/dev/zero\"\n");
  const Loaded loaded = load(main);
  ASSERT_EQ(loaded.diagnostics.error_count(), 1U);
  EXPECT_EQ(loaded.diagnostics.all()[0].message,
            "cannot read included file '/dev/zero': it is not a regular file");
}

TEST_F(Include, LargeFileIsReadWhole) {
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    text += "rule r" + std::to_string(i) + ": deny connect port " + std::to_string(i % 65535 + 1) +
            "\n";
  }
  const auto main = write("large.rules", text);
  const Loaded loaded = load(main);
  EXPECT_EQ(loaded.diagnostics.error_count(), 0U);
  EXPECT_EQ(loaded.program.units.at(0).statements.size(), 20000U);
  EXPECT_EQ(loaded.program.sources.file(0).text.size(), text.size());
}

TEST_F(Include, MissingTopLevelFile) {
  const Loaded loaded = load((directory_ / "absent.rules").string());
  EXPECT_EQ(format_diagnostics(loaded.diagnostics, loaded.program.sources),
            (directory_ / "absent.rules").string() +
                ": error: cannot read rule file: No such file or directory\n");
}

TEST_F(Include, ScopesOfIncludingFilesApplyToIncludedRules) {
  write("inner.rules", "scope if label tier=db\nrule inner: pass\ndefault deny\n");
  const auto main = write("main.rules",
                          "scope if label project=shop\ninclude \"inner.rules\"\n"
                          "rule outer: pass\n");
  const Loaded loaded = load(main);
  EXPECT_EQ(format_diagnostics(loaded.diagnostics, loaded.program.sources), "");
  const PolicyOutline outline = outline_program(loaded.program);
  ASSERT_EQ(outline.entries.size(), 3U);
  EXPECT_EQ(entry_name(loaded.program, outline.entries[0]), "inner");
  EXPECT_EQ(outline.entries[0].scopes.size(), 2U);
  // The scoped file's default ends that file, before the rest of the including file.
  EXPECT_NE(outline.entries[1].scoped_default, nullptr);
  EXPECT_EQ(entry_name(loaded.program, outline.entries[1]), "inner.rules:3");
  EXPECT_EQ(entry_name(loaded.program, outline.entries[2]), "outer");
  EXPECT_EQ(outline.entries[2].scopes.size(), 1U);
  EXPECT_EQ(outline.default_statement, nullptr);
}

TEST_F(Include, DefaultsOfTwoUnscopedFilesConflict) {
  write("a.rules", "default deny\n");
  const auto main = write("main.rules", "default pass\ninclude \"a.rules\"\n");
  const Loaded loaded = load(main);
  ASSERT_EQ(loaded.diagnostics.error_count(), 1U);
  EXPECT_EQ(loaded.diagnostics.all()[0].message,
            "duplicate default; the policy's default is already set at " + main + ":1");
}

}  // namespace
}  // namespace sockgate::parser
