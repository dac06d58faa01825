#pragma once
// Reception statistics for one incoming RTP stream, as RFC 3550 appendix A.1
// (sequence numbers and wraps), A.3 (expected, lost, fraction lost since the
// last report) and A.8 (interarrival jitter) define them, and the report
// block the bridge sends back to the sender (section 6.4.1), with LSR/DLSR
// from the last sender report so the sender can compute its round-trip time.
// Media thread only; no allocation.
#include <chrono>
#include <cstdint>

#include "rtp/rtcp_views.hpp"

namespace jvb::media {

class ReceptionStats {
 public:
  using Clock = std::chrono::steady_clock;

  // One accepted RTP packet. `clockRate` in Hz (48000 for Opus).
  void onPacket(uint16_t sequence, uint32_t rtpTimestamp, uint32_t clockRate,
                Clock::time_point arrival) noexcept;
  // A sender report for this stream arrived (its 64-bit NTP timestamp).
  void onSenderReport(uint64_t ntpTimestamp, Clock::time_point arrival) noexcept;

  [[nodiscard]] bool hasPackets() const noexcept { return received_ > 0; }
  // The report block for `ssrc` now; also starts the next reporting
  // interval (fraction lost is per interval).
  [[nodiscard]] rtp::ReportBlock makeReportBlock(uint32_t ssrc, Clock::time_point now) noexcept;

  [[nodiscard]] uint64_t received() const noexcept { return received_; }
  // Packets expected so far (RFC 3550 A.3: extended highest - base + 1; 0
  // before the first packet). expected() - received() is the cumulative loss.
  [[nodiscard]] uint64_t expected() const noexcept {
    return initialized_ ? static_cast<uint64_t>(cycles_) + maxSequence_ - baseSequence_ + 1 : 0;
  }
  [[nodiscard]] uint32_t extendedHighestSequence() const noexcept { return cycles_ + maxSequence_; }

 private:
  bool initialized_ = false;
  uint16_t maxSequence_ = 0;
  uint32_t cycles_ = 0;  // sequence-number wraps, shifted left by 16
  uint32_t baseSequence_ = 0;
  uint64_t received_ = 0;
  uint64_t expectedPrior_ = 0;
  uint64_t receivedPrior_ = 0;
  double jitter_ = 0.0;  // in RTP timestamp units
  bool haveTransit_ = false;
  int64_t lastTransit_ = 0;
  uint32_t lastSrMiddle_ = 0;
  Clock::time_point lastSrArrival_{};
  bool haveSr_ = false;
};

}  // namespace jvb::media
