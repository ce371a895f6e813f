#include "core/switcher.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/container.hpp"
#include "core/gateway.hpp"
#include "core/kernel.hpp"
#include "core/log.hpp"
#include "core/netns.hpp"

namespace sockgate {
namespace {

// How often a worker waiting for a connect checks that its target still waits too.
constexpr int kWaitSliceMilliseconds = 500;

int connect_errno(int fd, const SocketAddress& address) {
  return ::connect(fd, address.get(), address.length) == 0 ? 0 : errno;
}

// The connect timeout of a blocking socket (SO_SNDTIMEO); -1 for none.
long long send_timeout_milliseconds(int socket) {
  timeval timeout{};
  socklen_t length = sizeof timeout;
  if (::getsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, &length) != 0) {
    return -1;
  }
  long long milliseconds = timeout.tv_sec * 1000LL + timeout.tv_usec / 1000;
  return milliseconds > 0 ? milliseconds : -1;
}

// Gives the host socket the container socket's file status: blocking or not.
void match_file_flags(const Call& call, int host) {
  int flags = ::fcntl(host, F_GETFL);
  if (call.blocking) {
    ::fcntl(host, F_SETFL, flags & ~O_NONBLOCK);
  }
}

// The target's descriptor as it is now, if it still is the socket the call was made on.
// Another thread of the target may have closed it and opened something else under the same
// number meanwhile, and installing the host socket would replace that.
std::optional<RemoteDescriptor> unchanged_descriptor(const Call& call) {
  auto descriptor = call.container->describe_descriptor(call.tid, call.call.fd);
  struct stat socket_status {};
  if (descriptor && ::fstat(call.socket.get(), &socket_status) == 0 &&
      socket_status.st_ino == descriptor->inode) {
    return descriptor;
  }
  log().debug("container {}: pid {} closed or replaced fd {} during the call; not switching it",
              call.container->info().id, call.tid, call.call.fd);
  return std::nullopt;
}

// Installs `host` over the target's descriptor and responds with `result`.
void install_and_respond(Call& call, UniqueFd host, int result) {
  auto descriptor = unchanged_descriptor(call);
  if (!descriptor) {
    send_response(call, result);
    return;
  }
  match_file_flags(call, host.get());
  bool cloexec = descriptor->cloexec;
  int installed = call.container->notifier().install_fd(call.id, host.get(), call.call.fd,
                                                        cloexec);
  if (installed == -ENOENT) {
    log().debug("container {}: pid {} went away before its socket was switched",
                call.container->info().id, call.tid);
    return;
  }
  if (installed < 0) {
    log().error("container {}: installing the host socket as fd {} of pid {} failed: {}",
                call.container->info().id, call.call.fd, call.tid, std::strerror(-installed));
    call.container->gateway().count_error(metrics::ErrorKind::install);
    send_response(call, -installed);
    return;
  }
  call.container->gateway().socket_installed(call, host.get());
  host.reset();
  call.container->gateway().close_later(std::move(call.socket));
  send_response(call, result);
}

CarryFor carry_for(const Call& call) {
  return call.call.operation == rules::Operation::bind ? CarryFor::bind : CarryFor::connect;
}

// Makes the host socket for a bypass with the container socket's options and bound port.
// Returns the socket, or -errno after logging why.
int make_host_socket(Call& call, UniqueFd& host) {
  host.reset(::socket(call.domain, call.type | SOCK_NONBLOCK | SOCK_CLOEXEC, call.protocol));
  if (!host) {
    int error = errno;
    log().warn("container {}: cannot make a host socket for {}: {}", call.container->info().id,
               call.address.to_string(), std::strerror(error));
    call.container->gateway().count_error(metrics::ErrorKind::host_socket);
    return -error;
  }
  OptionValues options = read_socket_options(call.socket.get(), call.kind, carry_for(call));
  auto refused = carry_socket_options(host.get(), call.kind, options,
                                      call.container->option_defaults(call.kind));
  for (const std::string& option : refused) {
    log().debug("container {}: the host refused {} on a switched socket",
                call.container->info().id, option);
  }
  return 0;
}

// Binds the host socket to the port the container socket was bound to, if any.
int reproduce_bound_port(Call& call, int host) {
  SocketAddress local;
  local.length = sizeof local.storage;
  if (::getsockname(call.socket.get(), local.get(), &local.length) != 0 || local.port() == 0) {
    return 0;
  }
  SocketAddress any = SocketAddress::any(call.domain, local.port());
  if (::bind(host, any.get(), any.length) != 0) {
    int error = errno;
    log().warn("container {}: its socket was bound to port {}, which is taken on the host: {}",
               call.container->info().id, local.port(), std::strerror(error));
    return -error;
  }
  return 0;
}

// Connects the connected host socket `fd` once more. This moves the socket from "connecting" to
// "connected", as a blocking connect() leaves it, so a later connect() fails with EISCONN as on
// the host instead of succeeding once more.
void settle_connected(int fd, const SocketAddress& destination) {
  [[maybe_unused]] int result = ::connect(fd, destination.get(), destination.length);
}

// Returns the result of a non-blocking connect whose handshake has already finished (0 or the
// errno), or -1 while it is still in progress. To a destination on the same machine (a veth
// pair, a bridge, loopback) the kernel usually sends the SYN and handles the SYN-ACK in softirq
// before connect() returns, so the result is there at once and no worker needs to wait for it.
int finished_connect_result(int fd) {
  pollfd entry{fd, POLLOUT, 0};
  if (::poll(&entry, 1, 0) <= 0) {
    return -1;
  }
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    return errno;
  }
  return error;
}

