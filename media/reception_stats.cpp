#include "media/reception_stats.hpp"

#include <algorithm>
#include <cmath>

namespace jvb::media {

void ReceptionStats::onPacket(uint16_t sequence, uint32_t rtpTimestamp, uint32_t clockRate,
                              Clock::time_point arrival) noexcept {
  bool inOrder = true;
  if (!initialized_) {
    initialized_ = true;
    maxSequence_ = sequence;
    baseSequence_ = sequence;
  } else {
    const auto delta = static_cast<uint16_t>(sequence - maxSequence_);
    inOrder = delta != 0 && delta < 0x8000;
    if (inOrder) {  // newer, possibly after a gap (RFC 3550 A.1)
      if (sequence < maxSequence_) {
        cycles_ += 1u << 16;
      }
      maxSequence_ = sequence;
    }
    // Older (reordered or duplicate) packets count as received, nothing else.
  }
  ++received_;
  if (!inOrder) {
    return;  // a late or repeated packet says nothing about the current jitter
  }
  // A.8: transit time in timestamp units; jitter smoothed by 1/16.
  const double arrivalUnits =
      std::chrono::duration<double>(arrival.time_since_epoch()).count() * clockRate;
  const auto transit = static_cast<int64_t>(arrivalUnits) - static_cast<int64_t>(rtpTimestamp);
  if (haveTransit_) {
    const double d = std::abs(static_cast<double>(transit - lastTransit_));
    jitter_ += (d - jitter_) / 16.0;
  }
  lastTransit_ = transit;
  haveTransit_ = true;
}

void ReceptionStats::onSenderReport(uint64_t ntpTimestamp, Clock::time_point arrival) noexcept {
  lastSrMiddle_ = static_cast<uint32_t>(ntpTimestamp >> 16);
  lastSrArrival_ = arrival;
  haveSr_ = true;
}

rtp::ReportBlock ReceptionStats::makeReportBlock(uint32_t ssrc, Clock::time_point now) noexcept {
  rtp::ReportBlock b;
  b.ssrc = ssrc;
  const uint64_t extendedMax = static_cast<uint64_t>(cycles_) + maxSequence_;
  const uint64_t expected = extendedMax - baseSequence_ + 1;
  const int64_t lost = static_cast<int64_t>(expected) - static_cast<int64_t>(received_);
  // 24-bit signed field, clamped (RFC 3550 A.3).
  b.cumulativeLost = static_cast<int32_t>(std::clamp<int64_t>(lost, -0x800000, 0x7fffff));
  const uint64_t expectedInterval = expected - expectedPrior_;
  const uint64_t receivedInterval = received_ - receivedPrior_;
  expectedPrior_ = expected;
  receivedPrior_ = received_;
  const int64_t lostInterval =
      static_cast<int64_t>(expectedInterval) - static_cast<int64_t>(receivedInterval);
  uint8_t fraction = 0;
  if (expectedInterval != 0 && lostInterval > 0) {
    fraction = static_cast<uint8_t>((lostInterval << 8) / static_cast<int64_t>(expectedInterval));
  }
  b.fractionLost = fraction;
  b.extendedHighestSequence = static_cast<uint32_t>(extendedMax);
  b.jitter = static_cast<uint32_t>(jitter_);
  if (haveSr_) {
    b.lastSr = lastSrMiddle_;
    const auto delay = std::chrono::duration<double>(now - lastSrArrival_).count();
    b.delaySinceLastSr = static_cast<uint32_t>(std::max(0.0, delay) * 65536.0);
  }
  return b;
}

}  // namespace jvb::media
