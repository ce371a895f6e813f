// The OCI seccomp listener with real seccomp listeners from a child process and a fake attach:
// complete, split and bad messages, silent and closed connections, and the socket file.
#include "core/oci_listener.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "core/kernel.hpp"

namespace sockgate {
namespace {

using namespace std::chrono_literals;

// A child process with a seccomp filter that notifies nothing, which still has a listener
// (SECCOMP_FILTER_FLAG_NEW_LISTENER). The child lives until the owner goes away.
class ListenerOwner {
 public:
  ListenerOwner() {
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(pair[0]);
      run_child(pair[1]);
    }
    ::close(pair[1]);
    channel_.reset(pair[0]);
    std::vector<UniqueFd> fds;
    char byte = 0;
    receive_fds(channel_.get(), fds, 1, std::as_writable_bytes(std::span(&byte, 1)));
    EXPECT_EQ(fds.size(), 1U) << "the child could not install a seccomp filter";
    if (!fds.empty()) {
      listener_ = std::move(fds.front());
    }
  }
  ~ListenerOwner() {
    channel_.reset();
    ::waitpid(pid_, nullptr, 0);
  }

  int listener() const { return listener_.get(); }
  pid_t pid() const { return pid_; }

 private:
  // Only async-signal-safe calls: the test process may have threads when it forks.
  [[noreturn]] static void run_child(int channel) {
    sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    sock_fprog program{1, &allow};
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    long fd =
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &program);
    if (fd < 0) {
      ::_exit(1);
    }
    char byte = 'L';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    int descriptor = static_cast<int>(fd);
    std::memcpy(CMSG_DATA(header), &descriptor, sizeof descriptor);
    ::sendmsg(channel, &message, 0);
    while (::read(channel, &byte, 1) > 0) {
    }
    ::_exit(0);
  }

  pid_t pid_ = -1;
  UniqueFd channel_;
  UniqueFd listener_;
};

std::string runc_message(const std::string& id, pid_t pid, const std::string& annotations) {
  return fmt::format(R"({{"ociVersion":"1.0.2-dev","fds":["seccompFd"],"pid":{},"metadata":"meta",)"
                     R"("state":{{"ociVersion":"1.0.2-dev","id":"{}","status":"creating","pid":{},)"
                     R"("bundle":"/b","annotations":{}}}}})",
                     pid, id, pid, annotations);
}

std::string crun_message(const std::string& id, pid_t pid) {
  return fmt::format(R"({{
    "ociVersion": "0.2.0",
    "fds": [
        "seccompFd"
    ],
    "pid": {},
    "state": {{
        "ociVersion": "0.2.0",
        "id": "{}",
        "status": "creating",
        "pid": {},
        "bundle": "/b",
        "annotations": {{
            "project": "shop"
        }}
    }}
}}
)",
                     pid, id, pid);
}

class OciListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sockgate-oci-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    directory_ = pattern;
    path_ = directory_ + "/sockgate/listener.sock";
  }

  void TearDown() override {
    listener_.reset();
    std::filesystem::remove_all(directory_);
  }

  void start(OciListenerOptions options = {}) {
    options.path = path_;
    if (options.timeout == OciListenerOptions{}.timeout) {
      options.timeout = 5s;
    }
    listener_ = std::make_unique<OciListener>(
        options,
        [this](ContainerInfo info, UniqueFd fd) {
          if (info.id == "fails") {
            throw std::runtime_error("pidfd_open(1): No such process");
          }
          // Fails like setns(2) into a process that has not executed its command yet.
          bool not_yet = info.id == "eperm-always" || (info.id == "eperm-twice" && attempts_++ < 2);
          if (not_yet) {
            throw std::system_error(EPERM, std::generic_category(), "setns");
          }
          std::lock_guard lock(mutex_);
          attached_.push_back(std::move(info));
          descriptors_.push_back(std::move(fd));
          changed_.notify_all();
        },
        [this] {
          std::lock_guard lock(mutex_);
          ++rejected_;
          changed_.notify_all();
        });
  }

  UniqueFd connect_client() const {
    UniqueFd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0)
        << std::strerror(errno);
    return client;
  }

  static void send_text(int client, const std::string& text, std::span<const int> fds = {}) {
    if (fds.empty()) {
      ASSERT_EQ(::send(client, text.data(), text.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(text.size()));
      return;
    }
    send_fds(client, fds, std::as_bytes(std::span(text.data(), text.size())));
  }

  // Waits until `attached` containers were attached and `rejected` connections rejected.
  bool wait_for(std::size_t attached, int rejected, std::chrono::milliseconds timeout = 3s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout,
                             [&] { return attached_.size() >= attached && rejected_ >= rejected; });
  }

  std::size_t attached_count() {
    std::lock_guard lock(mutex_);
    return attached_.size();
  }

  int rejected_count() {
    std::lock_guard lock(mutex_);
    return rejected_;
  }

  // Whether the listener closed its end: a read returns end of file within the timeout.
  static bool closed_by_listener(int client, std::chrono::milliseconds timeout = 3s) {
    timeval limit{0, static_cast<suseconds_t>(
                         std::chrono::duration_cast<std::chrono::microseconds>(timeout).count())};
    if (timeout >= 1s) {
      limit = {static_cast<time_t>(timeout / 1s), 0};
    }
    ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    char byte = 0;
    return ::recv(client, &byte, 1, 0) == 0;
  }

  std::string directory_;
  std::string path_;
  std::unique_ptr<OciListener> listener_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<ContainerInfo> attached_;
  std::vector<UniqueFd> descriptors_;
  int rejected_ = 0;
  std::atomic<int> attempts_{0};
};

