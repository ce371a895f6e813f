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

TEST(Profile, NoBaseAllowsTheRest) {
  ProfileOptions options;
  options.listener_path = kListener;

  ProfileResult result = make_profile(options);

  ASSERT_EQ(result.error, "");
  ordered_json expected = {{"defaultAction", "SCMP_ACT_ALLOW"},
                           {"architectures", native_architectures()},
                           {"listenerPath", kListener},
                           {"syscalls", {kNotifyRule}}};
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

// Checks that the profile is the base with the notify rule first, connect and bind taken out of
// the one rule that allowed them, and every other rule and key as it was.
void expect_base_kept(const ordered_json& base, const ProfileResult& result,
                      std::size_t allow_rule) {
  ASSERT_EQ(result.error, "");
  const ordered_json& profile = result.profile;
  const ordered_json& syscalls = profile.at("syscalls");
  ASSERT_EQ(syscalls.size(), base.at("syscalls").size() + 1);
  EXPECT_EQ(syscalls[0], kNotifyRule);
  for (std::size_t i = 0; i < base.at("syscalls").size(); ++i) {
    const ordered_json& before = base.at("syscalls")[i];
    const ordered_json& after = syscalls[i + 1];
    if (i != allow_rule) {
      EXPECT_EQ(after, before) << "syscalls[" << i << "] changed";
      continue;
    }
    std::vector<std::string> expected = names_of(before);
    std::erase(expected, "connect");
    std::erase(expected, "bind");
    EXPECT_EQ(names_of(after), expected);
    EXPECT_EQ(names_of(after).size() + 2, names_of(before).size());
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
  ASSERT_EQ(result.notes.size(), 1U);
  EXPECT_EQ(result.notes[0],
            "took connect, bind out of syscalls[1] of base.json "
            "(SCMP_ACT_ALLOW): the notify rule covers them");
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
  EXPECT_EQ(result.profile["syscalls"][1],
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
  EXPECT_EQ(result.profile["syscalls"][1], deny);
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
  EXPECT_EQ(result.profile["syscalls"][1], conditional);
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
  EXPECT_EQ(result.profile["syscalls"][1]["names"], ordered_json::array());
  EXPECT_EQ(result.profile["syscalls"][1]["includes"], rule["includes"]);
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
