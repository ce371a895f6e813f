// The per-dimension index that finds the first matching rule without scanning the rules.
//
// Each dimension (address, port) is cut into elementary intervals at every boundary of every
// rule's set, so all values of one elementary interval match the same rules. Each interval maps
// to a row: a bit set over the rules that contain it (identical rows are stored once). A
// decision looks up the address row and the port row, takes the row of its (operation,
// protocol) pair and the subject's mask, ANDs them word by word, and the first set bit is the
// first matching rule. The work is two binary searches and rules/64 word operations, with no
// allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "rules/intervals.hpp"

namespace sockgate::rules {

template <typename T>
class DimensionIndex {
 public:
  DimensionIndex() = default;
  // `sets[r]` is rule r's set; `words` is the row length in 64-bit words.
  DimensionIndex(std::span<const IntervalSet<T>> sets, std::size_t words);

  // The row of the elementary interval that contains `value`.
  const std::uint64_t* row(T value) const noexcept;
  std::size_t interval_count() const noexcept { return starts_.size(); }
  std::size_t row_count() const noexcept { return words_ == 0 ? 0 : rows_.size() / words_; }
  // Bytes of the tables, for benchmarks and logs.
  std::size_t memory_bytes() const noexcept {
    return starts_.size() * sizeof(T) + row_of_interval_.size() * sizeof(std::uint32_t) +
           rows_.size() * sizeof(std::uint64_t);
  }

 private:
  std::size_t words_ = 0;
  // First value of each elementary interval, ascending; the first is 0.
  std::vector<T> starts_;
  std::vector<std::uint32_t> row_of_interval_;
  std::vector<std::uint64_t> rows_;
};

// The rules' dimensions in matchable form.
struct RuleShape {
  AddressSet addresses;
  PortSet ports;
  // Indexed by operation_protocol_slot().
  std::array<bool, 4> operation_protocol{};
};

constexpr std::size_t operation_protocol_slot(Operation operation, Protocol protocol) noexcept {
  return static_cast<std::size_t>(operation) * 2 + static_cast<std::size_t>(protocol);
}

class RuleIndex {
 public:
  RuleIndex() = default;
  explicit RuleIndex(std::span<const RuleShape> shapes);

  std::size_t words() const noexcept { return words_; }
  // The first rule that matches the event and is allowed by `mask` (rules/64 words, fewer are
  // read as zero); std::nullopt when none does.
  std::optional<std::uint32_t> first_match(const Event& event,
                                           std::span<const std::uint64_t> mask) const noexcept;
  // Calls `visit` in order with each rule before `limit` that `mask` allows and that matches an
  // event at this point of all dimensions, until `visit` returns true.
  template <typename Visit>
  void for_each_match_before(Uint128 address, std::uint32_t port, std::size_t slot,
                             std::uint32_t limit, std::span<const std::uint64_t> mask,
                             Visit&& visit) const;

  const DimensionIndex<Uint128>& addresses() const noexcept { return addresses_; }
  const DimensionIndex<std::uint32_t>& ports() const noexcept { return ports_; }
  std::size_t memory_bytes() const noexcept {
    return addresses_.memory_bytes() + ports_.memory_bytes() + 4 * words_ * sizeof(std::uint64_t);
  }

 private:
  std::size_t words_ = 0;
  DimensionIndex<Uint128> addresses_;
  DimensionIndex<std::uint32_t> ports_;
  std::array<std::vector<std::uint64_t>, 4> operation_protocol_;
};

template <typename Visit>
void RuleIndex::for_each_match_before(Uint128 address, std::uint32_t port, std::size_t slot,
                                      std::uint32_t limit, std::span<const std::uint64_t> mask,
                                      Visit&& visit) const {
  const std::uint64_t* address_row = addresses_.row(address);
  const std::uint64_t* port_row = ports_.row(port);
  const std::uint64_t* slot_row = operation_protocol_[slot].data();
  for (std::size_t word = 0; word * 64 < limit && word < mask.size(); ++word) {
    std::uint64_t bits = address_row[word] & port_row[word] & slot_row[word] & mask[word];
    while (bits != 0) {
      const auto rule = static_cast<std::uint32_t>(word * 64 + __builtin_ctzll(bits));
      if (rule >= limit || visit(rule)) {
        return;
      }
      bits &= bits - 1;
    }
  }
}

extern template class DimensionIndex<Uint128>;
extern template class DimensionIndex<std::uint32_t>;

}  // namespace sockgate::rules
