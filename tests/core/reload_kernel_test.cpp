// Reload under load: while a command opens connections in a loop, the rule file changes 50 times
// (valid and invalid versions mixed) and `sockgate run` gets SIGHUP each time. No connection may
// fail, and each connection's decision follows the last valid file.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace sockgate::test {
namespace {

std::int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

void write_atomically(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::path temporary = path.string() + ".new";
  std::ofstream(temporary) << text;
  std::filesystem::rename(temporary, path);
}

struct Reload {
  std::int64_t at_ns;
  // The decision connections get after this reload: the last valid file's.
  bool bypass;
};

TEST(ReloadKernelTest, FiftyReloadsUnderLoad) {
  if (test_host().empty()) {
    GTEST_SKIP() << "no test host: run tests/run.sh, which sets one up";
  }
  if (geteuid() == 0) {
    GTEST_SKIP() << "the kernel tests run as an unprivileged user; tests/run.sh does that";
  }
  std::string host = host_setting("SOCKGATE_TEST_HOST_IPV4");
  std::string port = host_setting("SOCKGATE_TEST_ECHO_PORT");
  const std::string bypass_rules = "rule echo: bypass connect tcp to " + host + "\ndefault pass\n";
  const std::string pass_rules = "rule echo: pass connect tcp to " + host + "\ndefault pass\n";
  const std::string invalid_rules = "rule echo: bypass connect tcp to 300.1.2.3\n";

  auto directory = std::filesystem::temp_directory_path() /
                   ("sockgate-reload-" + std::to_string(getpid()));
  std::filesystem::create_directories(directory);
  auto rules = directory / "echo.rules";
  write_atomically(rules, bypass_rules);

  BackgroundProcess run({sockgate_binary(), "run", "--metrics", "none", "--control", "none",
                         "--rules", rules.string(), "--", probe_binary(), "connect-loop", host,
                         port, "16"});
  auto first = run.read_line();
  ASSERT_TRUE(first.has_value()) << "the command printed nothing";

  std::vector<Reload> reloads = {{0, true}};
  bool bypass = true;
  for (int i = 0; i < 50; ++i) {
    int kind = i % 3;
    write_atomically(rules, kind == 0 ? pass_rules : kind == 1 ? bypass_rules : invalid_rules);
    if (kind != 2) {
      bypass = kind == 1;
    }
    reloads.push_back({monotonic_ns(), bypass});
    kill(run.pid(), SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }

  std::vector<nlohmann::json> connections = {nlohmann::json::parse(*first)};
  while (auto line = run.read_line(30)) {
    auto parsed = nlohmann::json::parse(*line);
    if (parsed.contains("start_ns")) {
      connections.push_back(parsed);
    }
  }
  EXPECT_EQ(run.wait(), 0);
  std::filesystem::remove_all(directory);

  // A reload takes effect within this margin; connections that start inside it are skipped.
  constexpr std::int64_t kMarginNs = 100'000'000;
  int checked_bypass = 0;
  int checked_pass = 0;
  for (const auto& connection : connections) {
    EXPECT_EQ(connection["errno"], "0") << connection.dump();
    EXPECT_EQ(connection["echo"], true) << connection.dump();
    std::int64_t start = connection["start_ns"];
    for (std::size_t i = 0; i < reloads.size(); ++i) {
      std::int64_t next = i + 1 < reloads.size() ? reloads[i + 1].at_ns : INT64_MAX;
      if (start >= reloads[i].at_ns + kMarginNs && start < next) {
        EXPECT_EQ(connection["bypassed"], reloads[i].bypass) << "reload " << i;
        (reloads[i].bypass ? checked_bypass : checked_pass)++;
      }
    }
  }
  EXPECT_GT(connections.size(), 200U);
  EXPECT_GT(checked_bypass, 20);
  EXPECT_GT(checked_pass, 20);
}

}  // namespace
}  // namespace sockgate::test
