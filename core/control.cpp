#include "core/control.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "core/gateway.hpp"
#include "core/kernel.hpp"
#include "core/log.hpp"

namespace sockgate {
namespace {

constexpr std::size_t kMaxRequestBytes = 4096;
// Connections accepted per wakeup, so a flood of connections cannot starve the open ones.
constexpr int kMaxAcceptsPerWakeup = 64;
// How long the server stops accepting after accept() failed for want of descriptors or memory.
constexpr std::chrono::seconds kAcceptPause{1};
// The shortest interval between two log lines about rejected connections.
constexpr std::chrono::seconds kRejectionLogInterval{1};

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    throw std::runtime_error(fmt::format("control socket path '{}' is longer than {} bytes",
                                         path, sizeof address.sun_path - 1));
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

std::string runtime_directory() {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime == nullptr || *runtime == '\0') {
    throw std::runtime_error("XDG_RUNTIME_DIR is not set; set it or pass --control PATH");
  }
  return fmt::format("{}/sockgate", runtime);
}

// Returns the strerror(3) text through std::generic_category(), which is thread-safe, unlike
// strerror.
std::string error_text(int error) { return std::generic_category().message(error); }

std::string peer_description(int socket) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
    return "an unknown process";
  }
  return fmt::format("pid {}", credentials.pid);
}

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

// Sends an error reply line without waiting, before the server closes the connection; a client
// whose buffer is full misses it.
void send_error_line(int fd, const std::string& error) {
  std::string line = nlohmann::json{{"ok", false}, {"error", error}}.dump() + "\n";
  [[maybe_unused]] auto sent = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void write_all(int fd, const std::string& text) {
  std::size_t written = 0;
  while (written < text.size()) {
    ssize_t length = ::send(fd, text.data() + written, text.size() - written, MSG_NOSIGNAL);
    if (length < 0 && errno == EINTR) {
      continue;
    }
    if (length <= 0) {
      return;
    }
    written += static_cast<std::size_t>(length);
  }
}

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

}  // namespace

std::string default_control_path() { return runtime_directory() + "/control.sock"; }

std::string run_control_path(long pid) { return fmt::format("{}/run-{}.sock", runtime_directory(), pid); }

ControlServer::ControlServer(std::string path, Gateway& gateway)
    : path_(std::move(path)), gateway_(gateway) {
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
  sockaddr_un address = unix_address(path_);
  listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  // A socket file that still accepts connections belongs to a running gateway; only a stale one
  // (its gateway gone) is replaced.
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    throw std::runtime_error(fmt::format("another gateway uses the control socket {}; stop it "
                                         "or pass another --control path", path_));
  }
  probe.reset();
  struct stat existing {};
  if (::lstat(path_.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      throw std::runtime_error(fmt::format(
          "the control socket path {} exists and is not a socket; pass another --control path",
          path_));
    }
    ::unlink(path_.c_str());
  }
  mode_t old_mask = ::umask(0177);
  int bound = ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::umask(old_mask);
  if (bound != 0 || ::listen(listener_.get(), 16) != 0) {
    throw errno_error(errno, fmt::format("cannot listen on the control socket {}", path_));
  }
  stop_.reset(::eventfd(0, EFD_CLOEXEC));
  thread_ = std::thread([this] { serve(); });
}

ControlServer::~ControlServer() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(stop_.get(), &one, sizeof one);
  thread_.join();
  ::unlink(path_.c_str());
}

void ControlServer::serve() {
  for (;;) {
    std::vector<pollfd> entries = poll_entries();
    if (::poll(entries.data(), entries.size(), poll_timeout_milliseconds()) < 0) {
      continue;
    }
    if (entries[0].revents != 0) {
      return;
    }

    // Entries from index 2 on are the clients, in the order of clients_.
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      if (entries[i + 2].revents == 0) {
        continue;
      }
      Client& client = clients_[i];
      if (client.reply.empty()) {
        read_request(client);
      } else {
        send_reply(client);
      }
    }
    close_expired_clients();

    if (entries[1].revents != 0) {
      accept_clients();
    }
  }
}

