#include "rules/rule_index.hpp"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace sockgate::rules {

namespace {

template <typename T>
struct Change {
  T at{};
  std::uint32_t rule = 0;
  bool add = false;
};

// Stores arrays of one fixed length once each, appended to `storage`, and returns their ids in
// the order they were first stored.
template <typename Element>
class Interner {
 public:
  Interner(std::vector<Element>& storage, std::size_t length)
      : storage_(storage), length_(length) {}

  // `items` must not point into the storage, which this call may reallocate.
  std::uint32_t intern(const Element* items) {
    const std::uint64_t hash = hash_of(items);
    const auto [first, last] = ids_.equal_range(hash);
    for (auto it = first; it != last; ++it) {
      const Element* stored = storage_.data() + static_cast<std::size_t>(it->second) * length_;
      if (std::equal(items, items + length_, stored)) {
        return it->second;
      }
    }
    const auto id = static_cast<std::uint32_t>(ids_.size());
    storage_.insert(storage_.end(), items, items + length_);
    ids_.emplace(hash, id);
    return id;
  }

 private:
  std::uint64_t hash_of(const Element* items) const noexcept {
    std::uint64_t hash = length_;
    for (std::size_t i = 0; i < length_; ++i) {
      hash = (hash ^ static_cast<std::uint64_t>(items[i])) * 0x9e3779b97f4a7c15ULL;
      hash ^= hash >> 29U;
    }
    return hash;
  }

  std::vector<Element>& storage_;
  std::size_t length_;
  std::unordered_multimap<std::uint64_t, std::uint32_t> ids_;
};

// Each rule's bit is set where one of its intervals starts and cleared after it ends. A rule's
// intervals never touch, so one point never both sets and clears the same bit.
template <typename T>
std::vector<Change<T>> sorted_changes(std::span<const IntervalSet<T>> sets) {
  std::vector<Change<T>> changes;
  for (std::uint32_t rule = 0; rule < sets.size(); ++rule) {
    for (const auto& interval : sets[rule].intervals()) {
      changes.push_back({interval.low, rule, true});
      if (interval.high != std::numeric_limits<T>::max()) {
        changes.push_back({static_cast<T>(interval.high + 1), rule, false});
      }
    }
  }
  std::sort(changes.begin(), changes.end(),
            [](const Change<T>& a, const Change<T>& b) { return a.at < b.at; });
  return changes;
}

}  // namespace

template <typename T>
DimensionIndex<T>::DimensionIndex(std::span<const IntervalSet<T>> sets, std::size_t words)
    : blocks_per_row_((words + kBlockWords - 1) / kBlockWords) {
  const std::vector<Change<T>> changes = sorted_changes(sets);

  // The sweep keeps the bit set of the current interval and its row of block ids, and stores
  // again only the blocks that the changes at this point touched.
  std::vector<std::uint64_t> current(blocks_per_row_ * kBlockWords, 0);
  std::vector<std::uint32_t> current_row(blocks_per_row_, kEmptyBlock);
  std::vector<std::size_t> touched;
  Interner<std::uint64_t> block_ids(blocks_, kBlockWords);
  Interner<std::uint32_t> row_ids(rows_, blocks_per_row_);
  const std::vector<std::uint64_t> zeros(kBlockWords, 0);
  block_ids.intern(zeros.data());

  std::size_t next = 0;
  T point{0};
  while (true) {
    for (; next < changes.size() && changes[next].at == point; ++next) {
      const std::uint32_t rule = changes[next].rule;
      const std::uint64_t bit = std::uint64_t{1} << (rule % 64);
      auto& word = current[rule / 64];
      word = changes[next].add ? (word | bit) : (word & ~bit);
      touched.push_back(rule / 64 / kBlockWords);
    }
    for (const std::size_t block : touched) {
      current_row[block] = block_ids.intern(current.data() + block * kBlockWords);
    }
    touched.clear();
    starts_.push_back(point);
    row_of_interval_.push_back(row_ids.intern(current_row.data()));
    if (next == changes.size()) {
      break;
    }
    point = changes[next].at;
  }
}

template <typename T>
const std::uint32_t* DimensionIndex<T>::row(T value) const noexcept {
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), value);
  // starts_ begins with 0, so `it` is past the first element.
  const auto interval = static_cast<std::size_t>(it - starts_.begin()) - 1;
  return rows_.data() + static_cast<std::size_t>(row_of_interval_[interval]) * blocks_per_row_;
}

template class DimensionIndex<Uint128>;
template class DimensionIndex<std::uint32_t>;

RuleIndex::RuleIndex(std::span<const RuleShape> shapes) : words_((shapes.size() + 63) / 64) {
  std::vector<AddressSet> address_sets;
  std::vector<PortSet> port_sets;
  address_sets.reserve(shapes.size());
  port_sets.reserve(shapes.size());
  const std::size_t padded_words = (words_ + kBlockWords - 1) / kBlockWords * kBlockWords;
  for (auto& slot : operation_protocol_) {
    slot.assign(padded_words, 0);
  }
  for (std::size_t rule = 0; rule < shapes.size(); ++rule) {
    address_sets.push_back(shapes[rule].addresses);
    port_sets.push_back(shapes[rule].ports);
    for (std::size_t slot = 0; slot < 4; ++slot) {
      if (shapes[rule].operation_protocol[slot]) {
        operation_protocol_[slot][rule / 64] |= std::uint64_t{1} << (rule % 64);
      }
    }
  }
  addresses_ = DimensionIndex<Uint128>(address_sets, words_);
  ports_ = DimensionIndex<std::uint32_t>(port_sets, words_);
}

std::optional<std::uint32_t> RuleIndex::first_match(
    const Event& event, std::span<const std::uint64_t> mask) const noexcept {
  std::optional<std::uint32_t> found;
  const auto limit = static_cast<std::uint32_t>(words_ * 64);
  for_each_match_before(to_number(event.address), event.port,
                        operation_protocol_slot(event.operation, event.protocol), limit, mask,
                        [&found](std::uint32_t rule) {
                          found = rule;
                          return true;
                        });
  return found;
}

}  // namespace sockgate::rules
