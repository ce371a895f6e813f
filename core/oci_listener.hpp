// The OCI seccomp listener of `sockgate serve`: the unix socket that container runtimes connect
// to when a profile's `listenerPath` names it.
//
// A runtime (runc 1.1.5, crun 1.8.1, and Podman 4.3.1 through either) connects a SOCK_STREAM
// socket and sends one message, the container process state (oci_state.hpp). The container's
// seccomp listener comes with it as the only descriptor of an SCM_RIGHTS message. The runtime
// neither waits for the gateway to accept nor closes the connection until it exits, so the
// listener reads until the JSON is complete and never waits for end of file. Each connection is
// read without blocking in one epoll loop, with a deadline, so a silent or slow runtime does not
// delay the others.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/fd.hpp"
#include "core/oci_state.hpp"

namespace sockgate {

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

// Attaches a container. Throws std::system_error with EPERM while the container's namespaces
// cannot be entered yet, and another std::exception with a message for the log on other
// failures. It runs on a thread of its own for each container, so it may block.
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
