// The current policy, swapped atomically on reload.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "rules/policy.hpp"

namespace sockgate::rules {

// Holds the live policy for every notification loop. A reload builds the next policy beside the
// live one and calls replace(); a failed reload never calls it, so the old policy stays. Callers
// that cache a Subject per container recompute it when the generation changes.
class PolicyHandle {
 public:
  struct Snapshot {
    std::shared_ptr<const Policy> policy;
    std::uint64_t generation = 0;
  };

  explicit PolicyHandle(std::shared_ptr<const Policy> initial) : policy_(std::move(initial)) {}

  std::shared_ptr<const Policy> current() const { return policy_.load(std::memory_order_acquire); }

  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  // The generation is read before the policy, and replace() stores the policy before it bumps
  // the generation. So a snapshot may pair a newer policy with an older generation (the caller
  // then recomputes its Subject once more than needed), but never an older policy with a newer
  // generation, which would keep a stale Subject in use.
  Snapshot snapshot() const {
    const std::uint64_t generation = generation_.load(std::memory_order_acquire);
    return Snapshot{policy_.load(std::memory_order_acquire), generation};
  }

  // Installs `next` for every later call and returns the new generation. In-flight decisions
  // finish on the policy they loaded, which their shared_ptr keeps alive.
  std::uint64_t replace(std::shared_ptr<const Policy> next) {
    policy_.store(std::move(next), std::memory_order_release);
    return generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
  }

 private:
  std::atomic<std::shared_ptr<const Policy>> policy_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace sockgate::rules