TEST_F(OciListenerTest, RuncMessageAttaches) {
  start();
  ListenerOwner owner;
  UniqueFd client = connect_client();
  int fd = owner.listener();

  send_text(client.get(), runc_message("c1", owner.pid(), R"({"project":"shop"})"),
            std::span(&fd, 1));

  ASSERT_TRUE(wait_for(1, 0));
  EXPECT_EQ(attached_[0].id, "c1");
  EXPECT_EQ(attached_[0].pid, owner.pid());
  EXPECT_EQ(attached_[0].metadata, "meta");
  ASSERT_NE(attached_[0].labels.find("project"), nullptr);
  EXPECT_EQ(*attached_[0].labels.find("project"), "shop");
  EXPECT_EQ(check_seccomp_listener(descriptors_[0].get()), std::nullopt);
  EXPECT_EQ(rejected_count(), 0);
  EXPECT_TRUE(closed_by_listener(client.get()));
}

TEST_F(OciListenerTest, SplitCrunMessageAttaches) {
  start();
  ListenerOwner owner;
  UniqueFd client = connect_client();
  int fd = owner.listener();
  std::string message = crun_message("web-1", owner.pid());
  std::size_t third = message.size() / 3;

  send_text(client.get(), message.substr(0, third), std::span(&fd, 1));
  std::this_thread::sleep_for(50ms);
  send_text(client.get(), message.substr(third, third));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(attached_count(), 0U);
  send_text(client.get(), message.substr(2 * third));

  ASSERT_TRUE(wait_for(1, 0));
  EXPECT_EQ(attached_[0].id, "web-1");
  EXPECT_EQ(rejected_count(), 0);
}

TEST_F(OciListenerTest, DescriptorWithLastPartAttaches) {
  start();
  ListenerOwner owner;
  UniqueFd client = connect_client();
  int fd = owner.listener();
  std::string message = runc_message("late-fd", owner.pid(), "{}");

  send_text(client.get(), message.substr(0, 20));
  std::this_thread::sleep_for(20ms);
  send_text(client.get(), message.substr(20), std::span(&fd, 1));

  ASSERT_TRUE(wait_for(1, 0));
  EXPECT_EQ(attached_[0].id, "late-fd");
}

TEST_F(OciListenerTest, GarbageIsRejected) {
  start();
  UniqueFd client = connect_client();

  send_text(client.get(), "hello sockgate\n");

  ASSERT_TRUE(wait_for(0, 1));
  EXPECT_EQ(attached_count(), 0U);
  EXPECT_TRUE(closed_by_listener(client.get()));
}

TEST_F(OciListenerTest, MissingDescriptorIsRejected) {
  start();
  UniqueFd client = connect_client();

  send_text(client.get(), runc_message("no-fd", 4242, "{}"));

  ASSERT_TRUE(wait_for(0, 1));
  EXPECT_EQ(attached_count(), 0U);
  EXPECT_TRUE(closed_by_listener(client.get()));
}

TEST_F(OciListenerTest, TwoDescriptorsAreRejected) {
  start();
  ListenerOwner first;
  ListenerOwner second;
  UniqueFd client = connect_client();
  int fds[] = {first.listener(), second.listener()};

  send_text(client.get(), runc_message("two", first.pid(), "{}"), fds);

  ASSERT_TRUE(wait_for(0, 1));
  EXPECT_EQ(attached_count(), 0U);
}

