#pragma once
// The bridge's DTLS identity: one self-signed ECDSA P-256 certificate per
// process (as JVB: secp256r1, SHA256withECDSA, valid from one day ago), whose
// SHA-256 fingerprint is signalled in every Colibri2 transport. The media
// issue's DTLS sessions use the same key and certificate.
//
// Thread-safety: immutable after construction; share it by const reference.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace jvb::dtls {

struct EvpPkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

class Certificate {
 public:
  // Generates a fresh key pair and certificate. `validDays` counts from now;
  // notBefore is one day back to tolerate clock skew. Throws
  // std::runtime_error with OpenSSL's error text on failure.
  static Certificate generate(const std::string& commonName = "jvb-audio", int validDays = 30);

  EVP_PKEY* key() const { return key_.get(); }
  X509* x509() const { return cert_.get(); }
  // "AB:CD:..." upper-case hex of the SHA-256 digest of the DER certificate
  // (RFC 8122 section 5), as JVB signals it with hash='sha-256'.
  const std::string& fingerprintSha256() const { return fingerprint_; }

  // Fingerprint of any certificate with the named hash ("sha-256", "sha-1",
  // "sha-384", "sha-512"); empty for unknown names.
  static std::string fingerprint(X509* cert, const std::string& hashName);

 private:
  std::unique_ptr<EVP_PKEY, EvpPkeyFree> key_;
  std::unique_ptr<X509, X509Free> cert_;
  std::string fingerprint_;
};

}  // namespace jvb::dtls
