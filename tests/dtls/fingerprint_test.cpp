// dtls::checkFingerprint: the comparison that authenticates a WebRTC peer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "dtls/certificate.hpp"
#include "dtls/fingerprint.hpp"

namespace {

using jvb::dtls::Certificate;
using jvb::dtls::checkFingerprint;
using jvb::dtls::isSupportedFingerprintHash;
using jvb::dtls::RemoteFingerprint;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

TEST(DtlsFingerprint, SupportedHashesAsJvb) {
  for (const char* h : {"sha-256", "sha-1", "sha-384", "sha-512", "SHA-256", " sha-1 "}) {
    EXPECT_TRUE(isSupportedFingerprintHash(h)) << h;
  }
  for (const char* h : {"md5", "sha-224", "sha256", ""}) {
    EXPECT_FALSE(isSupportedFingerprintHash(h)) << h;
  }
}

TEST(DtlsFingerprint, MatchesAnySupportedHashCaseInsensitively) {
  const auto c = Certificate::generate();
  for (const char* h : {"sha-256", "sha-1", "sha-384", "sha-512"}) {
    const std::string fp = Certificate::fingerprint(c.x509(), h);
    EXPECT_EQ(checkFingerprint(c.x509(), std::vector<RemoteFingerprint>{{h, fp}}), "") << h;
    EXPECT_EQ(checkFingerprint(c.x509(), std::vector<RemoteFingerprint>{{h, lower(fp)}}), "") << h;
    EXPECT_EQ(checkFingerprint(c.x509(), std::vector<RemoteFingerprint>{{h, " " + fp + "\n"}}), "");
  }
  // The hash name must fit the value: a sha-1 value labelled sha-256 fails.
  const std::vector<RemoteFingerprint> mislabelled{
      {"sha-256", Certificate::fingerprint(c.x509(), "sha-1")}};
  EXPECT_NE(checkFingerprint(c.x509(), mislabelled), "");
}

TEST(DtlsFingerprint, ReasonsForRefusal) {
  const auto c = Certificate::generate();
  const auto other = Certificate::generate();
  EXPECT_NE(checkFingerprint(nullptr, {}).find("no certificate"), std::string::npos);
  EXPECT_NE(checkFingerprint(c.x509(), {}).find("supported hash"), std::string::npos);
  const std::vector<RemoteFingerprint> md5{{"md5", "AA:BB"}};
  EXPECT_NE(checkFingerprint(c.x509(), md5).find("supported hash"), std::string::npos);
  const std::vector<RemoteFingerprint> wrong{{"sha-256", other.fingerprintSha256()},
                                             {"sha-1", "00:11"}};
  const std::string why = checkFingerprint(c.x509(), wrong);
  EXPECT_NE(why.find(c.fingerprintSha256()), std::string::npos) << why;
  EXPECT_NE(why.find("none of the 2"), std::string::npos) << why;
  // One good entry among bad ones is enough.
  std::vector<RemoteFingerprint> mixed = wrong;
  mixed.push_back({"sha-512", Certificate::fingerprint(c.x509(), "sha-512")});
  EXPECT_EQ(checkFingerprint(c.x509(), mixed), "");
}

}  // namespace
