#include "rtp/demux.hpp"

namespace jvb::rtp {

PacketKind classify(std::span<const uint8_t> datagram) noexcept {
  if (datagram.empty()) {
    return PacketKind::kUnknown;
  }
  const uint8_t b = datagram[0];
  // RFC 7983 section 7: the ranges below are the whole demultiplexing rule.
  if (b <= 3) {
    return datagram.size() >= kStunHeader ? PacketKind::kStun : PacketKind::kUnknown;
  }
  if (b >= 16 && b <= 19) {
    return PacketKind::kZrtp;
  }
  if (b >= 20 && b <= 63) {
    return datagram.size() >= kDtlsRecordHeader ? PacketKind::kDtls : PacketKind::kUnknown;
  }
  if (b >= 64 && b <= 79) {
    return PacketKind::kTurn;
  }
  if (b >= 128 && b <= 191) {
    // Version 2 is implied by the range. RFC 5761 section 4: RTCP packet
    // types 192..223 occupy the byte where RTP has marker + payload type;
    // RTP payload types 64..95 are therefore never used with rtcp-mux.
    if (datagram.size() < 2) {
      return PacketKind::kUnknown;
    }
    const uint8_t pt = datagram[1];
    if (pt >= 192 && pt <= 223) {
      return datagram.size() >= kRtcpMinHeader ? PacketKind::kRtcp : PacketKind::kUnknown;
    }
    return datagram.size() >= kRtpMinHeader ? PacketKind::kRtp : PacketKind::kUnknown;
  }
  return PacketKind::kUnknown;
}

std::string_view kindName(PacketKind kind) noexcept {
  switch (kind) {
    case PacketKind::kStun:
      return "stun";
    case PacketKind::kZrtp:
      return "zrtp";
    case PacketKind::kDtls:
      return "dtls";
    case PacketKind::kTurn:
      return "turn";
    case PacketKind::kRtp:
      return "rtp";
    case PacketKind::kRtcp:
      return "rtcp";
    case PacketKind::kUnknown:
      return "unknown";
  }
  return "unknown";
}

}  // namespace jvb::rtp
