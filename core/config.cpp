#include "core/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "metrics/exposer.hpp"

namespace sockgate::config {

namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 7> kKeys = {"control", "default", "listener", "log_level",
                                                   "metrics", "network", "rules"};
constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                        "error", "critical", "off"};

struct Context {
  std::string path;
  std::string_view text;
  const Environment& environment;
  fs::path base_directory;
  // Errors with their line and column, sorted into file order at the end; toml++ iterates a
  // table in key order.
  std::vector<std::pair<std::pair<std::size_t, std::size_t>, std::string>> errors;
  bool listener_given = false;
  bool control_given = false;
};

std::string_view line_of(std::string_view text, std::size_t line) {
  std::size_t start = 0;
  for (std::size_t current = 1; current < line; ++current) {
    const std::size_t newline = text.find('\n', start);
    if (newline == std::string_view::npos) {
      return {};
    }
    start = newline + 1;
  }
  std::size_t end = text.find('\n', start);
  end = end == std::string_view::npos ? text.size() : end;
  if (end > start && text[end - 1] == '\r') {
    --end;
  }
  return text.substr(start, end - start);
}

void error_at(Context& context, const toml::source_position& position, const std::string& message) {
  std::string out = context.path + ":" + std::to_string(position.line) + ":" +
                    std::to_string(position.column) + ": error: " + message + "\n";
  const std::string_view line = line_of(context.text, position.line);
  out += std::string(line) + "\n";
  for (std::size_t i = 1; i < position.column; ++i) {
    out += i - 1 < line.size() && line[i - 1] == '\t' ? '\t' : ' ';
  }
  out += "^\n";
  context.errors.emplace_back(std::make_pair(position.line, position.column), std::move(out));
}

void error_in_file(Context& context, const std::string& message) {
  context.errors.push_back({{0, 0}, context.path + ": error: " + message + "\n"});
}

std::string type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date or time";
  }
}

std::string join(const auto& words) {
  std::string text;
  for (const auto& word : words) {
    text += (text.empty() ? "" : ", ") + std::string(word);
  }
  return text;
}

// Replaces $XDG_RUNTIME_DIR and ${XDG_RUNTIME_DIR} in `value`, appending to `expanded`.
bool expand_variables(Context& context, std::string_view key, const toml::node& node,
                      std::string_view value, std::string& expanded) {
  const auto position = node.source().begin;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '$') {
      expanded += value[i];
      continue;
    }
    const std::string_view rest = value.substr(i + 1);
    const bool braced = rest.starts_with("{XDG_RUNTIME_DIR}");
    const bool bare = rest.starts_with("XDG_RUNTIME_DIR") &&
                      (rest.size() == 15 ||
                       !(std::isalnum(static_cast<unsigned char>(rest[15])) || rest[15] == '_'));
    if (!braced && !bare) {
      error_at(context, position,
               "unknown variable in '" + std::string(key) +
                   "': only $XDG_RUNTIME_DIR and a "
                   "leading ~ are expanded");
      return false;
    }
    if (!context.environment.xdg_runtime_dir) {
      error_at(context, position,
               "'" + std::string(key) +
                   "' uses $XDG_RUNTIME_DIR, which is not set; set it (a "
                   "login session has it) or write the path without it");
      return false;
    }
    expanded += *context.environment.xdg_runtime_dir;
    i += braced ? 17 : 15;
  }
  return true;
}

// Expands `~` at the start and $XDG_RUNTIME_DIR anywhere, then anchors relative paths at the
// configuration file's directory.
std::optional<std::string> expand_path(Context& context, std::string_view key,
                                       const toml::node& node, std::string_view value) {
  const auto position = node.source().begin;
  if (value.empty()) {
    error_at(context, position, "'" + std::string(key) + "' is empty; give a path");
    return std::nullopt;
  }

  std::string expanded;
  if (value == "~" || value.starts_with("~/")) {
    if (!context.environment.home) {
      error_at(context, position,
               "'" + std::string(key) +
                   "' starts with '~' but $HOME is not set; set HOME or "
                   "write an absolute path");
      return std::nullopt;
    }
    expanded = *context.environment.home;
    value.remove_prefix(1);
  }
  if (!expand_variables(context, key, node, value, expanded)) {
    return std::nullopt;
  }

  fs::path path(expanded);
  if (path.is_relative()) {
    path = context.base_directory / path;
  }
  return path.lexically_normal().string();
}

const toml::value<std::string>* require_string(Context& context, std::string_view key,
                                               const toml::node& node) {
  const auto* value = node.as_string();
  if (value == nullptr) {
    error_at(context, node.source().begin,
             "'" + std::string(key) + "' must be a string, not " + type_name(node));
  }
  return value;
}

template <std::size_t N>
std::optional<std::string> require_choice(Context& context, std::string_view key,
                                          const toml::node& node,
                                          const std::array<std::string_view, N>& choices) {
  const auto* value = require_string(context, key, node);
  if (value == nullptr) {
    return std::nullopt;
  }
  for (const auto choice : choices) {
    if (value->get() == choice) {
      return value->get();
    }
  }
  error_at(context, node.source().begin,
           "invalid " + std::string(key) + " '" + value->get() + "'; use one of: " + join(choices));
  return std::nullopt;
}

void read_rules(Context& context, const toml::node& node, GatewayConfig& config) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    error_at(context, node.source().begin,
             "'rules' must be an array of paths, not " + type_name(node));
    return;
  }
  for (const auto& element : *array) {
    const auto* value = element.as_string();
    if (value == nullptr) {
      error_at(context, element.source().begin,
               "each entry of 'rules' must be a string, not " + type_name(element));
      continue;
    }
    if (auto path = expand_path(context, "rules", element, value->get())) {
      config.rule_files.push_back(std::move(*path));
    }
  }
}

