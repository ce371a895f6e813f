// Pacing of the thread that reads sock_diag destroy messages.
//
// Every TCP socket of a network namespace sends one destroy message when it closes, so at
// thousands of connections per second a reader that woke up for each message would add a
// context switch per connection. After each read the reader pauses, so that the messages of
// the pause arrive in one batch. Scrapes read the queue themselves first, so the pause delays no
// count that a scrape shows. The pause halves when a read finds the receive buffer more than a
// quarter full, and drops to 0 after an overrun, so that bursts do not overflow the buffer. It
// doubles again, up to its maximum, while reads find the buffer less than an eighth full.
#pragma once

#include <chrono>
#include <cstddef>

namespace sockgate::metrics {

class ReaderPacing {
 public:
  // A destroy message takes about 1,280 bytes of receive buffer (Linux 6.18 x86-64). At 10 ms
  // and 10,000 closing sockets per second, a batch takes 128 KB, less than the 425,984-byte
  // buffer that net.core.rmem_max allows by default.
  static constexpr std::chrono::microseconds kDefaultMaxPause{10'000};
  // Pauses below this are not worth a timed wait, so the reader reads again at once.
  static constexpr std::chrono::microseconds kMinPause{100};

  explicit ReaderPacing(std::chrono::microseconds max_pause = kDefaultMaxPause);

  // Adapts the pause to a read that found `queued` bytes in a receive buffer of `capacity`
  // bytes, and returns the new pause.
  std::chrono::microseconds after_read(std::size_t queued, std::size_t capacity);
  // Drops the pause to 0 after the kernel reported lost messages, and returns it.
  std::chrono::microseconds after_overrun();

  std::chrono::microseconds pause() const { return pause_; }

 private:
  std::chrono::microseconds max_pause_;
  std::chrono::microseconds pause_;
};

}  // namespace sockgate::metrics