TEST_F(OciListenerTest, TenDescriptorsAreRejected) {
  start();
  ListenerOwner owner;
  UniqueFd client = connect_client();
  std::vector<int> fds(10, owner.listener());

  send_text(client.get(), runc_message("ten", owner.pid(), "{}"), fds);

  ASSERT_TRUE(wait_for(0, 1));
  EXPECT_EQ(attached_count(), 0U);
}

TEST_F(OciListenerTest, PipeIsRejected) {
  start();
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  UniqueFd client = connect_client();
  int fd = read_end.get();

  send_text(client.get(), runc_message("pipe", 4242, "{}"), std::span(&fd, 1));

  ASSERT_TRUE(wait_for(0, 1));
  EXPECT_EQ(attached_count(), 0U);
}

TEST_F(OciListenerTest, PipeIsNotASeccompListener) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  auto problem = check_seccomp_listener(read_end.get());

  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->rfind("the descriptor is a pipe, not a seccomp listener", 0), 0U) << *problem;
}

TEST_F(OciListenerTest, SilentConnectionDoesNotBlockOthers) {
  start();
  ListenerOwner owner;
  UniqueFd silent = connect_client();
  UniqueFd client = connect_client();
  int fd = owner.listener();

  send_text(client.get(), runc_message("after-silent", owner.pid(), "{}"), std::span(&fd, 1));

  ASSERT_TRUE(wait_for(1, 0, 1s));
  EXPECT_EQ(attached_[0].id, "after-silent");
  EXPECT_EQ(rejected_count(), 0);
}

TEST_F(OciListenerTest, SilentConnectionTimesOut) {
  OciListenerOptions options;
  options.timeout = 300ms;
  start(options);
  UniqueFd silent = connect_client();
  auto started = std::chrono::steady_clock::now();

  EXPECT_TRUE(closed_by_listener(silent.get()));

  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 2s);
  EXPECT_EQ(rejected_count(), 1);
}

TEST_F(OciListenerTest, ClosedMidMessageIsRejected) {
  start();
  ListenerOwner owner;
  {
    UniqueFd client = connect_client();
    int fd = owner.listener();
    std::string message = runc_message("killed", owner.pid(), "{}");
    send_text(client.get(), message.substr(0, message.size() / 2), std::span(&fd, 1));
  }

  ASSERT_TRUE(wait_for(0, 1));
  EXPECT_EQ(attached_count(), 0U);
}

TEST_F(OciListenerTest, ClosedWithoutDataIsRejected) {
  start();
  connect_client().reset();

  ASSERT_TRUE(wait_for(0, 1));
  EXPECT_EQ(attached_count(), 0U);
}

TEST_F(OciListenerTest, InvalidPublishIsRejected) {
  start();
  ListenerOwner owner;
  UniqueFd client = connect_client();
  int fd = owner.listener();

  send_text(client.get(),
            runc_message("bad-publish", owner.pid(), R"({"io.sockgate.publish":"80:http"})"),
            std::span(&fd, 1));

  ASSERT_TRUE(wait_for(0, 1));
  EXPECT_EQ(attached_count(), 0U);
}

TEST_F(OciListenerTest, AttachFailureIsRejected) {
  start();
  ListenerOwner owner;
  UniqueFd client = connect_client();
  int fd = owner.listener();

  send_text(client.get(), runc_message("fails", owner.pid(), "{}"), std::span(&fd, 1));

  ASSERT_TRUE(wait_for(0, 1));
  EXPECT_EQ(attached_count(), 0U);
  EXPECT_TRUE(closed_by_listener(client.get()));
}

TEST_F(OciListenerTest, PermissionErrorIsRetried) {
  start();
  ListenerOwner owner;
  UniqueFd client = connect_client();
  int fd = owner.listener();

  send_text(client.get(), runc_message("eperm-twice", owner.pid(), "{}"), std::span(&fd, 1));

  ASSERT_TRUE(wait_for(1, 0));
  EXPECT_EQ(attempts_.load(), 3);
  EXPECT_EQ(attached_[0].id, "eperm-twice");
  EXPECT_EQ(check_seccomp_listener(descriptors_[0].get()), std::nullopt);
  EXPECT_EQ(rejected_count(), 0);
}

