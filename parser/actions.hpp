// PEGTL actions that build the syntax tree while the grammar matches. Internal to parser.cpp.
//
// Actions run when their rule has matched. The loader matches one statement at a time and resets
// the scratch fields of ParseState before each, so a statement that fails half-way leaves nothing
// behind in the tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "parser/address.hpp"
#include "parser/ast.hpp"
#include "parser/diagnostics.hpp"
#include "parser/grammar.hpp"

namespace sockgate::parser::detail {

struct ParseState {
  std::uint32_t file = 0;
  ast::Unit* unit = nullptr;
  Diagnostics* diagnostics = nullptr;

  // Scratch for the statement being matched.
  ast::Rule rule;
  ast::Set set;
  ast::Action action = ast::Action::pass;
  ast::AddressItem item;
  std::vector<ast::AddressItem> items;
  ast::PortRange range;
  std::vector<ast::PortRange> ports;
  ast::LabelCondition condition;
  std::vector<ast::LabelCondition> conditions;
  ast::PublishClause publish;
  std::optional<ast::ErrnoClause> error;
  std::string include_path;
  Location include_path_location;

  void reset_statement() {
    rule = {};
    set = {};
    item = {};
    items.clear();
    range = {};
    ports.clear();
    condition = {};
    conditions.clear();
    publish = {};
    error.reset();
    include_path.clear();
  }

  template <typename Input>
  Location location(const Input& in) const {
    const auto& position = in.iterator();
    return Location{file, static_cast<std::uint32_t>(position.line),
                    static_cast<std::uint32_t>(position.column)};
  }

  void report_duplicate(const Location& location, const char* clause) {
    diagnostics->error(location, std::string("duplicate '") + clause +
                                     "' clause; write one clause with all the values");
  }
};

// The statement text on one line, without a trailing comment or blanks.
std::string statement_text(std::string_view matched);
// Fills an address literal from `text` (ADDRESS or ADDRESS/PREFIX) starting at `location`.
ast::AddressLiteral make_address_literal(std::string_view text, const Location& location);

template <typename Rule>
struct action : tao::pegtl::nothing<Rule> {};

template <>
struct action<grammar::rule_name> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.rule.name = in.string();
    state.rule.name_location = state.location(in);
  }
};

template <ast::Action Value>
struct set_action {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.action = Value;
    state.rule.action_location = state.location(in);
  }
};
template <>
struct action<grammar::action_bypass> : set_action<ast::Action::bypass> {};
template <>
struct action<grammar::action_pass> : set_action<ast::Action::pass> {};
template <>
struct action<grammar::action_deny> : set_action<ast::Action::deny> {};

template <ast::Operation Value>
struct add_operation {
  template <typename Input>
  static void apply(const Input& /*in*/, ParseState& state) {
    state.rule.operations.push_back(Value);
  }
};
template <>
struct action<grammar::operation_connect> : add_operation<ast::Operation::connect> {};
template <>
struct action<grammar::operation_bind> : add_operation<ast::Operation::bind> {};
template <>
struct action<grammar::operations> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.rule.operations_location = state.location(in);
  }
};

template <ast::Protocol Value>
struct add_protocol {
  template <typename Input>
  static void apply(const Input& /*in*/, ParseState& state) {
    state.rule.protocols.push_back(Value);
  }
};
template <>
struct action<grammar::protocol_tcp> : add_protocol<ast::Protocol::tcp> {};
template <>
struct action<grammar::protocol_udp> : add_protocol<ast::Protocol::udp> {};

template <>
struct action<grammar::address_literal> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.item.kind = ast::AddressItem::Kind::literal;
    state.item.literal = make_address_literal(in.string_view(), state.location(in));
  }
};

template <>
struct action<grammar::negation> {
  template <typename Input>
  static void apply(const Input& /*in*/, ParseState& state) {
    state.item.negated = true;
  }
};

template <>
struct action<grammar::any_address> {
  template <typename Input>
  static void apply(const Input& /*in*/, ParseState& state) {
    state.item.kind = ast::AddressItem::Kind::any;
  }
};

template <>
struct action<grammar::set_name_reference> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.item.kind = ast::AddressItem::Kind::set_reference;
    state.item.set_name = in.string();
  }
};

struct push_item {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.item.location = state.location(in);
    state.items.push_back(std::move(state.item));
    state.item = {};
  }
};
template <>
struct action<grammar::address_item> : push_item {};
template <>
struct action<grammar::set_item> : push_item {};

template <ast::Operation Applies, const char* Keyword>
struct address_clause {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    if (state.rule.addresses) {
      state.report_duplicate(state.location(in), Keyword);
    }
    state.rule.addresses = ast::AddressClause{state.location(in), Applies, std::move(state.items)};
    state.items.clear();
  }
};
inline constexpr char kTo[] = "to";
inline constexpr char kOn[] = "on";
template <>
struct action<grammar::to_clause> : address_clause<ast::Operation::connect, kTo> {};
template <>
struct action<grammar::on_clause> : address_clause<ast::Operation::bind, kOn> {};

