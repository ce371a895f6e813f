// Attack tests of the gateway's resources: processes killed with connects pending, many
// blocking connects, many short connections and processes, SIGHUP storms, hostile rule files
// and hostile clients of the control socket. Each checks that the gateway keeps serving and
// that its descriptors return to where they were.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "attack_support.hpp"

namespace sockgate::test {
namespace {

class AttackLimitsKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test_host().empty()) {
      GTEST_SKIP() << "no test host: run tests/run.sh, which sets one up "
                      "(or point SOCKGATE_TEST_ENV at its settings)";
    }
    if (geteuid() == 0) {
      GTEST_SKIP() << "the kernel tests run as an unprivileged user; tests/run.sh does that";
    }
  }

  std::string host4() { return host_setting("SOCKGATE_TEST_HOST_IPV4"); }
  std::string echo_port() { return host_setting("SOCKGATE_TEST_ECHO_PORT"); }
  std::string http_port() { return host_setting("SOCKGATE_TEST_HTTP_PORT"); }
  std::string blackhole4() { return host_setting("SOCKGATE_TEST_BLACKHOLE_IPV4"); }

  TempDirectory directory_;
};

void expect_descriptors_back(const nlohmann::json& report) {
  EXPECT_EQ(report["after"]["descriptors"], report["before"]["descriptors"])
      << "before: " << report["before"].dump() << ", after: " << report["after"].dump();
}

TEST_F(AttackLimitsKernelTest, KilledProcessesWithPendingConnectsLeakNothing) {
  auto report = run_attacker({}, {"kill-pending", blackhole4(), echo_port(), "10", "50", host4(),
                                  http_port()});
  expect_descriptors_back(report);
  EXPECT_GT(report["pending"]["descriptors"].get<long>(),
            report["before"]["descriptors"].get<long>());
  EXPECT_LT(report["after"]["rss_kib"].get<long>() - report["before"]["rss_kib"].get<long>(),
            16 * 1024);
  EXPECT_EQ(report["echo_after"]["errno"], "0");
}

// Each pending blocking connect keeps three descriptors open in the gateway (a pidfd, the
// target's socket and the host socket), so `sockgate run` raises its open file limit to the hard
// limit.
TEST_F(AttackLimitsKernelTest, ManyBlockingConnectsLeaveRoomForOthers) {
  auto report = run_attacker(
      {}, {"many-blocking", blackhole4(), echo_port(), "600", host4(), http_port()});
  EXPECT_EQ(report["echo_while_pending"]["errno"], "0");
  EXPECT_LT(report["echo_while_pending"]["ms"].get<long>(), 1000);
  expect_descriptors_back(report);
}

TEST_F(AttackLimitsKernelTest, ShortConnectionsLeakNothing) {
  auto report = run_attacker({}, {"short-connections", host4(), http_port(), "3000"});
  EXPECT_EQ(report["failures"], 0) << report["errors"].dump();
  expect_descriptors_back(report);
  EXPECT_LT(report["after"]["rss_kib"].get<long>() - report["before"]["rss_kib"].get<long>(),
            4 * 1024);
}

TEST_F(AttackLimitsKernelTest, ForkStormIsServed) {
  auto report = run_attacker({}, {"fork-storm", host4(), http_port(), "40", "25"});
  EXPECT_EQ(report["failed_children"], 0);
  EXPECT_EQ(report["unforked"], 0);
  expect_descriptors_back(report);
}

TEST_F(AttackLimitsKernelTest, HupStormKeepsServing) {
  std::string rules = directory_.write(
      "storm.rules", "rule echo-denied: deny connect tcp to " + host4() + " port " +
                         echo_port() + "\nrule other: bypass connect tcp\n");
  auto report = run_attacker({"--rules", rules}, {"hup-storm", host4(), http_port(), "5"});
  EXPECT_GT(report["signals"].get<long>(), 1000);
  EXPECT_GT(report["connects"].get<long>(), 0);
  EXPECT_EQ(report["failures"], 0);
  expect_descriptors_back(report);
}

// Hostile rule files: `sockgate check` must report a diagnostic, in bounded time.