std::vector<pollfd> ControlServer::poll_entries() const {
  bool accepting = std::chrono::steady_clock::now() >= accept_paused_until_;
  std::vector<pollfd> entries = {{stop_.get(), POLLIN, 0},
                                 {listener_.get(), static_cast<short>(accepting ? POLLIN : 0), 0}};
  for (const Client& client : clients_) {
    entries.push_back(
        {client.socket.get(), static_cast<short>(client.reply.empty() ? POLLIN : POLLOUT), 0});
  }
  return entries;
}

// Returns the milliseconds until the next deadline or the end of an accept pause, rounded up,
// or -1 when there is neither.
int ControlServer::poll_timeout_milliseconds() const {
  auto now = std::chrono::steady_clock::now();
  auto next = std::chrono::steady_clock::time_point::max();
  for (const Client& client : clients_) {
    next = std::min(next, client.deadline);
  }
  if (accept_paused_until_ > now) {
    next = std::min(next, accept_paused_until_);
  }
  if (next == std::chrono::steady_clock::time_point::max()) {
    return -1;
  }
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now);
  return static_cast<int>(std::max<std::int64_t>(wait.count(), 0));
}

void ControlServer::accept_clients() {
  for (int accepted = 0; accepted < kMaxAcceptsPerWakeup; ++accepted) {
    UniqueFd socket(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!socket) {
      int error = errno;
      if (error == EINTR || error == ECONNABORTED) {
        continue;
      }
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
        accept_paused_until_ = std::chrono::steady_clock::now() + kAcceptPause;
        log().warn("control socket {}: accept failed: {}; accepting again in {} s", path_,
                   error_text(error), kAcceptPause.count());
      } else if (!would_block(error)) {
        log().warn("control socket {}: accept failed: {}", path_, error_text(error));
      }
      return;
    }
    if (clients_.size() >= kMaxClients) {
      reject(std::move(socket));
      continue;
    }
    Client client;
    client.peer = peer_description(socket.get());
    client.socket = std::move(socket);
    client.deadline = std::chrono::steady_clock::now() + kRequestTimeout;
    clients_.push_back(std::move(client));
  }
}

// Closes a connection beyond kMaxClients. Logs at most one line per kRejectionLogInterval, with
// the number of connections rejected since the previous line.
void ControlServer::reject(UniqueFd socket) {
  send_error_line(socket.get(), fmt::format("the gateway serves {} control clients at once, "
                                            "the maximum; retry later",
                                            kMaxClients));
  ++rejected_unlogged_;
  auto now = std::chrono::steady_clock::now();
  if (now - last_rejection_log_ < kRejectionLogInterval) {
    return;
  }
  std::string others;
  if (rejected_unlogged_ > 1) {
    others = fmt::format(" ({} other connections were rejected since the previous message)",
                         rejected_unlogged_ - 1);
  }
  log().warn("control socket: closed a new connection of {} because {} clients, the maximum, "
             "are connected{}",
             peer_description(socket.get()), kMaxClients, others);
  rejected_unlogged_ = 0;
  last_rejection_log_ = now;
}

// Reads what the client sent. A line end, the end of the stream or more than kMaxRequestBytes
// ends the request.
void ControlServer::read_request(Client& client) {
  char buffer[kMaxRequestBytes];
  for (;;) {
    ssize_t length = ::recv(client.socket.get(), buffer, sizeof buffer, 0);
    if (length < 0 && errno == EINTR) {
      continue;
    }
    if (length < 0) {
      if (!would_block(errno)) {
        log().debug("control socket: reading the request of {} failed: {}", client.peer,
                    error_text(errno));
        client.finished = true;
      }
      return;
    }
    if (length == 0) {
      start_reply(client, client.request.size());
      return;
    }
    client.request.append(buffer, static_cast<std::size_t>(length));
    std::size_t line_end = client.request.find('\n');
    if (line_end != std::string::npos || client.request.size() > kMaxRequestBytes) {
      start_reply(client, std::min(line_end, client.request.size()));
      return;
    }
  }
}