// Values above 65535 are kept (as UINT32_MAX when they overflow) for the meaning check.
inline std::uint32_t port_value(std::string_view digits) {
  return parse_decimal(digits, UINT32_MAX).value_or(UINT32_MAX);
}

template <>
struct action<grammar::port_low> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.range.low = port_value(in.string_view());
    state.range.high = state.range.low;
  }
};
template <>
struct action<grammar::port_high> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.range.high = port_value(in.string_view());
  }
};
template <>
struct action<grammar::port_range> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.range.location = state.location(in);
    state.ports.push_back(state.range);
    state.range = {};
  }
};
template <>
struct action<grammar::port_clause> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    if (state.rule.ports) {
      state.report_duplicate(state.location(in), "port");
    }
    state.rule.ports = std::move(state.ports);
    state.rule.ports_location = state.location(in);
    state.ports.clear();
  }
};

template <>
struct action<grammar::label_key> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.condition.key = in.string();
  }
};
template <>
struct action<grammar::equals_sign> {
  template <typename Input>
  static void apply(const Input& /*in*/, ParseState& state) {
    state.condition.kind = ast::LabelCondition::Kind::equals;
  }
};
template <>
struct action<grammar::not_equals_sign> {
  template <typename Input>
  static void apply(const Input& /*in*/, ParseState& state) {
    state.condition.kind = ast::LabelCondition::Kind::not_equals;
  }
};
template <>
struct action<grammar::bare_value> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.condition.value = in.string();
  }
};
template <>
struct action<grammar::quoted_value> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    const std::string_view text = in.string_view();
    state.condition.value = std::string(text.substr(1, text.size() - 2));
  }
};
template <>
struct action<grammar::condition> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.condition.location = state.location(in);
    state.conditions.push_back(std::move(state.condition));
    state.condition = {};
  }
};
template <>
struct action<grammar::if_clause> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    if (!state.rule.conditions.empty()) {
      state.report_duplicate(state.location(in), "if");
    }
    state.rule.conditions = std::move(state.conditions);
    state.conditions.clear();
  }
};

struct set_publish_address {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.publish.address = make_address_literal(in.string_view(), state.location(in));
  }
};
template <>
struct action<grammar::publish_address_v4> : set_publish_address {};
template <>
struct action<grammar::publish_address_v6> : set_publish_address {};
template <>
struct action<grammar::publish_port> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.publish.port = port_value(in.string_view());
    state.publish.port_location = state.location(in);
  }
};
template <>
struct action<grammar::publish_clause> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    if (state.rule.publish) {
      state.report_duplicate(state.location(in), "publish");
    }
    state.publish.location = state.location(in);
    state.rule.publish = std::move(state.publish);
    state.publish = {};
  }
};

template <>
struct action<grammar::errno_name> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    if (state.error) {
      state.report_duplicate(state.location(in), "errno");
    }
    state.error = ast::ErrnoClause{state.location(in), in.string(), state.location(in)};
  }
};
template <>
struct action<grammar::errno_clause> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.error->location = state.location(in);
  }
};

template <>
struct action<grammar::rule_statement> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.rule.location = state.location(in);
    state.rule.action = state.action;
    state.rule.error = std::move(state.error);
    state.rule.text = statement_text(in.string_view());
    state.unit->statements.emplace_back(std::move(state.rule));
  }
};

template <>
struct action<grammar::set_name> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.set.name = in.string();
    state.set.name_location = state.location(in);
  }
};
template <>
struct action<grammar::set_statement> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    state.set.location = state.location(in);
    state.set.items = std::move(state.items);
    state.unit->statements.emplace_back(std::move(state.set));
  }
};

template <>
struct action<grammar::default_statement> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    ast::Default statement{state.location(in), state.action, std::move(state.error)};
    state.unit->statements.emplace_back(std::move(statement));
  }
};

template <>
struct action<grammar::scope_statement> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    ast::Scope statement{state.location(in), std::move(state.conditions)};
    state.unit->statements.emplace_back(std::move(statement));
  }
};

template <>
struct action<grammar::include_path> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    const std::string_view text = in.string_view();
    state.include_path = std::string(text.substr(1, text.size() - 2));
    state.include_path_location = state.location(in);
  }
};
template <>
struct action<grammar::include_statement> {
  template <typename Input>
  static void apply(const Input& in, ParseState& state) {
    ast::Include statement{state.location(in), std::move(state.include_path),
                           state.include_path_location, std::nullopt};
    state.unit->statements.emplace_back(std::move(statement));
  }
};

}  // namespace sockgate::parser::detail
