#pragma once
// Demultiplexing of the protocols that share the bridge's single UDP port,
// by the first byte of the datagram (RFC 7983 section 7, updating RFC 5764
// section 5.1.2), and RTP vs. RTCP by payload type (RFC 5761 section 4).
//
// Pure functions over a byte view: no allocation, safe on any input.
#include <cstdint>
#include <span>
#include <string_view>

namespace jvb::rtp {

enum class PacketKind : uint8_t {
  kStun,     // first byte 0..3
  kZrtp,     // 16..19 (never accepted, counted apart)
  kDtls,     // 20..63
  kTurn,     // 64..79 (TURN channel data; a bridge is not a TURN server)
  kRtp,      // 128..191 with an RTP payload type
  kRtcp,     // 128..191 with an RTCP packet type (192..223 in the second byte)
  kUnknown,  // everything else, and datagrams too short to classify
};

inline constexpr size_t kRtpMinHeader = 12;
inline constexpr size_t kRtcpMinHeader = 8;
inline constexpr size_t kStunHeader = 20;
inline constexpr size_t kDtlsRecordHeader = 13;

[[nodiscard]] PacketKind classify(std::span<const uint8_t> datagram) noexcept;
[[nodiscard]] std::string_view kindName(PacketKind kind) noexcept;

}  // namespace jvb::rtp
