// The cost of system calls that sockgate must not trap: a loop of dup, fcntl(F_GETFL) and close.
// With --allow-all-filter it first installs a seccomp filter that allows every call and notifies
// none, as each container engine installs one, so that the suite can compare sockgate's filter
// (which notifies connect and bind only) with that baseline.
#include <fcntl.h>
#include <seccomp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include "bench/load_common.hpp"
#include "core/fd.hpp"

namespace sockgate::bench {
namespace {

struct Options {
  long iterations = 1'000'000;
  bool allow_all_filter = false;
};

// Installs a filter whose only action is SCMP_ACT_ALLOW. libseccomp sets no_new_privs first,
// which an unprivileged process needs to load a filter.
void install_allow_all_filter() {
  scmp_filter_ctx context = seccomp_init(SCMP_ACT_ALLOW);
  if (context == nullptr) {
    throw std::runtime_error("seccomp_init failed");
  }
  int result = seccomp_load(context);
  seccomp_release(context);
  if (result < 0) {
    throw std::runtime_error("seccomp_load failed: " + describe_errno(-result));
  }
}

// Returns the "Seccomp" and "Seccomp_filters" lines of /proc/self/status, which show that the
// loop really ran under a filter (mode 2) and under how many.
nlohmann::json seccomp_status() {
  nlohmann::json status = nlohmann::json::object();
  std::ifstream file("/proc/self/status");
  std::string line;
  while (std::getline(file, line)) {
    for (const char* key : {"Seccomp:", "Seccomp_filters:"}) {
      std::string prefix = key;
      if (line.rfind(prefix, 0) == 0) {
        status[prefix.substr(0, prefix.size() - 1)] = std::stoi(line.substr(prefix.size()));
      }
    }
  }
  return status;
}

void run_loop(int fd, long iterations) {
  for (long i = 0; i < iterations; ++i) {
    int copy = ::dup(fd);
    if (copy < 0 || ::fcntl(copy, F_GETFL) < 0 || ::close(copy) != 0) {
      throw std::runtime_error("dup, fcntl or close failed: " + describe_errno(errno));
    }
  }
}

nlohmann::json run(const Options& options) {
  if (options.allow_all_filter) {
    install_allow_all_filter();
  }
  UniqueFd file(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!file) {
    throw std::runtime_error("opening /dev/null failed: " + describe_errno(errno));
  }
  run_loop(file.get(), options.iterations / 10);  // warm-up: caches, descriptor table

  Clock::time_point start = Clock::now();
  run_loop(file.get(), options.iterations);
  double elapsed = seconds_between(start, Clock::now());
  return {
      {"iterations", options.iterations},
      {"seconds", elapsed},
      {"ns_per_iteration", elapsed * 1e9 / static_cast<double>(options.iterations)},
      {"allow_all_filter", options.allow_all_filter},
      {"seccomp", seccomp_status()},
  };
}

}  // namespace
}  // namespace sockgate::bench

int main(int argc, char** argv) {
  sockgate::bench::Options options;
  CLI::App app("Measure a loop of dup, fcntl and close, the calls a container makes most");
  app.add_option("--iterations", options.iterations, "Measured iterations of the loop")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--allow-all-filter", options.allow_all_filter,
               "Install a seccomp filter that allows every call before the loop");
  CLI11_PARSE(app, argc, argv);

  try {
    sockgate::bench::print_report(sockgate::bench::run(options));
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_syscall_loop: %s\n", error.what());
    return 2;
  }
}
