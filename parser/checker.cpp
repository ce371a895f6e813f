#include "parser/checker.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include "parser/address.hpp"
#include "parser/errno_names.hpp"

namespace sockgate::parser {

namespace {

std::string_view action_name(ast::Action action) {
  switch (action) {
    case ast::Action::pass:
      return "pass";
    case ast::Action::bypass:
      return "bypass";
    case ast::Action::deny:
      return "deny";
  }
  return "?";
}

const ast::Scope* find_scope(const ast::Unit& unit) {
  for (const auto& statement : unit.statements) {
    if (const auto* scope = std::get_if<ast::Scope>(&statement)) {
      return scope;
    }
  }
  return nullptr;
}

void outline_unit(const ast::Program& program, std::uint32_t unit_index,
                  std::vector<const ast::Scope*>& scopes, PolicyOutline& outline) {
  // The loader rejects include cycles and deep chains; this bound only guards a corrupt tree.
  if (scopes.size() > program.units.size()) {
    return;
  }
  const ast::Unit& unit = program.units[unit_index];
  const ast::Scope* scope = find_scope(unit);
  if (scope != nullptr) {
    scopes.push_back(scope);
  }

  // An unscoped file's default is the policy's default, taken in the order written. A scoped
  // file's default ends that file, so it is placed after the file's other statements.
  const ast::Default* unit_default = nullptr;
  for (const auto& statement : unit.statements) {
    if (const auto* rule = std::get_if<ast::Rule>(&statement)) {
      outline.entries.push_back(OrderedEntry{rule, nullptr, scopes, unit_index});
    } else if (const auto* set = std::get_if<ast::Set>(&statement)) {
      outline.sets.emplace(set->name, set);
    } else if (const auto* include = std::get_if<ast::Include>(&statement)) {
      if (include->unit) {
        outline_unit(program, *include->unit, scopes, outline);
      }
    } else if (const auto* default_statement = std::get_if<ast::Default>(&statement)) {
      if (unit_default == nullptr && scopes.empty()) {
        outline.unscoped_defaults.push_back(default_statement);
      }
      unit_default = unit_default != nullptr ? unit_default : default_statement;
    }
  }

  if (unit_default != nullptr && !scopes.empty()) {
    outline.entries.push_back(OrderedEntry{nullptr, unit_default, scopes, unit_index});
  }
  if (outline.default_statement == nullptr && !outline.unscoped_defaults.empty()) {
    outline.default_statement = outline.unscoped_defaults.front();
  }
  if (scope != nullptr) {
    scopes.pop_back();
  }
}

}  // namespace

PolicyOutline outline_program(const ast::Program& program) {
  PolicyOutline outline;
  std::vector<const ast::Scope*> scopes;
  for (const std::uint32_t root : program.roots) {
    outline_unit(program, root, scopes, outline);
  }
  return outline;
}

OperationSet effective_operations(const ast::Rule& rule) {
  if (!rule.operations.empty()) {
    const auto has = [&](ast::Operation operation) {
      return std::find(rule.operations.begin(), rule.operations.end(), operation) !=
             rule.operations.end();
    };
    return OperationSet{has(ast::Operation::connect), has(ast::Operation::bind)};
  }
  if (rule.addresses) {
    const bool connect = rule.addresses->applies_to == ast::Operation::connect;
    return OperationSet{connect, !connect};
  }
  if (rule.publish) {
    return OperationSet{false, true};
  }
  return OperationSet{};
}

std::string entry_name(const ast::Program& program, const OrderedEntry& entry) {
  if (entry.rule != nullptr && entry.rule->name) {
    return *entry.rule->name;
  }
  const Location& location =
      entry.rule != nullptr ? entry.rule->location : entry.scoped_default->location;
  const std::string& file = program.sources.file(location.file).name;
  return std::filesystem::path(file).filename().string() + ":" + std::to_string(location.line);
}

namespace {

struct Checker {
  const ast::Program& program;
  Diagnostics& diagnostics;
  PolicyOutline outline;

  std::string at(const Location& location) const { return program.sources.file_and_line(location); }

  void check_literal(const ast::AddressLiteral& literal) {
    const std::string address = literal.text.substr(0, literal.text.find('/'));
    if (!literal.bytes) {
      diagnostics.error(literal.location, "invalid address '" + address +
                                              "'; expected IPv4 such as 192.0.2.1 or IPv6 "
                                              "such as 2001:db8::1");
      return;
    }
    if (!literal.prefix) {
      return;
    }
    const std::uint32_t bits = literal.is_v4 ? 32 : 128;
    if (*literal.prefix > bits) {
      diagnostics.error(literal.prefix_location,
                        "prefix length /" + std::to_string(*literal.prefix) +
                            " is longer than the " + std::to_string(bits) + " bits of an " +
                            (literal.is_v4 ? "IPv4" : "IPv6") + " address");
      return;
    }
    const ParsedAddress parsed{*literal.bytes, literal.is_v4};
    const ParsedAddress network = mask_address(parsed, *literal.prefix);
    if (network.bytes != parsed.bytes) {
      const std::string masked = format_address(network) + "/" + std::to_string(*literal.prefix);
      diagnostics.warning(literal.location, "'" + literal.text +
                                                "' has host bits set; it means the network " +
                                                masked + ", so write that");
    }
  }

