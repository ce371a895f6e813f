// `sockgate check`: exit status, diagnostics, summary, --strict, --explain, --builtin, and the
// shipped examples.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/cmd_check.hpp"

namespace sockgate {
namespace {

namespace fs = std::filesystem;

CheckOptions options_for(std::vector<std::string> files) {
  CheckOptions options;
  options.files = std::move(files);
  return options;
}

class Check : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = fs::temp_directory_path() /
                 ("sockgate-check-" + std::to_string(::getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(directory_);
  }
  void TearDown() override { fs::remove_all(directory_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path path = directory_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  int run(const CheckOptions& options) {
    out_.str("");
    err_.str("");
    return run_check(options, out_, err_);
  }

  fs::path directory_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(Check, CleanFileExitsZero) {
  const auto path = write("ok.rules", "rule a: deny connect port 25\ndefault pass\n");
  EXPECT_EQ(run(options_for({path})), 0);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "sockgate check: 1 file: 1 rule, default pass (" + path +
                            ":2), 0 "
                            "warnings\n");
}

TEST_F(Check, ErrorsExitOne) {
  const auto path = write("bad.rules", "rule a deny\nrule b: pass connect to @lan\n");
  EXPECT_EQ(run(options_for({path})), 1);
  EXPECT_EQ(err_.str(), path +
                            ":1:8: error: expected ':' after the rule name, found 'deny'\n"
                            "rule a deny\n"
                            "       ^\n" +
                            path +
                            ":2:25: error: unknown set 'lan'; define it with 'set lan = { ... "
                            "}'\n"
                            "rule b: pass connect to @lan\n"
                            "                        ^\n"
                            "sockgate check: 1 file: 2 errors, 0 warnings\n");
}

TEST_F(Check, WarningsPassUnlessStrict) {
  const auto path = write("warn.rules", "pass connect to 10.1.2.3/8\n");
  CheckOptions options = options_for({path});
  EXPECT_EQ(run(options), 0);
  EXPECT_EQ(err_.str(), path +
                            ":1:17: warning: '10.1.2.3/8' has host bits set; it means the "
                            "network 10.0.0.0/8, so write that\n"
                            "pass connect to 10.1.2.3/8\n"
                            "                ^\n"
                            "sockgate check: 1 file: 1 rule, default pass (built-in pass), 1 "
                            "warning\n");
  options.strict = true;
  EXPECT_EQ(run(options), 1);
  EXPECT_NE(err_.str().find("sockgate check: --strict makes warnings fatal\n"), std::string::npos);
}

TEST_F(Check, ExplainPrintsDecisionAndRule) {
  const auto path = write("x.rules",
                          "rule web-out: bypass connect tcp port 443 if label "
                          "app=web\ndefault deny errno ECONNREFUSED\n");
  CheckOptions options = options_for({path});
  options.explain = {"connect tcp 203.0.113.7:443 label app=web"};
  EXPECT_EQ(run(options), 0);
  EXPECT_EQ(out_.str(),
            "decision: bypass\n"
            "rule: web-out at " +
                path +
                ":1\n"
                "  rule web-out: bypass connect tcp port 443 if label app=web\n");

  options.explain = {"connect tcp 203.0.113.7:443", "bind udp [2001:db8::1]:443 label app=web"};
  EXPECT_EQ(run(options), 0);
  EXPECT_EQ(out_.str(),
            "event: connect tcp 203.0.113.7:443\n"
            "decision: deny (errno ECONNREFUSED)\n"
            "rule: none matched; the default is deny (" +
                path +
                ":2)\n"
                "event: bind udp [2001:db8::1]:443 label app=web\n"
                "decision: deny (errno ECONNREFUSED)\n"
                "rule: none matched; the default is deny (" +
                path + ":2)\n");
}

TEST_F(Check, BadExplainExitsOne) {
  const auto path = write("x.rules", "pass\n");
  CheckOptions options = options_for({path});
  options.explain = {"connect to 1.2.3.4"};
  EXPECT_EQ(run(options), 1);
  EXPECT_NE(err_.str().find("sockgate check: invalid event 'connect to 1.2.3.4': expected "
                            "ADDRESS:PORT"),
            std::string::npos);
}

TEST_F(Check, BuiltinPrintsPolicyText) {
  CheckOptions options;
  options.builtin = true;
  options.publish = {"127.0.0.1:8080:80"};
  EXPECT_EQ(run(options), 0);
  EXPECT_EQ(out_.str(),
            "# The built-in policy, used when no rule file is given. Every TCP connect goes "
            "through\n"
            "# the host's network (except to addresses local to the container, which always "
            "stay\n"
            "# inside); everything else passes through the container's own network.\n"
            "rule publish-8080-80-tcp: bypass bind tcp port 80 publish 127.0.0.1:8080\n"
            "rule tcp-connect: bypass connect tcp\n"
            "default pass\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(Check, NoFilesChecksBuiltinPolicy) {
  CheckOptions options;
  options.explain = {"connect tcp 192.0.2.1:443"};
  EXPECT_EQ(run(options), 0);
  EXPECT_EQ(err_.str(),
            "sockgate check: the built-in policy: 1 rule, default pass "
            "(<built-in>:5), 0 warnings\n");
  EXPECT_EQ(out_.str(),
            "decision: bypass\n"
            "rule: tcp-connect at <built-in>:4\n"
            "  rule tcp-connect: bypass connect tcp\n");
}

TEST_F(Check, BadPublishExitsOne) {
  CheckOptions options;
  options.publish = {"80"};
  EXPECT_EQ(run(options), 1);
  EXPECT_EQ(err_.str(),
            "sockgate check: invalid --publish '80': expected "
            "[HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/tcp|/udp], such as 8080:80 or "
            "127.0.0.1:8080:80/tcp\n");
}

// The CLI11 subcommand: each --explain or --publish takes one value, so a file after them is
// still a file.
TEST_F(Check, CommandLineOptionsTakeOneValue) {
  const auto path = write("x.rules", "rule r: deny connect port 25\n");
  CLI::App app;
  int exit_code = -1;
  add_check_command(app, exit_code);
  std::vector<std::string> arguments = {
      "check", "--explain", "connect tcp 192.0.2.1:25", "--publish", "8080:80", path, "--strict"};
  std::reverse(arguments.begin(), arguments.end());
  app.parse(arguments);
  EXPECT_EQ(exit_code, 0);

  CLI::App bad;
  int bad_exit = -1;
  add_check_command(bad, bad_exit);
  std::vector<std::string> missing = {"check", "--explain", "connect tcp 192.0.2.1:25",
                                      (directory_ / "absent.rules").string()};
  std::reverse(missing.begin(), missing.end());
  bad.parse(missing);
  EXPECT_EQ(bad_exit, 1);
}

TEST_F(Check, ExamplesPassStrict) {
  const std::string examples = SOCKGATE_SOURCE_DIR "/examples/";
  const std::vector<std::vector<std::string>> sets = {
      {examples + "webapp.rules"},
      {examples + "build-job.rules"},
      {examples + "no-metadata.rules"},
      // The combination that examples/sockgate.toml loads.
      {examples + "no-metadata.rules", examples + "webapp.rules"},
  };
  for (const auto& files : sets) {
    CheckOptions options = options_for(files);
    options.strict = true;
    EXPECT_EQ(run(options), 0) << err_.str();
    EXPECT_EQ(err_.str().find("warning:"), std::string::npos) << err_.str();
  }
}

TEST_F(Check, ExamplesDecideAsDocumented) {
  const std::string examples = SOCKGATE_SOURCE_DIR "/examples/";
  CheckOptions options = options_for({examples + "no-metadata.rules", examples + "webapp.rules"});
  options.explain = {
      "connect tcp 169.254.169.254:80 label project=webapp label app=web",
      "connect tcp 10.89.0.5:5432 label project=webapp label app=web",
      "connect tcp 10.89.0.5:5432 label project=webapp label app=worker",
      "connect tcp 203.0.113.7:443 label project=webapp label app=web",
      "connect tcp 203.0.113.7:80 label project=webapp label app=web",
      "connect tcp 203.0.113.7:80 label project=other",
  };
  EXPECT_EQ(run(options), 0) << err_.str();
  const std::string output = out_.str();
  const auto decision_after = [&](const std::string& event) {
    const std::size_t at = output.find("event: " + event + "\n");
    EXPECT_NE(at, std::string::npos) << event;
    const std::size_t start = output.find("decision: ", at);
    return output.substr(start, output.find('\n', start) - start);
  };
  EXPECT_EQ(decision_after(options.explain[0]), "decision: deny (errno ENETUNREACH)");
  EXPECT_EQ(decision_after(options.explain[1]), "decision: pass");
  EXPECT_EQ(decision_after(options.explain[2]), "decision: deny (errno ECONNREFUSED)");
  EXPECT_EQ(decision_after(options.explain[3]), "decision: bypass");
  EXPECT_EQ(decision_after(options.explain[4]), "decision: deny (errno ECONNREFUSED)");
  EXPECT_EQ(decision_after(options.explain[5]), "decision: pass");
}

}  // namespace
}  // namespace sockgate
