#pragma once
// Checking a peer's DTLS certificate against the fingerprints signalled for
// it (Colibri2 <fingerprint hash='sha-256' setup='active'>AB:CD:..</fingerprint>,
// RFC 8122 section 5). WebRTC certificates are self-signed; this comparison,
// not a CA chain, is what authenticates the peer (RFC 8827 section 6.5).
//
// Thread-safety: pure functions.
#include <openssl/x509.h>

#include <span>
#include <string>
#include <string_view>

namespace jvb::dtls {

struct RemoteFingerprint {
  std::string hash;   // "sha-256", "sha-1", "sha-384", "sha-512" (case-insensitive)
  std::string value;  // "AB:CD:..." hex pairs, case-insensitive
};

// True for the hash functions accepted for remote fingerprints, as JVB
// accepts them: sha-256, sha-1, sha-384, sha-512 (any case).
[[nodiscard]] bool isSupportedFingerprintHash(std::string_view hash);

// Empty when `cert` matches at least one signalled fingerprint with a
// supported hash; otherwise a human-readable reason (no certificate, nothing
// usable signalled, or the mismatch with the certificate's sha-256).
[[nodiscard]] std::string checkFingerprint(X509* cert,
                                           std::span<const RemoteFingerprint> signalled);

}  // namespace jvb::dtls
