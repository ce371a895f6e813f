#include "metrics/exposer.hpp"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <fmt/format.h>
#include <prometheus/exposer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <exception>
#include <thread>

#include "metrics/log.hpp"

namespace sockgate::metrics {
namespace {

// Messages that civetweb logs while the exposer starts. They contain the reason why binding
// failed, and civetweb calls its log callback on the thread that constructs the server.
thread_local std::string* startup_messages = nullptr;

int log_civetweb_message(const mg_connection* /*connection*/, const char* message) {
  if (startup_messages != nullptr) {
    startup_messages->append(startup_messages->empty() ? "" : "; ").append(message);
  } else {
    log().warn("metrics exporter: {}", message);
  }
  return 1;
}

void connect_and_close(const std::string& host, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    return;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return;
  }
  (void)connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  close(fd);
}

[[noreturn]] void throw_bad_address(std::string_view text, std::string_view reason) {
  throw MetricsError(fmt::format(
      "invalid metrics address \"{}\": {}; expected IPV4:PORT such as {}, or --metrics none "
      "(metrics = \"\" in the configuration file) to disable the exporter",
      text, reason, kDefaultAddress));
}

}  // namespace

ExposerAddress parse_exposer_address(std::string_view text) {
  if (text.starts_with('[')) {
    throw_bad_address(text,
                      "IPv6 is not supported, because Debian's civetweb 1.15 is built without it");
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    throw_bad_address(text, "the port is missing");
  }
  ExposerAddress address{std::string(text.substr(0, colon)), 0};
  in_addr parsed{};
  if (inet_pton(AF_INET, address.host.c_str(), &parsed) != 1) {
    throw_bad_address(text, fmt::format("\"{}\" is not an IPv4 address", address.host));
  }
  const std::string_view port = text.substr(colon + 1);
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), address.port);
  if (port.empty() || error != std::errc() || end != port.data() + port.size()) {
    throw_bad_address(text, fmt::format("\"{}\" is not a port from 0 to 65535", port));
  }
  return address;
}

MetricsExposer::MetricsExposer(std::string_view address,
                               const std::shared_ptr<prometheus::Collectable>& collectable) {
  const ExposerAddress parsed = parse_exposer_address(address);
  static const CivetCallbacks callbacks = [] {
    CivetCallbacks result;
    result.log_message = log_civetweb_message;
    return result;
  }();

  std::string messages;
  startup_messages = &messages;
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(fmt::format("{}:{}", parsed.host, parsed.port),
                                                     2, &callbacks);
  } catch (const std::exception& error) {
    startup_messages = nullptr;
    throw MetricsError(fmt::format(
        "the metrics exporter cannot listen on {}: {}; pass another --metrics address, or "
        "--metrics none (metrics = \"\" in the configuration file) to disable the exporter",
        address, messages.empty() ? error.what() : messages));
  }
  startup_messages = nullptr;

  exposer_->RegisterCollectable(collectable, std::string(kMetricsPath));
  host_ = parsed.host;
  const auto ports = exposer_->GetListeningPorts();
  port_ = ports.empty() ? parsed.port : static_cast<std::uint16_t>(ports.front());
}

MetricsExposer::~MetricsExposer() {
  // civetweb's listening thread waits in poll() for up to 2 s before it checks for a stop,
  // so connections to the port wake it up while the exposer stops.
  std::atomic<bool> stopped{false};
  std::thread waker([this, &stopped] {
    while (!stopped.load()) {
      connect_and_close(host_ == "0.0.0.0" ? "127.0.0.1" : host_, port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  exposer_.reset();
  stopped.store(true);
  waker.join();
}

}  // namespace sockgate::metrics
