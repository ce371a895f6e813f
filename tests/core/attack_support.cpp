#include "attack_support.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace sockgate::test {
namespace {

nlohmann::json parse_last_line(const ProcessResult& result, const std::string& what) {
  auto last_newline = result.out.rfind('\n', result.out.size() >= 2 ? result.out.size() - 2 : 0);
  std::string last = last_newline == std::string::npos ? result.out
                                                       : result.out.substr(last_newline + 1);
  try {
    return nlohmann::json::parse(last);
  } catch (const nlohmann::json::exception&) {
    ADD_FAILURE() << what << " exited " << result.status << " without a report.\n"
                  << "stdout: " << result.out << "\nstderr: " << result.err;
    return nlohmann::json::object();
  }
}

}  // namespace

std::string attacker_binary() { return SOCKGATE_ATTACKER_PATH; }

nlohmann::json run_attacker(const std::vector<std::string>& run_flags,
                            const std::vector<std::string>& attacker_args,
                            int timeout_seconds) {
  std::vector<std::string> argv = {sockgate_binary(), "run", "--metrics", "none", "--control",
                                   "none"};
  argv.insert(argv.end(), run_flags.begin(), run_flags.end());
  argv.push_back("--");
  argv.push_back(attacker_binary());
  argv.insert(argv.end(), attacker_args.begin(), attacker_args.end());
  return parse_last_line(run_process(argv, timeout_seconds), "sockgate run");
}

nlohmann::json run_attacker_on_host(const std::vector<std::string>& attacker_args,
                                    int timeout_seconds) {
  std::vector<std::string> argv = {attacker_binary()};
  argv.insert(argv.end(), attacker_args.begin(), attacker_args.end());
  return parse_last_line(run_process(argv, timeout_seconds), "the attacker");
}

LoopbackListener::LoopbackListener(int type) : type_(type) {
  fd_ = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      (type == SOCK_STREAM && listen(fd_, 128) != 0) ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1 for the attack tests");
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

LoopbackListener::~LoopbackListener() {
  stop_ = true;
  thread_.join();
  close(fd_);
}

void LoopbackListener::serve() {
  while (!stop_) {
    pollfd entry{fd_, POLLIN, 0};
    if (poll(&entry, 1, 100) <= 0) {
      continue;
    }
    if (type_ == SOCK_STREAM) {
      int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        ++count_;
        close(client);
      }
    } else {
      char buffer[512];
      if (recv(fd_, buffer, sizeof buffer, 0) >= 0) {
        ++count_;
      }
    }
  }
}

TempDirectory::TempDirectory() {
  char pattern[] = "/tmp/sockgate-attack-XXXXXX";
  if (mkdtemp(pattern) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = pattern;
}

TempDirectory::~TempDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDirectory::write(const std::string& name, const std::string& text) const {
  std::string file = path_ + "/" + name;
  std::ofstream(file, std::ios::binary) << text;
  return file;
}

CheckRun run_check(const std::string& file, int timeout_seconds) {
  CheckRun run;
  auto start = std::chrono::steady_clock::now();
  run.result = run_process({sockgate_binary(), "check", file}, timeout_seconds);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  run.max_rss_kib = usage.ru_maxrss;
  return run;
}

}  // namespace sockgate::test
