#include "test_support.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

extern char** environ;

namespace sockgate::test {
namespace {

pid_t spawn_with_pipes(const std::vector<std::string>& argv, int* out, int* err) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& argument : argv) {
    args.push_back(const_cast<char*>(argument.c_str()));
  }
  args.push_back(nullptr);
  pid_t pid = 0;
  int error = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (error != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    throw std::runtime_error("cannot start " + argv[0]);
  }
  *out = out_pipe[0];
  if (err != nullptr) {
    *err = err_pipe[0];
  } else {
    close(err_pipe[0]);
  }
  return pid;
}

std::string unquote(std::string value) {
  if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') &&
      value.back() == value.front()) {
    return value.substr(1, value.size() - 2);
  }
  return value;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, int timeout_seconds) {
  int out = -1;
  int err = -1;
  pid_t pid = spawn_with_pipes(argv, &out, &err);
  ProcessResult result;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  pollfd entries[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
  int open_pipes = 2;
  while (open_pipes > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    if (poll(entries, 2, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (entries[i].fd < 0 || entries[i].revents == 0) {
        continue;
      }
      char buffer[4096];
      ssize_t length = read(entries[i].fd, buffer, sizeof buffer);
      if (length <= 0) {
        close(entries[i].fd);
        entries[i].fd = -1;
        --open_pipes;
        continue;
      }
      (i == 0 ? result.out : result.err).append(buffer, static_cast<std::size_t>(length));
    }
  }
  for (const pollfd& entry : entries) {
    if (entry.fd >= 0) {
      close(entry.fd);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv) {
  pid_ = spawn_with_pipes(argv, &out_, nullptr);
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_ >= 0) {
    close(out_);
  }
}

std::optional<std::string> BackgroundProcess::read_line(int timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  for (;;) {
    if (auto newline = buffer_.find('\n'); newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd entry{out_, POLLIN, 0};
    if (left.count() <= 0 || poll(&entry, 1, static_cast<int>(left.count())) <= 0) {
      return std::nullopt;
    }
    char buffer[4096];
    ssize_t length = read(out_, buffer, sizeof buffer);
    if (length <= 0) {
      return std::nullopt;
    }
    buffer_.append(buffer, static_cast<std::size_t>(length));
  }
}

int BackgroundProcess::wait(int timeout_seconds) {
  int status = 0;
  for (int waited = 0; waited < timeout_seconds * 10; ++waited) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    usleep(100000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

const std::map<std::string, std::string>& test_host() {
  static const std::map<std::string, std::string> settings = [] {
    std::map<std::string, std::string> values;
    const char* path = std::getenv("SOCKGATE_TEST_ENV");
    std::ifstream file(path != nullptr ? path : "/run/sockgate-test/env");
    std::string line;
    while (std::getline(file, line)) {
      auto equals = line.find('=');
      if (line.empty() || line[0] == '#' || equals == std::string::npos) {
        continue;
      }
      values[line.substr(0, equals)] = unquote(line.substr(equals + 1));
    }
    return values;
  }();
  return settings;
}

std::string host_setting(const std::string& key) {
  auto found = test_host().find(key);
  if (found == test_host().end()) {
    ADD_FAILURE() << "the test host settings lack " << key;
    return "";
  }
  return found->second;
}

std::string sockgate_binary() { return SOCKGATE_BINARY_PATH; }
std::string probe_binary() { return SOCKGATE_PROBE_PATH; }

nlohmann::json run_probe(const std::vector<std::string>& run_flags,
                         const std::vector<std::string>& probe_args) {
  std::vector<std::string> argv = {sockgate_binary(), "run", "--metrics", "none", "--control",
                                   "none"};
  argv.insert(argv.end(), run_flags.begin(), run_flags.end());
  argv.push_back("--");
  argv.push_back(probe_binary());
  argv.insert(argv.end(), probe_args.begin(), probe_args.end());
  ProcessResult result = run_process(argv);
  auto last_newline = result.out.rfind('\n', result.out.size() >= 2 ? result.out.size() - 2 : 0);
  std::string last = last_newline == std::string::npos ? result.out
                                                       : result.out.substr(last_newline + 1);
  try {
    return nlohmann::json::parse(last);
  } catch (const nlohmann::json::exception&) {
    ADD_FAILURE() << "sockgate run exited " << result.status << " without a probe report.\n"
                  << "stdout: " << result.out << "\nstderr: " << result.err;
    return nlohmann::json::object();
  }
}

nlohmann::json run_probe_on_host(const std::vector<std::string>& probe_args) {
  std::vector<std::string> argv = {probe_binary()};
  argv.insert(argv.end(), probe_args.begin(), probe_args.end());
  ProcessResult result = run_process(argv);
  try {
    return nlohmann::json::parse(result.out);
  } catch (const nlohmann::json::exception&) {
    ADD_FAILURE() << "the probe exited " << result.status << ": " << result.err;
    return nlohmann::json::object();
  }
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  // The wildcard address, because tests publish on it: a port free on 127.0.0.1 can still be
  // the local port of a connection (or one in TIME-WAIT) on another address.
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

}  // namespace sockgate::test
