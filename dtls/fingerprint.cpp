#include "dtls/fingerprint.hpp"

#include <algorithm>
#include <cctype>

#include "dtls/certificate.hpp"

namespace jvb::dtls {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
    s.remove_suffix(1);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

bool isSupportedFingerprintHash(std::string_view hash) {
  const std::string h = lower(trim(hash));
  return h == "sha-256" || h == "sha-1" || h == "sha-384" || h == "sha-512";
}

std::string checkFingerprint(X509* cert, std::span<const RemoteFingerprint> signalled) {
  if (cert == nullptr) {
    return "peer presented no certificate";
  }
  bool anyUsable = false;
  for (const RemoteFingerprint& fp : signalled) {
    if (!isSupportedFingerprintHash(fp.hash)) {
      continue;
    }
    anyUsable = true;
    // Certificate::fingerprint yields upper-case hex; RFC 8122 section 5
    // makes the signalled hex case-insensitive.
    const std::string actual = Certificate::fingerprint(cert, lower(trim(fp.hash)));
    const std::string expected = lower(trim(fp.value));
    if (!actual.empty() && lower(actual) == expected) {
      return {};
    }
  }
  if (!anyUsable) {
    return "no remote fingerprint with a supported hash (sha-256, sha-1, sha-384, sha-512) "
           "was signalled";
  }
  return "peer certificate fingerprint sha-256 " + Certificate::fingerprint(cert, "sha-256") +
         " matches none of the " + std::to_string(signalled.size()) + " signalled";
}

}  // namespace jvb::dtls
