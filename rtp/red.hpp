#pragma once
// RFC 2198 redundant audio ("red/48000/2", Opus RED as WebRTC sends it):
// a chain of block headers in the RTP payload, 4 bytes for each redundant
// block (F=1, block PT, 14-bit timestamp offset, 10-bit length) and 1 byte
// for the last, primary, one (F=0, block PT); then the redundant blocks' data
// in header order, then the primary block's data up to the end of the
// payload (RFC 2198 section 3).
//
// What the bridge needs is the primary encoding: a receiver that did not
// negotiate RED gets the packet with the RED chain removed and the primary
// block's payload type (JVB: RedPacketParser.kt, AudioRedHandler.kt).
//
// Pure functions over byte views: no allocation, no exceptions.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "rtp/rtp_packet.hpp"

namespace jvb::rtp {

// Where the primary block is, relative to the start of the RTP payload.
struct RedPrimary {
  uint16_t offset = 0;  // first byte of the primary block's data
  uint16_t size = 0;    // its length (may be 0)
  uint8_t payloadType = 0;
  uint8_t redundantBlocks = 0;  // how many redundant blocks precede it
};

// What a receiver's copy becomes: the primary block under `payloadType`
// (the receiver's Opus payload type).
struct RedStrip {
  RedPrimary primary;
  uint8_t payloadType = 0;
};

// Parses a RED payload (the RTP payload without padding). nullopt when the
// header chain does not end (no F=0 header) within the payload, a redundant
// block header is cut short, or the redundant blocks' lengths reach past the
// payload, as JVB's parser rejects them ("no last header block found",
// "blocks extend past the packet length").
[[nodiscard]] std::optional<RedPrimary> parseRed(std::span<const uint8_t> payload) noexcept;

// Strips RED in place from a whole plain RTP packet (`packet`, `length`
// bytes) whose payload parsed as `primary`: the primary block's data (and
// the padding after it, kept as it was) moves to the start of the payload,
// the payload type becomes `payloadType`; header, extensions, sequence
// number and timestamp are unchanged. Returns the new length, 0 when the
// packet does not parse or does not hold `primary`.
[[nodiscard]] size_t stripRedInPlace(std::span<uint8_t> packet, size_t length,
                                     const RedPrimary& primary, uint8_t payloadType) noexcept;

}  // namespace jvb::rtp
