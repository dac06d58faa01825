#include "rtp/header_extensions.hpp"

#include <bitset>
#include <cstring>

namespace jvb::rtp {

namespace {

void writeId(uint8_t& idByte, ExtensionProfile profile, uint8_t to) noexcept {
  if (profile == ExtensionProfile::kOneByte) {
    idByte = static_cast<uint8_t>((to << 4) | (idByte & 0x0F));  // keep the length bits
  } else {
    idByte = to;
  }
}

}  // namespace

bool rewriteExtensionElementId(std::span<uint8_t> body, ExtensionProfile profile, uint8_t from,
                               uint8_t to) noexcept {
  if (from == 0 || !validExtensionId(profile, to)) {
    return false;
  }
  std::optional<ExtensionElement> found;
  size_t offset = 0;
  while (const auto e = nextExtensionElement(body, profile, offset)) {
    if (e->id == from && !found) {
      found = e;
    } else if (e->id == to) {
      return false;  // would duplicate an ID
    }
  }
  if (!found) {
    return false;
  }
  writeId(body[found->headerOffset], profile, to);
  return true;
}

bool remapExtensionElementIds(std::span<uint8_t> body, ExtensionProfile profile,
                              const ExtensionIdMap& map) noexcept {
  // Pass 1: check every new ID before writing any.
  std::bitset<256> used;
  size_t offset = 0;
  while (const auto e = nextExtensionElement(body, profile, offset)) {
    const uint8_t to = map[e->id];
    if (to == 0) {
      continue;
    }
    if (!validExtensionId(profile, to) || used.test(to)) {
      return false;
    }
    used.set(to);
  }
  // Pass 2: rewriting IDs (and blanking elements behind the walk) leaves the
  // layout ahead of it unchanged, so the walk repeats.
  offset = 0;
  while (const auto e = nextExtensionElement(body, profile, offset)) {
    const uint8_t to = map[e->id];
    if (to == 0) {
      // RFC 8285 sections 4.2/4.3: zero bytes between elements are padding.
      std::memset(&body[e->headerOffset], 0, e->dataOffset + e->dataSize - e->headerOffset);
    } else {
      writeId(body[e->headerOffset], profile, to);
    }
  }
  return true;
}

}  // namespace jvb::rtp
