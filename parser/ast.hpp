// The syntax tree of a rule file. Every node carries the Location of its first character.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "parser/source.hpp"

namespace sockgate::parser::ast {

enum class Action : std::uint8_t { pass, bypass, deny };
enum class Operation : std::uint8_t { connect, bind };
enum class Protocol : std::uint8_t { tcp, udp };

// An IPv4 or IPv6 address with an optional prefix length, as written.
struct AddressLiteral {
  Location location;
  std::string text;
  // Network byte order; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d). Absent when `text` is not
  // a valid address (the meaning check reports it).
  std::optional<std::array<std::uint8_t, 16>> bytes;
  bool is_v4 = false;
  // The written prefix length; absent for a single address. Counts the written family's bits.
  std::optional<std::uint32_t> prefix;
  Location prefix_location;
};

// One element of an address list: an address or network, `@set`, or `any`, maybe negated.
struct AddressItem {
  enum class Kind : std::uint8_t { literal, set_reference, any };

  Location location;
  Kind kind = Kind::literal;
  bool negated = false;
  AddressLiteral literal;
  std::string set_name;
};

// `N` or `LOW-HIGH`. Values are kept as written (up to UINT32_MAX) so the meaning check can
// reject 0 and values above 65535 with the position.
struct PortRange {
  Location location;
  std::uint32_t low = 0;
  std::uint32_t high = 0;
};

// `label KEY=VALUE`, `label KEY!=VALUE` or `label KEY`.
struct LabelCondition {
  enum class Kind : std::uint8_t { equals, not_equals, present };

  Location location;
  Kind kind = Kind::present;
  std::string key;
  std::string value;
};

// `publish [ADDRESS:]PORT`.
struct PublishClause {
  Location location;
  std::optional<AddressLiteral> address;
  std::uint32_t port = 0;
  Location port_location;
};

// `errno NAME`.
struct ErrnoClause {
  Location location;
  std::string name;
  Location name_location;
};

// `to ...` (connect) or `on ...` (bind).
struct AddressClause {
  Location location;
  Operation applies_to = Operation::connect;
  std::vector<AddressItem> items;
};

struct Rule {
  Location location;
  std::optional<std::string> name;
  Location name_location;
  Action action = Action::pass;
  Location action_location;
  // Empty: both operations, unless an address clause picks one.
  std::vector<Operation> operations;
  Location operations_location;
  // Empty: both protocols.
  std::vector<Protocol> protocols;
  std::optional<AddressClause> addresses;
  std::optional<std::vector<PortRange>> ports;
  Location ports_location;
  std::vector<LabelCondition> conditions;
  std::optional<PublishClause> publish;
  std::optional<ErrnoClause> error;
  // The statement on one line, as written, without a trailing comment.
  std::string text;
};

// `set NAME = { ITEM, ... }`; items are address literals and `@set` references.
struct Set {
  Location location;
  std::string name;
  Location name_location;
  std::vector<AddressItem> items;
};

struct Default {
  Location location;
  Action action = Action::pass;
  std::optional<ErrnoClause> error;
};

struct Scope {
  Location location;
  std::vector<LabelCondition> conditions;
};

struct Include {
  Location location;
  std::string path;
  Location path_location;
  // Index into Program::units of the loaded file; absent when it could not be loaded.
  std::optional<std::uint32_t> unit;
};

using Statement = std::variant<Rule, Set, Default, Scope, Include>;

// One parsed file.
struct Unit {
  std::uint32_t source = 0;
  std::vector<Statement> statements;
};

// Everything one load parsed: the sources, every file (top-level and included), and the
// top-level files in configured order.
struct Program {
  Sources sources;
  std::vector<Unit> units;
  std::vector<std::uint32_t> roots;
};

}  // namespace sockgate::parser::ast