  void check_item(const ast::AddressItem& item) {
    switch (item.kind) {
      case ast::AddressItem::Kind::literal:
        check_literal(item.literal);
        break;
      case ast::AddressItem::Kind::set_reference:
        if (outline.sets.find(item.set_name) == outline.sets.end()) {
          diagnostics.error(item.location, "unknown set '" + item.set_name +
                                               "'; define it with 'set " + item.set_name +
                                               " = { ... }'");
        }
        break;
      case ast::AddressItem::Kind::any:
        if (item.negated) {
          diagnostics.error(item.location, "'!any' matches no address; remove it");
        }
        break;
    }
  }

  void check_port(std::uint32_t port, const Location& location) {
    if (port == 0) {
      diagnostics.error(location, "port 0 is not a valid port; ports are 1-65535");
    } else if (port > 65535) {
      const std::string value = port == UINT32_MAX ? "number" : std::to_string(port);
      diagnostics.error(location, "port " + value + " is out of range; ports are 1-65535");
    }
  }

  void check_ports(const ast::Rule& rule) {
    if (!rule.ports) {
      return;
    }
    for (const auto& range : *rule.ports) {
      check_port(range.low, range.location);
      if (range.high != range.low) {
        check_port(range.high, range.location);
      }
      if (range.low > range.high) {
        diagnostics.error(range.location, "port range " + std::to_string(range.low) + "-" +
                                              std::to_string(range.high) +
                                              " is empty: the first port is above the last");
      }
    }
  }

  void check_addresses(const ast::Rule& rule) {
    if (!rule.addresses) {
      return;
    }
    for (const auto& item : rule.addresses->items) {
      check_item(item);
    }
    const OperationSet operations = effective_operations(rule);
    if (rule.addresses->applies_to == ast::Operation::connect && operations.bind) {
      diagnostics.error(rule.addresses->location,
                        "'to' lists destinations of connect, but this rule also applies to bind; "
                        "remove 'bind' or use 'on' in a separate bind rule");
    } else if (rule.addresses->applies_to == ast::Operation::bind && operations.connect) {
      diagnostics.error(rule.addresses->location,
                        "'on' lists local addresses of bind, but this rule also applies to "
                        "connect; remove 'connect' or use 'to' in a separate connect rule");
    }
  }

  void check_publish(const ast::Rule& rule) {
    if (!rule.publish) {
      return;
    }
    const ast::PublishClause& publish = *rule.publish;
    if (rule.action != ast::Action::bypass) {
      diagnostics.error(publish.location, "'publish' needs the bypass action; this rule is '" +
                                              std::string(action_name(rule.action)) + "'");
    }
    if (effective_operations(rule).connect) {
      diagnostics.error(publish.location,
                        "'publish' applies to bind, but this rule also applies to connect; "
                        "write 'bind'");
    }
    const bool one_port = rule.ports && rule.ports->size() == 1 &&
                          rule.ports->front().low == rule.ports->front().high;
    if (!one_port) {
      diagnostics.error(publish.location,
                        "'publish' needs exactly one container port; write 'port N' in the rule");
    }
    if (publish.address) {
      check_literal(*publish.address);
    }
    check_port(publish.port, publish.port_location);
  }

  void check_errno(const std::optional<ast::ErrnoClause>& clause, ast::Action action) {
    if (!clause) {
      return;
    }
    if (action != ast::Action::deny) {
      diagnostics.error(clause->location, "'errno' applies to deny; this action is '" +
                                              std::string(action_name(action)) + "'");
    }
    if (!errno_from_name(clause->name)) {
      diagnostics.error(clause->name_location, "unknown errno name '" + clause->name +
                                                   "'; accepted names: " + accepted_errno_names());
    }
  }

  void check_rule(const ast::Rule& rule) {
    check_addresses(rule);
    check_ports(rule);
    check_publish(rule);
    check_errno(rule.error, rule.action);
  }

  void check_rule_names() {
    std::map<std::string, Location, std::less<>> first;
    for (const auto& entry : outline.entries) {
      const Location location =
          entry.rule != nullptr ? entry.rule->location : entry.scoped_default->location;
      const std::string name = entry_name(program, entry);
      const auto [it, inserted] = first.emplace(name, location);
      if (!inserted) {
        diagnostics.error(location, "duplicate rule name '" + name + "'; the first is at " +
                                        at(it->second) +
                                        " (rule names are also metrics labels, so they must be "
                                        "unique; name the rule with 'rule NAME:')");
      }
    }
  }