// Builds the reply to the first `line_length` bytes of the request and starts sending it.
void ControlServer::start_reply(Client& client, std::size_t line_length) {
  if (line_length > kMaxRequestBytes) {
    nlohmann::json error = {
        {"ok", false},
        {"error", fmt::format("invalid request: it is longer than {} bytes; send one JSON "
                              "object such as {{\"command\":\"status\"}} on one line",
                              kMaxRequestBytes)}};
    client.reply = error.dump() + "\n";
  } else {
    client.reply = reply_to(client.request.substr(0, line_length));
  }
  client.request.clear();
  client.deadline = std::chrono::steady_clock::now() + kReplyTimeout;
  send_reply(client);
}

void ControlServer::send_reply(Client& client) {
  while (client.sent < client.reply.size()) {
    ssize_t length = ::send(client.socket.get(), client.reply.data() + client.sent,
                            client.reply.size() - client.sent, MSG_NOSIGNAL);
    if (length < 0 && errno == EINTR) {
      continue;
    }
    if (length < 0) {
      if (!would_block(errno)) {
        log().debug("control socket: sending the reply to {} failed: {}", client.peer,
                    error_text(errno));
        client.finished = true;
      }
      return;
    }
    client.sent += static_cast<std::size_t>(length);
  }
  client.finished = true;
}

// Closes the connections that finished or missed their deadline.
void ControlServer::close_expired_clients() {
  auto now = std::chrono::steady_clock::now();
  for (Client& client : clients_) {
    if (client.finished || now < client.deadline) {
      continue;
    }
    if (client.reply.empty()) {
      log().warn("control socket: closed the connection of {} because it sent no complete "
                 "request line within {} ms ({} bytes received)",
                 client.peer, kRequestTimeout.count(), client.request.size());
      send_error_line(client.socket.get(), fmt::format("no complete request line within {} ms",
                                                       kRequestTimeout.count()));
    } else {
      log().warn("control socket: closed the connection of {} because it did not read its "
                 "reply within {} ms ({} of {} bytes sent)",
                 client.peer, kReplyTimeout.count(), client.sent, client.reply.size());
    }
    client.finished = true;
  }
  std::erase_if(clients_, [](const Client& client) { return client.finished; });
}

