// PolicyHandle: swap, generation, and readers racing a writer.
#include "rules/policy_handle.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "rules/load.hpp"

namespace sockgate::rules {
namespace {

std::shared_ptr<const Policy> policy_with_default(const char* action) {
  LoadResult loaded = load_policy_text("t.rules", std::string("default ") + action + "\n");
  EXPECT_TRUE(loaded.ok());
  return loaded.policy;
}

TEST(PolicyHandle, ReplaceBumpsGeneration) {
  PolicyHandle handle(policy_with_default("pass"));
  EXPECT_EQ(handle.generation(), 0U);
  EXPECT_EQ(handle.current()->default_action(), Action::pass);

  const auto old = handle.current();
  EXPECT_EQ(handle.replace(policy_with_default("deny")), 1U);
  EXPECT_EQ(handle.generation(), 1U);
  EXPECT_EQ(handle.current()->default_action(), Action::deny);
  // A reader that loaded the old policy keeps it alive and unchanged.
  EXPECT_EQ(old->default_action(), Action::pass);

  const auto snapshot = handle.snapshot();
  EXPECT_EQ(snapshot.generation, 1U);
  EXPECT_EQ(snapshot.policy, handle.current());
}

TEST(PolicyHandle, SnapshotNeverOlderThanGeneration) {
  // Policy g has g rules and is installed as generation g, so a snapshot whose policy has fewer
  // rules than its generation paired a newer generation with an older policy.
  constexpr int kPolicies = 300;
  std::vector<std::shared_ptr<const Policy>> policies;
  std::string text;
  for (int i = 0; i < kPolicies; ++i) {
    LoadResult loaded = load_policy_text("t.rules", text);
    ASSERT_TRUE(loaded.ok());
    policies.push_back(loaded.policy);
    text += "rule r" + std::to_string(i) + ": deny connect port " + std::to_string(i + 1) + "\n";
  }

  int violations = 0;
  int reads = 0;
  for (int round = 0; round < 20; ++round) {
    PolicyHandle handle(policies[0]);
    std::atomic<bool> stop{false};
    std::atomic<bool> started{false};
    std::thread reader([&] {
      started.store(true);
      while (!stop.load()) {
        const auto snapshot = handle.snapshot();
        violations += snapshot.policy->rules().size() < snapshot.generation ? 1 : 0;
        ++reads;
      }
    });
    while (!started.load()) {
      std::this_thread::yield();
    }
    for (int i = 1; i < kPolicies; ++i) {
      handle.replace(policies[i]);
    }
    stop.store(true);
    reader.join();
    EXPECT_EQ(handle.generation(), static_cast<std::uint64_t>(kPolicies - 1));
  }
  EXPECT_EQ(violations, 0);
  EXPECT_GT(reads, 0);
}

}  // namespace
}  // namespace sockgate::rules
