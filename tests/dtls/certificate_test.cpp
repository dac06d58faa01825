#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/x509.h>

#include <regex>

#include "dtls/certificate.hpp"

namespace {

using jvb::dtls::Certificate;

TEST(Certificate, SelfSignedEcdsaP256WithSha256Fingerprint) {
  const auto c = Certificate::generate();
  ASSERT_NE(c.x509(), nullptr);
  EXPECT_EQ(EVP_PKEY_get_base_id(c.key()), EVP_PKEY_EC);
  char group[64] = {};
  size_t len = 0;
  ASSERT_EQ(EVP_PKEY_get_group_name(c.key(), group, sizeof(group), &len), 1);
  EXPECT_STREQ(group, "prime256v1");
  // Self-signed: verifies with its own key.
  EXPECT_EQ(X509_verify(c.x509(), c.key()), 1);
  EXPECT_EQ(X509_get_signature_nid(c.x509()), NID_ecdsa_with_SHA256);
  // Valid now (notBefore is a day back for clock skew).
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(c.x509())), 0);
  EXPECT_GT(X509_cmp_current_time(X509_get0_notAfter(c.x509())), 0);
  EXPECT_TRUE(std::regex_match(c.fingerprintSha256(), std::regex("([0-9A-F]{2}:){31}[0-9A-F]{2}")))
      << c.fingerprintSha256();
  EXPECT_EQ(Certificate::fingerprint(c.x509(), "sha-256"), c.fingerprintSha256());
}

TEST(Certificate, EveryProcessStartGetsItsOwnIdentity) {
  EXPECT_NE(Certificate::generate().fingerprintSha256(),
            Certificate::generate().fingerprintSha256());
}

TEST(Certificate, FingerprintsWithTheHashesJvbAccepts) {
  const auto c = Certificate::generate();
  EXPECT_EQ(Certificate::fingerprint(c.x509(), "sha-1").size(), 20u * 3 - 1);
  EXPECT_EQ(Certificate::fingerprint(c.x509(), "sha-384").size(), 48u * 3 - 1);
  EXPECT_EQ(Certificate::fingerprint(c.x509(), "sha-512").size(), 64u * 3 - 1);
  EXPECT_TRUE(Certificate::fingerprint(c.x509(), "md5").empty());
  EXPECT_TRUE(Certificate::fingerprint(nullptr, "sha-256").empty());
}

}  // namespace
