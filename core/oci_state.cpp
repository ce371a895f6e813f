#include "core/oci_state.hpp"

#include <fmt/format.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>

#include "rules/publish.hpp"

namespace sockgate {
namespace {

using nlohmann::json;

// strerror(3) as a string; std::generic_category() is thread-safe, strerror is not.
std::string error_text(int error) {
  return std::generic_category().message(error);
}

std::string describe(const json& value) {
  std::string text = value.dump();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// Returns the string at `key`; `prefix` is "" or "state." and names the field in messages.
std::string require_string(const json& object, const char* key, const char* prefix) {
  auto found = object.find(key);
  if (found == object.end()) {
    throw std::invalid_argument(fmt::format("{}{} is missing", prefix, key));
  }
  if (!found->is_string()) {
    throw std::invalid_argument(
        fmt::format("{}{} is {}, expected a string", prefix, key, describe(*found)));
  }
  return found->get<std::string>();
}

// Accepts the 0.x and 1.x versions of the state. runc 1.1.5 sends the runtime specification's
// version ("1.0.2-dev"), but crun 1.8.1 sends "0.2.0".
void check_version(const std::string& version, const char* prefix) {
  bool known = version.size() >= 2 && (version[0] == '0' || version[0] == '1') && version[1] == '.';
  if (!known) {
    throw std::invalid_argument(fmt::format(
        "{}ociVersion is \"{}\"; sockgate reads versions 0.x and 1.x of the container process "
        "state",
        prefix, version));
  }
}

pid_t require_pid(const json& message) {
  auto found = message.find("pid");
  if (found == message.end()) {
    throw std::invalid_argument("pid is missing");
  }
  if (!found->is_number_integer() || found->get<std::int64_t>() <= 0 ||
      found->get<std::int64_t>() > std::numeric_limits<pid_t>::max()) {
    throw std::invalid_argument(
        fmt::format("pid is {}, expected a process id greater than 0", describe(*found)));
  }
  return static_cast<pid_t>(found->get<std::int64_t>());
}

std::vector<std::string> require_fd_names(const json& message) {
  auto found = message.find("fds");
  if (found == message.end() || !found->is_array()) {
    throw std::invalid_argument(
        "the message has no \"fds\" list; it must name the one descriptor sent, \"seccompFd\"");
  }
  std::vector<std::string> names;
  for (const json& name : *found) {
    if (!name.is_string()) {
      throw std::invalid_argument(
          fmt::format("fds contains {}, expected descriptor names", describe(name)));
    }
    names.push_back(name.get<std::string>());
  }
  if (names.size() != 1 || names.front() != "seccompFd") {
    throw std::invalid_argument(fmt::format(
        "fds is {}; sockgate expects exactly one descriptor, \"seccompFd\"", describe(*found)));
  }
  return names;
}

std::vector<std::pair<std::string, std::string>> read_annotations(const json& state) {
  std::vector<std::pair<std::string, std::string>> annotations;
  auto found = state.find("annotations");
  if (found == state.end() || found->is_null()) {
    return annotations;
  }
  if (!found->is_object()) {
    throw std::invalid_argument(
        fmt::format("state.annotations is {}, expected an object", describe(*found)));
  }
  for (const auto& [key, value] : found->items()) {
    if (!value.is_string()) {
      throw std::invalid_argument(
          fmt::format("state.annotations.{} is {}, expected a string", key, describe(value)));
    }
    annotations.emplace_back(key, value.get<std::string>());
  }
  return annotations;
}

ProcessState read_state(const json& message) {
  if (!message.is_object()) {
    throw std::invalid_argument("the message is not a JSON object");
  }
  ProcessState result;
  result.oci_version = require_string(message, "ociVersion", "");
  check_version(result.oci_version, "");
  result.fds = require_fd_names(message);
  result.pid = require_pid(message);
  if (auto metadata = message.find("metadata"); metadata != message.end()) {
    if (!metadata->is_string()) {
      throw std::invalid_argument(
          fmt::format("metadata is {}, expected a string", describe(*metadata)));
    }
    result.metadata = metadata->get<std::string>();
  }
  auto state = message.find("state");
  if (state == message.end() || !state->is_object()) {
    throw std::invalid_argument("the message has no \"state\" object");
  }
  check_version(require_string(*state, "ociVersion", "state."), "state.");
  result.id = require_string(*state, "id", "state.");
  if (result.id.empty()) {
    throw std::invalid_argument("state.id is empty; the container needs an id");
  }
  result.status = require_string(*state, "status", "state.");
  result.bundle = state->contains("bundle") ? require_string(*state, "bundle", "state.") : "";
  result.annotations = read_annotations(*state);
  return result;
}

}  // namespace

StateParse parse_process_state(std::string_view bytes) {
  StateParse result;
  std::size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return result;
  }
  if (bytes[first] != '{') {
    result.status = StateParse::Status::invalid;
    result.error = "the message is not a JSON object";
    return result;
  }
  json message;
  try {
    message = json::parse(bytes);
  } catch (const json::parse_error& error) {
    // An error past the last byte means the value is cut off: more bytes may follow.
    if (error.byte > bytes.size()) {
      return result;
    }
    result.status = StateParse::Status::invalid;
    result.error = fmt::format("invalid JSON at byte {}: {}", error.byte, error.what());
    return result;
  }
  try {
    result.state = read_state(message);
    result.status = StateParse::Status::complete;
  } catch (const std::invalid_argument& error) {
    result.status = StateParse::Status::invalid;
    result.error = error.what();
  }
  return result;
}

std::variant<ContainerInfo, std::string> container_info(const ProcessState& state) {
  ContainerInfo info;
  info.id = state.id;
  info.pid = state.pid;
  info.metadata = state.metadata;
  info.labels = rules::LabelSet(state.annotations);
  const std::string* publish = info.labels.find(kPublishAnnotation);
  if (publish == nullptr) {
    return info;
  }
  std::string_view rest = *publish;
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    auto parsed = rules::parse_publish_spec(item);
    if (auto* message = std::get_if<std::string>(&parsed)) {
      return fmt::format("invalid annotation {}=\"{}\": {}", kPublishAnnotation, *publish,
                         *message);
    }
    info.publishes.push_back(std::get<rules::PublishSpec>(parsed));
  }
  return info;
}

std::optional<std::string> check_seccomp_listener(int fd) {
  std::uint64_t id = 0;
  if (::ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 || errno == ENOENT) {
    return std::nullopt;
  }
  int error = errno;
  struct stat status {};
  std::string kind = "a file";
  if (::fstat(fd, &status) == 0) {
    kind = S_ISSOCK(status.st_mode)   ? "a socket"
           : S_ISFIFO(status.st_mode) ? "a pipe"
           : S_ISREG(status.st_mode)  ? "a regular file"
                                      : "another kind of file";
  }
  return fmt::format(
      "the descriptor is {}, not a seccomp listener (SECCOMP_IOCTL_NOTIF_ID_VALID "
      "failed with {})",
      kind, error_text(error));
}

}  // namespace sockgate
