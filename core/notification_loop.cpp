// The notification loop: one thread per container, blocked in SECCOMP_IOCTL_NOTIF_RECV.
//
// Theory of operation. The container's filter stops each connect() and bind() and sends the
// gateway a notification with the thread id and the raw arguments. The loop:
//
//  1. takes a reference to the target's socket (pidfd_getfd) and reads its domain, type,
//     protocol and network namespace. Sockets sockgate does not police (not TCP or UDP over
//     IPv4/IPv6) are let through with SECCOMP_USER_NOTIF_FLAG_CONTINUE;
//  2. copies the sockaddr out of the target's memory once, then checks that the notification is
//     still valid, which also proves the thread id still named the target while we read;
//  3. asks the policy for a decision on its own copy of the address;
//  4. carries the decision out itself: it connects or binds the socket the decision picked (a
//     new host socket for bypass, the target's own socket for pass) with that same copy, and
//     responds with the result. A bypassed socket is installed over the target's descriptor with
//     SECCOMP_IOCTL_NOTIF_ADDFD, after which the kernel moves its data with no gateway involved.
//
// No call whose outcome depends on the address is ever continued: the kernel would read the
// address again, and another thread of the target could have rewritten it after the check, to
// reach the host's loopback or a denied address. Connects on blocking sockets go to a worker so
// that one slow destination never delays the next notification.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "core/container.hpp"
#include "core/gateway.hpp"
#include "core/kernel.hpp"
#include "core/log.hpp"
#include "core/sock_diag.hpp"
#include "core/switcher.hpp"

