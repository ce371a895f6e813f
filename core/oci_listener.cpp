#include "core/oci_listener.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/seccomp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <stdexcept>
#include <system_error>

#include "core/log.hpp"

namespace sockgate {
namespace {

// Descriptors accepted per recvmsg: enough to see that a sender sent more than one.
constexpr std::size_t kMaxDescriptors = 8;

// strerror(3) as a string; std::generic_category() is thread-safe, strerror is not.
std::string error_text(int error) {
  return std::generic_category().message(error);
}

std::string peer_description(int fd) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
    return "an unknown process";
  }
  return fmt::format("pid {}", credentials.pid);
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    throw std::runtime_error(
        fmt::format("invalid listener path '{}': it must have 1 to {} bytes; choose a shorter path",
                    path, sizeof address.sun_path - 1));
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

// Creates the socket's directory mode 0700 when it is missing, so only the user reaches it.
void make_parent_directory(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty() || std::filesystem::exists(parent)) {
    return;
  }
  std::filesystem::create_directories(parent);
  std::filesystem::permissions(parent, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace);
}

// Removes a socket file that no process listens on. Throws when a process still listens there.
void remove_stale_socket(const std::string& path, const sockaddr_un& address) {
  struct stat status {};
  if (::lstat(path.c_str(), &status) != 0) {
    return;
  }
  if (!S_ISSOCK(status.st_mode)) {
    throw std::runtime_error(fmt::format(
        "cannot listen on {}: the path exists and is not a socket; remove it or choose another "
        "listener path",
        path));
  }
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (probe &&
      ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    throw std::runtime_error(fmt::format(
        "cannot listen on {}: another process listens there (another sockgate serve?); stop it "
        "or choose another listener path",
        path));
  }
  ::unlink(path.c_str());
}

UniqueFd listen_on(const std::string& path) {
  sockaddr_un address = unix_address(path);
  make_parent_directory(path);
  remove_stale_socket(path, address);
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener) {
    throw std::runtime_error(
        fmt::format("cannot create the listener socket: {}", error_text(errno)));
  }
  mode_t old_mask = ::umask(0177);
  int bound = ::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  int error = errno;
  ::umask(old_mask);
  if (bound != 0 || ::listen(listener.get(), SOMAXCONN) != 0) {
    error = bound != 0 ? error : errno;
    throw std::runtime_error(fmt::format("cannot listen on {}: {}", path, error_text(error)));
  }
  return listener;
}

// Takes ownership of the descriptors of every SCM_RIGHTS message in `message`.
void collect_descriptors(msghdr& message, std::vector<UniqueFd>& descriptors) {
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) {
      continue;
    }
    std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
      descriptors.emplace_back(fd);
    }
  }
}

void add_to_epoll(int epoll, int fd, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
    throw std::runtime_error(fmt::format("epoll_ctl: {}", error_text(errno)));
  }
}

}  // namespace

// One runtime's connection: what arrived so far and when it must be complete.
struct OciListener::Connection {
  UniqueFd fd;
  std::string bytes;
  std::vector<UniqueFd> descriptors;
  std::chrono::steady_clock::time_point deadline;
  std::string peer;
};

OciListener::OciListener(OciListenerOptions options, AttachFunction attach, RejectFunction reject)
    : options_(std::move(options)), attach_(std::move(attach)), reject_(std::move(reject)) {
  listener_ = listen_on(options_.path);
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!epoll_ || !stop_) {
    ::unlink(options_.path.c_str());
    throw std::runtime_error(fmt::format("epoll_create1/eventfd: {}", error_text(errno)));
  }
  add_to_epoll(epoll_.get(), listener_.get(), EPOLLIN);
  add_to_epoll(epoll_.get(), stop_.get(), EPOLLIN);
  thread_ = std::thread([this] { run(); });
}

