// rules/: the rule model, the compiler, the matcher, and the handle swapped on reload.
//
// In: rule files (parsed and checked by parser/), `--publish` flags and the configuration's
// default action. Out: an immutable Policy (policy.hpp) that decides each intercepted call for
// the switching core, plus every diagnostic of the load.
//
// Flow: load_policy parses the files, runs the meaning check, and compiles a program without
// errors into a CompiledPolicy. The compiler resolves sets, `!` items and scopes into one
// address set, one port set and one (operation, protocol) mask per rule, and the label
// conditions that the rule's scopes add to its own. RuleIndex (rule_index.hpp) turns those sets
// into per-dimension tables so a decision costs two binary searches and a few bit-set ANDs,
// whatever the number of rules. Labels depend only on the container, so Policy::subject
// evaluates them once per container into a bit mask that the decision ANDs in.
//
// Reload builds the next policy beside the live one; PolicyHandle (policy_handle.hpp) swaps it
// in atomically, or the caller keeps the old one when the load reported errors.
#pragma once

#include "rules/load.hpp"
#include "rules/policy.hpp"
#include "rules/policy_handle.hpp"
#include "rules/publish.hpp"