namespace sockgate {
namespace {

// Reads `length` bytes of the target's memory; 0 or -errno (EFAULT for a short read).
int read_target(pid_t tid, std::uint64_t address, void* buffer, std::size_t length) {
  iovec local{buffer, length};
  iovec remote{reinterpret_cast<void*>(address), length};
  ssize_t read = ::process_vm_readv(tid, &local, 1, &remote, 1, 0);
  if (read < 0) {
    return errno == EFAULT ? -EFAULT : -errno;
  }
  return static_cast<std::size_t>(read) == length ? 0 : -EFAULT;
}

// Resolves an i386 socketcall: its three arguments are 32-bit words in the target's memory.
int read_socketcall_arguments(Call& call) {
  std::uint32_t words[3];
  int result = read_target(call.tid, *call.call.socketcall_args, words, sizeof words);
  if (result != 0) {
    return result;
  }
  call.call.fd = static_cast<int>(words[0]);
  call.call.address = words[1];
  call.call.address_length = words[2];
  return 0;
}

// Takes the target's descriptor through a cached pidfd of the calling thread. A cached pidfd
// whose thread died fails with ESRCH: the thread id may have been reused since, so the pidfd is
// opened again. A pidfd that works belongs to the live thread with this id, which is the caller.
int take_target_socket(Call& call) {
  Container& container = *call.container;
  int error = 0;
  auto pidfd = container.thread_pidfd(call.tid, error);
  int socket = pidfd ? pidfd_getfd(pidfd->get(), call.call.fd) : error;
  if (socket == -ESRCH) {
    container.forget_thread(call.tid);
    pidfd = container.thread_pidfd(call.tid, error);
    socket = pidfd ? pidfd_getfd(pidfd->get(), call.call.fd) : error;
  }
  return socket;
}

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

// The socket type of the protocols sockgate polices: TCP (and MPTCP, which programs open in
// place of TCP) and UDP; 0 for the others, such as SCTP, ICMP (ping sockets) or AF_UNIX.
int policed_type(int domain, int protocol) {
  if (domain != AF_INET && domain != AF_INET6) {
    return 0;
  }
  if (protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP) {
    return SOCK_STREAM;
  }
  return protocol == IPPROTO_UDP ? SOCK_DGRAM : 0;
}

SocketKind socket_kind(int domain, int type) {
  bool v6 = domain == AF_INET6;
  if (type == SOCK_STREAM) {
    return v6 ? SocketKind::tcp6 : SocketKind::tcp4;
  }
  return v6 ? SocketKind::udp6 : SocketKind::udp4;
}

// Copies the call's address out of the target's memory; returns 0 or -errno.
int read_address(Call& call) {
  // The kernel rejects lengths past sockaddr_storage before reading anything.
  if (call.call.address_length > sizeof(sockaddr_storage)) {
    return -EINVAL;
  }
  call.address.length = static_cast<socklen_t>(call.call.address_length);
  if (call.address.length == 0) {
    return 0;
  }
  return read_target(call.tid, call.call.address, &call.address.storage, call.address.length);
}

// Reads what the call is about: the target's socket and a copy of its address. Returns 0 when
// the call should be decided, -errno to fail it with that error, or 1 when it has been dealt
// with (continued, or the target is gone).
int inspect(Call& call) {
  if (call.call.socketcall_args) {
    if (int error = read_socketcall_arguments(call); error != 0) {
      return error;
    }
  }
  int socket = take_target_socket(call);
  if (socket == -ESRCH) {
    return 1;  // the target is gone
  }
  if (socket < 0) {
    if (socket != -EBADF) {
      log().warn("container {}: cannot take fd {} of pid {}: {}; failing its {}",
                 call.container->info().id, call.call.fd, call.tid, std::strerror(-socket),
                 rules::to_string(call.call.operation));
      call.container->gateway().count_error(metrics::ErrorKind::notification);
    }
    return socket;
  }
  call.socket.reset(socket);

  socklen_t length = sizeof(int);
  if (::getsockopt(socket, SOL_SOCKET, SO_DOMAIN, &call.domain, &length) != 0) {
    int error = errno;
    if (error == ENOTSOCK && call.call.operation == rules::Operation::connect) {
      // connect() reads the address before it checks the descriptor; bind() checks first.
      if (int address_error = read_address(call); address_error != 0) {
        return address_error;
      }
    }
    return -error;
  }
  ::getsockopt(socket, SOL_SOCKET, SO_PROTOCOL, &call.protocol, &length);
  call.type = policed_type(call.domain, call.protocol);
  if (call.type == 0) {
    // NOTE: the kernel resolves the descriptor again when it continues; a thread that swaps
    // another socket onto the same number in between gets the call run on that socket.
    call.container->notifier().respond_continue(call.id);
    return 1;
  }
  call.kind = socket_kind(call.domain, call.type);

  if (int error = read_address(call); error != 0) {
    return error;
  }
  if (!call.container->notifier().valid(call.id)) {
    return 1;
  }

  std::uint64_t netns = netns_cookie(socket);
  if (netns == call.container->netns_cookie()) {
    call.home = SocketHome::container;
  } else if (netns == call.container->gateway().host_netns_cookie()) {
    call.home = SocketHome::host;
  } else {
    call.home = SocketHome::foreign;
  }
  call.blocking = (::fcntl(socket, F_GETFL) & O_NONBLOCK) == 0;
  return 0;
}

// The event the policy decides on; std::nullopt when the address is not a full IPv4/IPv6
// address of the socket's family, in which case the kernel's own checks decide.
std::optional<rules::Event> make_event(const Call& call) {
  int family = call.address.family();
  bool bind_unspecified = call.call.operation == rules::Operation::bind &&
                          call.domain == AF_INET && family == AF_UNSPEC &&
                          call.address.length >= sizeof(sockaddr_in);
  if (family != call.domain && !bind_unspecified) {
    return std::nullopt;
  }
  SocketAddress as_family = call.address;
  if (bind_unspecified) {
    // The kernel binds AF_UNSPEC with INADDR_ANY as AF_INET; police it as such.
    as_family.storage.ss_family = AF_INET;
  }
  auto ip = as_family.ip();
  if (!ip) {
    return std::nullopt;
  }
  rules::Event event;
  event.operation = call.call.operation;
  event.protocol = call.type == SOCK_STREAM ? rules::Protocol::tcp : rules::Protocol::udp;
  event.address = *ip;
  event.port = as_family.port();
  return event;
}

// Whether a TCP socket is past the state where connect() can start: connecting, connected or
// listening. The kernel then fails connect() (EALREADY, EISCONN) without changing the socket.
bool tcp_past_closed(int socket) {
  std::uint8_t state[8] = {};
  socklen_t length = sizeof state;
  if (::getsockopt(socket, IPPROTO_TCP, TCP_INFO, state, &length) != 0) {
    return false;
  }
  return state[0] != TCP_CLOSE;
}

bool already_bound(int socket) {
  SocketAddress local;
  local.length = sizeof local.storage;
  if (::getsockname(socket, local.get(), &local.length) != 0) {
    return false;
  }
  return local.port() != 0;
}

rules::IpAddress loopback_for(int family) {
  return *rules::IpAddress::parse(family == AF_INET ? "127.0.0.1" : "::1");
}

// The host side of the container's own published port, when a connect to it should go there:
// the container itself is the destination and no listener inside holds that port.
std::optional<SocketAddress> published_redirect(Call& call) {
  const rules::Event& event = *call.event;
  Container& container = *call.container;
  if (event.protocol != rules::Protocol::tcp || !container.is_own_address(event.address)) {
    return std::nullopt;
  }
  auto published = container.find_published(event.protocol, event.port);
  if (!published) {
    return std::nullopt;
  }
  try {
    for (const TcpListener& listener : dump_tcp_listeners(container.sock_diag_fd())) {
      bool wildcard = listener.address == rules::IpAddress{} ||
                      listener.address == *rules::IpAddress::parse("0.0.0.0");
      if (listener.port == event.port && (wildcard || listener.address == event.address)) {
        return std::nullopt;
      }
    }
  } catch (const std::system_error& error) {
    log().warn("container {}: cannot list its listeners ({}); connecting inside", 
               container.info().id, error.what());
    return std::nullopt;
  }
  auto host_ip = published->host.ip();
  bool host_wildcard = *host_ip == rules::IpAddress{} ||
                       *host_ip == *rules::IpAddress::parse("0.0.0.0");
  rules::IpAddress destination = host_wildcard ? loopback_for(published->host.family()) : *host_ip;
  if (call.domain == AF_INET && !destination.is_v4()) {
    if (!host_wildcard) {
      return std::nullopt;
    }
    destination = loopback_for(AF_INET);
  }
  return SocketAddress::from(call.domain, destination, published->host.port());
}

// Where a bypassed bind listens on the host: the rule's publish address and port, else the
// container's port on the host's loopback (when the container bound loopback) or wildcard.
SocketAddress host_bind_address(const Call& call) {
  const rules::Event& event = *call.event;
  if (call.decision.publish) {
    const rules::Publish& publish = *call.decision.publish;
    if (publish.address) {
      return SocketAddress::from(call.domain, *publish.address, publish.port);
    }
    return SocketAddress::any(call.domain, publish.port);
  }
  bool loopback = event.address.is_v4() ? event.address.bytes[12] == 127
                                        : event.address == loopback_for(AF_INET6);
  if (loopback) {
    return SocketAddress::from(call.domain, event.address, event.port);
  }
  return SocketAddress::any(call.domain, event.port);
}

// Carries out a bypass connect to `destination`. A socket that is a host socket already, because
// its earlier connect was refused or it was shut down, connects itself as it would on the host.
// The kernel then keeps its local port, and returns EISCONN if it still counts it as connected.
void connect_bypassed(Call& call, const SocketAddress& destination) {
  if (call.home != SocketHome::host) {
    bypass_connect(call, destination);
    return;
  }
  // NOTE: the new connection's bytes count toward the rule of the socket's first connect, whose
  // tracking follows the socket's cookie.
  call.address = destination;
  perform_on_socket(call);
}

void carry_out_connect(Call& call) {
  Gateway& gateway = call.container->gateway();
  if (call.type == SOCK_STREAM && tcp_past_closed(call.socket.get())) {
    gateway.record_decision(call, rules::Action::pass);
    perform_on_socket(call);  // EISCONN or EALREADY, exactly as the kernel returns them
    return;
  }
  if (auto redirect = published_redirect(call)) {
    log().debug("container {}: {} is its own published port, connecting to {} on the host",
                call.container->info().id, call.address.to_string(), redirect->to_string());
    gateway.record_decision(call, rules::Action::bypass);
    connect_bypassed(call, *redirect);
    return;
  }
  rules::Action action = call.decision.action;
  if (action == rules::Action::bypass &&
      (call.home == SocketHome::foreign || call.container->is_local(call.event->address))) {
    action = rules::Action::pass;
  }
  gateway.record_decision(call, action);
  if (action == rules::Action::bypass) {
    connect_bypassed(call, call.address);
  } else if (call.home == SocketHome::host) {
    pass_on_new_container_socket(call);
  } else {
    perform_on_socket(call);
  }
}

// Applies a publish of the container's own (not from the policy) to a bind of its port.
void apply_container_publish(Call& call) {
  for (const rules::PublishSpec& spec : call.container->info().publishes) {
    if (spec.container_port == call.event->port && spec.protocol == call.event->protocol) {
      call.decision.action = rules::Action::bypass;
      call.decision.publish = rules::Publish{spec.host_address, spec.host_port};
      return;
    }
  }
}

void carry_out_bind(Call& call) {
  Gateway& gateway = call.container->gateway();
  if (already_bound(call.socket.get())) {
    gateway.record_decision(call, rules::Action::pass);
    perform_on_socket(call);  // EINVAL, as the kernel returns for a second bind
    return;
  }
  apply_container_publish(call);
  bool bypass = call.decision.action == rules::Action::bypass && call.home != SocketHome::foreign;
  gateway.record_decision(call, bypass ? rules::Action::bypass : rules::Action::pass);
  if (bypass) {
    bypass_bind(call, host_bind_address(call));
  } else if (call.home == SocketHome::host) {
    pass_on_new_container_socket(call);
  } else {
    perform_on_socket(call);
  }
}

// Decides the call and carries the decision out. Each path reports the decision with the action
// actually applied (a bypass to an address local to the container becomes a pass) before it
// acts, because acting may hand the call to a worker.
void decide_and_carry_out(Call& call) {
  call.event = make_event(call);
  if (!call.event) {
    if (call.home == SocketHome::host) {
      pass_on_new_container_socket(call);
    } else {
      perform_on_socket(call);
    }
    return;
  }
  const rules::Policy& policy = *call.policy->policy;
  const rules::Subject& subject = call.container->subject(policy, call.policy->generation);
  call.decision = policy.decide(*call.event, subject);

  if (call.decision.action == rules::Action::deny) {
    call.container->gateway().record_decision(call, rules::Action::deny);
    send_response(call, call.decision.error);
  } else if (call.call.operation == rules::Operation::connect) {
    carry_out_connect(call);
  } else {
    carry_out_bind(call);
  }
}

void handle_notification(const std::shared_ptr<Container>& container,
                         const seccomp_notif& notification) {
  Call call;
  call.started = std::chrono::steady_clock::now();
  call.container = container;
  call.id = notification.id;
  call.tid = static_cast<pid_t>(notification.pid);
  auto decoded = decode_socket_call(notification.data);
  if (!decoded) {
    log().error("container {}: notified of system call {} (arch {:#x}), which the filter does "
                "not trap; responding ENOSYS",
                container->info().id, notification.data.nr, notification.data.arch);
    container->notifier().respond(call.id, 0, ENOSYS);
    return;
  }
  call.call = *decoded;
  call.policy = container->gateway().policy();

  int inspected = inspect(call);
  if (inspected < 0) {
    send_response(call, -inspected);
    return;
  }
  if (inspected > 0) {
    return;
  }
  if (call.call.operation == rules::Operation::connect && call.home == SocketHome::container) {
    // A connect on a socket whose bypass is still connecting (a restarted call, or another
    // thread's) gets its response from that bypass's worker.
    switch (container->join_in_flight(call.socket.get(), {call.id, call.tid}, call.blocking)) {
      case JoinResult::joined:
        return;
      case JoinResult::already:
        send_response(call, EALREADY);
        return;
      case JoinResult::none:
        break;
    }
  }
  decide_and_carry_out(call);
}

}  // namespace

void Container::run_loop() {
  notifier_->bind_to_current_thread();
  auto self = shared_from_this();
  struct MarkFinished {
    std::atomic<bool>& finished;
    ~MarkFinished() { finished = true; }
  } mark_finished{loop_finished_};
  seccomp_notif notification{};
  for (;;) {
    ReceiveResult result = notifier_->receive(notification);
    if (result == ReceiveResult::woken) {
      return;
    }
    if (result == ReceiveResult::hangup) {
      log().debug("container {}: no process uses the filter any more", info_.id);
      gateway_.container_ended(self);
      return;
    }
    if (result == ReceiveResult::gone) {
      continue;
    }
    try {
      handle_notification(self, notification);
    } catch (const std::exception& error) {
      // Every expected failure gets its response inside; this is a bug or resource exhaustion. Respond
      // so the target does not hang, and keep serving the others.
      log().error("container {}: handling a notification failed: {}", info_.id, error.what());
      gateway_.count_error(metrics::ErrorKind::notification);
      notifier_->respond(notification.id, 0, ENOBUFS);
    }
  }
}

}  // namespace sockgate
