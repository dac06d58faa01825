#include "rtp/red.hpp"

#include <cstring>

namespace jvb::rtp {

namespace {
constexpr uint8_t kFollowBit = 0x80;
constexpr size_t kRedundantHeader = 4;
}  // namespace

std::optional<RedPrimary> parseRed(std::span<const uint8_t> payload) noexcept {
  const size_t size = payload.size();
  if (size > kRtpMaxPacket) {
    return std::nullopt;  // offsets are kept in 16 bits, as in an RTP packet
  }
  size_t offset = 0;
  size_t blocksBytes = 0;
  size_t redundant = 0;
  // Each turn consumes at least one byte, so the walk is bounded by the size.
  while (true) {
    if (offset >= size) {
      return std::nullopt;  // no primary (F=0) header
    }
    const uint8_t first = payload[offset];
    if ((first & kFollowBit) == 0) {
      RedPrimary p;
      p.payloadType = static_cast<uint8_t>(first & 0x7F);
      ++offset;  // past the primary header
      if (blocksBytes > size - offset) {
        return std::nullopt;  // redundant blocks reach past the payload
      }
      p.offset = static_cast<uint16_t>(offset + blocksBytes);
      p.size = static_cast<uint16_t>(size - offset - blocksBytes);
      p.redundantBlocks = static_cast<uint8_t>(redundant > 255 ? 255 : redundant);
      return p;
    }
    if (size - offset < kRedundantHeader) {
      return std::nullopt;  // a redundant block header cut short
    }
    // |1| block PT | timestamp offset (14) | block length (10) |
    blocksBytes +=
        (size_t{static_cast<uint8_t>(payload[offset + 2] & 0x03)} << 8) | payload[offset + 3];
    offset += kRedundantHeader;
    ++redundant;
  }
}

size_t stripRedInPlace(std::span<uint8_t> packet, size_t length, const RedPrimary& primary,
                       uint8_t payloadType) noexcept {
  if (length > packet.size()) {
    return 0;
  }
  auto view = RtpPacketView::parse(packet.first(length));
  if (!view) {
    return 0;
  }
  const size_t header = view->headerSize();
  if (size_t{primary.offset} + primary.size != view->payload().size()) {
    return 0;  // not the payload `primary` was parsed from
  }
  view->setPayloadType(payloadType);
  // The primary data and the padding (its count byte last, still right).
  const size_t from = header + primary.offset;
  const size_t tail = length - from;
  std::memmove(packet.data() + header, packet.data() + from, tail);
  return header + tail;
}

}  // namespace jvb::rtp
