// The container process state that runtimes send to the OCI seccomp listener: parsing, the
// split-message detection, validation, and the ContainerInfo it becomes.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "core/oci_state.hpp"

namespace sockgate {
namespace {

using Status = StateParse::Status;

// What runc 1.1.5 sent for a rootless container with listenerMetadata "meta1" (recorded).
const std::string kRuncMessage =
    R"({"ociVersion":"1.0.2-dev","fds":["seccompFd"],"pid":6743,"metadata":"meta1",)"
    R"("state":{"ociVersion":"1.0.2-dev","id":"t1","status":"creating","pid":6743,)"
    R"("bundle":"/tmp/ociplay/b1","annotations":{"io.x":"y"}}})";

// The form crun 1.8.1 writes (recorded, then the metadata left out and annotations added):
// pretty-printed with four spaces, a trailing newline, and version 0.2.0.
const std::string kCrunMessage = R"({
    "ociVersion": "0.2.0",
    "fds": [
        "seccompFd"
    ],
    "pid": 4242,
    "state": {
        "ociVersion": "0.2.0",
        "id": "web-1",
        "status": "creating",
        "pid": 4242,
        "bundle": "/tmp/ociplay/b1",
        "annotations": {
            "project": "shop",
            "io.sockgate.publish": "8080:80,127.0.0.1:8443:443/tcp"
        }
    }
}
)";

