#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "metrics/metrics.hpp"
#include "text_lines.hpp"

namespace sockgate::metrics {
namespace {

// Sends one HTTP/1.0 GET to 127.0.0.1:port and returns the whole response.
std::string http_get(std::uint16_t port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    ADD_FAILURE() << "connect to 127.0.0.1:" << port << " failed";
    return {};
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) {
    response.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  return response;
}

std::string error_of(std::string_view address) {
  try {
    (void)parse_exposer_address(address);
  } catch (const MetricsError& error) {
    return error.what();
  }
  return {};
}

TEST(ExposerAddress, ParsesIpv4AndPort) {
  const auto address = parse_exposer_address("127.0.0.1:9464");
  EXPECT_EQ(address.host, "127.0.0.1");
  EXPECT_EQ(address.port, 9464);
  EXPECT_EQ(parse_exposer_address("0.0.0.0:0").port, 0);
}

TEST(ExposerAddress, RejectsInvalidText) {
  EXPECT_EQ(error_of("9464"),
            "invalid metrics address \"9464\": the port is missing; expected IPV4:PORT such as "
            "127.0.0.1:9464, or --metrics none (metrics = \"\" in the configuration file) to "
            "disable the exporter");
  EXPECT_NE(error_of("localhost:9464").find("\"localhost\" is not an IPv4 address"),
            std::string::npos);
  EXPECT_NE(error_of("127.0.0.1:65536").find("\"65536\" is not a port from 0 to 65535"),
            std::string::npos);
  EXPECT_NE(error_of("127.0.0.1:").find("\"\" is not a port"), std::string::npos);
  EXPECT_NE(error_of("127.0.0.1:94x").find("\"94x\" is not a port"), std::string::npos);
  EXPECT_NE(error_of("[::1]:9464").find("IPv6 is not supported"), std::string::npos);
}

TEST(Exposer, PortZeroReportsTheKernelsPort) {
  Metrics metrics;
  EXPECT_EQ(metrics.port(), 0);
  metrics.serve("127.0.0.1:0");
  EXPECT_NE(metrics.port(), 0);
}

TEST(Exposer, ServesTextAtMetricsPath) {
  Metrics metrics;
  const std::vector<RuleLabels> rules = {{"web", rules::Action::bypass, true, false}};
  const auto series = metrics.bind_rules(rules, rules::Action::pass);
  series->count_decision(0, rules::Operation::connect, rules::Action::bypass);
  metrics.serve("127.0.0.1:0");

  const std::string response = http_get(metrics.port(), "/metrics");
  EXPECT_TRUE(response.starts_with("HTTP/1.1 200 OK")) << response.substr(0, 80);
  EXPECT_NE(
      response.find(R"(sockgate_rule_matches_total{rule="web",action="bypass",op="connect"} 1)"),
      std::string::npos);
  EXPECT_NE(response.find("# TYPE sockgate_errors_total counter"), std::string::npos);
}

TEST(Exposer, TwoGatewaysServeAtOnce) {
  Metrics first;
  Metrics second;
  first.serve("127.0.0.1:0");
  second.serve("127.0.0.1:0");
  EXPECT_NE(first.port(), second.port());
  first.add_containers(5);
  EXPECT_NE(http_get(first.port(), "/metrics").find("sockgate_containers 5"), std::string::npos);
  EXPECT_NE(http_get(second.port(), "/metrics").find("sockgate_containers 0"), std::string::npos);
}

TEST(Exposer, AddressInUseNamesAddressAndFix) {
  Metrics first;
  first.serve("127.0.0.1:0");
  const std::string address = "127.0.0.1:" + std::to_string(first.port());

  Metrics second;
  try {
    second.serve(address);
    FAIL() << "serving twice on " << address << " succeeded";
  } catch (const MetricsError& error) {
    const std::string message = error.what();
    EXPECT_TRUE(message.starts_with("the metrics exporter cannot listen on " + address + ": "))
        << message;
    EXPECT_NE(message.find("Address already in use"), std::string::npos) << message;
    EXPECT_TRUE(
        message.ends_with("pass another --metrics address, or --metrics none (metrics = "
                          "\"\" in the configuration file) to disable the exporter"))
        << message;
  }
  EXPECT_EQ(second.port(), 0);
}

}  // namespace
}  // namespace sockgate::metrics
