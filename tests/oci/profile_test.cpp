// The seccomp profile generator of `sockgate profile`, against hand-written bases and the real
// default profiles in examples/seccomp/ (Podman 4.3.1's, as shipped and as handed to runc).
#include "core/profile.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>

namespace sockgate {
namespace {

using nlohmann::ordered_json;

constexpr const char* kListener = "/run/user/1000/sockgate/listener.sock";

ordered_json read_example(const std::string& name) {
  std::ifstream stream(std::string(SOCKGATE_SOURCE_DIR) + "/examples/seccomp/" + name);
  EXPECT_TRUE(stream) << name;
  return ordered_json::parse(stream);
}

ProfileResult profile_of(const ordered_json& base) {
  ProfileOptions options;
  options.base = base;
  options.base_name = "base.json";
  options.listener_path = kListener;
  return make_profile(options);
}

std::vector<std::string> names_of(const ordered_json& rule) {
  return rule.at("names").get<std::vector<std::string>>();
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

const ordered_json kNotifyRule = {{"names", {"connect", "bind"}}, {"action", "SCMP_ACT_NOTIFY"}};

const ordered_json kIoUringRule = {
    {"names", {"io_uring_setup", "io_uring_enter", "io_uring_register"}},
    {"action", "SCMP_ACT_ERRNO"},
    {"errnoRet", 38}};

// The rule that fails the sends of `call` whose flags (argument `index`) contain MSG_FASTOPEN
// (0x20000000) with EOPNOTSUPP (95).
ordered_json fast_open_errno(const std::string& call, int index) {
  return {{"names", {call}},
          {"action", "SCMP_ACT_ERRNO"},
          {"errnoRet", 95},
          {"args",
           {{{"index", index},
             {"value", 536870912},
             {"valueTwo", 536870912},
             {"op", "SCMP_CMP_MASKED_EQ"}}}}};
}

// The rule that lets the sends of `call` without MSG_FASTOPEN run with `action`.
ordered_json fast_open_allow(const std::string& call, int index,
                             const std::string& action = "SCMP_ACT_ALLOW") {
  return {
      {"names", {call}},
      {"action", action},
      {"args",
       {{{"index", index}, {"value", 536870912}, {"valueTwo", 0}, {"op", "SCMP_CMP_MASKED_EQ"}}}}};
}

// The rules in front of the base's when it lets every call run by its defaultAction.
const std::vector<ordered_json> kRulesForAllowBase = {
    kNotifyRule, kIoUringRule, fast_open_errno("sendto", 3), fast_open_errno("sendmsg", 2),
    fast_open_errno("sendmmsg", 3)};

// The rules in front of the base's when an allow rule without conditions lets connect, bind and
// the send calls run, and the defaultAction denies the rest (Podman's default profile).
const std::vector<ordered_json> kRulesForDenyBase = {kNotifyRule,
                                                     fast_open_errno("sendto", 3),
                                                     fast_open_errno("sendmsg", 2),
                                                     fast_open_errno("sendmmsg", 3),
                                                     fast_open_allow("sendto", 3),
                                                     fast_open_allow("sendmsg", 2),
                                                     fast_open_allow("sendmmsg", 3)};

// The rule of the profile that the base had at `index`, when the base let everything run.
const ordered_json& base_rule(const ProfileResult& result, std::size_t index) {
  return result.profile.at("syscalls").at(kRulesForAllowBase.size() + index);
}

TEST(Profile, NoBaseAllowsTheRest) {
  ProfileOptions options;
  options.listener_path = kListener;

  ProfileResult result = make_profile(options);

  ASSERT_EQ(result.error, "");
  ordered_json expected = {{"defaultAction", "SCMP_ACT_ALLOW"},
                           {"architectures", native_architectures()},
                           {"listenerPath", kListener},
                           {"syscalls", kRulesForAllowBase}};
  EXPECT_EQ(result.profile, expected) << result.profile.dump(2);
  EXPECT_TRUE(result.notes.empty());
  EXPECT_TRUE(result.warnings.empty());
}

TEST(Profile, NativeArchitecturesOfX86_64) {
#if defined(__x86_64__)
  EXPECT_EQ(native_architectures(),
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
#else
  GTEST_SKIP() << "this machine is not x86_64";
#endif
}

TEST(Profile, MetadataIsSet) {
  ProfileOptions options;
  options.listener_path = kListener;
  options.metadata = "tenant=7";

  ProfileResult result = make_profile(options);

  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.profile.at("listenerMetadata"), "tenant=7");
}

// Checks that the profile is the base with sockgate's rules first (kRulesForDenyBase), connect,
// bind and the send calls taken out of the one rule that allowed them, and every other rule and
// key as it was.
void expect_base_kept(const ordered_json& base, const ProfileResult& result,
                      std::size_t allow_rule) {
  ASSERT_EQ(result.error, "");
  const ordered_json& profile = result.profile;
  const ordered_json& syscalls = profile.at("syscalls");
  std::size_t added = kRulesForDenyBase.size();
  ASSERT_EQ(syscalls.size(), base.at("syscalls").size() + added);
  for (std::size_t i = 0; i < added; ++i) {
    EXPECT_EQ(syscalls[i], kRulesForDenyBase[i]) << "syscalls[" << i << "]";
  }
  for (std::size_t i = 0; i < base.at("syscalls").size(); ++i) {
    const ordered_json& before = base.at("syscalls")[i];
    const ordered_json& after = syscalls[i + added];
    if (i != allow_rule) {
      EXPECT_EQ(after, before) << "syscalls[" << i << "] changed";
      continue;
    }
    std::vector<std::string> expected = names_of(before);
    for (const char* call : {"connect", "bind", "sendto", "sendmsg", "sendmmsg"}) {
      std::erase(expected, call);
    }
    EXPECT_EQ(names_of(after), expected);
    EXPECT_EQ(names_of(after).size() + 5, names_of(before).size());
    ordered_json rest = after;
    ordered_json rest_before = before;
    rest.erase("names");
    rest_before.erase("names");
    EXPECT_EQ(rest, rest_before);
  }
  for (const auto& [key, value] : base.items()) {
    if (key != "syscalls") {
      EXPECT_EQ(profile.at(key), value) << key;
    }
  }
  EXPECT_EQ(profile.at("listenerPath"), kListener);
}

TEST(Profile, PodmanDefaultKeepsEveryRule) {
  ordered_json base = read_example("podman-default.json");
  ASSERT_TRUE(contains(names_of(base["syscalls"][1]), "connect"));

  ProfileResult result = profile_of(base);

  expect_base_kept(base, result, 1);
  ASSERT_EQ(result.notes.size(), 2U);
  EXPECT_EQ(result.notes[0],
            "took connect, bind out of syscalls[1] of base.json "
            "(SCMP_ACT_ALLOW): the notify rule covers them");
  EXPECT_EQ(result.notes[1],
            "took sendto, sendmsg, sendmmsg out of syscalls[1] of base.json (SCMP_ACT_ALLOW): "
            "they are allowed only without MSG_FASTOPEN, because Fast Open sends fail with "
            "EOPNOTSUPP");
  EXPECT_TRUE(result.warnings.empty());
}

TEST(Profile, PodmanDefaultKeepsKeyOrder) {
  ordered_json base = read_example("podman-default.json");

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  std::vector<std::string> keys;
  for (const auto& [key, value] : result.profile.items()) {
    keys.push_back(key);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"defaultAction", "defaultErrnoRet", "defaultErrno",
                                            "archMap", "syscalls", "listenerPath"}));
}

TEST(Profile, RuncDefaultKeepsEveryRule) {
  ordered_json base = read_example("runc-default.json");

  ProfileResult result = profile_of(base);

  expect_base_kept(base, result, 1);
  EXPECT_TRUE(result.warnings.empty());
}

TEST(Profile, PodmanDefaultExactRules) {
  ordered_json base = read_example("podman-default.json");

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  ordered_json expected = base;
  ordered_json& allow_list = expected["syscalls"][1]["names"];
  for (const char* call : {"connect", "bind", "sendto", "sendmsg", "sendmmsg"}) {
    allow_list.erase(std::find(allow_list.begin(), allow_list.end(), call));
  }
  ordered_json syscalls = kRulesForDenyBase;
  for (const ordered_json& rule : expected["syscalls"]) {
    syscalls.push_back(rule);
  }
  expected["syscalls"] = syscalls;
  expected["listenerPath"] = kListener;
  EXPECT_EQ(result.profile, expected) << result.profile.dump(2);
}

TEST(Profile, AllowBaseExactRules) {
  ordered_json base = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"architectures", {"SCMP_ARCH_X86_64"}},
      {"syscalls", {{{"names", {"ptrace"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}}}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  ordered_json syscalls = kRulesForAllowBase;
  syscalls.push_back(base["syscalls"][0]);
  ordered_json expected = {{"defaultAction", "SCMP_ACT_ALLOW"},
                           {"architectures", {"SCMP_ARCH_X86_64"}},
                           {"syscalls", syscalls},
                           {"listenerPath", kListener}};
  EXPECT_EQ(result.profile, expected) << result.profile.dump(2);
  EXPECT_TRUE(result.notes.empty());
  EXPECT_TRUE(result.warnings.empty());
}

TEST(Profile, IoUringAllowedByRuleIsTakenOut) {
  ordered_json base = {{"defaultAction", "SCMP_ACT_ERRNO"},
                       {"syscalls",
                        {{{"names", {"connect", "io_uring_setup", "io_uring_enter", "read"}},
                          {"action", "SCMP_ACT_ALLOW"}}}}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  const ordered_json& syscalls = result.profile.at("syscalls");
  ASSERT_EQ(syscalls.size(), 3U);
  EXPECT_EQ(syscalls[0], (ordered_json{{"names", {"connect"}}, {"action", "SCMP_ACT_NOTIFY"}}));
  EXPECT_EQ(syscalls[1], (ordered_json{{"names", {"io_uring_setup", "io_uring_enter"}},
                                       {"action", "SCMP_ACT_ERRNO"},
                                       {"errnoRet", 38}}));
  EXPECT_EQ(names_of(syscalls[2]), std::vector<std::string>{"read"});
  ASSERT_EQ(result.notes.size(), 2U);
  EXPECT_EQ(result.notes[1],
            "took io_uring_setup, io_uring_enter out of syscalls[0] of base.json "
            "(SCMP_ACT_ALLOW): they fail with ENOSYS, so that no IORING_OP_CONNECT gets past "
            "the gateway");
}

TEST(Profile, IoUringDeniedByRuleStaysAsIs) {
  ordered_json deny = {{"names", {"io_uring_setup", "io_uring_enter", "io_uring_register"}},
                       {"action", "SCMP_ACT_ERRNO"},
                       {"errnoRet", 1}};
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {deny}}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  const ordered_json& syscalls = result.profile.at("syscalls");
  ASSERT_EQ(syscalls.size(), 5U);
  EXPECT_EQ(syscalls[0], kNotifyRule);
  EXPECT_EQ(syscalls[1], fast_open_errno("sendto", 3));
  EXPECT_EQ(syscalls[4], deny);
  EXPECT_TRUE(result.warnings.empty());
}

TEST(Profile, SendLoggedByRuleKeepsAction) {
  ordered_json base = {{"defaultAction", "SCMP_ACT_ERRNO"},
                       {"syscalls",
                        {{{"names", {"connect", "bind"}}, {"action", "SCMP_ACT_ALLOW"}},
                         {{"name", "sendmsg"}, {"action", "SCMP_ACT_LOG"}}}}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  const ordered_json& syscalls = result.profile.at("syscalls");
  ASSERT_EQ(syscalls.size(), 5U);
  EXPECT_EQ(syscalls[1], fast_open_errno("sendmsg", 2));
  EXPECT_EQ(syscalls[2], fast_open_allow("sendmsg", 2, "SCMP_ACT_LOG"));
  EXPECT_EQ(syscalls[4],
            (ordered_json{{"action", "SCMP_ACT_LOG"}, {"names", ordered_json::array()}}));
  ASSERT_EQ(result.notes.size(), 2U);
  EXPECT_EQ(result.notes[1],
            "took sendmsg out of syscalls[1] of base.json (SCMP_ACT_LOG): it is allowed only "
            "without MSG_FASTOPEN, because Fast Open sends fail with EOPNOTSUPP");
}

TEST(Profile, SendDeniedForSomeCapabilitiesIsAnError) {
  ordered_json rule = {
      {"names", {"sendto"}}, {"action", "SCMP_ACT_ERRNO"}, {"includes", {{"arches", {"amd64"}}}}};
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {rule}}};

  ProfileResult result = profile_of(base);

  EXPECT_EQ(result.error,
            "syscalls[0] of base.json (SCMP_ACT_ERRNO) denies sendto for some architectures or "
            "capabilities only (includes/excludes); the Fast Open rule for sendto would override "
            "it; remove sendto from that rule or its conditions");
}

TEST(Profile, ConditionalSendRuleStaysWithWarning) {
  ordered_json conditional = {{"names", {"sendto"}},
                              {"action", "SCMP_ACT_ERRNO"},
                              {"errnoRet", 1},
                              {"args", {{{"index", 5}, {"value", 16}, {"op", "SCMP_CMP_EQ"}}}}};
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {conditional}}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  EXPECT_EQ(base_rule(result, 0), conditional);
  ASSERT_EQ(result.warnings.size(), 1U);
  EXPECT_EQ(result.warnings[0],
            "syscalls[0] of base.json (SCMP_ACT_ERRNO) sets conditions on the arguments of "
            "sendto; it stays, but sockgate's Fast Open rules also test the arguments of sendto, "
            "and libseccomp decides which of them applies to a call that both match");
}

