#include "ice/credentials.hpp"

#include <fmt/format.h>

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace jvb::ice {

namespace {

// RFC 8445 section 15.1: ice-char = ALPHA / DIGIT / "+" / "/". We use the
// 64 characters, so each byte's low 6 bits pick one uniformly.
constexpr char kIceChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string randomIceString(size_t n) {
  std::array<unsigned char, 64> raw{};
  if (n > raw.size() || RAND_bytes(raw.data(), static_cast<int>(n)) != 1) {
    throw std::runtime_error("ICE credentials: RAND_bytes failed");
  }
  std::string out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kIceChars[raw[i] & 0x3F]);
  }
  return out;
}

}  // namespace

Credentials generateCredentials() {
  return Credentials{randomIceString(8), randomIceString(24)};
}

uint32_t candidatePriority(CandidateType type, uint16_t localPreference, int component) {
  const uint32_t typePref = type == CandidateType::kHost ? 126u : 100u;
  return (typePref << 24) + (static_cast<uint32_t>(localPreference) << 8) +
         static_cast<uint32_t>(256 - component);
}

std::vector<Candidate> buildCandidates(const std::vector<AdvertisedAddress>& addresses) {
  std::vector<Candidate> out;
  int next = 1;
  for (const auto& a : addresses) {
    Candidate c;
    const bool v4 = a.address.is_v4();
    const bool host = a.type == CandidateType::kHost;
    // Foundation: same type and base family share one (RFC 8445 5.1.1.3).
    c.foundation = std::to_string((host ? 1 : 3) + (v4 ? 0 : 1));
    // IPv4 first: most clients reach the bridge over IPv4; the index keeps
    // each candidate's priority unique.
    const uint16_t localPref = static_cast<uint16_t>((v4 ? 65535 : 32767) - out.size());
    c.priority = candidatePriority(a.type, localPref);
    c.ip = a.address.to_string();
    c.port = a.port;
    c.type = host ? "host" : "srflx";
    if (!host) {
      c.relAddr = a.relatedAddress.to_string();
      c.relPort = a.relatedPort;
    }
    c.id = fmt::format("c{}", next++);  // not "c" + string: GCC 12 -O3 false -Wrestrict
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace jvb::ice
