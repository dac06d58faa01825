#include "dtls/srtp_export.hpp"

#include <openssl/crypto.h>
#include <openssl/srtp.h>

#include <algorithm>
#include <array>
#include <string_view>

namespace jvb::dtls {

namespace {
// RFC 5764 section 4.2.
constexpr std::string_view kExporterLabel = "EXTRACTOR-dtls_srtp";
}  // namespace

std::optional<srtp::Profile> selectedSrtpProfile(SSL* ssl) {
  const SRTP_PROTECTION_PROFILE* selected = SSL_get_selected_srtp_profile(ssl);
  if (selected == nullptr) {
    return std::nullopt;
  }
  switch (selected->id) {
    case SRTP_AEAD_AES_128_GCM:
      return srtp::Profile::kAeadAes128Gcm;
    case SRTP_AES128_CM_SHA1_80:
      return srtp::Profile::kAes128CmHmacSha1_80;
    default:
      return std::nullopt;
  }
}

// The exporter output is (RFC 5764 section 4.2)
//   client_write_key | server_write_key | client_write_salt | server_write_salt
std::optional<srtp::Keys> exportSrtpKeys(SSL* ssl, srtp::Profile profile, bool weAreClient) {
  const size_t keyLen = srtp::keyLength(profile);
  const size_t saltLen = srtp::saltLength(profile);
  std::array<uint8_t, 2 * 30> material{};
  const size_t total = 2 * (keyLen + saltLen);
  if (total > material.size() || keyLen + saltLen > srtp::MasterKey{}.bytes.size()) {
    return std::nullopt;
  }
  if (SSL_export_keying_material(ssl, material.data(), total, kExporterLabel.data(),
                                 kExporterLabel.size(), nullptr, 0, 0) != 1) {
    return std::nullopt;
  }
  auto half = [&](bool client) {
    srtp::MasterKey k;
    const uint8_t* key = material.data() + (client ? 0 : keyLen);
    const uint8_t* salt = material.data() + 2 * keyLen + (client ? 0 : saltLen);
    std::copy(key, key + keyLen, k.bytes.begin());
    std::copy(salt, salt + saltLen, k.bytes.begin() + static_cast<std::ptrdiff_t>(keyLen));
    k.size = keyLen + saltLen;
    return k;
  };
  srtp::Keys out;
  out.profile = profile;
  out.local = half(weAreClient);
  out.remote = half(!weAreClient);
  OPENSSL_cleanse(material.data(), material.size());
  return out;
}

}  // namespace jvb::dtls
