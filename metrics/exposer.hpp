// The HTTP endpoint that Prometheus scrapes: prometheus-cpp's pull exposer (civetweb) on an
// IPv4 address and port, serving one collectable at /metrics.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace prometheus {
class Collectable;
class Exposer;
}  // namespace prometheus

namespace sockgate::metrics {

// An invalid metrics address, or an exporter that could not start on it.
class MetricsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::string_view kDefaultAddress = "127.0.0.1:9464";
inline constexpr std::string_view kMetricsPath = "/metrics";

struct ExposerAddress {
  std::string host;
  // With 0, the kernel chooses a free port.
  std::uint16_t port = 0;
};

// Parses IPV4:PORT. Throws MetricsError naming the text and the accepted form.
ExposerAddress parse_exposer_address(std::string_view text);

class MetricsExposer {
 public:
  // Listens on `address` and serves `collectable` at /metrics. Throws MetricsError when the
  // address is invalid or cannot be bound.
  MetricsExposer(std::string_view address,
                 const std::shared_ptr<prometheus::Collectable>& collectable);
  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;
  ~MetricsExposer();

  // The port listened on; the kernel's choice when the address had port 0.
  std::uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string host_;
  std::uint16_t port_ = 0;
};

}  // namespace sockgate::metrics
