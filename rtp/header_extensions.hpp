#pragma once
// RTP header extensions: the RFC 8285 one-byte (0xBEDE) and two-byte (0x100X)
// element formats, and the RFC 3550 section 5.3.1 generic block, whose body is
// only exposed raw.
//
// Pure functions over byte views: no allocation, safe on any input.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace jvb::rtp {

enum class ExtensionProfile : uint8_t {
  kNone,     // X = 0
  kOneByte,  // "defined by profile" 0xBEDE (RFC 8285 section 4.2)
  kTwoByte,  // 0x100X, X = appbits (RFC 8285 section 4.3)
  kGeneric,  // anything else (RFC 3550 section 5.3.1): raw body only
};

inline constexpr uint16_t kOneByteProfileId = 0xBEDE;
inline constexpr uint16_t kTwoByteProfileId = 0x1000;  // low 4 bits are appbits
inline constexpr uint8_t kOneByteMaxId = 14;           // 15 is reserved: stop parsing
inline constexpr uint8_t kOneByteMaxData = 16;
inline constexpr uint8_t kTwoByteMaxData = 255;

[[nodiscard]] constexpr ExtensionProfile classifyExtensionProfile(uint16_t profileId) noexcept {
  if (profileId == kOneByteProfileId) {
    return ExtensionProfile::kOneByte;
  }
  if ((profileId & 0xFFF0) == kTwoByteProfileId) {
    return ExtensionProfile::kTwoByte;
  }
  return ExtensionProfile::kGeneric;
}

// Whether `id` can name an element of `profile` (0 is padding in both).
[[nodiscard]] constexpr bool validExtensionId(ExtensionProfile profile, unsigned id) noexcept {
  switch (profile) {
    case ExtensionProfile::kOneByte:
      return id >= 1 && id <= kOneByteMaxId;
    case ExtensionProfile::kTwoByte:
      return id >= 1 && id <= 255;
    case ExtensionProfile::kNone:
    case ExtensionProfile::kGeneric:
      return false;
  }
  return false;
}

// One element, offsets relative to the start of the extension body (the byte
// after the 4-byte "defined by profile" + length header).
struct ExtensionElement {
  uint8_t id = 0;
  size_t headerOffset = 0;  // the ID (and length) byte(s)
  size_t dataOffset = 0;
  size_t dataSize = 0;  // one-byte: 1..16; two-byte: 0..255
};

// Walks the elements of a one- or two-byte body: returns the element at
// `offset` (skipping padding bytes) and advances `offset` past it; nullopt at
// the end. Stops for good (offset = body.size()) at a one-byte ID 15 (RFC 8285
// section 4.2) or at an element that overruns the body; the elements before
// it stay valid. Generic and absent profiles have no elements.
[[nodiscard]] inline std::optional<ExtensionElement> nextExtensionElement(
    std::span<const uint8_t> body, ExtensionProfile profile, size_t& offset) noexcept {
  const size_t size = body.size();
  if (profile == ExtensionProfile::kOneByte) {
    while (offset < size) {
      const uint8_t b = body[offset];
      if (b == 0) {  // padding byte (RFC 8285 section 4.2)
        ++offset;
        continue;
      }
      const uint8_t id = b >> 4;
      const size_t len = size_t{static_cast<uint8_t>(b & 0x0F)} + 1;
      // ID 15: "processing of the entire extension should terminate".
      if (id == 15 || len > size - offset - 1) {
        offset = size;
        return std::nullopt;
      }
      ExtensionElement e{id, offset, offset + 1, len};
      offset += 1 + len;
      return e;
    }
    return std::nullopt;
  }
  if (profile == ExtensionProfile::kTwoByte) {
    while (offset < size) {
      const uint8_t id = body[offset];
      if (id == 0) {  // padding byte (RFC 8285 section 4.3)
        ++offset;
        continue;
      }
      if (size - offset < 2 || body[offset + 1] > size - offset - 2) {
        offset = size;
        return std::nullopt;
      }
      const size_t len = body[offset + 1];
      ExtensionElement e{id, offset, offset + 2, len};
      offset += 2 + len;
      return e;
    }
    return std::nullopt;
  }
  offset = size;
  return std::nullopt;
}

