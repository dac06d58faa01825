#pragma once
// Shared by the srtp/ tests: deterministic keys, their mirror image (the
// endpoint's view of the same association), and an RTP audio packet.
#include <cstdint>
#include <vector>

#include "srtp/srtp_keys.hpp"

namespace jvb::srtp::test {

inline MasterKey masterKey(Profile profile, uint8_t seed) {
  MasterKey k;
  k.size = keyLength(profile) + saltLength(profile);
  for (size_t i = 0; i < k.size; ++i) {
    k.bytes[i] = static_cast<uint8_t>(seed + i * 13);
  }
  return k;
}

// The bridge's side of one association.
inline Keys bridgeKeys(Profile profile, uint8_t seed = 1) {
  return Keys{profile, masterKey(profile, seed),
              masterKey(profile, static_cast<uint8_t>(seed + 100))};
}

// The endpoint's side: its local key is the bridge's remote one.
inline Keys mirrored(const Keys& k) {
  return Keys{k.profile, k.remote, k.local};
}

// 12-byte header with X=1, a one-byte extension word with the audio level
// (id 1), then `payload` bytes of Opus stand-in (limits.md section 2).
inline std::vector<uint8_t> rtpPacket(uint16_t seq, uint32_t ssrc = 0x11223344,
                                      size_t payload = 100) {
  std::vector<uint8_t> p = {0x90,
                            111,
                            static_cast<uint8_t>(seq >> 8),
                            static_cast<uint8_t>(seq),
                            0,
                            0,
                            0x03,
                            0xC0,
                            static_cast<uint8_t>(ssrc >> 24),
                            static_cast<uint8_t>(ssrc >> 16),
                            static_cast<uint8_t>(ssrc >> 8),
                            static_cast<uint8_t>(ssrc),
                            0xBE,
                            0xDE,
                            0,
                            1,
                            0x10,
                            0x80 | 30,
                            0,
                            0};
  for (size_t i = 0; i < payload; ++i) {
    p.push_back(static_cast<uint8_t>(i * 7 + seq));
  }
  return p;
}

}  // namespace jvb::srtp::test
