// Differential test: the compiled matcher against a plain first-match loop over the same rules.
//
// Each trial generates a random policy as a model: files with scopes, rules, sets and a default.
// The test writes the model in the rule language and loads it with load_policy. It then compares
// the decision for many random events with a reference evaluator that walks the model rule by
// rule. It also checks each "never matches" warning: the shadowed rule must never match an event
// that the rule named in the warning does not match. The seed is printed
// with every failure; set SOCKGATE_TEST_SEED to replay one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "rules/load.hpp"

namespace sockgate::rules {
namespace {

namespace fs = std::filesystem;

struct Network {
  std::string text;
  IpAddress address;
  // Bits of the 16-byte mapped form that must match.
  unsigned bits = 128;
};

Network network(const std::string& text) {
  const std::size_t slash = text.find('/');
  Network result;
  result.text = text;
  result.address = *IpAddress::parse(text.substr(0, slash));
  if (slash == std::string::npos) {
    result.bits = 128;
  } else {
    const unsigned prefix = static_cast<unsigned>(std::stoul(text.substr(slash + 1)));
    result.bits =
        result.address.is_v4() && text.find(':') == std::string::npos ? 96 + prefix : prefix;
  }
  return result;
}

bool in_network(const IpAddress& address, const Network& net) {
  for (unsigned bit = 0; bit < net.bits; ++bit) {
    const unsigned mask = 0x80U >> (bit % 8);
    if ((address.bytes[bit / 8] & mask) != (net.address.bytes[bit / 8] & mask)) {
      return false;
    }
  }
  return true;
}

const std::vector<std::string> kNetworks = {
    "10.0.0.0/8",      "10.1.0.0/16",     "10.1.2.3", "192.0.2.0/24",        "0.0.0.0/0",
    "2001:db8::/32",   "2001:db8:1::/48", "::/0",     "::ffff:10.1.2.0/120", "192.0.2.7",
    "198.51.100.0/25", "2001:db8::5",     "fc00::/7",
};
const std::vector<std::string> kEventAddresses = {
    "10.1.2.3",    "10.1.2.4",      "10.200.0.1",  "192.0.2.7",       "198.51.100.1",
    "2001:db8::5", "2001:db8:1::9", "2001:db9::1", "::ffff:10.1.2.3", "::1",
    "fd00::1",     "0.0.0.0",       "::",
};
const std::vector<std::pair<unsigned, unsigned>> kPortRanges = {
    {22, 22}, {53, 53}, {80, 80}, {443, 443}, {1000, 2000}, {8000, 8999}, {65535, 65535}, {1, 1024},
};
const std::vector<unsigned> kEventPorts = {0, 1, 22, 53, 80, 443, 1500, 8080, 65535, 9999};

struct Condition {
  int kind = 0;  // 0 equals, 1 not equals, 2 present
  std::string key;
  std::string value;

  bool holds(const LabelSet& labels) const {
    const std::string* found = labels.find(key);
    if (kind == 0) {
      return found != nullptr && *found == value;
    }
    if (kind == 1) {
      return found == nullptr || *found != value;
    }
    return found != nullptr;
  }
  std::string text() const {
    if (kind == 0) {
      return "label " + key + "=" + value;
    }
    if (kind == 1) {
      return "label " + key + "!=" + value;
    }
    return "label " + key;
  }
};

struct AddressItem {
  bool negated = false;
  bool any = false;
  std::string set;  // non-empty: a set reference
  Network net;
};

struct ModelRule {
  std::string name;
  Action action = Action::pass;
  bool connect = true;
  bool bind = true;
  bool write_operations = false;
  bool tcp = true;
  bool udp = true;
  std::optional<std::vector<AddressItem>> addresses;
  std::optional<std::vector<std::pair<unsigned, unsigned>>> ports;
  std::vector<Condition> conditions;
  std::vector<Condition> scope;
  int error = 0;
  std::string errno_name;
  std::optional<unsigned> publish_port;
  bool is_default = false;
};

struct ModelFile {
  std::vector<Condition> scope;
  std::vector<ModelRule> rules;
  std::optional<ModelRule> scoped_default;
};

struct Model {
  std::map<std::string, std::vector<Network>> sets;
  std::vector<ModelFile> files;
  Action default_action = Action::pass;
  int default_error = 0;
  bool write_default = false;
};

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : random_(seed) {}

