#include "rules/compiler.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>

#include "parser/checker.hpp"
#include "parser/errno_names.hpp"

namespace sockgate::rules {

namespace ast = parser::ast;

namespace {

Action to_action(ast::Action action) {
  switch (action) {
    case ast::Action::pass:
      return Action::pass;
    case ast::Action::bypass:
      return Action::bypass;
    case ast::Action::deny:
      return Action::deny;
  }
  return Action::pass;
}

int deny_error(const std::optional<ast::ErrnoClause>& clause) {
  if (clause) {
    return parser::errno_from_name(clause->name).value_or(EACCES);
  }
  return EACCES;
}

IpAddress literal_address(const ast::AddressLiteral& literal) {
  IpAddress address;
  address.bytes = literal.bytes.value_or(std::array<std::uint8_t, 16>{});
  return address;
}

AddressSet literal_set(const ast::AddressLiteral& literal) {
  std::uint32_t prefix = 128;
  if (literal.prefix) {
    prefix = literal.is_v4 ? 96 + *literal.prefix : *literal.prefix;
  }
  return network_interval(literal_address(literal), prefix);
}

std::vector<LabelCondition> to_conditions(const std::vector<ast::LabelCondition>& written) {
  std::vector<LabelCondition> conditions;
  for (const auto& condition : written) {
    auto kind = LabelCondition::Kind::present;
    if (condition.kind == ast::LabelCondition::Kind::equals) {
      kind = LabelCondition::Kind::equals;
    } else if (condition.kind == ast::LabelCondition::Kind::not_equals) {
      kind = LabelCondition::Kind::not_equals;
    }
    conditions.push_back(LabelCondition{kind, condition.key, condition.value});
  }
  return conditions;
}

class Compiler {
 public:
  Compiler(const ast::Program& program, parser::PolicyOutline outline)
      : program_(program), outline_(std::move(outline)) {}

  CompiledRule compile_entry(const parser::OrderedEntry& entry);
  RuleInfo describe_entry(const parser::OrderedEntry& entry) const;

 private:
  const AddressSet& resolve_set(const std::string& name);
  AddressSet item_set(const ast::AddressItem& item);
  AddressSet address_set(const ast::AddressClause& clause);
  static PortSet port_set(const std::optional<std::vector<ast::PortRange>>& ports);
  static std::optional<Publish> publish_of(const ast::Rule& rule);