OciListener::~OciListener() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(stop_.get(), &one, sizeof one);
  if (thread_.joinable()) {
    thread_.join();
  }
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_requested_.notify_all();
  for (Attach& attach : attaches_) {
    attach.thread.join();
  }
  connections_.clear();
  listener_.reset();
  ::unlink(options_.path.c_str());
}

void OciListener::run() {
  for (;;) {
    epoll_event events[32];
    int count = ::epoll_wait(epoll_.get(), events, 32, expire_connections());
    for (int i = 0; i < count; ++i) {
      int fd = events[i].data.fd;
      if (fd == stop_.get()) {
        return;
      }
      if (fd == listener_.get()) {
        accept_connections();
        continue;
      }
      auto found = connections_.find(fd);
      if (found != connections_.end()) {
        read_connection(*found->second);
      }
    }
  }
}

void OciListener::accept_connections() {
  for (;;) {
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        log().warn("listener {}: accept failed: {}", options_.path, error_text(errno));
      }
      return;
    }
    if (connections_.size() >= options_.max_connections) {
      log().warn(
          "listener {}: closed a connection from {}: {} connections are already waiting "
          "for their container state",
          options_.path, peer_description(client.get()), connections_.size());
      reject_();
      continue;
    }
    auto connection = std::make_unique<Connection>();
    connection->peer = peer_description(client.get());
    connection->deadline = std::chrono::steady_clock::now() + options_.timeout;
    add_to_epoll(epoll_.get(), client.get(), EPOLLIN | EPOLLRDHUP);
    int fd = client.get();
    connection->fd = std::move(client);
    connections_[fd] = std::move(connection);
  }
}

bool OciListener::receive(Connection& connection) {
  for (;;) {
    char buffer[16384];
    iovec iov{buffer, sizeof buffer};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxDescriptors)];
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t length = ::recvmsg(connection.fd.get(), &message, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (length < 0 && errno == EINTR) {
      continue;
    }
    if (length < 0) {
      // EAGAIN: nothing more for now. Other errors (ECONNRESET) end the connection.
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    collect_descriptors(message, connection.descriptors);
    if ((message.msg_flags & MSG_CTRUNC) != 0) {
      // The kernel dropped the descriptors that did not fit: more than kMaxDescriptors.
      connection.descriptors.emplace_back();
    }
    if (length == 0) {
      return false;
    }
    connection.bytes.append(buffer, static_cast<std::size_t>(length));
    if (connection.bytes.size() > options_.max_message_bytes) {
      return true;
    }
  }
}

void OciListener::read_connection(Connection& connection) {
  bool open = receive(connection);
  if (connection.bytes.size() > options_.max_message_bytes) {
    reject(connection,
           fmt::format("the message is longer than {} bytes", options_.max_message_bytes));
    return;
  }
  StateParse parsed = parse_process_state(connection.bytes);
  if (parsed.status == StateParse::Status::complete) {
    finish_message(connection, std::move(parsed.state));
  } else if (parsed.status == StateParse::Status::invalid) {
    reject(connection, parsed.error);
  } else if (!open && connection.bytes.empty() && connection.descriptors.empty()) {
    // crun connects before it creates the container and closes like this when creation fails.
    reject(connection,
           "the runtime closed the connection without sending the container state "
           "(it failed to start the container, or it is not a container runtime)");
  } else if (!open) {
    reject(connection, fmt::format("the runtime closed the connection after {} bytes, before the "
                                   "container state was complete",
                                   connection.bytes.size()));
  }
}

