// The container process state that OCI runtimes send to a seccomp listener: its parser, the
// ContainerInfo it becomes, and the check that a received descriptor is a seccomp listener.
// runc 1.1.5 sends the state compact, with the runtime specification's version ("1.0.2-dev").
// crun 1.8.1 sends it pretty-printed with a trailing newline and version "0.2.0".
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/container.hpp"

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

}  // namespace sockgate
