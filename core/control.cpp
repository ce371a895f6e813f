#include "core/control.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "core/gateway.hpp"
#include "core/kernel.hpp"
#include "core/log.hpp"

namespace sockgate {
namespace {

constexpr std::size_t kMaxRequestBytes = 4096;
constexpr int kClientTimeoutMilliseconds = 2000;

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

// Reads one line from a client, or until it closes, within the timeout.
std::string read_request(int client) {
  std::string request;
  char buffer[512];
  while (request.size() < kMaxRequestBytes && request.find('\n') == std::string::npos) {
    pollfd entry{client, POLLIN, 0};
    if (::poll(&entry, 1, kClientTimeoutMilliseconds) <= 0) {
      break;
    }
    ssize_t length = ::recv(client, buffer, sizeof buffer, 0);
    if (length <= 0) {
      break;
    }
    request.append(buffer, static_cast<std::size_t>(length));
  }
  return request;
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
  ::unlink(path_.c_str());
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
    pollfd entries[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(entries, 2, -1) < 0) {
      continue;
    }
    if (entries[1].revents != 0) {
      return;
    }
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) {
      continue;
    }
    nlohmann::json reply;
    try {
      reply = handle(nlohmann::json::parse(read_request(client.get())));
    } catch (const nlohmann::json::exception& error) {
      reply = {{"ok", false}, {"error", fmt::format("invalid request: {}", error.what())}};
    }
    write_all(client.get(), reply.dump() + "\n");
  }
}

nlohmann::json ControlServer::handle(const nlohmann::json& request) {
  std::string command = request.value("command", "");
  if (command == "status") {
    return status_json(gateway_);
  }
  if (command == "reload") {
    bool reloaded = gateway_.reload();
    return {{"ok", reloaded},
            {"message", reloaded ? "reloaded" : "reload failed; the gateway's log says why and "
                                                "the previous policy stays"}};
  }
  return {{"ok", false},
          {"error", fmt::format("unknown command '{}': use status or reload", command)}};
}

nlohmann::json control_request(const std::string& path, const nlohmann::json& request) {
  sockaddr_un address = unix_address(path);
  UniqueFd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
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
  return nlohmann::json::parse(reply);
}

nlohmann::json status_json(Gateway& gateway) {
  auto active = gateway.policy();
  metrics::Snapshot snapshot = gateway.metrics().snapshot();
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