void OciListener::finish_message(Connection& connection, ProcessState state) {
  std::size_t count = connection.descriptors.size();
  if (count != 1) {
    reject(connection,
           count == 0
               ? fmt::format("container {}: no descriptor came with the container state", state.id)
               : fmt::format("container {}: {} descriptors came with the container "
                             "state; expected one, the seccomp listener",
                             state.id,
                             count > kMaxDescriptors ? "more than 8" : std::to_string(count)));
    return;
  }
  if (auto problem = check_seccomp_listener(connection.descriptors.front().get())) {
    reject(connection, fmt::format("container {}: {}", state.id, *problem));
    return;
  }
  auto info = container_info(state);
  if (auto* message = std::get_if<std::string>(&info)) {
    reject(connection, fmt::format("container {}: {}; its connect and bind calls fail with ENOSYS",
                                   state.id, *message));
    return;
  }
  start_attach(std::get<ContainerInfo>(std::move(info)), std::move(connection.descriptors.front()),
               connection.peer);
  close_connection(connection.fd.get());
}

void OciListener::start_attach(ContainerInfo info, UniqueFd listener, std::string peer) {
  join_finished_attaches();
  Attach& attach = attaches_.emplace_back();
  attach.thread = std::thread([this, &attach, info = std::move(info),
                               listener = std::move(listener), peer = std::move(peer)] {
    auto started = std::chrono::steady_clock::now();
    std::string error = attach_with_retry(info, listener.get());
    std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - started;
    if (error.empty()) {
      log().debug(
          "listener {}: container {} from runtime {} attached in {:.2f} ms, metadata "
          "\"{}\"",
          options_.path, info.id, peer, took.count(), info.metadata);
    } else {
      log().warn(
          "listener {}: cannot attach container {} (pid {}) from runtime {}: {}; its "
          "connect and bind calls fail with ENOSYS",
          options_.path, info.id, info.pid, peer, error);
      reject_();
    }
    attach.done = true;
  });
}

std::string OciListener::attach_with_retry(const ContainerInfo& info, int listener) {
  auto deadline = std::chrono::steady_clock::now() + options_.attach_retry;
  std::chrono::milliseconds delay{5};
  for (;;) {
    UniqueFd copy(::fcntl(listener, F_DUPFD_CLOEXEC, 0));
    if (!copy) {
      return fmt::format("cannot duplicate the seccomp listener: {}", error_text(errno));
    }
    std::string error;
    try {
      attach_(info, std::move(copy));
      return "";
    } catch (const std::system_error& failure) {
      error = failure.what();
      if (failure.code() != std::errc::operation_not_permitted ||
          std::chrono::steady_clock::now() + delay > deadline) {
        return error;
      }
    } catch (const std::exception& failure) {
      return failure.what();
    }
    std::unique_lock lock(stop_mutex_);
    if (stop_requested_.wait_for(lock, delay, [this] { return stopping_; })) {
      return error + " (the gateway stopped before the namespaces could be entered)";
    }
    delay = std::min(delay * 2, std::chrono::milliseconds(100));
  }
}

void OciListener::join_finished_attaches() {
  for (auto attach = attaches_.begin(); attach != attaches_.end();) {
    if (!attach->done) {
      ++attach;
      continue;
    }
    attach->thread.join();
    attach = attaches_.erase(attach);
  }
}

void OciListener::reject(Connection& connection, const std::string& reason) {
  log().warn("listener {}: closed the connection from {}: {}", options_.path, connection.peer,
             reason);
  reject_();
  close_connection(connection.fd.get());
}

void OciListener::close_connection(int fd) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  connections_.erase(fd);
}

int OciListener::expire_connections() {
  auto now = std::chrono::steady_clock::now();
  std::vector<int> expired;
  auto next = std::chrono::steady_clock::time_point::max();
  for (const auto& [fd, connection] : connections_) {
    if (connection->deadline <= now) {
      expired.push_back(fd);
    } else {
      next = std::min(next, connection->deadline);
    }
  }
  for (int fd : expired) {
    reject(*connections_.at(fd),
           fmt::format("no complete container state within {} ms ({} bytes received)",
                       options_.timeout.count(), connections_.at(fd)->bytes.size()));
  }
  if (next == std::chrono::steady_clock::time_point::max()) {
    return -1;
  }
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
  return static_cast<int>(std::min<long long>(wait, std::numeric_limits<int>::max()));
}

}  // namespace sockgate
