// The gateway configuration file: keys, defaults, expansion, and errors with positions.
#include "core/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace sockgate::config {
namespace {

const Environment kEnvironment{"/run/user/1000", "/home/ada"};

ConfigResult parse(const std::string& text, const Environment& environment = kEnvironment) {
  return parse_config(text, "/etc/sockgate/gateway.toml", environment);
}

std::string all_errors(const ConfigResult& result) {
  std::string text;
  for (const auto& error : result.errors) {
    text += error;
  }
  return text;
}

TEST(Config, EmptyFileGivesDefaults) {
  const auto result = parse("");
  ASSERT_TRUE(result.ok()) << all_errors(result);
  const GatewayConfig& config = *result.config;
  EXPECT_EQ(config.source, "/etc/sockgate/gateway.toml");
  EXPECT_EQ(config.listener_path, "/run/user/1000/sockgate/listener.sock");
  EXPECT_EQ(config.control_path, "/run/user/1000/sockgate/control.sock");
  EXPECT_TRUE(config.rule_files.empty());
  EXPECT_FALSE(config.default_action);
  EXPECT_EQ(config.metrics_address, "127.0.0.1:9464");
  EXPECT_EQ(config.network, FallbackKind::slirp4netns);
  EXPECT_EQ(config.log_level, "info");
}

TEST(Config, EveryKey) {
  const auto result = parse(R"(
listener = "$XDG_RUNTIME_DIR/gw/listener.sock"
control = "${XDG_RUNTIME_DIR}/gw/control.sock"
rules = ["shop.rules", "~/rules/common.rules", "/abs/x.rules", "../up.rules"]
default = "deny"
metrics = "0.0.0.0:9100"
network = "pasta"
log_level = "debug"
)");
  ASSERT_TRUE(result.ok()) << all_errors(result);
  const GatewayConfig& config = *result.config;
  EXPECT_EQ(config.listener_path, "/run/user/1000/gw/listener.sock");
  EXPECT_EQ(config.control_path, "/run/user/1000/gw/control.sock");
  EXPECT_EQ(config.rule_files,
            (std::vector<std::string>{"/etc/sockgate/shop.rules", "/home/ada/rules/common.rules",
                                      "/abs/x.rules", "/etc/up.rules"}));
  EXPECT_EQ(config.default_action, rules::Action::deny);
  EXPECT_EQ(config.metrics_address, "0.0.0.0:9100");
  EXPECT_EQ(config.network, FallbackKind::pasta);
  EXPECT_EQ(config.log_level, "debug");
}

TEST(Config, EmptyMetricsDisables) {
  const auto result = parse("metrics = \"\"\nnetwork = \"none\"\n");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config->metrics_address, "");
  EXPECT_EQ(result.config->network, FallbackKind::none);
}

TEST(Config, UnknownKeyAndTable) {
  const auto result = parse("rules = []\n  listner = \"/x\"\n[metrics]\naddress = \"x\"\n");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(all_errors(result),
            "/etc/sockgate/gateway.toml:2:3: error: unknown key 'listner'; the keys are control, "
            "default, listener, log_level, metrics, network, rules\n"
            "  listner = \"/x\"\n"
            "  ^\n"
            "/etc/sockgate/gateway.toml:3:1: error: 'metrics' must be a string, not a table\n"
            "[metrics]\n"
            "^\n");
}

TEST(Config, WrongTypes) {
  const auto result = parse(
      "listener = 5\nrules = \"a.rules\"\nnetwork = true\n"
      "control = [\"x\"]\n");
  ASSERT_EQ(result.errors.size(), 4U);
  EXPECT_EQ(result.errors[0].substr(0, result.errors[0].find('\n')),
            "/etc/sockgate/gateway.toml:1:12: error: 'listener' must be a string, not an "
            "integer");
  EXPECT_EQ(result.errors[1].substr(0, result.errors[1].find('\n')),
            "/etc/sockgate/gateway.toml:2:9: error: 'rules' must be an array of paths, not a "
            "string");
  EXPECT_EQ(result.errors[2].substr(0, result.errors[2].find('\n')),
            "/etc/sockgate/gateway.toml:3:11: error: 'network' must be a string, not a boolean");
  EXPECT_EQ(result.errors[3].substr(0, result.errors[3].find('\n')),
            "/etc/sockgate/gateway.toml:4:11: error: 'control' must be a string, not an array");
}

