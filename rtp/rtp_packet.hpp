#pragma once
// Zero-copy view of one RTP packet (RFC 3550 section 5.1) over the caller's
// datagram, with RFC 8285 header-extension lookup and in-place setters for the
// forwarding path.
//
// NOTE: a view never owns bytes: it is valid while the buffer it was parsed
// from is, and only on the worker thread that owns that buffer. parse() never
// allocates or throws and returns nullopt on malformed input; every accessor
// stays inside the span it was given.
//
//   RtpPacketView      over std::span<uint8_t>        (accessors + setters)
//   ConstRtpPacketView over std::span<const uint8_t>  (accessors); a mutable
//                      view converts to it implicitly.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>

#include "rtp/bytes.hpp"
#include "rtp/header_extensions.hpp"

namespace jvb::rtp {

inline constexpr size_t kRtpFixedHeader = 12;
// No UDP datagram is larger; offsets are kept in 16 bits.
inline constexpr size_t kRtpMaxPacket = 0xFFFF;

// Where parsing found things, as offsets into the packet.
struct RtpLayout {
  uint16_t payloadOffset = 0;  // = header size
  uint16_t payloadSize = 0;
  uint16_t extensionOffset = 0;  // first byte of the extension body
  uint16_t extensionSize = 0;
  uint8_t padding = 0;
  ExtensionProfile profile = ExtensionProfile::kNone;
};

// The checks behind BasicRtpPacketView::parse (withPadding) and parseHeader.
[[nodiscard]] inline std::optional<RtpLayout> parseRtpLayout(std::span<const uint8_t> packet,
                                                             bool withPadding) noexcept {
  const size_t size = packet.size();
  if (size < kRtpFixedHeader || size > kRtpMaxPacket) {
    return std::nullopt;
  }
  if ((packet[0] >> 6) != 2) {  // RFC 3550 section 5.1: V = 2
    return std::nullopt;
  }
  RtpLayout l;
  size_t offset = kRtpFixedHeader + 4 * size_t{static_cast<uint8_t>(packet[0] & 0x0F)};
  if (offset > size) {
    return std::nullopt;
  }
  if ((packet[0] & 0x10) != 0) {
    // RFC 3550 section 5.3.1: 16-bit profile field, 16-bit length in words.
    if (size - offset < 4) {
      return std::nullopt;
    }
    const uint16_t profileId = bytes::load16(&packet[offset]);
    const size_t extSize = 4 * size_t{bytes::load16(&packet[offset + 2])};
    offset += 4;
    if (extSize > size - offset) {
      return std::nullopt;
    }
    l.profile = classifyExtensionProfile(profileId);
    l.extensionSize = static_cast<uint16_t>(extSize);
  }
  l.extensionOffset = static_cast<uint16_t>(offset);
  offset += l.extensionSize;
  size_t padding = 0;
  if (withPadding && (packet[0] & 0x20) != 0) {
    // RFC 3550 section 5.1: the last octet counts the padding, itself
    // included, so 0 is invalid, and it cannot reach into the header.
    padding = packet[size - 1];
    if (padding == 0 || padding > size - offset) {
      return std::nullopt;
    }
  }
  l.payloadOffset = static_cast<uint16_t>(offset);
  l.payloadSize = static_cast<uint16_t>(size - offset - padding);
  l.padding = static_cast<uint8_t>(padding);
  return l;
}

// Why parseRtpLayout refused a packet, for counting and logging the
// misbehaviour of a peer (off the per-packet path: call it only after the
// parse failed). kNone when it parses.
enum class RtpDefect : uint8_t {
  kNone,
  kSize,             // shorter than the fixed header, or larger than kRtpMaxPacket
  kVersion,          // V != 2
  kCsrcCount,        // the CSRC list runs past the end
  kExtensionLength,  // the header-extension block's length runs past the end
  kPadding,          // padding count 0 or larger than the payload
};

[[nodiscard]] inline RtpDefect rtpDefectOf(std::span<const uint8_t> packet,
                                           bool withPadding) noexcept {
  const size_t size = packet.size();
  if (size < kRtpFixedHeader || size > kRtpMaxPacket) {
    return RtpDefect::kSize;
  }
  if ((packet[0] >> 6) != 2) {
    return RtpDefect::kVersion;
  }
  size_t offset = kRtpFixedHeader + 4 * size_t{static_cast<uint8_t>(packet[0] & 0x0F)};
  if (offset > size) {
    return RtpDefect::kCsrcCount;
  }
  if ((packet[0] & 0x10) != 0) {
    if (size - offset < 4 || 4 * size_t{bytes::load16(&packet[offset + 2])} > size - offset - 4) {
      return RtpDefect::kExtensionLength;
    }
  }
  if (parseRtpLayout(packet, withPadding)) {
    return RtpDefect::kNone;
  }
  return RtpDefect::kPadding;
}

template <typename Byte>
requires std::is_same_v<std::remove_const_t<Byte>, uint8_t>
class BasicRtpPacketView {
 public:
  using Span = std::span<Byte>;
  static constexpr bool kMutable = !std::is_const_v<Byte>;

  // A whole RTP packet (after SRTP unprotect, or built locally): version 2,
  // CSRC list, header extension block and padding (RFC 3550 section 5.1: the
  // last byte counts the padding, itself included, so it is 1..payload) must
  // all fit the datagram.
  [[nodiscard]] static std::optional<BasicRtpPacketView> parse(Span packet) noexcept {
    const auto layout = parseRtpLayout(packet, true);
    if (!layout) {
      return std::nullopt;
    }
    return BasicRtpPacketView(packet, *layout);
  }