TEST_F(AttackLimitsKernelTest, CheckRejectsIncludeCycle) {
  directory_.write("b.rules", "include \"a.rules\"\n");
  auto run = run_check(directory_.write("a.rules", "include \"b.rules\"\n"), 10);
  EXPECT_EQ(run.result.status, 1);
  EXPECT_NE(run.result.err.find("include cycle"), std::string::npos) << run.result.err;
}

TEST_F(AttackLimitsKernelTest, CheckRejectsIncludesDeeperThan32Files) {
  for (int depth = 1; depth < 40; ++depth) {
    directory_.write("deep" + std::to_string(depth) + ".rules",
                     "include \"deep" + std::to_string(depth + 1) + ".rules\"\n");
  }
  directory_.write("deep40.rules", "rule deepest: deny connect\n");
  auto run = run_check(directory_.write("deep0.rules", "include \"deep1.rules\"\n"), 10);
  EXPECT_EQ(run.result.status, 1);
  EXPECT_NE(run.result.err.find("deeper than 32"), std::string::npos) << run.result.err;
}

TEST_F(AttackLimitsKernelTest, CheckRejectsSpecialFilesAsIncludes) {
  std::string fifo = directory_.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& target : {std::string("/dev/zero"), std::string("/dev/urandom"), fifo}) {
    auto run = run_check(directory_.write("special.rules", "include \"" + target + "\"\n"), 10);
    EXPECT_EQ(run.result.status, 1) << target;
    EXPECT_NE(run.result.err.find("not a regular file"), std::string::npos) << run.result.err;
  }
}

TEST_F(AttackLimitsKernelTest, CheckReportsBinaryGarbage) {
  std::mt19937 random(7);
  std::string garbage(64 * 1024, '\0');
  for (char& byte : garbage) {
    byte = static_cast<char>(random());
  }
  auto run = run_check(directory_.write("garbage.rules", garbage), 30);
  EXPECT_EQ(run.result.status, 1);
  EXPECT_NE(run.result.err.find("error:"), std::string::npos);
  EXPECT_LT(run.seconds, 10);
}

TEST_F(AttackLimitsKernelTest, CheckBoundsSetNesting) {
  std::string text;
  for (int i = 0; i < 10000; ++i) {
    text += "set s" + std::to_string(i) + " = { @s" + std::to_string(i + 1) + " }\n";
  }
  text += "set s10000 = { 192.0.2.1 }\nrule nested: deny connect to @s0\n";
  auto run = run_check(directory_.write("nested.rules", text), 30);
  EXPECT_EQ(run.result.status, 1);
  EXPECT_NE(run.result.err.find("more than 32 deep"), std::string::npos) << run.result.err;
}

TEST_F(AttackLimitsKernelTest, CheckReportsManyErrorsInBoundedTime) {
  std::string text;
  for (int i = 0; i < 100000; ++i) {
    text += "rule ???\n";
  }
  auto run = run_check(directory_.write("errors.rules", text), 120);
  EXPECT_EQ(run.result.status, 1);
  EXPECT_LT(run.seconds, 10);
}

// The bitmap index stores a row of one bit per rule for every address interval, so its size
// grows with the square of the rule count: measured 72 MiB at 10,000 rules, 2.5 GiB at 100,000.
TEST_F(AttackLimitsKernelTest, CheckCompilesHundredThousandRulesInBoundedMemory) {
  std::string text;
  for (int i = 0; i < 100000; ++i) {
    text += "rule r" + std::to_string(i) + ": deny connect tcp to 10." +
            std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255) + ".1 port " +
            std::to_string(1 + i % 65535) + "\n";
  }
  auto run = run_check(directory_.write("many.rules", text), 120);
  EXPECT_EQ(run.result.status, 0) << run.result.err;
  EXPECT_LT(run.seconds, 10);
  EXPECT_LT(run.max_rss_kib, 1024 * 1024);
}

// A diagnostic shows the source line; control characters in it reach the terminal as they are.
TEST_F(AttackLimitsKernelTest, CheckEscapesControlCharactersInSourceLines) {
  auto run = run_check(
      directory_.write("escape.rules", "rule \x1b]0;title\x07\x1b[2J: deny connect\n"), 10);
  EXPECT_EQ(run.result.status, 1);
  EXPECT_EQ(run.result.err.find('\x1b'), std::string::npos);
}

