#include "core/profile.hpp"

#include <fmt/format.h>
#include <seccomp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace sockgate {
namespace {

using nlohmann::ordered_json;

// The calls that sockgate handles, in the order the notify rule lists them.
constexpr std::array<std::string_view, 2> kNotified = {"connect", "bind"};

// The io_uring calls, which fail with ENOSYS: an IORING_OP_CONNECT runs inside the kernel, past
// every seccomp filter, so it would connect without a connect() for the gateway to decide.
constexpr std::array<std::string_view, 3> kIoUring = {"io_uring_setup", "io_uring_enter",
                                                      "io_uring_register"};

// A call that sends with TCP Fast Open when its flags contain MSG_FASTOPEN, which connects
// without a connect() call. Such sends fail with EOPNOTSUPP, as with client Fast Open off.
struct FastOpenCall {
  std::string_view name;
  // The index of the flags argument.
  int flags_index;
};

constexpr std::array<FastOpenCall, 3> kFastOpen = {
    {{"sendto", 3}, {"sendmsg", 2}, {"sendmmsg", 3}}};

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

// What the base does with one call: whether it lets the call run, and which rule without
// argument conditions decides it (std::nullopt: the defaultAction does).
struct Permission {
  std::string name;
  bool runs = false;
  std::optional<std::size_t> rule;
  std::string action;
};

bool names_call(const BaseRule& rule, std::string_view call) {
  return std::find(rule.names.begin(), rule.names.end(), call) != rule.names.end();
}

ordered_json masked_flags(int index, std::uint64_t expected) {
  return {{"index", index},
          {"value", MSG_FASTOPEN},
          {"valueTwo", expected},
          {"op", "SCMP_CMP_MASKED_EQ"}};
}

class ProfileBuilder {
 public:
  ProfileBuilder(const ProfileOptions& options, ordered_json base)
      : options_(options), profile_(std::move(base)) {}

  ProfileResult build();