  struct SetSearch {
    std::set<std::string, std::less<>> done;
    std::vector<std::string> path;
    bool reported_depth = false;
  };

  void check_sets();
  void check_set_cycles();
  void visit_set(const ast::Set& set, SetSearch& search);
  void check_units();
  void check_unit(std::uint32_t unit_index);
};

void Checker::check_sets() {
  for (const auto& unit : program.units) {
    for (const auto& statement : unit.statements) {
      const auto* set = std::get_if<ast::Set>(&statement);
      if (set == nullptr) {
        continue;
      }
      const ast::Set* first = outline.sets.at(set->name);
      if (first != set) {
        diagnostics.error(set->name_location, "duplicate set '" + set->name +
                                                  "'; the first is at " + at(first->location));
      }
      if (set->items.empty()) {
        diagnostics.error(set->location, "set '" + set->name +
                                             "' is empty; a rule that uses it matches no "
                                             "address through it");
      }
      for (const auto& item : set->items) {
        check_item(item);
      }
    }
  }
  check_set_cycles();
}

// Depth-first search over set references; a set met again while still on the path closes a
// cycle. The depth bound keeps this search and the compiler's set resolution off deep recursion.
void Checker::visit_set(const ast::Set& set, SetSearch& search) {
  const auto on_path = std::find(search.path.begin(), search.path.end(), set.name);
  if (on_path != search.path.end()) {
    std::string chain;
    for (auto it = on_path; it != search.path.end(); ++it) {
      chain += *it + " -> ";
    }
    diagnostics.error(outline.sets.at(*on_path)->name_location,
                      "set '" + *on_path + "' refers to itself (" + chain + set.name + ")");
    return;
  }
  if (search.done.count(set.name) != 0) {
    return;
  }
  if (search.path.size() >= kMaxSetDepth) {
    if (!search.reported_depth) {
      diagnostics.error(outline.sets.at(search.path.front())->name_location,
                        "set '" + search.path.front() + "' nests sets more than " +
                            std::to_string(kMaxSetDepth) + " deep (through '" + set.name +
                            "'); flatten the nesting");
      search.reported_depth = true;
    }
    search.done.insert(set.name);
    return;
  }

  search.path.push_back(set.name);
  for (const auto& item : set.items) {
    const auto found = outline.sets.find(item.set_name);
    if (item.kind == ast::AddressItem::Kind::set_reference && found != outline.sets.end()) {
      visit_set(*found->second, search);
    }
  }
  search.path.pop_back();
  search.done.insert(set.name);
}

void Checker::check_set_cycles() {
  SetSearch search;
  for (const auto& [name, set] : outline.sets) {
    visit_set(*set, search);
  }
}

void Checker::check_unit(std::uint32_t unit_index) {
  const ast::Unit& unit = program.units[unit_index];
  const ast::Scope* scope = nullptr;
  const ast::Default* unit_default = nullptr;
  bool seen_content = false;
  for (const auto& statement : unit.statements) {
    if (const auto* this_scope = std::get_if<ast::Scope>(&statement)) {
      if (scope != nullptr) {
        diagnostics.error(this_scope->location, "duplicate scope; the first is at " +
                                                    at(scope->location) +
                                                    "; join the conditions with 'and'");
      } else if (seen_content) {
        diagnostics.error(this_scope->location,
                          "'scope' must come before the first rule, "
                          "include or default of the file");
      }
      scope = scope != nullptr ? scope : this_scope;
      continue;
    }
    if (const auto* rule = std::get_if<ast::Rule>(&statement)) {
      check_rule(*rule);
    }
    if (const auto* default_statement = std::get_if<ast::Default>(&statement)) {
      check_errno(default_statement->error, default_statement->action);
      if (unit_default != nullptr) {
        diagnostics.error(default_statement->location,
                          "duplicate default; the first is at " + at(unit_default->location));
      }
      unit_default = unit_default != nullptr ? unit_default : default_statement;
    }
    seen_content = seen_content || !std::holds_alternative<ast::Set>(statement);
  }
}

void Checker::check_units() {
  for (std::uint32_t i = 0; i < program.units.size(); ++i) {
    check_unit(i);
  }
  // A file included twice contributes the same default twice; that is no conflict.
  for (const ast::Default* other : outline.unscoped_defaults) {
    if (other != outline.default_statement) {
      diagnostics.error(other->location,
                        "duplicate default; the policy's default is already "
                        "set at " +
                            at(outline.default_statement->location));
    }
  }
}

}  // namespace

void check_program(const ast::Program& program, Diagnostics& diagnostics) {
  Checker checker{program, diagnostics, outline_program(program)};
  checker.check_units();
  checker.check_sets();
  checker.check_rule_names();
}

}  // namespace sockgate::parser
