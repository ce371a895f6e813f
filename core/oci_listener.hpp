// The OCI seccomp listener of `sockgate serve`: the unix socket that container runtimes connect
// to when a profile's `listenerPath` names it, and the parser of what they send.
//
// A runtime (runc 1.1.5, crun 1.8.1, and Podman 4.3.1 through either) connects a SOCK_STREAM
// socket and sends one message, the ContainerProcessState JSON. runc writes it compact, with the
// runtime specification's version. crun writes it pretty-printed with a trailing newline and
// version 0.2.0. The container's seccomp listener comes with it as the
// only descriptor of an SCM_RIGHTS message. The runtime neither waits for the gateway to accept
// nor closes the connection until it exits, so the listener reads until the JSON is complete and
// never waits for end of file. Each connection is read without blocking in one epoll loop, with
// a deadline, so a silent or slow runtime does not delay the others.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "core/container.hpp"
#include "core/fd.hpp"

namespace sockgate {

// The annotation that lists a container's published ports, comma-separated, each in the form
// of `sockgate run --publish`: [HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/tcp|/udp].
inline constexpr std::string_view kPublishAnnotation = "io.sockgate.publish";

// The container process state that a runtime sends with the seccomp listener, as defined by the
// OCI runtime specification (config-linux.md, "The Container Process State").
struct ProcessState {
  std::string oci_version;
  // Names of the descriptors sent with the message, in order.
  std::vector<std::string> fds;
  // The container's first process, as seen from the runtime's (and the gateway's) namespaces.
  pid_t pid = 0;
  // The profile's listenerMetadata; empty when the runtime left it out.
  std::string metadata;
  std::string id;
  std::string status;
  std::string bundle;
  std::vector<std::pair<std::string, std::string>> annotations;
};

// The result of parsing the bytes received so far on one connection.
struct StateParse {
  enum class Status { complete, incomplete, invalid };
  Status status = Status::incomplete;
  ProcessState state;
  // The reason the message is invalid, naming the field and its value.
  std::string error;
};

// Parses and validates a message. `incomplete` means that the bytes are a prefix of a JSON value,
// as when a message is split across reads. Whitespace may follow the value, nothing else may.
StateParse parse_process_state(std::string_view bytes);

// The container as the gateway attaches it: labels from the annotations, publishes from
// kPublishAnnotation. Returns a message quoting the annotation when a publish is invalid.
std::variant<ContainerInfo, std::string> container_info(const ProcessState& state);

// Checks that `fd` is a seccomp listener: SECCOMP_IOCTL_NOTIF_ID_VALID on id 0 fails with ENOENT
// there (ids are random 64-bit values) and with ENOTTY or EINVAL on anything else. Returns
// the reason it is not one, or std::nullopt.
std::optional<std::string> check_seccomp_listener(int fd);

struct OciListenerOptions {
  std::string path;
  // How long a connection may take to deliver its message. crun connects before it creates the
  // container, so this covers the container's creation too.
  std::chrono::milliseconds timeout{30000};
  // Connections beyond this many are closed at once, so runtimes cannot exhaust descriptors.
  std::size_t max_connections = 512;
  // Largest message accepted; an OCI state with its annotations is a few kilobytes.
  std::size_t max_message_bytes = 1 << 20;
  // How long an attach that fails with EPERM is retried. crun 1.8.1 sends the listener before
  // it executes the container's command, while the process is not dumpable, so setns(2) into its
  // namespaces fails with EPERM until the exec.
  std::chrono::milliseconds attach_retry{5000};
};

// Attaches a container; throws std::exception with a message for the log when it cannot, and
// std::system_error with EPERM when the container's namespaces cannot be entered yet. Runs on a
// thread of its own for each container, so it may block.
using AttachFunction = std::function<void(ContainerInfo info, UniqueFd listener)>;
// Counts a rejected connection (metrics::ErrorKind::listener).
using RejectFunction = std::function<void()>;

class OciListener {
 public:
  // Listens on options.path, mode 0600, replacing a stale socket file; the parent directory is
  // created mode 0700 when missing. Throws std::runtime_error when the path is taken by a
  // listening socket or cannot be used.
  OciListener(OciListenerOptions options, AttachFunction attach, RejectFunction reject);
  // Stops the loop, closes every connection and removes the socket file.
  ~OciListener();
  OciListener(const OciListener&) = delete;
  OciListener& operator=(const OciListener&) = delete;

  const std::string& path() const { return options_.path; }

 private:
  struct Connection;

  void run();
  void accept_connections();
  void read_connection(Connection& connection);
  // Receives what is available; returns false once the peer closed its end.
  bool receive(Connection& connection);
  void finish_message(Connection& connection, ProcessState state);
  // Attaches on a thread of its own, so that retries and slow attaches delay no connection.
  void start_attach(ContainerInfo info, UniqueFd listener, std::string peer);
  // Returns the error of the last attempt, or an empty string after success.
  std::string attach_with_retry(const ContainerInfo& info, int listener);
  void join_finished_attaches();
  void reject(Connection& connection, const std::string& reason);
  void close_connection(int fd);
  int expire_connections();

  OciListenerOptions options_;
  AttachFunction attach_;
  RejectFunction reject_;
  UniqueFd listener_;
  UniqueFd epoll_;
  UniqueFd stop_;
  // Connections that have not delivered their message yet, by descriptor.
  std::map<int, std::unique_ptr<Connection>> connections_;
  std::thread thread_;

  struct Attach {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::list<Attach> attaches_;
  std::mutex stop_mutex_;
  std::condition_variable stop_requested_;
  bool stopping_ = false;
};

}  // namespace sockgate