  // The header only, for an SRTP packet before unprotect: the fixed header,
  // CSRCs and header extensions are cleartext (RFC 3711 section 3.1) but the
  // padding count is encrypted, so padding is not checked and payload() is
  // everything after the header (ciphertext, padding and auth tag).
  [[nodiscard]] static std::optional<BasicRtpPacketView> parseHeader(Span packet) noexcept {
    const auto layout = parseRtpLayout(packet, false);
    if (!layout) {
      return std::nullopt;
    }
    return BasicRtpPacketView(packet, *layout);
  }

  // Mutable -> const view.
  // NOLINTNEXTLINE(google-explicit-constructor)
  template <typename Other>
  requires(std::is_const_v<Byte>&& std::is_same_v<Other, uint8_t>)
      BasicRtpPacketView(const BasicRtpPacketView<Other>& other)
  noexcept : data_(other.data()), layout_(other.layout()) {}

  // Fixed header (RFC 3550 section 5.1).
  [[nodiscard]] bool hasPadding() const noexcept { return (data_[0] & 0x20) != 0; }
  [[nodiscard]] bool hasExtension() const noexcept { return (data_[0] & 0x10) != 0; }
  [[nodiscard]] uint8_t csrcCount() const noexcept { return data_[0] & 0x0F; }
  [[nodiscard]] bool marker() const noexcept { return (data_[1] & 0x80) != 0; }
  [[nodiscard]] uint8_t payloadType() const noexcept { return data_[1] & 0x7F; }
  [[nodiscard]] uint16_t sequenceNumber() const noexcept { return bytes::load16(&data_[2]); }
  [[nodiscard]] uint32_t timestamp() const noexcept { return bytes::load32(&data_[4]); }
  [[nodiscard]] uint32_t ssrc() const noexcept { return bytes::load32(&data_[8]); }
  [[nodiscard]] std::optional<uint32_t> csrc(size_t index) const noexcept {
    if (index >= csrcCount()) {
      return std::nullopt;
    }
    return bytes::load32(&data_[kRtpFixedHeader + 4 * index]);
  }

  // Layout.
  [[nodiscard]] Span data() const noexcept { return data_; }
  [[nodiscard]] const RtpLayout& layout() const noexcept { return layout_; }
  [[nodiscard]] size_t size() const noexcept { return data_.size(); }
  [[nodiscard]] size_t headerSize() const noexcept { return layout_.payloadOffset; }
  [[nodiscard]] Span payload() const noexcept {
    return data_.subspan(layout_.payloadOffset, layout_.payloadSize);
  }
  [[nodiscard]] size_t paddingSize() const noexcept { return layout_.padding; }

  // Header extension block (RFC 3550 section 5.3.1 / RFC 8285).
  [[nodiscard]] ExtensionProfile extensionProfile() const noexcept { return layout_.profile; }
  // The raw 16-bit "defined by profile" field; 0 without an extension.
  [[nodiscard]] uint16_t extensionProfileId() const noexcept {
    return hasExtension() ? bytes::load16(&data_[layout_.extensionOffset - 4]) : uint16_t{0};
  }
  // The extension body (length field * 4 bytes); empty without one.
  [[nodiscard]] Span extensionData() const noexcept {
    return data_.subspan(layout_.extensionOffset, layout_.extensionSize);
  }
  // The data of the first element with `id` (one- or two-byte profile); a
  // two-byte element may be present with empty data. nullopt when absent.
  [[nodiscard]] std::optional<Span> findExtension(uint8_t id) const noexcept {
    const Span body = extensionData();
    const auto e = findExtensionElement(body, layout_.profile, id);
    if (!e) {
      return std::nullopt;
    }
    return body.subspan(e->dataOffset, e->dataSize);
  }

  // In-place setters for the forwarding path (mutable views only).
  void setMarker(bool marker) noexcept requires kMutable {
    data_[1] = static_cast<uint8_t>((data_[1] & 0x7F) | (marker ? 0x80 : 0));
  }
  // Only the low 7 bits of `pt` are used.
  void setPayloadType(uint8_t pt) noexcept requires kMutable {
    data_[1] = static_cast<uint8_t>((data_[1] & 0x80) | (pt & 0x7F));
  }
  void setSequenceNumber(uint16_t seq) noexcept requires kMutable {
    bytes::store16(&data_[2], seq);
  }
  void setTimestamp(uint32_t ts) noexcept requires kMutable { bytes::store32(&data_[4], ts); }
  void setSsrc(uint32_t ssrc) noexcept requires kMutable { bytes::store32(&data_[8], ssrc); }

  // Renames the first element `from` to `to` in place. False (and nothing
  // written) when there is no such element, `to` cannot be expressed in the
  // packet's profile (one-byte: 1..14) or is already used by another element.
  [[nodiscard]] bool rewriteExtensionId(uint8_t from, uint8_t to) noexcept requires kMutable {
    return rewriteExtensionElementId(extensionData(), layout_.profile, from, to);
  }

  // Applies a per-receiver ID map to every element: mapped IDs are rewritten,
  // IDs mapped to 0 are overwritten with padding bytes. All or nothing: false
  // (and nothing written) when a new ID does not fit the profile or two
  // elements would end up with the same ID.
  [[nodiscard]] bool remapExtensionIds(const ExtensionIdMap& map) noexcept requires kMutable {
    return remapExtensionElementIds(extensionData(), layout_.profile, map);
  }

 private:
  BasicRtpPacketView(Span data, const RtpLayout& layout) noexcept : data_(data), layout_(layout) {}

  Span data_;
  RtpLayout layout_;
};

using RtpPacketView = BasicRtpPacketView<uint8_t>;
using ConstRtpPacketView = BasicRtpPacketView<const uint8_t>;

}  // namespace jvb::rtp