TEST(Profile, SameListenerPathIsAccepted) {
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"listenerPath", kListener}};

  ProfileResult result = profile_of(base);

  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.profile.at("listenerPath"), kListener);
}

TEST(Profile, OtherListenerPathIsRejected) {
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"},
                       {"listenerPath", "/run/agent/other.sock"}};

  ProfileResult result = profile_of(base);

  EXPECT_TRUE(result.profile.is_null());
  EXPECT_EQ(result.error,
            "base.json already sends notifications to /run/agent/other.sock, but sockgate's "
            "listener is /run/user/1000/sockgate/listener.sock; remove listenerPath from the "
            "base, or pass --listener /run/agent/other.sock if sockgate serve listens there");
}

TEST(Profile, BaseMetadataIsKept) {
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"listenerMetadata", "from-base"}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.profile.at("listenerMetadata"), "from-base");
}

TEST(Profile, NotifyOfOtherCallIsRejected) {
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"},
                       {"syscalls", {{{"names", {"sendmsg"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};

  ProfileResult result = profile_of(base);

  EXPECT_EQ(result.error,
            "syscalls[0] of base.json (SCMP_ACT_NOTIFY) notifies sendmsg; sockgate handles only "
            "connect and bind, and runtimes hang when calls they use to hand over the listener "
            "(sendmsg, fcntl) are notified; remove that rule or change its action");
}

TEST(Profile, NotifyOfConnectIsMerged) {
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"},
                       {"syscalls", {{{"names", {"connect"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.profile["syscalls"][0], kNotifyRule);
  EXPECT_EQ(base_rule(result, 0),
            (ordered_json{{"names", ordered_json::array()}, {"action", "SCMP_ACT_NOTIFY"}}));
}

TEST(Profile, DeniedBindStaysDenied) {
  ordered_json deny = {
      {"names", {"bind", "listen"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}};
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {deny}}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.profile["syscalls"][0],
            (ordered_json{{"names", {"connect"}}, {"action", "SCMP_ACT_NOTIFY"}}));
  EXPECT_EQ(base_rule(result, 0), deny);
  ASSERT_EQ(result.warnings.size(), 1U);
  EXPECT_EQ(result.warnings[0],
            "syscalls[0] of base.json (SCMP_ACT_ERRNO) denies bind; it stays "
            "denied and sockgate is not notified of it");
}

TEST(Profile, DefaultDenyWithoutRuleStaysDenied) {
  ordered_json base = {
      {"defaultAction", "SCMP_ACT_ERRNO"},
      {"syscalls", {{{"names", {"connect", "read"}}, {"action", "SCMP_ACT_ALLOW"}}}}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.profile["syscalls"][0],
            (ordered_json{{"names", {"connect"}}, {"action", "SCMP_ACT_NOTIFY"}}));
  EXPECT_EQ(names_of(result.profile["syscalls"][1]), std::vector<std::string>{"read"});
  ASSERT_EQ(result.warnings.size(), 1U);
  EXPECT_EQ(result.warnings[0],
            "base.json denies bind by its defaultAction SCMP_ACT_ERRNO and no rule allows it; it "
            "stays denied and sockgate is not notified of it");
}

TEST(Profile, BothDeniedIsAnError) {
  ordered_json base = {{"defaultAction", "SCMP_ACT_KILL"}};

  ProfileResult result = profile_of(base);

  EXPECT_EQ(result.error,
            "base.json denies both connect and bind, so there is nothing for sockgate to decide");
}

TEST(Profile, ConditionalRuleStaysWithWarning) {
  ordered_json conditional = {{"names", {"connect"}},
                              {"action", "SCMP_ACT_ERRNO"},
                              {"errnoRet", 1},
                              {"args", {{{"index", 2}, {"value", 16}, {"op", "SCMP_CMP_EQ"}}}}};
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {conditional}}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.profile["syscalls"][0], kNotifyRule);
  EXPECT_EQ(base_rule(result, 0), conditional);
  ASSERT_EQ(result.warnings.size(), 1U);
  EXPECT_EQ(result.warnings[0],
            "syscalls[0] of base.json (SCMP_ACT_ERRNO) sets conditions on the arguments of "
            "connect; it stays, but libseccomp lets the earlier notify rule decide every connect "
            "call, so it no longer takes effect; express it as a sockgate rule instead");
}

TEST(Profile, ConditionalAllowWithoutArgsIsTakenOut) {
  ordered_json rule = {{"names", {"bind"}},
                       {"action", "SCMP_ACT_ALLOW"},
                       {"includes", {{"caps", {"CAP_NET_BIND_SERVICE"}}}}};
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {rule}}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  EXPECT_EQ(base_rule(result, 0)["names"], ordered_json::array());
  EXPECT_EQ(base_rule(result, 0)["includes"], rule["includes"]);
}

TEST(Profile, DenyForSomeCapabilitiesIsAnError) {
  ordered_json rule = {{"names", {"bind"}},
                       {"action", "SCMP_ACT_ERRNO"},
                       {"excludes", {{"caps", {"CAP_NET_BIND_SERVICE"}}}}};
  ordered_json base = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {rule}}};

  ProfileResult result = profile_of(base);

  EXPECT_EQ(result.error,
            "syscalls[0] of base.json (SCMP_ACT_ERRNO) denies bind for some architectures or "
            "capabilities only (includes/excludes); a notify rule for bind would override it; "
            "remove bind from that rule or its conditions");
}

TEST(Profile, SingularNameIsTakenOut) {
  ordered_json base = {{"defaultAction", "SCMP_ACT_ERRNO"},
                       {"syscalls",
                        {{{"name", "connect"}, {"action", "SCMP_ACT_ALLOW"}},
                         {{"name", "bind"}, {"action", "SCMP_ACT_LOG"}}}}};

  ProfileResult result = profile_of(base);

  ASSERT_EQ(result.error, "");
  EXPECT_EQ(result.profile["syscalls"][0], kNotifyRule);
  EXPECT_EQ(result.profile["syscalls"][1],
            (ordered_json{{"action", "SCMP_ACT_ALLOW"}, {"names", ordered_json::array()}}));
  EXPECT_EQ(result.profile["syscalls"][2],
            (ordered_json{{"action", "SCMP_ACT_LOG"}, {"names", ordered_json::array()}}));
  EXPECT_EQ(result.notes.size(), 2U);
}

TEST(Profile, InvalidBasesAreRejected) {
  EXPECT_EQ(profile_of(ordered_json::array()).error, "base.json is not a JSON object");
  EXPECT_EQ(profile_of(ordered_json{{"syscalls", ordered_json::array()}}).error,
            "base.json has no \"defaultAction\" string");
  EXPECT_EQ(profile_of(ordered_json{{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", 3}}).error,
            "\"syscalls\" of base.json is not a list");
  EXPECT_EQ(profile_of(ordered_json{{"defaultAction", "SCMP_ACT_ALLOW"},
                                    {"syscalls", {{{"names", {"read"}}}}}})
                .error,
            "syscalls[0] of base.json has no \"action\" string");
  EXPECT_EQ(profile_of(ordered_json{{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", {1}}}).error,
            "syscalls[0] of base.json is not an object");
}

}  // namespace
}  // namespace sockgate