// The first element with `id` in a one- or two-byte body; nullopt when absent
// (or `id` is 0, the padding ID).
[[nodiscard]] inline std::optional<ExtensionElement> findExtensionElement(
    std::span<const uint8_t> body, ExtensionProfile profile, uint8_t id) noexcept {
  // NOTE: the same rules as nextExtensionElement, unrolled per profile so
  // that the per-packet audio-level lookup stays in registers.
  const size_t size = body.size();
  size_t offset = 0;
  if (id == 0) {
    return std::nullopt;
  }
  if (profile == ExtensionProfile::kOneByte) {
    while (offset < size) {
      const uint8_t b = body[offset];
      if (b == 0) {
        ++offset;
        continue;
      }
      const size_t len = size_t{static_cast<uint8_t>(b & 0x0F)} + 1;
      if ((b >> 4) == 15 || len > size - offset - 1) {
        return std::nullopt;
      }
      if ((b >> 4) == id) {
        return ExtensionElement{id, offset, offset + 1, len};
      }
      offset += 1 + len;
    }
  } else if (profile == ExtensionProfile::kTwoByte) {
    while (offset < size) {
      const uint8_t eid = body[offset];
      if (eid == 0) {
        ++offset;
        continue;
      }
      if (size - offset < 2 || body[offset + 1] > size - offset - 2) {
        return std::nullopt;
      }
      const size_t len = body[offset + 1];
      if (eid == id) {
        return ExtensionElement{id, offset, offset + 2, len};
      }
      offset += 2 + len;
    }
  }
  return std::nullopt;
}

// Whether every element of a one- or two-byte body fits it: false when an
// element's length runs past the end of the block (a header-extension block
// that lies about its length). A one-byte ID 15 ends the walk (RFC 8285
// section 4.2: the rest is not parsed) and is valid; so are generic and
// absent profiles, whose bodies have no elements. Per packet: a few bytes.
[[nodiscard]] inline bool extensionElementsValid(std::span<const uint8_t> body,
                                                 ExtensionProfile profile) noexcept {
  const size_t size = body.size();
  size_t offset = 0;
  if (profile == ExtensionProfile::kOneByte) {
    while (offset < size) {
      const uint8_t b = body[offset];
      if (b == 0) {
        ++offset;
        continue;
      }
      if ((b >> 4) == 15) {
        return true;
      }
      const size_t len = size_t{static_cast<uint8_t>(b & 0x0F)} + 1;
      if (len > size - offset - 1) {
        return false;
      }
      offset += 1 + len;
    }
    return true;
  }
  if (profile == ExtensionProfile::kTwoByte) {
    while (offset < size) {
      if (body[offset] == 0) {
        ++offset;
        continue;
      }
      if (size - offset < 2 || body[offset + 1] > size - offset - 2) {
        return false;
      }
      offset += 2 + size_t{body[offset + 1]};
    }
  }
  return true;
}

class ExtensionIdMap;

// In-place ID rewrites of a one- or two-byte body; see RtpPacketView.
[[nodiscard]] bool rewriteExtensionElementId(std::span<uint8_t> body, ExtensionProfile profile,
                                             uint8_t from, uint8_t to) noexcept;
[[nodiscard]] bool remapExtensionElementIds(std::span<uint8_t> body, ExtensionProfile profile,
                                            const ExtensionIdMap& map) noexcept;

// Per-receiver header-extension ID mapping (RFC 8285 IDs are negotiated per
// session): old ID -> new ID. Identity by default; mapping to 0 strips the
// element (it is overwritten with padding bytes in place).
class ExtensionIdMap {
 public:
  constexpr ExtensionIdMap() noexcept {
    for (size_t i = 0; i < to_.size(); ++i) {
      to_[i] = static_cast<uint8_t>(i);
    }
  }
  constexpr void map(uint8_t from, uint8_t to) noexcept { to_[from] = to; }
  constexpr void strip(uint8_t id) noexcept { to_[id] = 0; }
  [[nodiscard]] constexpr uint8_t operator[](uint8_t id) const noexcept { return to_[id]; }

 private:
  std::array<uint8_t, 256> to_{};
};

}  // namespace jvb::rtp