// The control socket of `sockgate run`, with a command that sleeps.
class ControlSocketTest : public AttackLimitsKernelTest {
 protected:
  void start(const std::vector<std::string>& run_flags) {
    path_ = directory_.path() + "/control.sock";
    std::vector<std::string> argv = {sockgate_binary(), "run", "--metrics", "none",
                                     "--control", path_};
    argv.insert(argv.end(), run_flags.begin(), run_flags.end());
    argv.insert(argv.end(), {"--", "sleep", "60"});
    gateway_ = std::make_unique<BackgroundProcess>(argv);
    for (int waited = 0; waited < 300 && !std::filesystem::exists(path_); ++waited) {
      usleep(100 * 1000);
    }
    ASSERT_TRUE(std::filesystem::exists(path_)) << "no control socket at " << path_;
  }

  int connect_client() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    return fd;
  }

  // Sends REQUEST and reads the reply until end of file or `timeout_ms`; "" on timeout.
  std::string request(const std::string& text, int timeout_ms) {
    int fd = connect_client();
    send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    std::string reply;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd entry{fd, POLLIN, 0};
      if (left.count() <= 0 || poll(&entry, 1, static_cast<int>(left.count())) <= 0) {
        close(fd);
        return "";
      }
      char buffer[65536];
      ssize_t length = recv(fd, buffer, sizeof buffer, 0);
      if (length <= 0) {
        break;
      }
      reply.append(buffer, static_cast<std::size_t>(length));
    }
    close(fd);
    return reply;
  }

  // The descriptors that the gateway process has open.
  long gateway_descriptors() {
    std::string directory = "/proc/" + std::to_string(gateway_->pid()) + "/fd";
    auto entries = std::filesystem::directory_iterator(directory);
    return std::distance(std::filesystem::begin(entries), std::filesystem::end(entries));
  }

  // The user and system CPU time of the gateway process, in clock ticks.
  long gateway_cpu_ticks() {
    std::ifstream file("/proc/" + std::to_string(gateway_->pid()) + "/stat");
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    // Fields 14 and 15 (utime, stime) follow the command name, which ends at the last ')'.
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    for (int index = 3; index < 14; ++index) {
      fields >> field;
    }
    long user = 0;
    long system = 0;
    fields >> user >> system;
    return user + system;
  }

  std::string path_;
  std::unique_ptr<BackgroundProcess> gateway_;
};

const std::string kStatusRequest = "{\"command\":\"status\"}\n";

TEST_F(ControlSocketTest, AnswersGarbageWithAnError) {
  start({});
  for (const std::string& garbage : {std::string("\x01\xff garbage {{\n"), std::string("[1]\n"),
                                     std::string("{\"command\": 5}\n"),
                                     std::string(5000, '[') + "\n"}) {
    auto reply = nlohmann::json::parse(request(garbage, 5000));
    EXPECT_EQ(reply["ok"], false) << garbage.substr(0, 20);
  }
  auto status = nlohmann::json::parse(request("{\"command\":\"status\"}\n", 5000));
  EXPECT_EQ(status["ok"], true);
}

// One client sends a byte per second and never a line end, while another asks for the status.
TEST_F(ControlSocketTest, ServesWhileAnotherClientDrips) {
  start({});
  int dripping = connect_client();
  std::atomic<bool> stop{false};
  std::thread drip([&] {
    while (!stop) {
      send(dripping, " ", 1, MSG_NOSIGNAL);
      usleep(1000 * 1000);
    }
  });
  usleep(300 * 1000);
  std::string reply = request("{\"command\":\"status\"}\n", 5000);
  stop = true;
  drip.join();
  close(dripping);
  EXPECT_NE(reply, "") << "no status reply within 5 s";
}

// A client that asks for the status of a large policy and never reads blocks the reply's send().
TEST_F(ControlSocketTest, ServesWhileAnotherClientDoesNotRead) {
  std::string text;
  for (int i = 0; i < 5000; ++i) {
    text += "rule r" + std::to_string(i) + ": deny connect tcp to 10.0." +
            std::to_string(i >> 8) + "." + std::to_string(i & 255) + "\n";
  }
  start({"--rules", directory_.write("large.rules", text)});
  int stalled = connect_client();
  std::string status_request = "{\"command\":\"status\"}\n";
  send(stalled, status_request.data(), status_request.size(), MSG_NOSIGNAL);
  usleep(1000 * 1000);
  std::string reply = request(status_request, 5000);
  close(stalled);
  EXPECT_NE(reply, "") << "no status reply within 5 s";
}


