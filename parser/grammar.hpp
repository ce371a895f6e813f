// The PEGTL grammar of the rule language. docs/rules.md describes the same language for users;
// change both together.
//
// The language is line-based: every statement ends at the end of its line, except that a set's
// braces may span lines. The loader (parser.cpp) matches one `statement_line` at a time, so a
// syntax error costs only its statement: the loader reports it and resumes on the next line.
#pragma once

#include <tao/pegtl.hpp>

namespace sockgate::parser::grammar {

using namespace tao::pegtl;  // NOLINT(google-build-using-namespace): grammar vocabulary

// Spaces and tabs; line breaks end statements.
struct blank : one<' ', '\t'> {};
// A comment runs from '#' to the end of the line.
struct comment : seq<one<'#'>, star<not_one<'\r', '\n'>>> {};
// Whitespace and comments between tokens of one line: the one ignored rule.
struct ignored : star<sor<blank, comment>> {};
// Between a set's braces line breaks are ignored as well.
struct ignored_multiline : star<sor<blank, comment, eol>> {};

// Letters, digits and `_ - .` may continue a name; a keyword must not be followed by one.
struct name_other : sor<alnum, one<'_', '-', '.'>> {};
struct name : seq<sor<alpha, one<'_'>>, star<name_other>> {};
template <typename Word>
struct key : seq<Word, not_at<name_other>> {};

struct kw_rule : key<TAO_PEGTL_STRING("rule")> {};
struct kw_set : key<TAO_PEGTL_STRING("set")> {};
struct kw_default : key<TAO_PEGTL_STRING("default")> {};
struct kw_scope : key<TAO_PEGTL_STRING("scope")> {};
struct kw_include : key<TAO_PEGTL_STRING("include")> {};
struct kw_if : key<TAO_PEGTL_STRING("if")> {};
struct kw_and : key<TAO_PEGTL_STRING("and")> {};
struct kw_label : key<TAO_PEGTL_STRING("label")> {};
struct kw_to : key<TAO_PEGTL_STRING("to")> {};
struct kw_on : key<TAO_PEGTL_STRING("on")> {};
struct kw_port : key<TAO_PEGTL_STRING("port")> {};
struct kw_publish : key<TAO_PEGTL_STRING("publish")> {};
struct kw_errno : key<TAO_PEGTL_STRING("errno")> {};
struct kw_any : key<TAO_PEGTL_STRING("any")> {};

// The action of a rule or of the default.
struct action_bypass : key<TAO_PEGTL_STRING("bypass")> {};
struct action_pass : key<TAO_PEGTL_STRING("pass")> {};
struct action_deny : key<TAO_PEGTL_STRING("deny")> {};
struct action : sor<action_bypass, action_pass, action_deny> {};

// The operations a rule applies to; both when none is written.
struct operation_connect : key<TAO_PEGTL_STRING("connect")> {};
struct operation_bind : key<TAO_PEGTL_STRING("bind")> {};
struct operation : sor<operation_connect, operation_bind> {};
struct operations : seq<operation, star<ignored, one<','>, ignored, must<operation>>> {};

// The protocols a rule applies to, such as `tcp` or `tcp,udp`; both when none is written.
struct protocol_tcp : key<TAO_PEGTL_STRING("tcp")> {};
struct protocol_udp : key<TAO_PEGTL_STRING("udp")> {};
struct protocol : sor<protocol_tcp, protocol_udp> {};
struct protocols : seq<protocol, star<ignored, one<','>, ignored, must<protocol>>> {};

// An address or network: IPv4 or IPv6 text, then an optional prefix length. The text is checked
// after parsing, so `10.0.0.300` is one invalid address rather than a syntax error.
struct address_text : seq<sor<xdigit, one<':'>>, star<sor<alnum, one<':', '.'>>>> {};
struct prefix_length : plus<digit> {};
struct address_literal : seq<address_text, opt<one<'/'>, must<prefix_length>>> {};

// `@NAME` refers to a set.
struct set_name_reference : name {};
struct set_reference : seq<one<'@'>, must<set_name_reference>> {};

// One element of a `to` or `on` list, maybe negated with `!`.
struct any_address : kw_any {};
struct plain_address_item : sor<any_address, set_reference, address_literal> {};
struct negation : one<'!'> {};
struct address_item : sor<seq<negation, ignored, must<plain_address_item>>, plain_address_item> {};
struct address_list
    : seq<must<address_item>, star<ignored, one<','>, ignored, must<address_item>>> {};
struct to_clause : seq<kw_to, ignored, address_list> {};
struct on_clause : seq<kw_on, ignored, address_list> {};

// `port 80,443,8000-8999`.
struct port_low : plus<digit> {};
struct port_high : plus<digit> {};
struct port_range : seq<port_low, opt<one<'-'>, must<port_high>>> {};
struct port_list : seq<must<port_range>, star<ignored, one<','>, ignored, must<port_range>>> {};
struct port_clause : seq<kw_port, ignored, port_list> {};

// `label KEY`, `label KEY=VALUE` or `label KEY!=VALUE`; a value may be quoted.
struct label_key : plus<sor<alnum, one<'_', '-', '.', '/'>>> {};
struct equals_sign : one<'='> {};
struct not_equals_sign : string<'!', '='> {};
struct comparison : sor<not_equals_sign, equals_sign> {};
struct closing_quote : one<'"'> {};
struct quoted_value : seq<one<'"'>, star<not_one<'"', '\r', '\n'>>, must<closing_quote>> {};
struct bare_value : plus<sor<alnum, one<'_', '-', '.', '/', ':', '@', '+'>>> {};
struct label_value : sor<quoted_value, bare_value> {};
struct condition : seq<kw_label, ignored, must<label_key>,
                       opt<ignored, comparison, ignored, must<label_value>>> {};
struct condition_list : seq<must<condition>, star<ignored, kw_and, ignored, must<condition>>> {};
struct if_clause : seq<kw_if, ignored, condition_list> {};

// `publish PORT`, `publish IPV4:PORT` or `publish [IPV6]:PORT`.
struct publish_port : plus<digit> {};
struct publish_address_v4 : plus<sor<digit, one<'.'>>> {};
struct publish_address_v6 : plus<sor<xdigit, one<':', '.'>>> {};
struct closing_bracket : one<']'> {};
struct port_separator : one<':'> {};
struct publish_v6 : seq<one<'['>, must<publish_address_v6>, must<closing_bracket>,
                        must<port_separator>, must<publish_port>> {};
struct publish_v4
    : seq<at<plus<digit>, one<'.'>>, publish_address_v4, must<port_separator>, must<publish_port>> {
};
struct publish_target : sor<publish_v6, publish_v4, publish_port> {};
struct publish_clause : seq<kw_publish, ignored, must<publish_target>> {};

// `errno NAME`.
struct errno_name : plus<sor<alnum, one<'_'>>> {};
struct errno_clause : seq<kw_errno, ignored, must<errno_name>> {};

// Each statement ends at the end of its line; the end rules differ only in their messages.
struct rule_end : eolf {};
struct set_end : eolf {};
struct default_end : eolf {};
struct scope_end : eolf {};
struct include_end : eolf {};

// A rule: `[rule NAME:] ACTION [OPERATIONS] [PROTOCOLS] CLAUSE...`, clauses in any order.
struct rule_name : name {};
struct rule_colon : one<':'> {};
struct rule_head : seq<kw_rule, ignored, must<rule_name>, ignored, must<rule_colon>> {};
struct clause : sor<to_clause, on_clause, port_clause, if_clause, publish_clause, errno_clause> {};
struct rule_tail : seq<opt<ignored, operations>, opt<ignored, protocols>, star<ignored, clause>,
                       ignored, must<rule_end>> {};
struct rule_statement
    : sor<seq<rule_head, ignored, must<action>, rule_tail>, seq<action, rule_tail>> {};

// `set NAME = { ITEM, ... }`: addresses, networks and `@NAME`, a trailing comma allowed.
struct set_name : name {};
struct set_open : one<'{'> {};
struct set_close : one<'}'> {};
struct set_item : sor<set_reference, address_literal> {};
struct set_item_or_close : sor<set_item, at<set_close>> {};
struct set_items
    : seq<set_item, star<ignored_multiline, one<','>, ignored_multiline, must<set_item_or_close>>> {
};
struct set_statement : seq<kw_set, ignored, must<set_name>, ignored, must<equals_sign>, ignored,
                           must<set_open>, ignored_multiline, opt<set_items>, ignored_multiline,
                           must<set_close>, ignored, must<set_end>> {};

// `default ACTION [errno NAME]`.
struct default_statement : seq<kw_default, ignored, must<action>, opt<ignored, errno_clause>,
                               ignored, must<default_end>> {};

// `scope if CONDITION and ...`.
struct scope_statement
    : seq<kw_scope, ignored, must<kw_if>, ignored, condition_list, ignored, must<scope_end>> {};

// `include "PATH"`.
struct include_path : seq<one<'"'>, star<not_one<'"', '\r', '\n'>>, must<closing_quote>> {};
struct include_statement
    : seq<kw_include, ignored, must<include_path>, ignored, must<include_end>> {};

struct statement
    : sor<set_statement, default_statement, scope_statement, include_statement, rule_statement> {};

// One line: empty, a comment, or a statement (a set may continue over several lines). Every
// alternative consumes input, so a file is a plain repetition of lines.
struct statement_line
    : sor<seq<ignored, eol>, seq<plus<sor<blank, comment>>, eof>, seq<ignored, must<statement>>> {};
struct file : seq<star<statement_line>, eof> {};

// Skips the rest of a line after a syntax error, and the rest of a set when the line opens one,
// so that an error inside a set does not turn each following line of it into another error.
struct skipped_braces : seq<one<'{'>, until<one<'}'>, sor<comment, any>>> {};
struct recovery : seq<star<sor<comment, skipped_braces, not_one<'\r', '\n'>>>, opt<eol>> {};

// Messages for the rules that must match, shown as `FILE:LINE:COL: error: MESSAGE`.
template <typename Rule>
inline constexpr const char* error_message = nullptr;

// clang-format off
template <> inline constexpr auto error_message<statement> =
    "expected a statement: 'rule', 'set', 'default', 'scope', 'include' or an action ('bypass', "
    "'pass', 'deny')";
template <> inline constexpr auto error_message<rule_name> = "expected a rule name after 'rule'";
template <> inline constexpr auto error_message<rule_colon> = "expected ':' after the rule name";
template <> inline constexpr auto error_message<action> =
    "expected an action: 'bypass', 'pass' or 'deny'";
template <> inline constexpr auto error_message<operation> =
    "expected 'connect' or 'bind' after ','";
template <> inline constexpr auto error_message<protocol> = "expected 'tcp' or 'udp' after ','";
template <> inline constexpr auto error_message<rule_end> =
    "expected 'to', 'on', 'port', 'if', 'publish', 'errno' or the end of the rule";
template <> inline constexpr auto error_message<address_item> =
    "expected an address, a network, '@NAME' or 'any'";
template <> inline constexpr auto error_message<plain_address_item> =
    "expected an address, a network, '@NAME' or 'any' after '!'";
template <> inline constexpr auto error_message<prefix_length> =
    "expected a prefix length after '/'";
template <> inline constexpr auto error_message<set_name_reference> =
    "expected a set name after '@'";
template <> inline constexpr auto error_message<port_range> =
    "expected a port number or a range LOW-HIGH";
template <> inline constexpr auto error_message<port_high> =
    "expected the upper port of the range after '-'";
template <> inline constexpr auto error_message<condition> =
    "expected 'label KEY', 'label KEY=VALUE' or 'label KEY!=VALUE'";
template <> inline constexpr auto error_message<label_key> = "expected a label key after 'label'";
template <> inline constexpr auto error_message<label_value> =
    "expected a label value; quote a value that is empty or contains spaces";
template <> inline constexpr auto error_message<closing_quote> = "expected '\"' to close the text";
template <> inline constexpr auto error_message<publish_target> =
    "expected PORT, IPV4:PORT or [IPV6]:PORT after 'publish'";
template <> inline constexpr auto error_message<publish_address_v6> =
    "expected an IPv6 address after '['";
template <> inline constexpr auto error_message<closing_bracket> =
    "expected ']' after the IPv6 address";
template <> inline constexpr auto error_message<port_separator> =
    "expected ':' and the host port after the publish address";
template <> inline constexpr auto error_message<publish_port> =
    "expected the host port number";
template <> inline constexpr auto error_message<errno_name> =
    "expected an errno name such as ECONNREFUSED after 'errno'";
template <> inline constexpr auto error_message<set_name> = "expected a set name after 'set'";
template <> inline constexpr auto error_message<equals_sign> = "expected '=' after the set name";
template <> inline constexpr auto error_message<set_open> = "expected '{' to open the set";
template <> inline constexpr auto error_message<set_item_or_close> =
    "expected an address, a network or '@NAME' in the set";
template <> inline constexpr auto error_message<set_close> = "expected ',' or '}' in the set";
template <> inline constexpr auto error_message<set_end> = "expected the end of the line after '}'";
template <> inline constexpr auto error_message<default_end> =
    "expected 'errno' or the end of the line after the default action";
template <> inline constexpr auto error_message<kw_if> = "expected 'if' after 'scope'";
template <> inline constexpr auto error_message<scope_end> =
    "expected 'and' or the end of the line after the scope condition";
template <> inline constexpr auto error_message<include_path> =
    "expected a quoted path after 'include'";
template <> inline constexpr auto error_message<include_end> =
    "expected the end of the line after the include path";
// clang-format on

// Raises a parse error with the rule's message when a `must<Rule>` fails. Unlike must_if, a rule
// that fails while it is only being tried (an alternative, an optional clause) raises nothing.
template <typename Rule>
struct control : normal<Rule> {
  template <typename Input, typename... States>
  [[noreturn]] static void raise(const Input& in, States&&... /*states*/) {
    static_assert(error_message<Rule> != nullptr, "every rule under must<> needs a message");
    throw parse_error(error_message<Rule>, in);
  }
};

}  // namespace sockgate::parser::grammar