  Model model() {
    Model model;
    for (int i = 0, count = pick(3); i < count; ++i) {
      std::vector<Network> members;
      for (int j = 0, size = 1 + pick(3); j < size; ++j) {
        members.push_back(network(kNetworks[pick(kNetworks.size())]));
      }
      model.sets["s" + std::to_string(i)] = members;
    }
    int rule_number = 0;
    for (int f = 0, files = 1 + pick(3); f < files; ++f) {
      ModelFile file;
      if (pick(3) == 0) {
        file.scope = conditions();
      }
      for (int r = 0, rules = pick(12); r < rules; ++r) {
        file.rules.push_back(rule(model, file.scope, rule_number++));
      }
      if (!file.scope.empty() && pick(3) == 0) {
        ModelRule fallback;
        fallback.is_default = true;
        fallback.action = action();
        fallback.scope = file.scope;
        deny_errno(fallback);
        file.scoped_default = fallback;
      }
      model.files.push_back(file);
    }
    if (pick(2) == 0) {
      model.write_default = true;
      ModelRule fallback;
      fallback.action = action();
      deny_errno(fallback);
      model.default_action = fallback.action;
      model.default_error = fallback.error;
    }
    return model;
  }

  Event event(LabelSet& labels) {
    Event event;
    event.operation = pick(2) == 0 ? Operation::connect : Operation::bind;
    event.protocol = pick(2) == 0 ? Protocol::tcp : Protocol::udp;
    event.address = *IpAddress::parse(kEventAddresses[pick(kEventAddresses.size())]);
    event.port = static_cast<std::uint16_t>(kEventPorts[pick(kEventPorts.size())]);
    labels = LabelSet();
    for (const char* key : {"a", "b", "c"}) {
      if (pick(3) != 0) {
        labels.set(key, pick(2) == 0 ? "x" : "y");
      }
    }
    return event;
  }

 private:
  int pick(std::size_t bound) {
    return static_cast<int>(std::uniform_int_distribution<std::size_t>(0, bound - 1)(random_));
  }

  Action action() { return static_cast<Action>(pick(3)); }

  void deny_errno(ModelRule& rule) {
    rule.error = rule.action == Action::deny ? EACCES : 0;
    if (rule.action == Action::deny && pick(2) == 0) {
      rule.errno_name = pick(2) == 0 ? "ECONNREFUSED" : "ENETUNREACH";
      rule.error = rule.errno_name == "ECONNREFUSED" ? ECONNREFUSED : ENETUNREACH;
    }
  }

  std::vector<Condition> conditions() {
    std::vector<Condition> result;
    for (int i = 0, count = 1 + pick(2); i < count; ++i) {
      Condition condition;
      condition.kind = pick(3);
      condition.key = std::string(1, static_cast<char>('a' + pick(3)));
      condition.value = pick(2) == 0 ? "x" : "y";
      result.push_back(condition);
    }
    return result;
  }

  std::vector<AddressItem> addresses(const Model& model) {
    std::vector<AddressItem> items;
    for (int i = 0, count = 1 + pick(3); i < count; ++i) {
      AddressItem item;
      const int kind = pick(6);
      if (kind == 0) {
        item.any = true;
      } else if (kind == 1 && !model.sets.empty()) {
        item.set = "s" + std::to_string(pick(model.sets.size()));
      } else {
        item.net = network(kNetworks[pick(kNetworks.size())]);
      }
      item.negated = !item.any && pick(3) == 0;
      items.push_back(item);
    }
    return items;
  }

  ModelRule rule(const Model& model, const std::vector<Condition>& scope, int number) {
    ModelRule rule;
    rule.name = "r" + std::to_string(number);
    rule.scope = scope;
    rule.action = action();

    const int operations = pick(4);  // 0 connect, 1 bind, 2 both written, 3 none written
    rule.connect = operations != 1;
    rule.bind = operations != 0;
    rule.write_operations = operations != 3;
    const int protocols = pick(3);
    rule.tcp = protocols != 1;
    rule.udp = protocols != 0;

    if (operations <= 1 && pick(2) == 0) {
      rule.addresses = addresses(model);
    } else if (operations == 3 && pick(3) == 0) {
      // Without written operations, `to` implies connect and `on` implies bind.
      rule.addresses = addresses(model);
      (pick(2) == 0 ? rule.bind : rule.connect) = false;
    }
    if (pick(2) == 0) {
      rule.ports.emplace();
      for (int i = 0, count = 1 + pick(2); i < count; ++i) {
        rule.ports->push_back(kPortRanges[pick(kPortRanges.size())]);
      }
    }
    if (pick(3) == 0) {
      rule.conditions = conditions();
    }

    deny_errno(rule);
    if (rule.action == Action::bypass && operations == 1 && pick(2) == 0) {
      const unsigned port = kEventPorts[1 + pick(kEventPorts.size() - 1)];
      rule.ports = std::vector<std::pair<unsigned, unsigned>>{{port, port}};
      rule.publish_port = 10000 + port % 1000;
    }
    return rule;
  }