TEST_F(OciListenerTest, PermissionErrorRetryEnds) {
  OciListenerOptions options;
  options.attach_retry = 200ms;
  start(options);
  ListenerOwner owner;
  UniqueFd client = connect_client();
  int fd = owner.listener();
  auto started = std::chrono::steady_clock::now();

  send_text(client.get(), runc_message("eperm-always", owner.pid(), "{}"), std::span(&fd, 1));

  ASSERT_TRUE(wait_for(0, 1));
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 2s);
  EXPECT_EQ(attached_count(), 0U);
}

TEST_F(OciListenerTest, StopEndsRetry) {
  start();
  ListenerOwner owner;
  UniqueFd client = connect_client();
  int fd = owner.listener();
  send_text(client.get(), runc_message("eperm-always", owner.pid(), "{}"), std::span(&fd, 1));
  std::this_thread::sleep_for(50ms);
  auto started = std::chrono::steady_clock::now();

  listener_.reset();

  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_EQ(rejected_count(), 1);
}

TEST_F(OciListenerTest, TwentyInterleavedContainersAttach) {
  start();
  ListenerOwner owner;
  int fd = owner.listener();
  std::vector<UniqueFd> clients;
  std::vector<std::string> messages;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(connect_client());
    messages.push_back(crun_message(fmt::format("c{}", i), owner.pid()));
    send_text(clients.back().get(), messages.back().substr(0, 10), std::span(&fd, 1));
  }

  for (int i = 19; i >= 0; --i) {
    send_text(clients[i].get(), messages[i].substr(10));
  }

  ASSERT_TRUE(wait_for(20, 0));
  std::set<std::string> ids;
  for (const ContainerInfo& info : attached_) {
    ids.insert(info.id);
  }
  EXPECT_EQ(ids.size(), 20U);
}

TEST_F(OciListenerTest, ConnectionsBeyondLimitAreClosed) {
  OciListenerOptions options;
  options.max_connections = 2;
  start(options);
  UniqueFd first = connect_client();
  UniqueFd second = connect_client();
  std::this_thread::sleep_for(50ms);
  UniqueFd third = connect_client();

  EXPECT_TRUE(closed_by_listener(third.get()));
  EXPECT_EQ(rejected_count(), 1);
}

TEST_F(OciListenerTest, SocketIsPrivate) {
  start();

  struct stat socket_status {};
  struct stat directory_status {};
  ASSERT_EQ(::stat(path_.c_str(), &socket_status), 0);
  ASSERT_EQ(::stat((directory_ + "/sockgate").c_str(), &directory_status), 0);
  EXPECT_TRUE(S_ISSOCK(socket_status.st_mode));
  EXPECT_EQ(socket_status.st_mode & 0777, 0600U);
  EXPECT_EQ(directory_status.st_mode & 0777, 0700U);
}

TEST_F(OciListenerTest, StaleSocketIsReplaced) {
  std::filesystem::create_directories(directory_ + "/sockgate");
  {
    UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(::bind(stale.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  }

  start();
  ListenerOwner owner;
  UniqueFd client = connect_client();
  int fd = owner.listener();
  send_text(client.get(), runc_message("after-stale", owner.pid(), "{}"), std::span(&fd, 1));

  EXPECT_TRUE(wait_for(1, 0));
}

TEST_F(OciListenerTest, LiveSocketIsNotReplaced) {
  start();

  try {
    OciListenerOptions options;
    options.path = path_;
    OciListener second(
        options, [](ContainerInfo, UniqueFd) {}, [] {});
    FAIL() << "a second listener started on a live socket";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()),
              fmt::format("cannot listen on {}: another process listens there (another sockgate "
                          "serve?); stop it or choose another listener path",
                          path_));
  }
  ASSERT_TRUE(wait_for(0, 1));
  EXPECT_TRUE(std::filesystem::exists(path_));
}

TEST_F(OciListenerTest, RegularFileIsNotReplaced) {
  std::filesystem::create_directories(directory_ + "/sockgate");
  { std::ofstream file(path_); }

  EXPECT_THROW(start(), std::runtime_error);
  EXPECT_TRUE(std::filesystem::is_regular_file(path_));
}

TEST_F(OciListenerTest, StopRemovesSocket) {
  start();
  ASSERT_TRUE(std::filesystem::exists(path_));

  listener_.reset();

  EXPECT_FALSE(std::filesystem::exists(path_));
}

}  // namespace
}  // namespace sockgate