// Responds `error` to the connects of other threads that waited for the same connection.
void respond_to_waiters(const Call& call, const std::vector<InFlightCall::Caller>& waiters,
                        int error) {
  for (const InFlightCall::Caller& waiter : waiters) {
    call.container->notifier().respond(waiter.notification, 0, error);
  }
}

// Waits in a worker for a bypass connect on a blocking socket, then installs it and responds.
void wait_for_bypass(std::shared_ptr<Call> call, std::shared_ptr<UniqueFd> host,
                     const SocketAddress& destination) {
  Container& container = *call->container;
  auto in_flight =
      container.begin_in_flight(call->id, call->tid, socket_cookie(call->socket.get()), true);
  long long timeout = send_timeout_milliseconds(call->socket.get());
  container.gateway().workers().submit([call, host, in_flight, timeout, destination] {
    Container& owner = *call->container;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout);
    bool timed_out = false;
    for (;;) {
      int slice = kWaitSliceMilliseconds;
      if (timeout >= 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        slice = static_cast<int>(std::clamp<long long>(left.count(), 0, slice));
      }
      pollfd entry{host->get(), POLLOUT, 0};
      if (::poll(&entry, 1, slice) > 0) {
        break;
      }
      if (timeout >= 0 && std::chrono::steady_clock::now() >= deadline) {
        timed_out = true;
        break;
      }
      if (owner.abandon_if_gone(in_flight)) {
        return;  // the target is gone: closing the host socket abandons the connect
      }
    }
    call->id = owner.finish_in_flight(in_flight);
    call->tid = in_flight->tid;
    if (timed_out) {
      // The kernel fails a blocking connect that outlived SO_SNDTIMEO with EINPROGRESS and
      // keeps connecting; so does the installed host socket. A call that found the connect
      // already started (restarted, or waiting beside it) gets EALREADY, as do the waiters.
      install_and_respond(*call, std::move(*host), in_flight->original ? EINPROGRESS : EALREADY);
      respond_to_waiters(*call, in_flight->waiters, EALREADY);
      return;
    }
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(host->get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      send_response(*call, error);
      respond_to_waiters(*call, in_flight->waiters, error);
      return;
    }
    settle_connected(host->get(), destination);
    install_and_respond(*call, std::move(*host), 0);
    respond_to_waiters(*call, in_flight->waiters, 0);
  });
}

// Performs a connect on a blocking socket of the target in a worker.
void connect_in_worker(std::shared_ptr<Call> call) {
  Container& container = *call->container;
  auto in_flight = container.begin_in_flight(call->id, call->tid, 0, false);
  container.gateway().workers().submit([call, in_flight] {
    Container& owner = *call->container;
    owner.set_in_flight_worker(*in_flight, ::pthread_self());
    int error = connect_errno(call->socket.get(), call->address);
    owner.finish_in_flight(in_flight);
    if (error == EINTR && !owner.notifier().valid(call->id)) {
      return;  // interrupted by the housekeeping because the target went away
    }
    send_response(*call, error);
  });
}

}  // namespace