 private:
  void check_top_level();
  void read_rules();
  Permission permission_of(std::string_view call, std::string_view added_rule);
  std::vector<Permission> plan_notified();
  void take_out(const std::vector<Permission>& calls, std::string_view reason_one,
                std::string_view reason_many);
  void warn_about_conditional_rules(const std::vector<Permission>& calls,
                                    std::string_view consequence);
  void add_io_uring_rule(ordered_json& syscalls);
  void add_fast_open_rules(ordered_json& syscalls);
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

// Finds what the base does with `call`. A deny rule that applies for some architectures or
// capabilities only is rejected, because `added_rule` would override it.
Permission ProfileBuilder::permission_of(std::string_view call, std::string_view added_rule) {
  for (const BaseRule& rule : rules_) {
    if (!names_call(rule, call) || rule.has_args || lets_call_run(rule.action)) {
      continue;
    }
    if (rule.has_conditions) {
      throw std::invalid_argument(fmt::format(
          "{} denies {} for some architectures or capabilities only (includes/excludes); {} "
          "for {} would override it; remove {} from that rule or its conditions",
          rule_label(rule), call, added_rule, call, call));
    }
  }
  Permission permission;
  permission.name = std::string(call);
  for (const BaseRule& rule : rules_) {
    if (names_call(rule, call) && !rule.has_args && !rule.has_conditions) {
      permission.rule = rule.index;
      permission.action = rule.action;
      permission.runs = lets_call_run(rule.action);
      return permission;
    }
  }
  permission.action = profile_["defaultAction"].get<std::string>();
  permission.runs = lets_call_run(permission.action);
  return permission;
}

// Finds which of connect and bind get notified, with a warning for each that stays denied.
std::vector<Permission> ProfileBuilder::plan_notified() {
  std::vector<Permission> plans;
  for (std::string_view call : kNotified) {
    Permission plan = permission_of(call, "a notify rule");
    if (!plan.runs && plan.rule) {
      result_.warnings.push_back(
          fmt::format("{} denies {}; it stays denied and sockgate is not notified of it",
                      rule_label(rules_[*plan.rule]), call));
    } else if (!plan.runs) {
      result_.warnings.push_back(fmt::format(
          "{} denies {} by its defaultAction {} and no rule allows it; it stays denied and "
          "sockgate is not notified of it",
          options_.base_name, call, plan.action));
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

// Removes the calls that run from the base's rules without arguments that let them run. Left in,
// such a rule makes runc 1.1.5 fail to start the container when sockgate's rule for the call has
// no arguments, and decides every call in place of sockgate's rules when they have arguments.
// The note gives `reason_one` when one call was taken out of a rule, `reason_many` otherwise.
void ProfileBuilder::take_out(const std::vector<Permission>& calls, std::string_view reason_one,
                              std::string_view reason_many) {
  for (const BaseRule& rule : rules_) {
    if (rule.has_args || !lets_call_run(rule.action)) {
      continue;
    }
    std::vector<std::string> removed;
    ordered_json& entry = profile_["syscalls"][rule.index];
    for (const Permission& call : calls) {
      if (!call.runs || !names_call(rule, call.name)) {
        continue;
      }
      removed.push_back(call.name);
      if (auto names = entry.find("names"); names != entry.end() && names->is_array()) {
        names->erase(std::remove(names->begin(), names->end(), call.name), names->end());
      }
      if (auto name = entry.find("name"); name != entry.end() && *name == call.name) {
        entry.erase("name");
        entry["names"] = ordered_json::array();
      }
    }
    if (!removed.empty()) {
      result_.notes.push_back(fmt::format("took {} out of {}: {}", join(removed), rule_label(rule),
                                          removed.size() == 1 ? reason_one : reason_many));
    }
  }
}

void ProfileBuilder::warn_about_conditional_rules(const std::vector<Permission>& calls,
                                                  std::string_view consequence) {
  for (const BaseRule& rule : rules_) {
    if (!rule.has_args) {
      continue;
    }
    for (const Permission& call : calls) {
      if (call.runs && names_call(rule, call.name)) {
        result_.warnings.push_back(fmt::format(
            "{} sets conditions on the arguments of {}; it stays, but {}", rule_label(rule),
            call.name, fmt::format(fmt::runtime(consequence), call.name)));
      }
    }
  }
}

// Adds the rule that fails the io_uring calls that the base lets run with ENOSYS.
void ProfileBuilder::add_io_uring_rule(ordered_json& syscalls) {
  std::vector<Permission> calls;
  ordered_json names = ordered_json::array();
  for (std::string_view call : kIoUring) {
    calls.push_back(permission_of(call, "the ENOSYS rule"));
    if (calls.back().runs) {
      names.push_back(calls.back().name);
    }
  }
  if (names.empty()) {
    return;
  }
  take_out(calls, "it fails with ENOSYS, so that no IORING_OP_CONNECT gets past the gateway",
           "they fail with ENOSYS, so that no IORING_OP_CONNECT gets past the gateway");
  warn_about_conditional_rules(
      calls,
      "libseccomp lets the earlier ENOSYS rule decide every {} call, so it no longer "
      "takes effect");
  syscalls.push_back({{"names", names}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", ENOSYS}});
}

// Splits the permission of each send call that the base lets run in two by its flags. Sends
// with MSG_FASTOPEN fail with EOPNOTSUPP, and the others keep the action of the base's rule.
// When the defaultAction lets the call run, no allow rule is added, because runc skips rules
// whose action is the defaultAction.
void ProfileBuilder::add_fast_open_rules(ordered_json& syscalls) {
  std::vector<Permission> calls;
  for (const FastOpenCall& call : kFastOpen) {
    calls.push_back(permission_of(call.name, "the Fast Open rule"));
  }
  take_out(calls,
           "it is allowed only without MSG_FASTOPEN, because Fast Open sends fail with "
           "EOPNOTSUPP",
           "they are allowed only without MSG_FASTOPEN, because Fast Open sends fail with "
           "EOPNOTSUPP");
  warn_about_conditional_rules(
      calls,
      "sockgate's Fast Open rules also test the arguments of {}, and libseccomp decides "
      "which of them applies to a call that both match");
  ordered_json denied = ordered_json::array();
  ordered_json allowed = ordered_json::array();
  for (std::size_t i = 0; i < kFastOpen.size(); ++i) {
    if (!calls[i].runs) {
      continue;
    }
    const FastOpenCall& call = kFastOpen[i];
    denied.push_back({{"names", {call.name}},
                      {"action", "SCMP_ACT_ERRNO"},
                      {"errnoRet", EOPNOTSUPP},
                      {"args", {masked_flags(call.flags_index, MSG_FASTOPEN)}}});
    if (calls[i].rule) {
      allowed.push_back({{"names", {call.name}},
                         {"action", calls[i].action},
                         {"args", {masked_flags(call.flags_index, 0)}}});
    }
  }
  for (auto& rule : denied) {
    syscalls.push_back(std::move(rule));
  }
  for (auto& rule : allowed) {
    syscalls.push_back(std::move(rule));
  }
}

ProfileResult ProfileBuilder::build() {
  check_top_level();
  read_rules();
  std::vector<Permission> plans = plan_notified();
  ordered_json notified = ordered_json::array();
  for (const Permission& plan : plans) {
    if (plan.runs) {
      notified.push_back(plan.name);
    }
  }
  if (notified.empty()) {
    throw std::invalid_argument(
        fmt::format("{} denies both connect and bind, so there is nothing for sockgate to decide",
                    options_.base_name));
  }
  take_out(plans, "the notify rule covers it", "the notify rule covers them");
  warn_about_conditional_rules(
      plans,
      "libseccomp lets the earlier notify rule decide every {} call, so it no longer "
      "takes effect; express it as a sockgate rule instead");

  ordered_json syscalls = ordered_json::array();
  syscalls.push_back({{"names", notified}, {"action", "SCMP_ACT_NOTIFY"}});
  add_io_uring_rule(syscalls);
  add_fast_open_rules(syscalls);
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
