#include "dtls/certificate.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace jvb::dtls {

namespace {

[[noreturn]] void fail(const char* what) {
  std::string msg = std::string("DTLS certificate: ") + what;
  while (const unsigned long e = ERR_get_error()) {
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    msg += "; ";
    msg += buf.data();
  }
  throw std::runtime_error(msg);
}

const EVP_MD* digestByName(const std::string& name) {
  if (name == "sha-256")
    return EVP_sha256();
  if (name == "sha-1")
    return EVP_sha1();
  if (name == "sha-384")
    return EVP_sha384();
  if (name == "sha-512")
    return EVP_sha512();
  return nullptr;
}

}  // namespace

std::string Certificate::fingerprint(X509* cert, const std::string& hashName) {
  const EVP_MD* md = digestByName(hashName);
  if (md == nullptr || cert == nullptr) {
    return {};
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (X509_digest(cert, md, digest.data(), &len) != 1) {
    return {};
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(len * 3);
  for (unsigned int i = 0; i < len; ++i) {
    if (i > 0)
      out.push_back(':');
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0F]);
  }
  return out;
}

Certificate Certificate::generate(const std::string& commonName, int validDays) {
  Certificate c;
  c.key_.reset(EVP_EC_gen("P-256"));
  if (!c.key_)
    fail("EC key generation failed");

  c.cert_.reset(X509_new());
  if (!c.cert_)
    fail("X509_new failed");
  X509* x = c.cert_.get();
  X509_set_version(x, 2);  // X.509 v3
  // A random positive 64-bit serial (RFC 5280 section 4.1.2.2).
  std::array<unsigned char, 8> serial{};
  if (RAND_bytes(serial.data(), static_cast<int>(serial.size())) != 1)
    fail("RAND_bytes failed");
  serial[0] &= 0x7F;
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(
      BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr), &BN_free);
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x)) == nullptr) {
    fail("serial number");
  }
  X509_gmtime_adj(X509_getm_notBefore(x), -24L * 3600L);
  X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(validDays) * 24L * 3600L);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  if (X509_set_pubkey(x, c.key_.get()) != 1)
    fail("X509_set_pubkey failed");
  if (X509_sign(x, c.key_.get(), EVP_sha256()) == 0)
    fail("X509_sign failed");
  c.fingerprint_ = fingerprint(x, "sha-256");
  if (c.fingerprint_.empty())
    fail("fingerprint");
  return c;
}

}  // namespace jvb::dtls
