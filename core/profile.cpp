#include "core/profile.hpp"

#include <fmt/format.h>
#include <seccomp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace sockgate {
namespace {

using nlohmann::ordered_json;

// The calls that sockgate handles, in the order the notify rule lists them.
constexpr std::array<std::string_view, 2> kNotified = {"connect", "bind"};

struct Architecture {
  std::uint32_t token;
  std::string_view name;
  // Also run by a kernel of this architecture; Podman's seccomp.json lists the same.
  std::array<std::string_view, 2> sub_architectures;
};

constexpr std::array<Architecture, 11> kArchitectures = {{
    {SCMP_ARCH_X86_64, "SCMP_ARCH_X86_64", {"SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
    {SCMP_ARCH_AARCH64, "SCMP_ARCH_AARCH64", {"SCMP_ARCH_ARM", ""}},
    {SCMP_ARCH_MIPS64, "SCMP_ARCH_MIPS64", {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"}},
    {SCMP_ARCH_MIPSEL64, "SCMP_ARCH_MIPSEL64", {"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"}},
    {SCMP_ARCH_S390X, "SCMP_ARCH_S390X", {"SCMP_ARCH_S390", ""}},
    {SCMP_ARCH_PPC64LE, "SCMP_ARCH_PPC64LE", {"", ""}},
    {SCMP_ARCH_PPC64, "SCMP_ARCH_PPC64", {"", ""}},
    {SCMP_ARCH_RISCV64, "SCMP_ARCH_RISCV64", {"", ""}},
    {SCMP_ARCH_X86, "SCMP_ARCH_X86", {"", ""}},
    {SCMP_ARCH_ARM, "SCMP_ARCH_ARM", {"", ""}},
    {SCMP_ARCH_S390, "SCMP_ARCH_S390", {"", ""}},
}};

bool is_notified(std::string_view name) {
  return std::find(kNotified.begin(), kNotified.end(), name) != kNotified.end();
}

// Actions under which the call runs: the notify rule may take their place.
bool lets_call_run(std::string_view action) {
  return action == "SCMP_ACT_ALLOW" || action == "SCMP_ACT_LOG" || action == "SCMP_ACT_NOTIFY";
}

bool non_empty(const ordered_json& rule, const char* key) {
  auto found = rule.find(key);
  return found != rule.end() && !found->is_null() && !found->empty();
}

// A base rule as far as the notified calls are concerned.
struct BaseRule {
  std::size_t index = 0;
  std::vector<std::string> names;
  std::string action;
  bool has_args = false;
  // includes/excludes: the rule applies only for some architectures or capabilities.
  bool has_conditions = false;
};

BaseRule read_rule(const ordered_json& rule, std::size_t index, const std::string& base) {
  if (!rule.is_object()) {
    throw std::invalid_argument(fmt::format("syscalls[{}] of {} is not an object", index, base));
  }
  BaseRule result;
  result.index = index;
  auto action = rule.find("action");
  if (action == rule.end() || !action->is_string()) {
    throw std::invalid_argument(
        fmt::format("syscalls[{}] of {} has no \"action\" string", index, base));
  }
  result.action = action->get<std::string>();
  if (auto names = rule.find("names"); names != rule.end() && names->is_array()) {
    for (const auto& name : *names) {
      if (name.is_string()) {
        result.names.push_back(name.get<std::string>());
      }
    }
  }
  if (auto name = rule.find("name"); name != rule.end() && name->is_string()) {
    result.names.push_back(name->get<std::string>());
  }
  result.has_args = non_empty(rule, "args");
  result.has_conditions = non_empty(rule, "includes") || non_empty(rule, "excludes");
  return result;
}

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) {
    text += (text.empty() ? "" : ", ") + name;
  }
  return text;
}

// The plan for one notified call: notify it, or leave it denied as the base has it.
struct CallPlan {
  std::string name;
  bool notify = false;
};

class ProfileBuilder {
 public:
  ProfileBuilder(const ProfileOptions& options, ordered_json base)
      : options_(options), profile_(std::move(base)) {}

  ProfileResult build();

 private:
  void check_top_level();
  void read_rules();
  CallPlan plan_call(std::string_view call);
  void take_out_notified(const std::vector<CallPlan>& plans);
  void warn_about_conditional_rules(const std::vector<CallPlan>& plans);
  std::string rule_label(const BaseRule& rule) const;

  const ProfileOptions& options_;
  ordered_json profile_;
  std::vector<BaseRule> rules_;
  ProfileResult result_;
};

std::string ProfileBuilder::rule_label(const BaseRule& rule) const {
  return fmt::format("syscalls[{}] of {} ({})", rule.index, options_.base_name, rule.action);
}

void ProfileBuilder::check_top_level() {
  if (!profile_.is_object()) {
    throw std::invalid_argument(fmt::format("{} is not a JSON object", options_.base_name));
  }
  auto action = profile_.find("defaultAction");
  if (action == profile_.end() || !action->is_string()) {
    throw std::invalid_argument(
        fmt::format("{} has no \"defaultAction\" string", options_.base_name));
  }
  auto listener = profile_.find("listenerPath");
  if (listener != profile_.end() && listener->is_string() && !listener->empty() &&
      listener->get<std::string>() != options_.listener_path) {
    throw std::invalid_argument(fmt::format(
        "{} already sends notifications to {}, but sockgate's listener is {}; remove "
        "listenerPath from the base, or pass --listener {} if sockgate serve listens there",
        options_.base_name, listener->get<std::string>(), options_.listener_path,
        listener->get<std::string>()));
  }
  auto syscalls = profile_.find("syscalls");
  if (syscalls != profile_.end() && !syscalls->is_null() && !syscalls->is_array()) {
    throw std::invalid_argument(
        fmt::format("\"syscalls\" of {} is not a list", options_.base_name));
  }
}

void ProfileBuilder::read_rules() {
  auto syscalls = profile_.find("syscalls");
  if (syscalls == profile_.end() || syscalls->is_null()) {
    return;
  }
  for (std::size_t i = 0; i < syscalls->size(); ++i) {
    BaseRule rule = read_rule((*syscalls)[i], i, options_.base_name);
    if (rule.action == "SCMP_ACT_NOTIFY") {
      for (const std::string& name : rule.names) {
        if (!is_notified(name)) {
          throw std::invalid_argument(fmt::format(
              "{} notifies {}; sockgate handles only connect and bind, and runtimes hang when "
              "calls they use to hand over the listener (sendmsg, fcntl) are notified; remove "
              "that rule or change its action",
              rule_label(rule), name));
        }
      }
    }
    rules_.push_back(std::move(rule));
  }
}

CallPlan ProfileBuilder::plan_call(std::string_view call) {
  CallPlan plan{std::string(call), false};
  for (const BaseRule& rule : rules_) {
    bool names_call = std::find(rule.names.begin(), rule.names.end(), call) != rule.names.end();
    if (!names_call || rule.has_args || lets_call_run(rule.action)) {
      continue;
    }
    if (rule.has_conditions) {
      throw std::invalid_argument(fmt::format(
          "{} denies {} for some architectures or capabilities only (includes/excludes); a "
          "notify rule for {} would override it; remove {} from that rule or its conditions",
          rule_label(rule), call, call, call));
    }
  }
  for (const BaseRule& rule : rules_) {
    bool names_call = std::find(rule.names.begin(), rule.names.end(), call) != rule.names.end();
    if (names_call && !rule.has_args && !rule.has_conditions) {
      plan.notify = lets_call_run(rule.action);
      if (!plan.notify) {
        result_.warnings.push_back(
            fmt::format("{} denies {}; it stays denied and sockgate is not notified of it",
                        rule_label(rule), call));
      }
      return plan;
    }
  }
  std::string default_action = profile_["defaultAction"].get<std::string>();
  plan.notify = lets_call_run(default_action);
  if (!plan.notify) {
    result_.warnings.push_back(fmt::format(
        "{} denies {} by its defaultAction {} and no rule allows it; it stays denied and "
        "sockgate is not notified of it",
        options_.base_name, call, default_action));
  }
  return plan;
}

// Removes the notified calls from the base's rules without arguments that let them run: with
// runc 1.1.5 such a rule after the notify rule makes the container fail to start.
void ProfileBuilder::take_out_notified(const std::vector<CallPlan>& plans) {
  for (const BaseRule& rule : rules_) {
    if (rule.has_args || !lets_call_run(rule.action)) {
      continue;
    }
    std::vector<std::string> removed;
    ordered_json& entry = profile_["syscalls"][rule.index];
    for (const CallPlan& plan : plans) {
      if (!plan.notify ||
          std::find(rule.names.begin(), rule.names.end(), plan.name) == rule.names.end()) {
        continue;
      }
      removed.push_back(plan.name);
      if (auto names = entry.find("names"); names != entry.end() && names->is_array()) {
        names->erase(std::remove(names->begin(), names->end(), plan.name), names->end());
      }
      if (auto name = entry.find("name"); name != entry.end() && *name == plan.name) {
        entry.erase("name");
        entry["names"] = ordered_json::array();
      }
    }
    if (!removed.empty()) {
      result_.notes.push_back(fmt::format("took {} out of {}: the notify rule covers {}",
                                          join(removed), rule_label(rule),
                                          removed.size() == 1 ? "it" : "them"));
    }
  }
}

void ProfileBuilder::warn_about_conditional_rules(const std::vector<CallPlan>& plans) {
  for (const BaseRule& rule : rules_) {
    if (!rule.has_args) {
      continue;
    }
    for (const CallPlan& plan : plans) {
      if (plan.notify &&
          std::find(rule.names.begin(), rule.names.end(), plan.name) != rule.names.end()) {
        result_.warnings.push_back(fmt::format(
            "{} sets conditions on the arguments of {}; it stays, but libseccomp lets the "
            "earlier notify rule decide every {} call, so it no longer takes effect; express "
            "it as a sockgate rule instead",
            rule_label(rule), plan.name, plan.name));
      }
    }
  }
}

ProfileResult ProfileBuilder::build() {
  check_top_level();
  read_rules();
  std::vector<CallPlan> plans;
  ordered_json notified = ordered_json::array();
  for (std::string_view call : kNotified) {
    plans.push_back(plan_call(call));
    if (plans.back().notify) {
      notified.push_back(plans.back().name);
    }
  }
  if (notified.empty()) {
    throw std::invalid_argument(
        fmt::format("{} denies both connect and bind, so there is nothing for sockgate to decide",
                    options_.base_name));
  }
  take_out_notified(plans);
  warn_about_conditional_rules(plans);

  ordered_json syscalls = ordered_json::array();
  syscalls.push_back({{"names", notified}, {"action", "SCMP_ACT_NOTIFY"}});
  if (auto base = profile_.find("syscalls"); base != profile_.end() && base->is_array()) {
    for (auto& rule : *base) {
      syscalls.push_back(std::move(rule));
    }
  }
  profile_["listenerPath"] = options_.listener_path;
  if (options_.metadata) {
    profile_["listenerMetadata"] = *options_.metadata;
  }
  profile_["syscalls"] = std::move(syscalls);
  result_.profile = std::move(profile_);
  return std::move(result_);
}

}  // namespace

std::vector<std::string> native_architectures() {
  std::uint32_t native = seccomp_arch_native();
  for (const Architecture& architecture : kArchitectures) {
    if (architecture.token != native) {
      continue;
    }
    std::vector<std::string> names{std::string(architecture.name)};
    for (std::string_view sub : architecture.sub_architectures) {
      if (!sub.empty()) {
        names.emplace_back(sub);
      }
    }
    return names;
  }
  // An architecture missing from the table: the runtime's default is the native one alone.
  return {};
}

ProfileResult make_profile(const ProfileOptions& options) {
  ordered_json base = options.base.value_or(ordered_json{{"defaultAction", "SCMP_ACT_ALLOW"}});
  if (!options.base) {
    std::vector<std::string> architectures = native_architectures();
    if (!architectures.empty()) {
      base["architectures"] = architectures;
    }
  }
  try {
    return ProfileBuilder(options, std::move(base)).build();
  } catch (const std::invalid_argument& error) {
    ProfileResult result;
    result.error = error.what();
    return result;
  } catch (const ordered_json::exception& error) {
    ProfileResult result;
    result.error =
        fmt::format("{} is not a valid seccomp profile: {}", options.base_name, error.what());
    return result;
  }
}

}  // namespace sockgate
