#pragma once
// The audio packet every benchmark uses (shared/docs/limits.md section 2):
// a 12-byte RTP header with X=1, an 8-byte one-byte extension block carrying
// the RFC 6464 audio level (id 1), and 100 bytes of Opus-like payload: 120
// bytes of plaintext.
#include <array>
#include <cstddef>
#include <cstdint>

namespace jvb::bench {

inline constexpr size_t kAudioPacketSize = 120;

inline std::array<uint8_t, kAudioPacketSize> audioPacket() {
  std::array<uint8_t, kAudioPacketSize> p{};
  p[0] = 0x90;  // V=2, X=1
  p[1] = 111;   // Opus
  p[8] = 0x11;  // SSRC
  p[12] = 0xBE;
  p[13] = 0xDE;
  p[15] = 1;          // one 32-bit word of extensions
  p[16] = 0x10;       // id 1, one byte: the audio level
  p[17] = 0x80 | 30;  // voice, -30 dBov
  for (size_t i = 20; i < kAudioPacketSize; ++i) {
    p[i] = static_cast<uint8_t>(i * 7);
  }
  return p;
}

}  // namespace jvb::bench