// The request line may hold 4096 bytes before its line end; one byte more gets an error at once.
TEST_F(ControlSocketTest, LimitsRequestLineTo4096Bytes) {
  start({});
  auto line_of = [](std::size_t length) {
    std::string line = "{\"command\":\"status\"";
    line += std::string(length - line.size() - 1, ' ');
    return line + "}";
  };
  for (std::size_t length : {4095, 4096}) {
    auto reply = nlohmann::json::parse(request(line_of(length) + "\n", 5000));
    EXPECT_EQ(reply["ok"], true) << length << " bytes";
  }
  for (const std::string& text : {line_of(4097) + "\n", line_of(4097)}) {
    auto started = std::chrono::steady_clock::now();
    std::string reply = request(text, 5000);
    auto waited = std::chrono::steady_clock::now() - started;
    ASSERT_NE(reply, "") << "no reply to " << text.size() << " bytes";
    EXPECT_EQ(nlohmann::json::parse(reply)["ok"], false);
    EXPECT_NE(reply.find("longer than 4096 bytes"), std::string::npos) << reply;
    EXPECT_LT(waited, std::chrono::seconds(1)) << text.size() << " bytes";
  }
}

// Hundreds of silent connections: the 16 accepted ones time out after 2 s, the rest are closed
// at once, and afterwards the gateway serves with the descriptors it had before.
TEST_F(ControlSocketTest, FloodOfSilentClientsLeaksNothing) {
  start({});
  ASSERT_EQ(nlohmann::json::parse(request(kStatusRequest, 5000))["ok"], true);
  long before = gateway_descriptors();
  std::vector<int> silent;
  for (int i = 0; i < 400; ++i) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    silent.push_back(fd);
    usleep(2000);
  }
  for (int fd : silent) {
    close(fd);
  }
  usleep(2500 * 1000);
  auto reply = nlohmann::json::parse(request(kStatusRequest, 5000));
  EXPECT_EQ(reply["ok"], true);
  EXPECT_EQ(gateway_descriptors(), before);
}

// While the gateway is out of descriptors, accept() fails with EMFILE, so the server pauses
// accepting for 1 s at a time instead of spinning. Once descriptors return, it serves again.
TEST_F(ControlSocketTest, ServesAgainAfterDescriptorsRunOut) {
  start({});
  ASSERT_EQ(nlohmann::json::parse(request(kStatusRequest, 5000))["ok"], true);
  long before = gateway_descriptors();
  rlimit original{};
  ASSERT_EQ(prlimit(gateway_->pid(), RLIMIT_NOFILE, nullptr, &original), 0);
  rlimit exhausted{10, original.rlim_max};
  ASSERT_EQ(prlimit(gateway_->pid(), RLIMIT_NOFILE, &exhausted, nullptr), 0);
  long ticks_before = gateway_cpu_ticks();
  std::string during = request(kStatusRequest, 3000);
  long ticks_during = gateway_cpu_ticks() - ticks_before;
  ASSERT_EQ(prlimit(gateway_->pid(), RLIMIT_NOFILE, &original, nullptr), 0);
  EXPECT_EQ(during, "");
  EXPECT_LT(ticks_during, 30) << "clock ticks of CPU time in 3 s without descriptors";
  auto reply = nlohmann::json::parse(request(kStatusRequest, 5000));
  EXPECT_EQ(reply["ok"], true);
  EXPECT_EQ(gateway_descriptors(), before);
}

// `--control PATH` naming a regular file, such as a mistyped rules file, must leave that file
// alone: connect() to it fails with ECONNREFUSED as to a stale socket, but it is no socket.
TEST_F(ControlSocketTest, KeepsRegularFileAtControlPath) {
  std::string path = directory_.write("notes.txt", "keep me\n");
  BackgroundProcess gateway(
      {sockgate_binary(), "run", "--metrics", "none", "--control", path, "--", "sleep", "2"});
  int status = gateway.wait(20);
  std::ifstream file(path);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "keep me\n");
  EXPECT_EQ(status, 125) << "the gateway should refuse to start";
}

