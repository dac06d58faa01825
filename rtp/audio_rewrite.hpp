#pragma once
// The copy of an audio packet that an SSRC-rewriting receiver gets (JVB's
// outgoing pipeline for such a receiver, RtpSenderImpl.kt): SSRC, sequence
// number and timestamp replaced by the receiver's slot values, the header
// extensions reduced to what JVB leaves (HeaderExtStripper.kt keeps only
// ssrc-audio-level for audio) under the receiver's own IDs, and, with
// rtp-mid-demux, sdes:mid stamped with the slot's mid (MidStamper.kt).
// Marker bit, payload type, CSRCs, payload and padding are copied unchanged.
//
// Pure function over byte views: no allocation, no exceptions.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "rtp/rtp_packet.hpp"

namespace jvb::rtp {

struct AudioRewrite {
  uint32_t ssrc = 0;
  uint16_t sequenceNumber = 0;
  uint32_t timestamp = 0;
  uint8_t levelFrom = 0;  // the sender's ssrc-audio-level ID (0: none to copy)
  uint8_t levelTo = 0;    // the receiver's (0: not negotiated, left out)
  uint8_t midId = 0;      // the receiver's sdes:mid ID (0: no mid stamped)
  std::string_view mid;   // 1..16 bytes when midId != 0 (RFC 8285 one-byte limit)
};

// Writes the rewritten copy of `in` into `out`; returns its length, or 0
// when `out` is too small or the rewrite is not expressible (a mid longer
// than 16 bytes or empty with midId set). The extension block is written in
// the one-byte form when every ID is <= 14, else in the two-byte form, and
// left out (X = 0) when there is nothing to carry. Should the receiver's
// level and mid IDs be equal, only the mid is written.
[[nodiscard]] size_t writeRewrittenAudio(std::span<uint8_t> out, const ConstRtpPacketView& in,
                                         const AudioRewrite& r) noexcept;

}  // namespace jvb::rtp
