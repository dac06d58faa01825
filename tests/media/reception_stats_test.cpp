#include <gtest/gtest.h>

#include "media/reception_stats.hpp"

namespace {

using jvb::media::ReceptionStats;
using Clock = ReceptionStats::Clock;

TEST(ReceptionStats, SequenceWrapLossAndFractionPerInterval) {
  ReceptionStats s;
  auto t = Clock::time_point(std::chrono::seconds(100));
  uint32_t ts = 0;
  // 65530 .. 65535, 0 .. 9 with 3 and 4 missing: wrap counted, 2 lost.
  for (uint32_t i = 65530; i < 65536 + 10; ++i) {
    const auto seq = static_cast<uint16_t>(i);
    if (seq != 3 && seq != 4) {
      s.onPacket(seq, ts, 48000, t);
    }
    ts += 960;
    t += std::chrono::milliseconds(20);
  }
  auto b = s.makeReportBlock(42, t);
  EXPECT_EQ(b.ssrc, 42u);
  EXPECT_EQ(b.extendedHighestSequence, 65536u + 9u);
  EXPECT_EQ(b.cumulativeLost, 2);
  EXPECT_EQ(b.fractionLost, (2 * 256) / 16);
  EXPECT_EQ(b.jitter, 0u);  // perfectly paced packets
  EXPECT_EQ(b.lastSr, 0u);
  // Next interval: nothing lost, fraction back to 0; cumulative stays.
  for (uint16_t seq = 10; seq < 20; ++seq) {
    s.onPacket(seq, ts, 48000, t);
    ts += 960;
    t += std::chrono::milliseconds(20);
  }
  b = s.makeReportBlock(42, t);
  EXPECT_EQ(b.fractionLost, 0);
  EXPECT_EQ(b.cumulativeLost, 2);
}

TEST(ReceptionStats, JitterGrowsWithUnevenArrivalAndDuplicatesDoNotMoveTheHighest) {
  ReceptionStats s;
  auto t = Clock::time_point(std::chrono::seconds(5));
  uint32_t ts = 0;
  for (uint16_t seq = 0; seq < 50; ++seq) {
    s.onPacket(seq, ts, 48000, t + std::chrono::milliseconds(seq % 2 == 0 ? 0 : 10));
    ts += 960;
    t += std::chrono::milliseconds(20);
  }
  s.onPacket(10, 9600, 48000, t);  // a late duplicate
  const auto b = s.makeReportBlock(1, t);
  EXPECT_EQ(b.extendedHighestSequence, 49u);
  EXPECT_GT(b.jitter, 100u);  // ~10 ms swings = 480 units, smoothed
  EXPECT_LT(b.jitter, 480u);
}

TEST(ReceptionStats, LastSenderReportAndDelaySinceIt) {
  ReceptionStats s;
  const auto t = Clock::time_point(std::chrono::seconds(7));
  s.onPacket(1, 0, 48000, t);
  s.onSenderReport(0xAABBCCDDEEFF0011ULL, t);
  const auto b = s.makeReportBlock(1, t + std::chrono::milliseconds(500));
  EXPECT_EQ(b.lastSr, 0xCCDDEEFFu);
  EXPECT_EQ(b.delaySinceLastSr, 32768u);  // 0.5 s in 1/65536 s
}

}  // namespace