TEST(Config, RuleEntriesMustBeStrings) {
  const auto result = parse("rules = [\"a.rules\", 3]\n");
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors[0],
            "/etc/sockgate/gateway.toml:1:21: error: each entry of 'rules' must be a string, not "
            "an integer\n"
            "rules = [\"a.rules\", 3]\n"
            "                    ^\n");
}

TEST(Config, InvalidChoices) {
  const auto result = parse(
      "default = \"allow\"\nnetwork = \"vpnkit\"\nlog_level = \"loud\"\n"
      "metrics = \"localhost:9464\"\n");
  ASSERT_EQ(result.errors.size(), 4U);
  const auto first_line = [](const std::string& error) {
    return error.substr(0, error.find('\n'));
  };
  EXPECT_EQ(first_line(result.errors[0]),
            "/etc/sockgate/gateway.toml:1:11: error: invalid default 'allow'; use one of: pass, "
            "bypass, deny");
  EXPECT_EQ(first_line(result.errors[1]),
            "/etc/sockgate/gateway.toml:2:11: error: invalid network 'vpnkit'; use one of: "
            "slirp4netns, pasta, none");
  EXPECT_EQ(first_line(result.errors[2]),
            "/etc/sockgate/gateway.toml:3:13: error: invalid log_level 'loud'; use one of: "
            "trace, debug, info, warn, error, critical, off");
  EXPECT_EQ(first_line(result.errors[3]),
            "/etc/sockgate/gateway.toml:4:11: error: invalid metrics address \"localhost:9464\": "
            "\"localhost\" is not an IPv4 address; expected IPV4:PORT such as 127.0.0.1:9464, or "
            "--metrics none (metrics = \"\" in the configuration file) to disable the exporter");
}

TEST(Config, MetricsAddressForms) {
  // Port 0 lets the exporter take a free port, as --metrics 127.0.0.1:0 does.
  for (const char* good : {"0.0.0.0:1", "127.0.0.1:65535", "127.0.0.1:0", "198.18.0.1:9464"}) {
    EXPECT_TRUE(parse(std::string("metrics = \"") + good + "\"\n").ok()) << good;
  }
  for (const char* bad :
       {"127.0.0.1", "127.0.0.1:65536", "127.0.0.1:-1", "::1:9464", "[127.0.0.1]:80", "[::1]",
        ":9464", "127.0.0.1:http", "1.2.3:80", "localhost:9464", "[::]:9464", "[2001:db8::1]:80"}) {
    EXPECT_FALSE(parse(std::string("metrics = \"") + bad + "\"\n").ok()) << bad;
  }
}

TEST(Config, MetricsIpv6RejectedAtItsLine) {
  const auto result = parse("network = \"none\"\nmetrics   = \"[::1]:9464\"\n");
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors[0],
            "/etc/sockgate/gateway.toml:2:13: error: invalid metrics address \"[::1]:9464\": IPv6 "
            "is not supported, because Debian's civetweb 1.15 is built without it; expected "
            "IPV4:PORT such as 127.0.0.1:9464, or --metrics none (metrics = \"\" in the "
            "configuration file) to disable the exporter\n"
            "metrics   = \"[::1]:9464\"\n"
            "            ^\n");
}

