#pragma once
// RFC 6464 client-to-mixer audio level, read from the header extension whose
// ID was negotiated for "urn:ietf:params:rtp-hdrext:ssrc-audio-level".
//
// Inline (it runs on every received audio packet); no allocation, never
// throws; nullopt when the packet has no such element or it carries no data.
#include <cstdint>
#include <optional>
#include <span>

#include "rtp/rtp_packet.hpp"

namespace jvb::rtp {

struct AudioLevel {
  uint8_t level = 127;  // 0..127: -dBov, so 0 is loudest and 127 is silence
  bool voice = false;   // the V flag (RFC 6464 section 3), when the sender sets it
};

// From a parsed RTP packet (a mutable RtpPacketView converts implicitly).
[[nodiscard]] inline std::optional<AudioLevel> readAudioLevel(const ConstRtpPacketView& packet,
                                                              uint8_t extensionId) noexcept {
  const auto data = packet.findExtension(extensionId);
  // RFC 6464 section 3: one byte, V in the top bit, level in the low 7. A
  // two-byte-profile element may be longer (padding); only byte 0 counts.
  if (!data || data->empty()) {
    return std::nullopt;
  }
  const uint8_t b = (*data)[0];
  return AudioLevel{static_cast<uint8_t>(b & 0x7F), (b & 0x80) != 0};
}

// From an RTP or still-encrypted SRTP datagram: only the header is parsed
// (header extensions are cleartext in SRTP unless RFC 6904 is negotiated,
// which the bridge never offers), so silence can be dropped before paying for
// the decryption, as JVB's pre-decrypt audio level reader does.
[[nodiscard]] inline std::optional<AudioLevel> peekAudioLevel(std::span<const uint8_t> datagram,
                                                              uint8_t extensionId) noexcept {
  const auto packet = ConstRtpPacketView::parseHeader(datagram);
  if (!packet) {
    return std::nullopt;
  }
  return readAudioLevel(*packet, extensionId);
}

}  // namespace jvb::rtp