void read_path(Context& context, std::string_view key, const toml::node& node,
               std::string& target) {
  if (const auto* value = require_string(context, key, node)) {
    if (auto path = expand_path(context, key, node, value->get())) {
      target = std::move(*path);
    }
  }
}

void read_metrics(Context& context, const toml::node& node, GatewayConfig& config) {
  const auto* value = require_string(context, "metrics", node);
  if (value == nullptr) {
    return;
  }
  // The exporter's own parser, so that the file accepts exactly the addresses it can serve.
  if (!value->get().empty()) {
    try {
      (void)metrics::parse_exposer_address(value->get());
    } catch (const metrics::MetricsError& error) {
      error_at(context, node.source().begin, error.what());
      return;
    }
  }
  config.metrics_address = value->get();
}

void read_choices(Context& context, std::string_view key, const toml::node& node,
                  GatewayConfig& config) {
  if (key == "default") {
    constexpr std::array<std::string_view, 3> kActions = {"pass", "bypass", "deny"};
    if (const auto action = require_choice(context, key, node, kActions)) {
      config.default_action = *action == "pass"     ? rules::Action::pass
                              : *action == "bypass" ? rules::Action::bypass
                                                    : rules::Action::deny;
    }
  } else if (key == "network") {
    constexpr std::array<std::string_view, 3> kNetworks = {"slirp4netns", "pasta", "none"};
    if (const auto network = require_choice(context, key, node, kNetworks)) {
      config.network = *network == "slirp4netns" ? FallbackKind::slirp4netns
                       : *network == "pasta"     ? FallbackKind::pasta
                                                 : FallbackKind::none;
    }
  } else if (key == "log_level") {
    if (const auto level = require_choice(context, key, node, kLogLevels)) {
      config.log_level = *level;
    }
  }
}

void read_key(Context& context, const toml::key& key, const toml::node& node,
              GatewayConfig& config) {
  const std::string_view name = key.str();
  if (name == "listener") {
    context.listener_given = true;
    read_path(context, name, node, config.listener_path);
  } else if (name == "control") {
    context.control_given = true;
    read_path(context, name, node, config.control_path);
  } else if (name == "rules") {
    read_rules(context, node, config);
  } else if (name == "metrics") {
    read_metrics(context, node, config);
  } else if (name == "default" || name == "network" || name == "log_level") {
    read_choices(context, name, node, config);
  } else {
    error_at(context, key.source().begin,
             "unknown key '" + std::string(name) + "'; the keys are " + join(kKeys));
  }
}

// Fills the listener and control paths that the file left out.
void apply_defaults(Context& context, GatewayConfig& config) {
  if (context.listener_given && context.control_given) {
    return;
  }
  if (!context.environment.xdg_runtime_dir) {
    error_in_file(context,
                  "$XDG_RUNTIME_DIR is not set, so the listener and control sockets "
                  "have no default; set XDG_RUNTIME_DIR or set 'listener' and "
                  "'control' in the configuration");
    return;
  }
  const fs::path base = fs::path(*context.environment.xdg_runtime_dir) / "sockgate";
  if (!context.listener_given) {
    config.listener_path = (base / "listener.sock").string();
  }
  if (!context.control_given) {
    config.control_path = (base / "control.sock").string();
  }
}

ConfigResult finish(Context& context, GatewayConfig config) {
  apply_defaults(context, config);
  std::stable_sort(context.errors.begin(), context.errors.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  ConfigResult result;
  for (auto& [position, text] : context.errors) {
    result.errors.push_back(std::move(text));
  }
  if (result.errors.empty()) {
    result.config = std::move(config);
  }
  return result;
}

}  // namespace

Environment Environment::from_process() {
  Environment environment;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once at start-up, before threads exist.
  if (const char* value = std::getenv("XDG_RUNTIME_DIR"); value != nullptr && *value != '\0') {
    environment.xdg_runtime_dir = value;
  }
  // NOLINTNEXTLINE(concurrency-mt-unsafe): as above.
  if (const char* value = std::getenv("HOME"); value != nullptr && *value != '\0') {
    environment.home = value;
  }
  return environment;
}

ConfigResult parse_config(std::string_view text, const std::string& path,
                          const Environment& environment) {
  Context context{path, text, environment, fs::path(path).parent_path(), {}};
  GatewayConfig config;
  config.source = path;
  try {
    const toml::table table = toml::parse(text, path);
    for (const auto& [key, node] : table) {
      read_key(context, key, node, config);
    }
  } catch (const toml::parse_error& error) {
    error_at(context, error.source().begin, std::string(error.description()));
  } catch (const std::exception& error) {
    error_in_file(context, std::string("cannot read the configuration: ") + error.what());
  }
  return finish(context, std::move(config));
}

ConfigResult load_config(const std::string& path, const Environment& environment) {
  std::ifstream stream(path, std::ios::binary);
  std::error_code status_error;
  if (!stream || fs::is_directory(path, status_error)) {
    ConfigResult result;
    result.errors.push_back(
        path + ": error: cannot read the configuration file: " +
        (stream ? std::string("it is a directory") : std::generic_category().message(errno)) +
        "\n");
    return result;
  }
  try {
    std::ostringstream contents;
    contents << stream.rdbuf();
    return parse_config(contents.str(), path, environment);
  } catch (const std::exception& error) {
    ConfigResult result;
    result.errors.push_back(path + ": error: cannot read the configuration file: " + error.what() +
                            "\n");
    return result;
  }
}

ConfigResult default_config(const Environment& environment) {
  Context context{"<defaults>", {}, environment, {}, {}};
  return finish(context, GatewayConfig{});
}

}  // namespace sockgate::config
