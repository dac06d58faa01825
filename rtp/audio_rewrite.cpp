#include "rtp/audio_rewrite.hpp"

#include <cstring>

#include "rtp/bytes.hpp"

namespace jvb::rtp {

size_t writeRewrittenAudio(std::span<uint8_t> out, const ConstRtpPacketView& in,
                           const AudioRewrite& r) noexcept {
  const auto data = in.data();
  const size_t csrcBytes = 4 * size_t{in.csrcCount()};
  // The audio level element, when the sender has one and the receiver
  // negotiated the extension (the V bit and level byte are kept as sent).
  std::span<const uint8_t> level;
  if (r.levelFrom != 0 && r.levelTo != 0) {
    if (const auto e = in.findExtension(r.levelFrom); e && !e->empty()) {
      level = e->first(1);
    }
  }
  const bool stampMid = r.midId != 0;
  if (stampMid && (r.mid.empty() || r.mid.size() > kOneByteMaxData)) {
    return 0;
  }
  if (stampMid && r.levelTo == r.midId) {
    level = {};  // one ID for two extensions (a bad negotiation): the mid wins
  }
  const bool twoByte =
      (!level.empty() && r.levelTo > kOneByteMaxId) || (stampMid && r.midId > kOneByteMaxId);
  const size_t perElement = twoByte ? 2 : 1;
  size_t body = 0;
  if (!level.empty()) {
    body += perElement + level.size();
  }
  if (stampMid) {
    body += perElement + r.mid.size();
  }
  const size_t bodyPadded = (body + 3) & ~size_t{3};
  const size_t extBytes = body == 0 ? 0 : 4 + bodyPadded;
  // Payload and padding: everything after the sender's header.
  const auto rest = data.subspan(in.headerSize());
  const size_t total = kRtpFixedHeader + csrcBytes + extBytes + rest.size();
  if (total > out.size() || total > kRtpMaxPacket) {
    return 0;
  }
  uint8_t* p = out.data();
  std::memcpy(p, data.data(), kRtpFixedHeader + csrcBytes);
  p[0] = static_cast<uint8_t>((p[0] & ~0x10) | (extBytes != 0 ? 0x10 : 0));
  bytes::store16(p + 2, r.sequenceNumber);
  bytes::store32(p + 4, r.timestamp);
  bytes::store32(p + 8, r.ssrc);
  size_t o = kRtpFixedHeader + csrcBytes;
  if (extBytes != 0) {
    bytes::store16(p + o, twoByte ? kTwoByteProfileId : kOneByteProfileId);
    bytes::store16(p + o + 2, static_cast<uint16_t>(bodyPadded / 4));
    o += 4;
    const auto element = [&](uint8_t id, const uint8_t* src, size_t len) {
      if (twoByte) {
        p[o++] = id;
        p[o++] = static_cast<uint8_t>(len);
      } else {
        p[o++] = static_cast<uint8_t>((id << 4) | (len - 1));
      }
      std::memcpy(p + o, src, len);
      o += len;
    };
    if (!level.empty()) {
      element(r.levelTo, level.data(), level.size());
    }
    if (stampMid) {
      element(r.midId, reinterpret_cast<const uint8_t*>(r.mid.data()), r.mid.size());
    }
    std::memset(p + o, 0, bodyPadded - body);  // padding bytes (RFC 8285: ID 0)
    o += bodyPadded - body;
  }
  std::memcpy(p + o, rest.data(), rest.size());
  return total;
}

}  // namespace jvb::rtp