std::string replace(std::string text, const std::string& from, const std::string& to) {
  std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(StateParser, RuncMessage) {
  StateParse parsed = parse_process_state(kRuncMessage);

  ASSERT_EQ(parsed.status, Status::complete) << parsed.error;
  EXPECT_EQ(parsed.state.oci_version, "1.0.2-dev");
  EXPECT_EQ(parsed.state.fds, std::vector<std::string>{"seccompFd"});
  EXPECT_EQ(parsed.state.pid, 6743);
  EXPECT_EQ(parsed.state.metadata, "meta1");
  EXPECT_EQ(parsed.state.id, "t1");
  EXPECT_EQ(parsed.state.status, "creating");
  EXPECT_EQ(parsed.state.bundle, "/tmp/ociplay/b1");
  ASSERT_EQ(parsed.state.annotations.size(), 1U);
  EXPECT_EQ(parsed.state.annotations[0].first, "io.x");
  EXPECT_EQ(parsed.state.annotations[0].second, "y");
}

TEST(StateParser, CrunMessageWithNewline) {
  StateParse parsed = parse_process_state(kCrunMessage);

  ASSERT_EQ(parsed.status, Status::complete) << parsed.error;
  EXPECT_EQ(parsed.state.oci_version, "0.2.0");
  EXPECT_EQ(parsed.state.pid, 4242);
  EXPECT_EQ(parsed.state.id, "web-1");
  EXPECT_EQ(parsed.state.metadata, "");
  EXPECT_EQ(parsed.state.annotations.size(), 2U);
}

TEST(StateParser, EveryPrefixIsIncomplete) {
  for (const std::string& message : {kRuncMessage, kCrunMessage}) {
    std::string trimmed = message.substr(0, message.find_last_not_of('\n') + 1);
    for (std::size_t length = 0; length < trimmed.size(); ++length) {
      StateParse parsed = parse_process_state(std::string_view(trimmed).substr(0, length));
      ASSERT_EQ(parsed.status, Status::incomplete)
          << "prefix of " << length << " bytes: " << parsed.error;
    }
  }
}

TEST(StateParser, WhitespaceOnlyIsIncomplete) {
  EXPECT_EQ(parse_process_state("").status, Status::incomplete);
  EXPECT_EQ(parse_process_state(" \n\t").status, Status::incomplete);
}

TEST(StateParser, GarbageIsInvalidAtOnce) {
  StateParse parsed = parse_process_state("GET / HTTP/1.1\r\n");

  EXPECT_EQ(parsed.status, Status::invalid);
  EXPECT_EQ(parsed.error, "the message is not a JSON object");
}

TEST(StateParser, TrailingDataIsInvalid) {
  StateParse parsed = parse_process_state(kRuncMessage + "x");

  EXPECT_EQ(parsed.status, Status::invalid);
  EXPECT_NE(parsed.error.find("invalid JSON at byte"), std::string::npos) << parsed.error;
}

TEST(StateParser, BrokenJsonIsInvalid) {
  StateParse parsed = parse_process_state(R"({"ociVersion": ])");

  EXPECT_EQ(parsed.status, Status::invalid);
  EXPECT_NE(parsed.error.find("invalid JSON at byte 16"), std::string::npos) << parsed.error;
}

struct InvalidCase {
  const char* name;
  std::string message;
  std::string error;
};

TEST(StateParser, InvalidFieldsNameTheValue) {
  const InvalidCase cases[] = {
      {"version 2",
       replace(kRuncMessage, R"("ociVersion":"1.0.2-dev","fds")", R"("ociVersion":"2.0.0","fds")"),
       R"(ociVersion is "2.0.0"; sockgate reads versions 0.x and 1.x of the container process )"
       "state"},
      {"state version",
       replace(kRuncMessage, R"("ociVersion":"1.0.2-dev","id")", R"("ociVersion":"10.1","id")"),
       R"(state.ociVersion is "10.1"; sockgate reads versions 0.x and 1.x of the container )"
       "process state"},
      {"version missing", replace(kRuncMessage, R"("ociVersion":"1.0.2-dev","fds")", R"("fds")"),
       "ociVersion is missing"},
      {"version number",
       replace(kRuncMessage, R"("ociVersion":"1.0.2-dev","fds")", R"("ociVersion":1,"fds")"),
       "ociVersion is 1, expected a string"},
      {"two fds", replace(kRuncMessage, R"(["seccompFd"])", R"(["seccompFd","other"])"),
       R"(fds is ["seccompFd","other"]; sockgate expects exactly one descriptor, "seccompFd")"},
      {"other fd name", replace(kRuncMessage, R"(["seccompFd"])", R"(["listener"])"),
       R"(fds is ["listener"]; sockgate expects exactly one descriptor, "seccompFd")"},
      {"no fds", replace(kRuncMessage, R"("fds":["seccompFd"],)", ""),
       R"(the message has no "fds" list; it must name the one descriptor sent, "seccompFd")"},
      {"pid zero", replace(kRuncMessage, R"("pid":6743,"metadata")", R"("pid":0,"metadata")"),
       "pid is 0, expected a process id greater than 0"},
      {"pid negative", replace(kRuncMessage, R"("pid":6743,"metadata")", R"("pid":-5,"metadata")"),
       "pid is -5, expected a process id greater than 0"},
      {"pid text", replace(kRuncMessage, R"("pid":6743,"metadata")", R"("pid":"6743","metadata")"),
       R"(pid is "6743", expected a process id greater than 0)"},
      {"pid too large",
       replace(kRuncMessage, R"("pid":6743,"metadata")", R"("pid":4294967296,"metadata")"),
       "pid is 4294967296, expected a process id greater than 0"},
      {"metadata number", replace(kRuncMessage, R"("metadata":"meta1")", R"("metadata":7)"),
       "metadata is 7, expected a string"},
      {"id empty", replace(kRuncMessage, R"("id":"t1")", R"("id":"")"),
       "state.id is empty; the container needs an id"},
      {"id missing", replace(kRuncMessage, R"("id":"t1",)", ""), "state.id is missing"},
      {"id number", replace(kRuncMessage, R"("id":"t1")", R"("id":1)"),
       "state.id is 1, expected a string"},
      {"annotation number", replace(kRuncMessage, R"({"io.x":"y"})", R"({"io.x":1})"),
       "state.annotations.io.x is 1, expected a string"},
      {"annotations list", replace(kRuncMessage, R"({"io.x":"y"})", R"(["io.x"])"),
       R"(state.annotations is ["io.x"], expected an object)"},
      {"array", "[1, 2]", "the message is not a JSON object"},
  };
  for (const InvalidCase& test : cases) {
    StateParse parsed = parse_process_state(test.message);
    EXPECT_EQ(parsed.status, Status::invalid) << test.name;
    EXPECT_EQ(parsed.error, test.error) << test.name;
  }
}

TEST(StateParser, MissingStateIsInvalid) {
  StateParse parsed = parse_process_state(R"({"ociVersion":"1.0.2","fds":["seccompFd"],"pid":12})");

  EXPECT_EQ(parsed.status, Status::invalid);
  EXPECT_EQ(parsed.error, R"(the message has no "state" object)");
}

TEST(StateParser, NullAnnotationsAreNone) {
  StateParse parsed = parse_process_state(replace(kRuncMessage, R"({"io.x":"y"})", "null"));

  ASSERT_EQ(parsed.status, Status::complete) << parsed.error;
  EXPECT_TRUE(parsed.state.annotations.empty());
}

TEST(ContainerInfoFromState, LabelsMetadataAndPublishes) {
  StateParse parsed = parse_process_state(kCrunMessage);
  ASSERT_EQ(parsed.status, Status::complete) << parsed.error;
  parsed.state.metadata = "tenant-7";

  auto info = container_info(parsed.state);

  ASSERT_TRUE(std::holds_alternative<ContainerInfo>(info)) << std::get<std::string>(info);
  const ContainerInfo& container = std::get<ContainerInfo>(info);
  EXPECT_EQ(container.id, "web-1");
  EXPECT_EQ(container.pid, 4242);
  EXPECT_EQ(container.metadata, "tenant-7");
  ASSERT_NE(container.labels.find("project"), nullptr);
  EXPECT_EQ(*container.labels.find("project"), "shop");
  ASSERT_NE(container.labels.find("io.sockgate.publish"), nullptr);
  ASSERT_EQ(container.publishes.size(), 2U);
  EXPECT_EQ(container.publishes[0].host_port, 8080);
  EXPECT_EQ(container.publishes[0].container_port, 80);
  EXPECT_FALSE(container.publishes[0].host_address.has_value());
  EXPECT_EQ(container.publishes[1].host_port, 8443);
  EXPECT_EQ(container.publishes[1].container_port, 443);
  ASSERT_TRUE(container.publishes[1].host_address.has_value());
  EXPECT_EQ(container.publishes[1].host_address->to_string(), "127.0.0.1");
  EXPECT_EQ(container.publishes[1].protocol, rules::Protocol::tcp);
}

TEST(ContainerInfoFromState, UdpPublish) {
  ProcessState state;
  state.id = "dns";
  state.pid = 9;
  state.annotations = {{"io.sockgate.publish", "[::1]:5353:53/udp"}};

  auto info = container_info(state);

  ASSERT_TRUE(std::holds_alternative<ContainerInfo>(info)) << std::get<std::string>(info);
  const auto& publishes = std::get<ContainerInfo>(info).publishes;
  ASSERT_EQ(publishes.size(), 1U);
  EXPECT_EQ(publishes[0].protocol, rules::Protocol::udp);
  EXPECT_EQ(publishes[0].host_address->to_string(), "::1");
  EXPECT_EQ(publishes[0].host_port, 5353);
  EXPECT_EQ(publishes[0].container_port, 53);
}

TEST(ContainerInfoFromState, InvalidPublishQuotesAnnotation) {
  ProcessState state;
  state.id = "web";
  state.pid = 9;
  state.annotations = {{"io.sockgate.publish", "8080:80,http"}};

  auto info = container_info(state);

  ASSERT_TRUE(std::holds_alternative<std::string>(info));
  const std::string& message = std::get<std::string>(info);
  EXPECT_EQ(message.rfind(R"(invalid annotation io.sockgate.publish="8080:80,http": )", 0), 0U)
      << message;
  EXPECT_NE(message.find("http"), std::string::npos) << message;
}

TEST(ContainerInfoFromState, NoAnnotationsNoLabels) {
  ProcessState state;
  state.id = "plain";
  state.pid = 3;

  auto info = container_info(state);

  ASSERT_TRUE(std::holds_alternative<ContainerInfo>(info));
  EXPECT_TRUE(std::get<ContainerInfo>(info).labels.pairs().empty());
  EXPECT_TRUE(std::get<ContainerInfo>(info).publishes.empty());
}

}  // namespace
}  // namespace sockgate
