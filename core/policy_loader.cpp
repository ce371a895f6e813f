#include "core/policy_loader.hpp"

#include "rules/load.hpp"

namespace sockgate {

PolicyLoader make_policy_loader(std::vector<std::string> files,
                                std::vector<rules::PublishSpec> publishes,
                                std::optional<rules::Action> default_action) {
  return [files = std::move(files), publishes = std::move(publishes), default_action] {
    rules::LoadOptions options;
    options.files = files;
    options.publish = publishes;
    options.default_action = default_action;
    rules::LoadResult result = rules::load_policy(options);
    LoadedPolicy loaded;
    loaded.policy = result.policy;
    if (!result.diagnostics.all().empty()) {
      (result.ok() ? loaded.warnings : loaded.errors).push_back(result.format_diagnostics());
    }
    return loaded;
  };
}

}  // namespace sockgate
