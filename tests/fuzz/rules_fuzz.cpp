// libFuzzer target for the rule language: parser, meaning check, compiler and matcher.
//
// The input is a rule file. Whatever it contains, loading must not crash, leak or trip the
// sanitizers, every diagnostic must format, and a policy that compiles must decide events. The
// input is also fed to the `--publish` and `--explain` parsers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rules/explain.hpp"
#include "rules/load.hpp"
#include "rules/publish.hpp"

namespace {

using namespace sockgate::rules;  // NOLINT(google-build-using-namespace): one short file

void decide_some_events(const Policy& policy, const std::string& default_origin) {
  static const char* const kEvents[] = {
      "connect tcp 10.1.2.3:443 label app=web",
      "connect udp [2001:db8::1]:53 label a=x label b",
      "bind tcp 0.0.0.0:80",
      "bind udp [::]:0 label project=shop",
      "connect tcp 169.254.169.254:80",
      "connect tcp [::ffff:192.0.2.1]:65535",
  };
  for (const char* text : kEvents) {
    const auto request = std::get<ExplainRequest>(parse_explain_request(text));
    const Decision decision = policy.decide(request.event, policy.subject(request.labels));
    if (decision.rule != kDefaultRule && decision.rule >= policy.rules().size()) {
      __builtin_trap();
    }
    (void)explain_decision(policy, decision, default_origin);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  const LoadResult loaded = load_policy_text("fuzz.rules", text);
  (void)loaded.format_diagnostics();
  if (loaded.ok() == loaded.diagnostics.has_errors()) {
    __builtin_trap();  // A policy exactly when there are no errors.
  }
  if (loaded.ok()) {
    decide_some_events(*loaded.policy, loaded.default_origin);
  }

  const std::string_view first_line = std::string_view(text).substr(0, text.find('\n'));
  (void)parse_publish_spec(first_line);
  (void)parse_explain_request(first_line);
  return 0;
}
