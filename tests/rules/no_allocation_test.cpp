// Policy::decide must not allocate: the test counts calls of the global operator new while it
// decides events against a large policy.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

#include "rules/load.hpp"

namespace {

thread_local bool counting = false;
thread_local std::size_t allocations = 0;

}  // namespace

void* operator new(std::size_t size) {
  if (counting) {
    ++allocations;
  }
  if (void* memory = std::malloc(size == 0 ? 1 : size)) {
    return memory;
  }
  throw std::bad_alloc();
}

void operator delete(void* memory) noexcept {
  std::free(memory);
}
void operator delete(void* memory, std::size_t /*size*/) noexcept {
  std::free(memory);
}

namespace sockgate::rules {
namespace {

TEST(Decide, AllocatesNothing) {
  std::string text = "set lan = { 10.0.0.0/8, fc00::/7 }\n";
  for (int i = 0; i < 3000; ++i) {
    text += "rule r" + std::to_string(i) + ": deny connect tcp to 10." + std::to_string(i % 256) +
            ".0.0/16, !@lan port " + std::to_string(1 + i % 1000) + " if label app=a" +
            std::to_string(i % 7) + "\n";
  }
  text += "rule published: bypass bind tcp port 80 publish [::1]:8080\ndefault deny errno EPERM\n";
  const LoadResult loaded = load_policy_text("t.rules", text);
  ASSERT_TRUE(loaded.ok()) << loaded.format_diagnostics();
  LabelSet labels;
  labels.set("app", "a3");
  const Subject subject = loaded.policy->subject(labels);

  Event bind;
  bind.operation = Operation::bind;
  bind.address = *IpAddress::parse("::");
  bind.port = 80;
  Event connect;
  connect.address = *IpAddress::parse("192.0.2.1");
  connect.port = 443;

  counting = true;
  const Decision published = loaded.policy->decide(bind, subject);
  const Decision fallback = loaded.policy->decide(connect, subject);
  counting = false;

  EXPECT_EQ(allocations, 0U);
  EXPECT_EQ(published.action, Action::bypass);
  EXPECT_TRUE(published.publish.has_value());
  EXPECT_EQ(fallback.rule, kDefaultRule);
}

TEST(Decide, CounterSeesAllocations) {
  // The counter works: a vector allocation while counting is seen.
  counting = true;
  std::vector<int>* vector = new std::vector<int>(10);
  counting = false;
  EXPECT_GE(allocations, 1U);
  delete vector;
  allocations = 0;
}

}  // namespace
}  // namespace sockgate::rules
