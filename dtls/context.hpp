#pragma once
// The DTLS configuration shared by every Session of one process or media
// thread: an SSL_CTX set up as jitsi-videobridge's DTLS stack behaves
// (jvb-interfaces.md section 8): DTLS 1.2 only, ECDHE with AES-128-GCM or
// ChaCha20-Poly1305, the bridge's ECDSA P-256 certificate, the peer's
// certificate always requested, and the use_srtp extension (RFC 5764).
//
// Thread-safety: immutable after construction. Sessions created from it may
// live on other threads (OpenSSL reference-counts the SSL_CTX), and a Session
// may outlive its Context.
#include <openssl/ssl.h>

#include <cstddef>
#include <string>
#include <vector>

#include "dtls/certificate.hpp"
#include "dtls/openssl_util.hpp"
#include "srtp/srtp_keys.hpp"

namespace jvb::dtls {

struct ContextOptions {
  // use_srtp protection profiles, most preferred first (RFC 5764 section
  // 4.1.2: as server we pick the first of ours the client offers). JVB's
  // order: AEAD_AES_128_GCM, then AES128_CM_HMAC_SHA1_80 (what Chromium
  // negotiates against OpenSSL peers). Must not be empty.
  std::vector<srtp::Profile> srtpProfiles{srtp::Profile::kAeadAes128Gcm,
                                          srtp::Profile::kAes128CmHmacSha1_80};
  // Largest datagram a Session emits (DTLS records are fragmented to fit,
  // RFC 6347 section 4.1.1). 1200 bytes leaves room for IPv6 + UDP + TURN
  // overheads under a 1280-byte path MTU, as WebRTC stacks assume.
  // 256..4096.
  size_t mtu = 1200;
};

// OpenSSL's names of the use_srtp profiles ("SRTP_AEAD_AES_128_GCM",
// "SRTP_AES128_CM_SHA1_80").
const char* srtpProfileName(srtp::Profile profile);

class Context {
 public:
  // Throws std::invalid_argument for bad options and std::runtime_error (with
  // OpenSSL's error text) when OpenSSL refuses the configuration.
  explicit Context(const Certificate& certificate, ContextOptions options = {});
  ~Context();
  Context(Context&&) noexcept;
  Context& operator=(Context&&) noexcept;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // For Session (and tests): the configured SSL_CTX.
  [[nodiscard]] SSL_CTX* native() const { return ctx_.get(); }
  [[nodiscard]] size_t mtu() const { return mtu_; }
  // The local certificate's sha-256 fingerprint, as signalled in Colibri2.
  [[nodiscard]] const std::string& localFingerprint() const { return fingerprint_; }

 private:
  SslCtxPtr ctx_;
  size_t mtu_ = 0;
  std::string fingerprint_;
};

}  // namespace jvb::dtls
