// Helpers of the attack tests: running sockgate-attacker under `sockgate run` and on the host,
// listeners on the host's loopback that count what reaches them, and temporary rule files.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace sockgate::test {

std::string attacker_binary();

// Runs `sockgate run [flags] -- sockgate-attacker SCENARIO ARGS...` and parses the last line of
// its output as JSON. Fails the test with sockgate's standard error when that is not JSON.
nlohmann::json run_attacker(const std::vector<std::string>& run_flags,
                            const std::vector<std::string>& attacker_args,
                            int timeout_seconds = 90);
// The attacker directly on the host, without sockgate.
nlohmann::json run_attacker_on_host(const std::vector<std::string>& attacker_args,
                                    int timeout_seconds = 90);

// A TCP or UDP socket on the host's 127.0.0.1 at a free port that counts the connections it
// accepts or the datagrams it receives, until it is destroyed.
class LoopbackListener {
 public:
  explicit LoopbackListener(int type);
  ~LoopbackListener();
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  int port() const { return port_; }
  std::string port_text() const { return std::to_string(port_); }
  // Connections accepted (TCP) or datagrams received (UDP) so far.
  int count() const { return count_.load(); }

 private:
  void serve();

  int type_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> count_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A directory under /tmp removed with its files when the object is destroyed.
class TempDirectory {
 public:
  TempDirectory();
  ~TempDirectory();
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;

  // Writes `text` to NAME in the directory and returns its path.
  std::string write(const std::string& name, const std::string& text) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// What `sockgate check FILE` did: its result, wall time and peak resident memory.
struct CheckRun {
  ProcessResult result;
  double seconds = 0;
  long max_rss_kib = 0;
};
// Runs `sockgate check FILE`. The peak memory is the largest of all children this process has
// waited for, so call it once per test (CTest runs each test in its own process).
CheckRun run_check(const std::string& file, int timeout_seconds = 120);

}  // namespace sockgate::test