// A status reply must describe one policy, even when a SIGHUP reload lands between reading the
// active policy and the metrics snapshot. Reading the counters of the series bound last once
// paired one policy's rule texts with the other's names and counters in 58 of 25,421 replies.
TEST_F(ControlSocketTest, StatusDescribesOnePolicyDuringReloads) {
  std::string first;
  for (int i = 0; i < 300; ++i) {
    first += "rule a" + std::to_string(i) + ": deny connect tcp to 10.1." +
             std::to_string(i >> 8) + "." + std::to_string(i & 255) + "\n";
  }
  std::string second;
  for (int i = 0; i < 20; ++i) {
    second += "rule b" + std::to_string(i) + ": bypass connect tcp to 10.2.0." +
              std::to_string(i) + " port " + std::to_string(i + 1) + "\n";
  }

  std::string rules = directory_.write("flip.rules", first);
  start({"--rules", rules});

  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    for (int round = 0; !stop; ++round) {
      std::string staged = directory_.write("flip.next", round % 2 == 0 ? second : first);
      std::filesystem::rename(staged, rules);
      kill(gateway_->pid(), SIGHUP);
      usleep(2000);
    }
  });

  int replies = 0;
  int mismatched = 0;
  std::string example;
  std::int64_t first_generation = -1;
  std::int64_t last_generation = -1;
  // The window is short, so the loop runs until the first mismatch or for 20 s.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (mismatched == 0 && std::chrono::steady_clock::now() < deadline) {
    std::string reply = request(kStatusRequest, 5000);
    if (reply.empty()) {
      continue;
    }
    ++replies;
    auto status = nlohmann::json::parse(reply);
    last_generation = status["generation"];
    first_generation = first_generation < 0 ? last_generation : first_generation;
    for (const auto& rule : status["rules"]) {
      std::string name = rule["name"];
      std::string text = rule.value("text", std::string());
      bool matches = name == "default" ? !rule.contains("text")
                                       : text.starts_with("rule " + name + ":");
      if (!matches) {
        ++mismatched;
        example = name + " with text '" + text + "'";
        break;
      }
    }
  }
  stop = true;
  flipper.join();

  EXPECT_EQ(mismatched, 0) << "for example " << example << " in " << replies << " replies";
  if (mismatched == 0) {
    // Without a mismatch, the storm must have run: many replies over many reloads.
    EXPECT_GT(replies, 100);
    EXPECT_GT(last_generation - first_generation, 100) << "reloads seen in status replies";
  }
}

// A gateway that accepted the connection but sends no reply (stopped with SIGSTOP here, or busy
// with a long reload) must not hang `sockgate status`: it gives up with an error.
TEST_F(ControlSocketTest, StatusGivesUpOnStoppedGateway) {
  start({});
  ASSERT_EQ(kill(gateway_->pid(), SIGSTOP), 0);
  auto started = std::chrono::steady_clock::now();
  auto result = run_process({sockgate_binary(), "status", "--control", path_}, 40);
  auto waited = std::chrono::steady_clock::now() - started;
  kill(gateway_->pid(), SIGCONT);
  EXPECT_EQ(result.status, 1);
  EXPECT_LT(waited, std::chrono::seconds(20));
}

// A connection beyond the 16 open ones gets an error line saying why before it is closed, and
// `sockgate status` prints that error rather than a JSON parser's message.
TEST_F(ControlSocketTest, ClientBeyondLimitGetsErrorReply) {
  start({});
  std::vector<int> silent;
  for (int i = 0; i < 16; ++i) {
    silent.push_back(connect_client());
  }
  usleep(200 * 1000);
  std::string reply = request(kStatusRequest, 1000);
  auto result = run_process({sockgate_binary(), "status", "--control", path_}, 20);
  for (int fd : silent) {
    close(fd);
  }
  ASSERT_NE(reply, "") << "the connection was closed without a reply";
  EXPECT_EQ(nlohmann::json::parse(reply)["ok"], false);
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(result.err.find("json.exception"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace sockgate::test
