// The pause of the sock_diag reader thread between reads of destroy messages.
#include "metrics/reader_pacing.hpp"

#include <gtest/gtest.h>

namespace sockgate::metrics {
namespace {

using std::chrono::microseconds;

constexpr std::size_t kCapacity = 425'984;

TEST(ReaderPacing, StartsAtMaximum) {
  EXPECT_EQ(ReaderPacing().pause(), ReaderPacing::kDefaultMaxPause);
  EXPECT_EQ(ReaderPacing(microseconds(3'000)).pause(), microseconds(3'000));
}

TEST(ReaderPacing, LightQueueKeepsMaximum) {
  ReaderPacing pacing(microseconds(10'000));
  EXPECT_EQ(pacing.after_read(1'280, kCapacity), microseconds(10'000));
  EXPECT_EQ(pacing.after_read(0, kCapacity), microseconds(10'000));
}

TEST(ReaderPacing, QuarterFullHalvesDownToZero) {
  ReaderPacing pacing(microseconds(1'000));
  const std::size_t over_quarter = kCapacity / 4 + 1;
  EXPECT_EQ(pacing.after_read(over_quarter, kCapacity), microseconds(500));
  EXPECT_EQ(pacing.after_read(over_quarter, kCapacity), microseconds(250));
  EXPECT_EQ(pacing.after_read(over_quarter, kCapacity), microseconds(125));
  // 62 us is below the shortest pause worth a timed wait.
  EXPECT_EQ(pacing.after_read(over_quarter, kCapacity), microseconds(0));
  EXPECT_EQ(pacing.after_read(over_quarter, kCapacity), microseconds(0));
}

TEST(ReaderPacing, BetweenEighthAndQuarterKeepsPause) {
  ReaderPacing pacing(microseconds(8'000));
  pacing.after_read(kCapacity, kCapacity);
  EXPECT_EQ(pacing.after_read(kCapacity / 4, kCapacity), microseconds(4'000));
  EXPECT_EQ(pacing.after_read(kCapacity / 8, kCapacity), microseconds(4'000));
}

TEST(ReaderPacing, LightQueueDoublesBackToMaximum) {
  ReaderPacing pacing(microseconds(1'000));
  pacing.after_overrun();
  EXPECT_EQ(pacing.pause(), microseconds(0));
  EXPECT_EQ(pacing.after_read(0, kCapacity), ReaderPacing::kMinPause);
  EXPECT_EQ(pacing.after_read(0, kCapacity), microseconds(200));
  EXPECT_EQ(pacing.after_read(0, kCapacity), microseconds(400));
  EXPECT_EQ(pacing.after_read(0, kCapacity), microseconds(800));
  EXPECT_EQ(pacing.after_read(0, kCapacity), microseconds(1'000));
  EXPECT_EQ(pacing.after_read(0, kCapacity), microseconds(1'000));
}

TEST(ReaderPacing, ZeroMaximumNeverPauses) {
  ReaderPacing pacing(microseconds(0));
  EXPECT_EQ(pacing.pause(), microseconds(0));
  EXPECT_EQ(pacing.after_read(0, kCapacity), microseconds(0));
}

TEST(ReaderPacing, UnknownCapacityKeepsPause) {
  ReaderPacing pacing(microseconds(2'000));
  EXPECT_EQ(pacing.after_read(1'000'000, 0), microseconds(2'000));
}

}  // namespace
}  // namespace sockgate::metrics