// Parses one request line and returns the reply line.
std::string ControlServer::reply_to(const std::string& request_line) {
  nlohmann::json reply;
  try {
    reply = handle(nlohmann::json::parse(request_line));
  } catch (const nlohmann::json::exception& error) {
    reply = {{"ok", false}, {"error", fmt::format("invalid request: {}", error.what())}};
  } catch (const std::exception& error) {
    log().error("control socket: the request of a client failed: {}", error.what());
    reply = {{"ok", false}, {"error", fmt::format("request failed: {}", error.what())}};
  }
  // Replacing invalid UTF-8, which a parse error can quote from the request, keeps dump() from
  // throwing.
  return reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

nlohmann::json ControlServer::handle(const nlohmann::json& request) {
  std::string command = request.value("command", "");
  if (command == "status") {
    return status_json(gateway_);
  }
  if (command == "reload") {
    std::vector<std::string> errors;
    bool reloaded = gateway_.reload(&errors);
    if (reloaded) {
      return {{"ok", true}, {"message", "reloaded"}};
    }
    return {{"ok", false},
            {"message", "reload failed; the previous policy stays"},
            {"errors", errors}};
  }
  return {{"ok", false},
          {"error", fmt::format("unknown command '{}': use status or reload", command)}};
}

nlohmann::json control_request(const std::string& path, const nlohmann::json& request) {
  // Each step (connect, send, every read) gives up after this long, so a stopped or stuck
  // gateway cannot hang the command.
  constexpr int kTimeoutSeconds = 15;
  sockaddr_un address = unix_address(path);
  UniqueFd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval timeout{kTimeoutSeconds, 0};
  ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  auto timed_out = [&] {
    return std::runtime_error(fmt::format(
        "the gateway at {} did not reply within {} s; it may be stopped or busy", path,
        kTimeoutSeconds));
  };
  if (::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    if (errno == EAGAIN) {
      throw timed_out();
    }
    throw std::runtime_error(fmt::format("cannot reach the gateway at {}: {}; is it running?",
                                         path, std::strerror(errno)));
  }
  write_all(client.get(), request.dump() + "\n");
  std::string reply;
  char buffer[4096];
  ssize_t length = 0;
  while ((length = ::recv(client.get(), buffer, sizeof buffer, 0)) > 0) {
    reply.append(buffer, static_cast<std::size_t>(length));
  }
  if (length < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    throw timed_out();
  }
  if (reply.empty()) {
    throw std::runtime_error(fmt::format("the gateway at {} closed the connection without a "
                                         "reply; retry",
                                         path));
  }
  try {
    return nlohmann::json::parse(reply);
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error(
        fmt::format("the gateway at {} sent a reply that is not JSON: {}", path,
                    reply.substr(0, 200)));
  }
}

nlohmann::json status_json(Gateway& gateway) {
  // The counters of the active policy's own series: a reload binds the next policy's series
  // just before it makes that policy active.
  auto active = gateway.policy();
  metrics::Snapshot snapshot = gateway.metrics().snapshot(active->series);
  nlohmann::json rules = nlohmann::json::array();
  auto infos = active->policy->rules();
  for (std::size_t i = 0; i < snapshot.rules.size(); ++i) {
    const metrics::RuleSnapshot& rule = snapshot.rules[i];
    nlohmann::json entry = {{"name", rule.name},
                            {"action", rules::to_string(rule.action)},
                            {"connect_matches", rule.connect_matches},
                            {"bind_matches", rule.bind_matches},
                            {"counts_traffic", rule.counts_traffic},
                            {"bytes_sent", rule.bytes_sent},
                            {"bytes_received", rule.bytes_received},
                            {"open_sockets", rule.open_sockets}};
    if (i < infos.size()) {
      entry["location"] = infos[i].location;
      entry["text"] = infos[i].text;
    }
    rules.push_back(entry);
  }
  nlohmann::json containers = nlohmann::json::array();
  for (const auto& container : gateway.containers()) {
    nlohmann::json labels = nlohmann::json::object();
    for (const auto& [key, value] : container->info().labels.pairs()) {
      labels[key] = value;
    }
    containers.push_back({{"id", container->info().id}, {"pid", container->info().pid},
                          {"labels", labels}});
  }
  return {{"ok", true},
          {"generation", active->generation},
          {"rules", rules},
          {"containers", containers},
          {"decisions",
           {{"pass", snapshot.decisions[0]},
            {"bypass", snapshot.decisions[1]},
            {"deny", snapshot.decisions[2]}}},
          {"reloads", {{"success", snapshot.reloads_succeeded},
                       {"failure", snapshot.reloads_failed}}}};
}

std::string format_status(const nlohmann::json& status) {
  std::string text;
  for (const auto& rule : status.at("rules")) {
    if (rule.contains("text")) {
      text += fmt::format("{}  # {}\n", rule["text"].get<std::string>(),
                          rule.value("location", std::string()));
    } else {
      text += fmt::format("default {}\n", rule["action"].get<std::string>());
    }
    text += fmt::format("  [ connect: {}  bind: {}", rule["connect_matches"].get<std::uint64_t>(),
                        rule["bind_matches"].get<std::uint64_t>());
    if (rule["counts_traffic"].get<bool>()) {
      text += fmt::format("  sent: {}  received: {}  open sockets: {}",
                          human_bytes(rule["bytes_sent"].get<std::uint64_t>()),
                          human_bytes(rule["bytes_received"].get<std::uint64_t>()),
                          rule["open_sockets"].get<std::int64_t>());
    }
    text += " ]\n";
  }
  const auto& decisions = status.at("decisions");
  text += fmt::format("decisions: bypass {}, pass {}, deny {}; containers: {}; reloads: {} ok, "
                      "{} failed\n",
                      decisions["bypass"].get<std::uint64_t>(),
                      decisions["pass"].get<std::uint64_t>(),
                      decisions["deny"].get<std::uint64_t>(), status.at("containers").size(),
                      status["reloads"]["success"].get<std::uint64_t>(),
                      status["reloads"]["failure"].get<std::uint64_t>());
  return text;
}

}  // namespace sockgate
