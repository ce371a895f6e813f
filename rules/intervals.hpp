// Sets of addresses and ports as sorted, disjoint, closed intervals.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "rules/event.hpp"

namespace sockgate::rules {

// An address as one 128-bit number, the bytes read big-endian, so address order is number order
// and a prefix is one interval.
__extension__ using Uint128 = unsigned __int128;

inline constexpr Uint128 kMaxAddress = ~Uint128{0};

Uint128 to_number(const IpAddress& address) noexcept;
IpAddress to_address(Uint128 number) noexcept;

template <typename T>
struct Interval {
  T low{};
  T high{};

  friend bool operator==(const Interval&, const Interval&) = default;
};

// A set of values as intervals sorted by `low`, disjoint and not touching.
template <typename T>
class IntervalSet {
 public:
  static IntervalSet all(T max) { return IntervalSet({{T{0}, max}}); }

  IntervalSet() = default;
  explicit IntervalSet(std::vector<Interval<T>> intervals) : items_(std::move(intervals)) {
    normalize();
  }

  const std::vector<Interval<T>>& intervals() const noexcept { return items_; }
  bool empty() const noexcept { return items_.empty(); }

  void add(T low, T high) {
    items_.push_back({low, high});
    normalize();
  }

  IntervalSet united(const IntervalSet& other) const {
    std::vector<Interval<T>> merged = items_;
    merged.insert(merged.end(), other.items_.begin(), other.items_.end());
    return IntervalSet(std::move(merged));
  }

  // The values of this set not in `other`.
  IntervalSet minus(const IntervalSet& other) const;

  bool contains(T value) const noexcept;
  // True when every value of `other` is in this set.
  bool contains(const IntervalSet& other) const noexcept;

 private:
  void normalize();

  std::vector<Interval<T>> items_;
};

using AddressSet = IntervalSet<Uint128>;
using PortSet = IntervalSet<std::uint32_t>;

inline constexpr std::uint32_t kMaxPort = 65535;

// The network ADDRESS/PREFIX, where the prefix counts bits of the 128-bit (mapped) form.
AddressSet network_interval(const IpAddress& address, std::uint32_t prefix_bits);

extern template class IntervalSet<Uint128>;
extern template class IntervalSet<std::uint32_t>;

}  // namespace sockgate::rules