  std::mt19937_64 random_;
};

std::string conditions_text(const std::vector<Condition>& conditions) {
  std::string text;
  for (const auto& condition : conditions) {
    text += (text.empty() ? "" : " and ") + condition.text();
  }
  return text;
}

std::string rule_text(const ModelRule& rule) {
  std::string text = "rule " + rule.name + ": " + std::string(to_string(rule.action));
  if (rule.write_operations) {
    if (rule.connect && rule.bind) {
      text += " connect,bind";
    } else {
      text += rule.connect ? " connect" : " bind";
    }
  }
  if (!(rule.tcp && rule.udp)) {
    text += rule.tcp ? " tcp" : " udp";
  } else if (rule.tcp && rule.udp && rule.ports) {
    text += " tcp,udp";
  }
  if (rule.addresses) {
    text += rule.connect ? " to " : " on ";
    for (std::size_t i = 0; i < rule.addresses->size(); ++i) {
      const AddressItem& item = (*rule.addresses)[i];
      text += (i == 0 ? "" : ", ") + std::string(item.negated ? "!" : "");
      text += item.any ? "any" : !item.set.empty() ? "@" + item.set : item.net.text;
    }
  }
  if (rule.ports) {
    text += " port ";
    for (std::size_t i = 0; i < rule.ports->size(); ++i) {
      const auto [low, high] = (*rule.ports)[i];
      text += (i == 0 ? "" : ",") + std::to_string(low) +
              (low == high ? "" : "-" + std::to_string(high));
    }
  }
  if (!rule.conditions.empty()) {
    text += " if " + conditions_text(rule.conditions);
  }
  if (rule.publish_port) {
    text += " publish " + std::to_string(*rule.publish_port);
  }
  if (!rule.errno_name.empty()) {
    text += " errno " + rule.errno_name;
  }
  return text + "\n";
}

std::vector<std::string> write_model(const Model& model, const fs::path& directory) {
  std::vector<std::string> paths;
  for (std::size_t f = 0; f < model.files.size(); ++f) {
    const ModelFile& file = model.files[f];
    std::string text;
    if (!file.scope.empty()) {
      text += "scope if " + conditions_text(file.scope) + "\n";
    }
    if (f == 0) {
      for (const auto& [name, members] : model.sets) {
        text += "set " + name + " = {";
        for (std::size_t i = 0; i < members.size(); ++i) {
          text += (i == 0 ? " " : ", ") + members[i].text;
        }
        text += " }\n";
      }
    }
    if (file.scoped_default) {
      text +=
          "default " + std::string(to_string(file.scoped_default->action)) +
          (file.scoped_default->errno_name.empty() ? ""
                                                   : " errno " + file.scoped_default->errno_name) +
          "\n";
    }
    for (const auto& rule : file.rules) {
      text += rule_text(rule);
    }
    const fs::path path = directory / ("f" + std::to_string(f) + ".rules");
    std::ofstream(path) << text;
    paths.push_back(path.string());
  }
  if (model.write_default) {
    std::string text = "default " + std::string(to_string(model.default_action));
    if (model.default_action == Action::deny && model.default_error != EACCES) {
      text += model.default_error == ECONNREFUSED ? " errno ECONNREFUSED" : " errno ENETUNREACH";
    }
    const fs::path path = directory / "default.rules";
    std::ofstream(path) << text << "\n";
    paths.push_back(path.string());
  }
  return paths;
}

bool address_matches(const ModelRule& rule, const Model& model, const IpAddress& address) {
  if (!rule.addresses) {
    return true;
  }
  bool included = false;
  bool excluded = false;
  bool any_positive = false;
  for (const auto& item : *rule.addresses) {
    bool hit = item.any;
    if (!item.set.empty()) {
      for (const auto& member : model.sets.at(item.set)) {
        hit = hit || in_network(address, member);
      }
    } else if (!item.any) {
      hit = in_network(address, item.net);
    }
    if (item.negated) {
      excluded = excluded || hit;
    } else {
      any_positive = true;
      included = included || hit;
    }
  }
  return (included || !any_positive) && !excluded;
}

bool rule_matches(const ModelRule& rule, const Model& model, const Event& event,
                  const LabelSet& labels) {
  const bool operation = event.operation == Operation::connect ? rule.connect : rule.bind;
  const bool protocol = event.protocol == Protocol::tcp ? rule.tcp : rule.udp;
  if (!operation || !protocol || !address_matches(rule, model, event.address)) {
    return false;
  }
  if (rule.ports) {
    bool hit = false;
    for (const auto& [low, high] : *rule.ports) {
      hit = hit || (event.port >= low && event.port <= high);
    }
    if (!hit) {
      return false;
    }
  }
  for (const auto* list : {&rule.scope, &rule.conditions}) {
    for (const auto& condition : *list) {
      if (!condition.holds(labels)) {
        return false;
      }
    }
  }
  return true;
}

// The plain first-match loop: files in order, rules in order, a scoped default at the end of
// its file, then the policy's default.
Decision reference_decide(const Model& model, const Event& event, const LabelSet& labels) {
  std::uint32_t index = 0;
  for (const auto& file : model.files) {
    std::vector<const ModelRule*> ordered;
    for (const auto& rule : file.rules) {
      ordered.push_back(&rule);
    }
    if (file.scoped_default) {
      ordered.push_back(&*file.scoped_default);
    }
    for (const ModelRule* rule : ordered) {
      if (rule_matches(*rule, model, event, labels)) {
        Decision decision;
        decision.action = rule->action;
        decision.rule = index;
        decision.error = rule->error;
        if (rule->publish_port) {
          decision.publish = Publish{std::nullopt, static_cast<std::uint16_t>(*rule->publish_port)};
        }
        return decision;
      }
      ++index;
    }
  }
  Decision decision;
  decision.action = model.default_action;
  decision.error = model.default_error;
  return decision;
}

// The (later, earlier) model rules of each "never matches" warning between two named rules.
std::vector<std::pair<const ModelRule*, const ModelRule*>> shadowed_pairs(
    const Model& model, const LoadResult& loaded) {
  std::map<std::string, const ModelRule*> by_name;
  for (const auto& file : model.files) {
    for (const auto& rule : file.rules) {
      by_name[rule.name] = &rule;
    }
  }
  std::vector<std::pair<const ModelRule*, const ModelRule*>> pairs;
  for (const auto& diagnostic : loaded.diagnostics.all()) {
    const std::string& message = diagnostic.message;
    const std::string marker = "' never matches: the earlier rule '";
    const std::size_t middle = message.find(marker);
    if (middle == std::string::npos || message.rfind("rule '", 0) != 0) {
      continue;
    }
    const std::string later = message.substr(6, middle - 6);
    const std::size_t start = middle + marker.size();
    const std::string earlier = message.substr(start, message.find('\'', start) - start);
    if (by_name.count(later) != 0 && by_name.count(earlier) != 0) {
      pairs.emplace_back(by_name[later], by_name[earlier]);
    }
  }
  return pairs;
}

std::uint64_t test_seed() {
  if (const char* text = std::getenv("SOCKGATE_TEST_SEED")) {
    return std::strtoull(text, nullptr, 10);
  }
  return std::random_device{}();
}

TEST(Differential, MatcherAgreesWithReferenceLoop) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("SOCKGATE_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 seeds(seed);
  const fs::path directory =
      fs::temp_directory_path() / ("sockgate-differential-" + std::to_string(::getpid()));

  constexpr int kTrials = 400;
  constexpr int kEvents = 300;
  int compared = 0;
  int shadow_warnings = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const std::uint64_t trial_seed = seeds();
    SCOPED_TRACE("trial " + std::to_string(trial));
    Generator generator(trial_seed);
    const Model model = generator.model();
    fs::remove_all(directory);
    fs::create_directories(directory);
    LoadOptions options;
    options.files = write_model(model, directory);

    const LoadResult loaded = load_policy(options);
    ASSERT_TRUE(loaded.ok()) << loaded.format_diagnostics();
    const auto shadowed = shadowed_pairs(model, loaded);
    shadow_warnings += static_cast<int>(shadowed.size());
    for (int i = 0; i < kEvents; ++i) {
      LabelSet labels;
      const Event event = generator.event(labels);
      // A rule reported as never matching must not match where its shadowing rule does not.
      for (const auto& [later, earlier] : shadowed) {
        if (rule_matches(*later, model, event, labels)) {
          ASSERT_TRUE(rule_matches(*earlier, model, event, labels))
              << later->name << " is reported shadowed by " << earlier->name;
        }
      }
      const Decision expected = reference_decide(model, event, labels);
      const Decision actual = loaded.policy->decide(event, loaded.policy->subject(labels));
      const std::string where = std::string(to_string(event.operation)) + " " +
                                std::string(to_string(event.protocol)) + " " +
                                event.address.to_string() + ":" + std::to_string(event.port);
      ASSERT_EQ(actual.rule, expected.rule) << where;
      ASSERT_EQ(actual.action, expected.action) << where;
      ASSERT_EQ(actual.error, expected.error) << where;
      ASSERT_EQ(actual.publish.has_value(), expected.publish.has_value()) << where;
      if (expected.publish) {
        ASSERT_EQ(actual.publish->port, expected.publish->port) << where;
      }
      ++compared;
    }
  }
  fs::remove_all(directory);
  EXPECT_EQ(compared, kTrials * kEvents);
  // The shadow check above is not vacuous: random policies do shadow rules.
  EXPECT_GT(shadow_warnings, kTrials / 10);
}

}  // namespace
}  // namespace sockgate::rules
