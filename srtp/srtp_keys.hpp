#pragma once
// Keying material for one SRTP association, as the DTLS-SRTP handshake
// exports it (RFC 5764 section 4.2): plain bytes, so that srtp/ never sees an
// OpenSSL type and dtls/ never sees a libsrtp one.
#include <array>
#include <cstddef>
#include <cstdint>

namespace jvb::srtp {

// The use_srtp profiles the bridge negotiates, in JVB's order of preference.
enum class Profile : uint8_t {
  kAeadAes128Gcm,        // SRTP_AEAD_AES_128_GCM (RFC 7714): 16-byte key, 12-byte salt
  kAes128CmHmacSha1_80,  // SRTP_AES128_CM_HMAC_SHA1_80 (RFC 5764): 16-byte key, 14-byte salt
};

inline constexpr size_t keyLength(Profile) {
  return 16;
}
inline constexpr size_t saltLength(Profile p) {
  return p == Profile::kAeadAes128Gcm ? 12 : 14;
}

// Master key followed by master salt, as libsrtp's policy.key expects.
struct MasterKey {
  std::array<uint8_t, 30> bytes{};  // key (16) + salt (up to 14)
  size_t size = 0;                  // keyLength + saltLength of the profile
};

struct Keys {
  Profile profile = Profile::kAeadAes128Gcm;
  MasterKey local;   // protects what the bridge sends
  MasterKey remote;  // unprotects what the endpoint sends
};

}  // namespace jvb::srtp
