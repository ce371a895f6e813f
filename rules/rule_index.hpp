// The per-dimension index that finds the first matching rule without scanning the rules.
//
// Each dimension (address, port) is cut into elementary intervals at every boundary of every
// rule's set, so all values of one elementary interval match the same rules. Each interval maps
// to a row: a bit set over the rules that contain it. A row is cut into blocks of
// kBlockWords 64-bit words, and stored as one block id per block. Identical blocks are stored
// once, and so are identical rows. Adjacent intervals differ in a few rules, so they share all
// but a few blocks, and rules that share no interval leave most blocks all zero (block id 0).
// A row of block ids takes 4 bytes per 1,024 rules where a full bit set row takes 128.
//
// A decision looks up the address row and the port row and skips each block that is all zero in
// either. It ANDs the other blocks word by word with the row of its (operation, protocol) pair
// and the subject's mask, and the first set bit is the first matching rule. The work is two
// binary searches and at most rules/64 word operations, with no allocation.
//
// NOTE: the rows of block ids still grow with intervals * rules / 256 bytes. 100,000 rules with
// one address each make 200,001 intervals and up to 78 MB of them.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "rules/intervals.hpp"

namespace sockgate::rules {

// Rules per block of a row: 1,024 rules, 128 bytes.
inline constexpr std::size_t kBlockWords = 16;
// The id of the all-zero block.
inline constexpr std::uint32_t kEmptyBlock = 0;

template <typename T>
class DimensionIndex {
 public:
  DimensionIndex() = default;
  // `sets[r]` is rule r's set; `words` is the row length in 64-bit words.
  DimensionIndex(std::span<const IntervalSet<T>> sets, std::size_t words);

  // The block ids of the row of the elementary interval that contains `value`.
  const std::uint32_t* row(T value) const noexcept;
  // The kBlockWords words of block `id`.
  const std::uint64_t* block(std::uint32_t id) const noexcept {
    return blocks_.data() + static_cast<std::size_t>(id) * kBlockWords;
  }
  std::size_t blocks_per_row() const noexcept { return blocks_per_row_; }
  std::size_t interval_count() const noexcept { return starts_.size(); }
  // Distinct rows and distinct blocks stored.
  std::size_t row_count() const noexcept {
    return blocks_per_row_ == 0 ? 0 : rows_.size() / blocks_per_row_;
  }
  std::size_t block_count() const noexcept { return blocks_.size() / kBlockWords; }
  // Bytes of the tables, for benchmarks, logs and tests.
  std::size_t memory_bytes() const noexcept {
    return starts_.size() * sizeof(T) + row_of_interval_.size() * sizeof(std::uint32_t) +
           rows_.size() * sizeof(std::uint32_t) + blocks_.size() * sizeof(std::uint64_t);
  }

 private:
  std::size_t blocks_per_row_ = 0;
  // First value of each elementary interval, ascending; the first is 0.
  std::vector<T> starts_;
  std::vector<std::uint32_t> row_of_interval_;
  // blocks_per_row_ block ids per row.
  std::vector<std::uint32_t> rows_;
  // kBlockWords words per block. Block 0 is all zero.
  std::vector<std::uint64_t> blocks_;
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
    return addresses_.memory_bytes() + ports_.memory_bytes() +
           4 * operation_protocol_[0].size() * sizeof(std::uint64_t);
  }

 private:
  std::size_t words_ = 0;
  DimensionIndex<Uint128> addresses_;
  DimensionIndex<std::uint32_t> ports_;
  // One bit set per (operation, protocol) pair, padded to whole blocks.
  std::array<std::vector<std::uint64_t>, 4> operation_protocol_;
};

template <typename Visit>
void RuleIndex::for_each_match_before(Uint128 address, std::uint32_t port, std::size_t slot,
                                      std::uint32_t limit, std::span<const std::uint64_t> mask,
                                      Visit&& visit) const {
  const std::uint32_t* address_row = addresses_.row(address);
  const std::uint32_t* port_row = ports_.row(port);
  const std::uint64_t* slot_row = operation_protocol_[slot].data();
  const std::size_t words = std::min({words_, mask.size(), (std::size_t{limit} + 63) / 64});
  for (std::size_t block = 0; block * kBlockWords < words; ++block) {
    if (address_row[block] == kEmptyBlock || port_row[block] == kEmptyBlock) {
      continue;
    }
    const std::uint64_t* address_words = addresses_.block(address_row[block]);
    const std::uint64_t* port_words = ports_.block(port_row[block]);
    const std::size_t first = block * kBlockWords;
    const std::size_t end = std::min(first + kBlockWords, words);
    for (std::size_t word = first; word < end; ++word) {
      std::uint64_t bits =
          address_words[word - first] & port_words[word - first] & slot_row[word] & mask[word];
      while (bits != 0) {
        const auto rule = static_cast<std::uint32_t>(word * 64 + __builtin_ctzll(bits));
        if (rule >= limit || visit(rule)) {
          return;
        }
        bits &= bits - 1;
      }
    }
  }
}

extern template class DimensionIndex<Uint128>;
extern template class DimensionIndex<std::uint32_t>;

}  // namespace sockgate::rules