  const ast::Program& program_;
  parser::PolicyOutline outline_;
  std::map<std::string, AddressSet, std::less<>> resolved_sets_;
};

const AddressSet& Compiler::resolve_set(const std::string& name) {
  if (const auto found = resolved_sets_.find(name); found != resolved_sets_.end()) {
    return found->second;
  }
  // An empty entry first: a set that refers back to itself (an error the checker reports before
  // any compilation) then ends the recursion.
  resolved_sets_.emplace(name, AddressSet{});
  // Collect every interval first and normalize once: uniting item by item would copy and sort
  // the growing set for each item, quadratic in large block lists.
  std::vector<Interval<Uint128>> intervals;
  if (const auto set = outline_.sets.find(name); set != outline_.sets.end()) {
    for (const auto& item : set->second->items) {
      const AddressSet part = item_set(item);
      intervals.insert(intervals.end(), part.intervals().begin(), part.intervals().end());
    }
  }
  return resolved_sets_[name] = AddressSet(std::move(intervals));
}

AddressSet Compiler::item_set(const ast::AddressItem& item) {
  switch (item.kind) {
    case ast::AddressItem::Kind::literal:
      return literal_set(item.literal);
    case ast::AddressItem::Kind::set_reference:
      return resolve_set(item.set_name);
    case ast::AddressItem::Kind::any:
      return AddressSet::all(kMaxAddress);
  }
  return {};
}

// Addresses in some item without `!` (all addresses when every item has `!`) and in no item
// with `!`.
AddressSet Compiler::address_set(const ast::AddressClause& clause) {
  std::vector<Interval<Uint128>> included;
  std::vector<Interval<Uint128>> excluded;
  bool any_positive = false;
  for (const auto& item : clause.items) {
    const AddressSet part = item_set(item);
    auto& target = item.negated ? excluded : included;
    target.insert(target.end(), part.intervals().begin(), part.intervals().end());
    any_positive = any_positive || !item.negated;
  }
  const AddressSet positive =
      any_positive ? AddressSet(std::move(included)) : AddressSet::all(kMaxAddress);
  return positive.minus(AddressSet(std::move(excluded)));
}

PortSet Compiler::port_set(const std::optional<std::vector<ast::PortRange>>& ports) {
  // Without a port clause every port matches, 0 included (bind to an ephemeral port).
  if (!ports) {
    return PortSet::all(kMaxPort);
  }
  std::vector<Interval<std::uint32_t>> intervals;
  for (const auto& range : *ports) {
    intervals.push_back({range.low, range.high});
  }
  return PortSet(std::move(intervals));
}

std::optional<Publish> Compiler::publish_of(const ast::Rule& rule) {
  if (!rule.publish) {
    return std::nullopt;
  }
  Publish publish;
  publish.port = static_cast<std::uint16_t>(rule.publish->port);
  if (rule.publish->address) {
    publish.address = literal_address(*rule.publish->address);
  }
  return publish;
}

// The (operation, protocol) pairs a rule applies to.
std::array<bool, 4> operation_protocol_mask(const ast::Rule& rule) {
  const parser::OperationSet operations = parser::effective_operations(rule);
  const auto has_protocol = [&](ast::Protocol protocol) {
    return rule.protocols.empty() || std::find(rule.protocols.begin(), rule.protocols.end(),
                                               protocol) != rule.protocols.end();
  };
  std::array<bool, 4> mask{};
  for (const Operation operation : {Operation::connect, Operation::bind}) {
    const bool has_operation =
        operation == Operation::connect ? operations.connect : operations.bind;
    mask[operation_protocol_slot(operation, Protocol::tcp)] =
        has_operation && has_protocol(ast::Protocol::tcp);
    mask[operation_protocol_slot(operation, Protocol::udp)] =
        has_operation && has_protocol(ast::Protocol::udp);
  }
  return mask;
}

CompiledRule Compiler::compile_entry(const parser::OrderedEntry& entry) {
  CompiledRule compiled;
  for (const ast::Scope* scope : entry.scopes) {
    const auto scope_conditions = to_conditions(scope->conditions);
    compiled.conditions.insert(compiled.conditions.end(), scope_conditions.begin(),
                               scope_conditions.end());
  }

  // A scoped file's default matches every call of the containers in scope.
  if (entry.scoped_default != nullptr) {
    compiled.shape.addresses = AddressSet::all(kMaxAddress);
    compiled.shape.ports = PortSet::all(kMaxPort);
    compiled.shape.operation_protocol = {true, true, true, true};
    compiled.action = to_action(entry.scoped_default->action);
    compiled.error = compiled.action == Action::deny ? deny_error(entry.scoped_default->error) : 0;
    return compiled;
  }

  const ast::Rule& rule = *entry.rule;
  const auto own_conditions = to_conditions(rule.conditions);
  compiled.conditions.insert(compiled.conditions.end(), own_conditions.begin(),
                             own_conditions.end());
  compiled.shape.addresses =
      rule.addresses ? address_set(*rule.addresses) : AddressSet::all(kMaxAddress);
  compiled.shape.ports = port_set(rule.ports);
  compiled.shape.operation_protocol = operation_protocol_mask(rule);
  compiled.action = to_action(rule.action);
  compiled.error = compiled.action == Action::deny ? deny_error(rule.error) : 0;
  compiled.publish = publish_of(rule);
  return compiled;
}

std::string default_text(const ast::Default& statement) {
  std::string text = "default ";
  text += to_string(to_action(statement.action));
  if (statement.error) {
    text += " errno " + statement.error->name;
  }
  return text;
}

RuleInfo Compiler::describe_entry(const parser::OrderedEntry& entry) const {
  RuleInfo info;
  info.name = parser::entry_name(program_, entry);
  if (entry.scoped_default != nullptr) {
    info.action = to_action(entry.scoped_default->action);
    info.location = program_.sources.file_and_line(entry.scoped_default->location);
    info.text = default_text(*entry.scoped_default);
    return info;
  }
  const parser::OperationSet operations = parser::effective_operations(*entry.rule);
  info.action = to_action(entry.rule->action);
  info.matches_connect = operations.connect;
  info.matches_bind = operations.bind;
  info.location = program_.sources.file_and_line(entry.rule->location);
  info.text = entry.rule->text;
  return info;
}

}  // namespace

CompileOutput compile_program(const ast::Program& program, std::optional<Action> default_override,
                              parser::Diagnostics& diagnostics) {
  parser::PolicyOutline outline = parser::outline_program(program);
  const ast::Default* written_default = outline.default_statement;
  const std::vector<parser::OrderedEntry> entries = outline.entries;
  Compiler compiler(program, std::move(outline));

  std::vector<CompiledRule> rules;
  std::vector<RuleInfo> infos;
  std::vector<parser::Location> locations;
  rules.reserve(entries.size());
  infos.reserve(entries.size());
  for (const auto& entry : entries) {
    rules.push_back(compiler.compile_entry(entry));
    infos.push_back(compiler.describe_entry(entry));
    locations.push_back(entry.rule != nullptr ? entry.rule->location
                                              : entry.scoped_default->location);
  }

  CompileOutput output;
  Action default_action = Action::pass;
  int default_error = 0;
  output.default_origin = "built-in pass";
  if (default_override) {
    default_action = *default_override;
    default_error = default_action == Action::deny ? EACCES : 0;
    output.default_origin = "configuration";
  } else if (written_default != nullptr) {
    default_action = to_action(written_default->action);
    default_error = default_action == Action::deny ? deny_error(written_default->error) : 0;
    output.default_origin = program.sources.file_and_line(written_default->location);
  }

  auto policy = std::make_shared<CompiledPolicy>(std::move(rules), std::move(infos), default_action,
                                                 default_error);
  report_unreachable_rules(*policy, locations, program.sources, diagnostics);
  output.policy = std::move(policy);
  return output;
}

}  // namespace sockgate::rules