TEST(Config, UnsetXdgRuntimeDirIsNamed) {
  const Environment no_xdg{std::nullopt, "/home/ada"};
  const auto used =
      parse("listener = \"$XDG_RUNTIME_DIR/l.sock\"\ncontrol = \"/c.sock\"\n", no_xdg);
  ASSERT_EQ(used.errors.size(), 1U);
  EXPECT_EQ(used.errors[0].substr(0, used.errors[0].find('\n')),
            "/etc/sockgate/gateway.toml:1:12: error: 'listener' uses $XDG_RUNTIME_DIR, which is "
            "not set; set it (a login session has it) or write the path without it");

  const auto defaulted = parse("", no_xdg);
  ASSERT_EQ(defaulted.errors.size(), 1U);
  EXPECT_EQ(defaulted.errors[0],
            "/etc/sockgate/gateway.toml: error: $XDG_RUNTIME_DIR is not set, so the listener and "
            "control sockets have no default; set XDG_RUNTIME_DIR or set 'listener' and "
            "'control' in the configuration\n");

  EXPECT_TRUE(parse("listener = \"/l.sock\"\ncontrol = \"c.sock\"\n", no_xdg).ok());
}

TEST(Config, UnsetHomeAndUnknownVariable) {
  const Environment no_home{"/run/user/1000", std::nullopt};
  const auto tilde = parse("rules = [\"~/a.rules\"]\n", no_home);
  ASSERT_EQ(tilde.errors.size(), 1U);
  EXPECT_EQ(tilde.errors[0].substr(0, tilde.errors[0].find('\n')),
            "/etc/sockgate/gateway.toml:1:10: error: 'rules' starts with '~' but $HOME is not "
            "set; set HOME or write an absolute path");

  const auto variable = parse("listener = \"$HOME/l.sock\"\n");
  ASSERT_EQ(variable.errors.size(), 1U);
  EXPECT_EQ(variable.errors[0].substr(0, variable.errors[0].find('\n')),
            "/etc/sockgate/gateway.toml:1:12: error: unknown variable in 'listener': only "
            "$XDG_RUNTIME_DIR and a leading ~ are expanded");

  const auto prefix = parse("listener = \"$XDG_RUNTIME_DIRX/l\"\n");
  EXPECT_FALSE(prefix.ok());
  const auto empty = parse("listener = \"\"\n");
  EXPECT_EQ(empty.errors.at(0).substr(0, empty.errors[0].find('\n')),
            "/etc/sockgate/gateway.toml:1:12: error: 'listener' is empty; give a path");
}

TEST(Config, TomlSyntaxError) {
  const auto result = parse("rules = [\"a\"\nnetwork = \"pasta\"\n");
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors[0].rfind("/etc/sockgate/gateway.toml:2:", 0), 0U) << result.errors[0];
  EXPECT_NE(result.errors[0].find(": error: "), std::string::npos);
}

TEST(Config, LoadsFileAndReportsMissingOne) {
  const auto directory =
      std::filesystem::temp_directory_path() / ("sockgate-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  const auto path = (directory / "gateway.toml").string();
  std::ofstream(path) << "rules = [\"a.rules\"]\n";
  const auto loaded = load_config(path, kEnvironment);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.config->rule_files, std::vector<std::string>{(directory / "a.rules").string()});

  const auto missing = load_config((directory / "none.toml").string(), kEnvironment);
  ASSERT_EQ(missing.errors.size(), 1U);
  EXPECT_EQ(missing.errors[0], (directory / "none.toml").string() +
                                   ": error: cannot read the configuration file: No such file "
                                   "or directory\n");
  std::filesystem::remove_all(directory);
}

TEST(Config, ShippedExampleLoads) {
  const auto loaded = load_config(SOCKGATE_SOURCE_DIR "/examples/sockgate.toml", kEnvironment);
  ASSERT_TRUE(loaded.ok()) << all_errors(loaded);
  EXPECT_EQ(loaded.config->rule_files,
            (std::vector<std::string>{SOCKGATE_SOURCE_DIR "/examples/no-metadata.rules",
                                      SOCKGATE_SOURCE_DIR "/examples/webapp.rules"}));
}

TEST(Config, DefaultsWithoutFile) {
  const auto result = default_config(kEnvironment);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config->listener_path, "/run/user/1000/sockgate/listener.sock");
  EXPECT_EQ(result.config->source, "");
  EXPECT_FALSE(default_config(Environment{}).ok());
}

}  // namespace
}  // namespace sockgate::config
