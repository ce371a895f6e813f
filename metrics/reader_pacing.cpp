#include "metrics/reader_pacing.hpp"

#include <algorithm>

namespace sockgate::metrics {

ReaderPacing::ReaderPacing(std::chrono::microseconds max_pause)
    : max_pause_(std::max(max_pause, std::chrono::microseconds::zero())), pause_(max_pause_) {}

std::chrono::microseconds ReaderPacing::after_read(std::size_t queued, std::size_t capacity) {
  if (capacity == 0) {
    return pause_;
  }
  if (queued > capacity / 4) {
    pause_ /= 2;
    if (pause_ < kMinPause) {
      pause_ = std::chrono::microseconds::zero();
    }
  } else if (queued < capacity / 8) {
    pause_ = std::min(max_pause_, std::max(pause_ * 2, kMinPause));
  }
  return pause_;
}

std::chrono::microseconds ReaderPacing::after_overrun() {
  pause_ = std::chrono::microseconds::zero();
  return pause_;
}

}  // namespace sockgate::metrics
