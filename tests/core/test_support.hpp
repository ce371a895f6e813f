// Helpers for the kernel tests: running programs, the test host's addresses.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sockgate::test {

struct ProcessResult {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs a program with a time limit (it is killed past it) and returns its output.
ProcessResult run_process(const std::vector<std::string>& argv, int timeout_seconds = 60);

// A running program whose standard output can be read line by line.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // The next line of standard output, or std::nullopt at end of file or after the timeout.
  std::optional<std::string> read_line(int timeout_seconds = 20);
  // Waits for the exit and returns the status; kills the program after the timeout.
  int wait(int timeout_seconds = 20);
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  int out_ = -1;
  std::string buffer_;
};

// The test host's settings (tests/lib/testhosts.sh writes them): SOCKGATE_TEST_HOST_IPV4 and
// so on. Read from $SOCKGATE_TEST_ENV, else /run/sockgate-test/env. Empty when absent.
const std::map<std::string, std::string>& test_host();
// One setting; the test must have checked test_host() is not empty.
std::string host_setting(const std::string& key);

std::string sockgate_binary();
std::string probe_binary();

// Runs `sockgate run [flags] -- sockgate-probe SCENARIO ARGS...` and parses the probe's last
// line of output as JSON. Fails the test with sockgate's standard error when that is not JSON.
nlohmann::json run_probe(const std::vector<std::string>& run_flags,
                         const std::vector<std::string>& probe_args);
// The probe directly on the host, without sockgate.
nlohmann::json run_probe_on_host(const std::vector<std::string>& probe_args);

// A TCP port that is free on every host address now.
int free_port();

}  // namespace sockgate::test
