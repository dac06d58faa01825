#include "rtp/rtcp_packet.hpp"

namespace jvb::rtp {

namespace {

// RFC 3550 section 6.4.1: "length: the length of this RTCP packet in 32-bit
// words minus one, including the header and any padding".
size_t packetLength(std::span<const uint8_t> bytes) noexcept {
  return (size_t{bytes::load16(&bytes[2])} + 1) * 4;
}

}  // namespace

std::optional<RtcpPacketView> RtcpPacketView::parse(std::span<const uint8_t> bytes) noexcept {
  if (bytes.size() < kRtcpHeader) {
    return std::nullopt;
  }
  if ((bytes[0] >> 6) != 2) {
    return std::nullopt;
  }
  // RFC 5761 section 4: with rtcp-mux, RTCP packet types are 192..223.
  if (bytes[1] < 192 || bytes[1] > 223) {
    return std::nullopt;
  }
  const size_t length = packetLength(bytes);
  if (length > bytes.size()) {
    return std::nullopt;
  }
  uint8_t padding = 0;
  if ((bytes[0] & 0x20) != 0) {
    // The last octet counts the padding, itself included: 1..body size.
    padding = bytes[length - 1];
    if (padding == 0 || padding > length - kRtcpHeader) {
      return std::nullopt;
    }
  }
  return RtcpPacketView(bytes.first(length), padding);
}

std::optional<RtcpCompoundView> RtcpCompoundView::parse(
    std::span<const uint8_t> datagram) noexcept {
  if (datagram.empty()) {
    return std::nullopt;
  }
  size_t count = 0;
  std::span<const uint8_t> rest = datagram;
  while (!rest.empty()) {
    const auto packet = RtcpPacketView::parse(rest);
    if (!packet) {
      return std::nullopt;
    }
    rest = rest.subspan(packet->size());
    // Padding only on the last packet of a compound (RFC 3550 appendix A.2).
    if (packet->hasPadding() && !rest.empty()) {
      return std::nullopt;
    }
    ++count;
  }
  return RtcpCompoundView(datagram, count);
}

RtcpPacketView RtcpCompoundView::Iterator::operator*() const noexcept {
  // NOTE: parse() validated every packet, so this cannot fail.
  const size_t length = packetLength(rest_);
  const uint8_t padding = (rest_[0] & 0x20) != 0 ? rest_[length - 1] : uint8_t{0};
  return RtcpPacketView(rest_.first(length), padding);
}

RtcpCompoundView::Iterator& RtcpCompoundView::Iterator::operator++() noexcept {
  rest_ = rest_.subspan(packetLength(rest_));
  return *this;
}

}  // namespace jvb::rtp
