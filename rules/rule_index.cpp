#include "rules/rule_index.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <unordered_map>

namespace sockgate::rules {

namespace {

template <typename T>
struct Change {
  T at{};
  std::uint32_t rule = 0;
  bool add = false;
};

}  // namespace

template <typename T>
DimensionIndex<T>::DimensionIndex(std::span<const IntervalSet<T>> sets, std::size_t words)
    : words_(words) {
  // Each rule's bit is set where one of its intervals starts and cleared after it ends. A rule's
  // intervals never touch, so one point never both sets and clears the same bit.
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

  std::vector<std::uint64_t> current(words_, 0);
  std::unordered_map<std::string, std::uint32_t> row_ids;
  const auto store_row = [&]() {
    std::string key(reinterpret_cast<const char*>(current.data()), words_ * 8);
    const auto [it, inserted] =
        row_ids.emplace(std::move(key), static_cast<std::uint32_t>(row_ids.size()));
    if (inserted) {
      rows_.insert(rows_.end(), current.begin(), current.end());
    }
    return it->second;
  };

  std::size_t next = 0;
  T point{0};
  while (true) {
    for (; next < changes.size() && changes[next].at == point; ++next) {
      const std::uint64_t bit = std::uint64_t{1} << (changes[next].rule % 64);
      auto& word = current[changes[next].rule / 64];
      word = changes[next].add ? (word | bit) : (word & ~bit);
    }
    starts_.push_back(point);
    row_of_interval_.push_back(store_row());
    if (next == changes.size()) {
      break;
    }
    point = changes[next].at;
  }
}

template <typename T>
const std::uint64_t* DimensionIndex<T>::row(T value) const noexcept {
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), value);
  // starts_ begins with 0, so `it` is past the first element.
  const auto interval = static_cast<std::size_t>(it - starts_.begin()) - 1;
  return rows_.data() + static_cast<std::size_t>(row_of_interval_[interval]) * words_;
}

template class DimensionIndex<Uint128>;
template class DimensionIndex<std::uint32_t>;

RuleIndex::RuleIndex(std::span<const RuleShape> shapes) : words_((shapes.size() + 63) / 64) {
  std::vector<AddressSet> address_sets;
  std::vector<PortSet> port_sets;
  address_sets.reserve(shapes.size());
  port_sets.reserve(shapes.size());
  for (auto& slot : operation_protocol_) {
    slot.assign(words_, 0);
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
  const std::uint64_t* address_row = addresses_.row(to_number(event.address));
  const std::uint64_t* port_row = ports_.row(event.port);
  const std::uint64_t* slot_row =
      operation_protocol_[operation_protocol_slot(event.operation, event.protocol)].data();
  const std::size_t words = std::min(words_, mask.size());
  for (std::size_t word = 0; word < words; ++word) {
    const std::uint64_t bits = address_row[word] & port_row[word] & slot_row[word] & mask[word];
    if (bits != 0) {
      return static_cast<std::uint32_t>(word * 64 + __builtin_ctzll(bits));
    }
  }
  return std::nullopt;
}

}  // namespace sockgate::rules
