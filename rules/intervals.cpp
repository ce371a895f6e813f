#include "rules/intervals.hpp"

#include <algorithm>

namespace sockgate::rules {

Uint128 to_number(const IpAddress& address) noexcept {
  Uint128 number = 0;
  for (const std::uint8_t byte : address.bytes) {
    number = (number << 8U) | byte;
  }
  return number;
}

IpAddress to_address(Uint128 number) noexcept {
  IpAddress address;
  for (std::size_t i = 16; i-- > 0;) {
    address.bytes[i] = static_cast<std::uint8_t>(number & 0xffU);
    number >>= 8U;
  }
  return address;
}

AddressSet network_interval(const IpAddress& address, std::uint32_t prefix_bits) {
  const Uint128 number = to_number(address);
  if (prefix_bits == 0) {
    return AddressSet::all(kMaxAddress);
  }
  const Uint128 host_mask = prefix_bits >= 128 ? Uint128{0} : (kMaxAddress >> prefix_bits);
  return AddressSet({{number & ~host_mask, number | host_mask}});
}

template <typename T>
void IntervalSet<T>::normalize() {
  std::sort(items_.begin(), items_.end(),
            [](const Interval<T>& a, const Interval<T>& b) { return a.low < b.low; });
  std::vector<Interval<T>> merged;
  for (const auto& item : items_) {
    if (item.low > item.high) {
      continue;
    }
    // Merge overlapping and touching intervals; `high + 1` cannot overflow below the maximum.
    if (!merged.empty() && (merged.back().high == std::numeric_limits<T>::max() ||
                            item.low <= merged.back().high + 1)) {
      merged.back().high = std::max(merged.back().high, item.high);
    } else {
      merged.push_back(item);
    }
  }
  items_ = std::move(merged);
}

template <typename T>
IntervalSet<T> IntervalSet<T>::minus(const IntervalSet& other) const {
  std::vector<Interval<T>> result;
  auto cut = other.items_.begin();
  for (Interval<T> item : items_) {
    while (cut != other.items_.end() && cut->high < item.low) {
      ++cut;
    }
    bool consumed = false;
    for (auto it = cut; it != other.items_.end() && it->low <= item.high; ++it) {
      if (it->low > item.low) {
        result.push_back({item.low, it->low - 1});
      }
      if (it->high >= item.high) {
        consumed = true;
        break;
      }
      item.low = it->high + 1;
    }
    if (!consumed) {
      result.push_back(item);
    }
  }
  return IntervalSet(std::move(result));
}

template <typename T>
bool IntervalSet<T>::contains(T value) const noexcept {
  const auto it = std::upper_bound(items_.begin(), items_.end(), value,
                                   [](T v, const Interval<T>& item) { return v < item.low; });
  return it != items_.begin() && std::prev(it)->high >= value;
}

template <typename T>
bool IntervalSet<T>::contains(const IntervalSet& other) const noexcept {
  // Both lists are sorted and disjoint, so each interval of `other` must lie inside one of ours.
  auto mine = items_.begin();
  for (const auto& item : other.items_) {
    while (mine != items_.end() && mine->high < item.low) {
      ++mine;
    }
    if (mine == items_.end() || mine->low > item.low || mine->high < item.high) {
      return false;
    }
  }
  return true;
}

template class IntervalSet<Uint128>;
template class IntervalSet<std::uint32_t>;

}  // namespace sockgate::rules
