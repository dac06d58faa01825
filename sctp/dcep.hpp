#pragma once
// The Data Channel Establishment Protocol (DCEP, RFC 8832) and the WebRTC
// SCTP payload protocol identifiers (RFC 8831 section 8): a pure codec, no
// state. DCEP messages travel as SCTP user messages with PPID 50 on the
// stream of the channel they open or acknowledge.
//
// Thread-safety: pure functions.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace jvb::sctp {

// SCTP payload protocol identifiers used by WebRTC data channels.
namespace ppid {
inline constexpr uint32_t kDcep = 50;
inline constexpr uint32_t kString = 51;
inline constexpr uint32_t kBinaryPartial = 52;  // deprecated (RFC 8831 section 8)
inline constexpr uint32_t kBinary = 53;
inline constexpr uint32_t kStringPartial = 54;  // deprecated
inline constexpr uint32_t kStringEmpty = 56;    // payload is one ignored byte
inline constexpr uint32_t kBinaryEmpty = 57;    // payload is one ignored byte
}  // namespace ppid

namespace dcep {

// Message Type (RFC 8832 section 5).
inline constexpr uint8_t kAck = 0x02;
inline constexpr uint8_t kOpen = 0x03;

// Channel Type (RFC 8832 section 5.1). Bit 7 set: unordered delivery.
enum class ChannelType : uint8_t {
  kReliable = 0x00,
  kReliableUnordered = 0x80,
  kPartialReliableRexmit = 0x01,
  kPartialReliableRexmitUnordered = 0x81,
  kPartialReliableTimed = 0x02,
  kPartialReliableTimedUnordered = 0x82,
};

[[nodiscard]] bool isKnownChannelType(uint8_t type);
[[nodiscard]] constexpr bool isOrdered(ChannelType t) {
  return (static_cast<uint8_t>(t) & 0x80) == 0;
}

// DATA_CHANNEL_OPEN (RFC 8832 section 5.1).
struct Open {
  ChannelType channelType = ChannelType::kReliable;
  uint16_t priority = 0;
  // Retransmissions (kPartialReliableRexmit*) or lifetime in ms
  // (kPartialReliableTimed*); ignored for reliable channels.
  uint32_t reliabilityParameter = 0;
  std::string label;
  std::string protocol;

  bool operator==(const Open&) const = default;
};

// Fixed part of DATA_CHANNEL_OPEN before label and protocol.
inline constexpr size_t kOpenHeaderSize = 12;

// Parses a DATA_CHANNEL_OPEN. nullopt when the message type is not OPEN, the
// channel type is unknown, or the label/protocol lengths run past the end.
// Bytes after the protocol are ignored.
[[nodiscard]] std::optional<Open> parseOpen(std::span<const uint8_t> message);

// True for a DATA_CHANNEL_ACK (RFC 8832 section 5.2: one byte, 0x02).
[[nodiscard]] bool isAck(std::span<const uint8_t> message);

// The message type byte; nullopt for an empty message.
[[nodiscard]] std::optional<uint8_t> messageType(std::span<const uint8_t> message);

// Serializes a DATA_CHANNEL_OPEN; nullopt when the label or the protocol is
// longer than 65535 bytes.
[[nodiscard]] std::optional<std::vector<uint8_t>> buildOpen(const Open& open);

[[nodiscard]] constexpr std::array<uint8_t, 1> buildAck() {
  return {kAck};
}

}  // namespace dcep
}  // namespace jvb::sctp