void send_response(Call& call, int error) {
  call.container->gateway().response_sent(call);
  if (!call.container->notifier().respond(call.id, 0, error)) {
    log().debug("container {}: pid {} went away before the response",
                call.container->info().id, call.tid);
  }
}

void perform_on_socket(Call& call) {
  if (call.call.operation == rules::Operation::bind) {
    int result = ::bind(call.socket.get(), call.address.get(), call.address.length);
    send_response(call, result == 0 ? 0 : errno);
    return;
  }
  if (call.event && call.type == SOCK_STREAM) {
    call.container->gateway().socket_passed(call);
  }
  if (!call.blocking) {
    send_response(call, connect_errno(call.socket.get(), call.address));
    return;
  }
  connect_in_worker(std::make_shared<Call>(std::move(call)));
}

void bypass_connect(Call& call, const SocketAddress& destination) {
  UniqueFd host;
  if (int error = make_host_socket(call, host); error < 0) {
    send_response(call, -error);
    return;
  }
  if (int error = reproduce_bound_port(call, host.get()); error < 0) {
    send_response(call, -error);
    return;
  }
  int error = connect_errno(host.get(), destination);
  if (error == 0) {
    settle_connected(host.get(), destination);
    install_and_respond(call, std::move(host), 0);
  } else if (error != EINPROGRESS) {
    send_response(call, error);
  } else if (!call.blocking) {
    install_and_respond(call, std::move(host), EINPROGRESS);
  } else if (int result = finished_connect_result(host.get()); result > 0) {
    send_response(call, result);
  } else if (result == 0) {
    settle_connected(host.get(), destination);
    install_and_respond(call, std::move(host), 0);
  } else {
    wait_for_bypass(std::make_shared<Call>(std::move(call)),
                    std::make_shared<UniqueFd>(std::move(host)), destination);
  }
}

void bypass_bind(Call& call, const SocketAddress& host_address) {
  UniqueFd host;
  if (int error = make_host_socket(call, host); error < 0) {
    send_response(call, -error);
    return;
  }
  if (::bind(host.get(), host_address.get(), host_address.length) != 0) {
    int error = errno;
    log().warn("container {}: cannot publish {} on the host (rule {}): {}",
               call.container->info().id, host_address.to_string(),
               call.container->gateway().rule_name(call), std::strerror(error));
    call.container->gateway().count_error(metrics::ErrorKind::host_socket);
    send_response(call, error);
    return;
  }
  PublishedPort published;
  published.protocol = call.event->protocol;
  published.container_port = call.event->port;
  published.host = host_address;
  published.cookie = socket_cookie(host.get());
  int host_fd = host.get();
  SocketAddress bound;
  bound.length = sizeof bound.storage;
  if (::getsockname(host_fd, bound.get(), &bound.length) == 0) {
    published.host = bound;
  }
  call.container->add_published(published);
  install_and_respond(call, std::move(host), 0);
}

void pass_on_new_container_socket(Call& call) {
  SocketRequest request{call.domain, call.type, call.protocol};
  std::vector<UniqueFd> made;
  try {
    made = open_sockets_in_netns(call.container->pidfd(), std::span(&request, 1));
  } catch (const std::system_error& error) {
    log().error("container {}: cannot make a socket in its network namespace to pass {}: {}",
                call.container->info().id, call.address.to_string(), error.what());
    call.container->gateway().count_error(metrics::ErrorKind::host_socket);
    send_response(call, EACCES);
    return;
  }
  UniqueFd inside = std::move(made.front());
  OptionValues options = read_socket_options(call.socket.get(), call.kind, carry_for(call));
  carry_socket_options(inside.get(), call.kind, options, call.container->option_defaults(call.kind));
  if (!call.blocking) {
    ::fcntl(inside.get(), F_SETFL, ::fcntl(inside.get(), F_GETFL) | O_NONBLOCK);
  }
  auto descriptor = unchanged_descriptor(call);
  if (!descriptor) {
    send_response(call, EBADF);
    return;
  }
  int installed = call.container->notifier().install_fd(call.id, inside.get(), call.call.fd,
                                                        descriptor->cloexec);
  if (installed < 0) {
    if (installed != -ENOENT) {
      send_response(call, -installed);
    }
    return;
  }
  call.socket = std::move(inside);
  call.home = SocketHome::container;
  perform_on_socket(call);
}

}  // namespace sockgate
