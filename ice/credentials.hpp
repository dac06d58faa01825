#pragma once
// Local ICE credentials and the candidates the bridge signals in Colibri2.
#include <string>
#include <vector>

#include "ice/host_addresses.hpp"

namespace jvb::ice {

struct Credentials {
  std::string ufrag;  // 8 ice-chars (RFC 8445 section 5.3: at least 4; 24+ bits of randomness)
  std::string pwd;    // 24 ice-chars (at least 22; 128+ bits of randomness)
};

// Random credentials from a CSPRNG. Throws std::runtime_error if the RNG fails.
Credentials generateCredentials();

// A candidate as signalled in a Jingle ICE-UDP <candidate/>.
struct Candidate {
  std::string foundation;
  int component = 1;
  std::string protocol = "udp";
  uint32_t priority = 0;
  std::string ip;
  uint16_t port = 0;
  std::string type;  // "host" | "srflx"
  std::string relAddr;
  uint16_t relPort = 0;
  int generation = 0;
  int network = 0;
  std::string id;
};

// RFC 8445 section 5.1.2.1: (2^24)*type-pref + (2^8)*local-pref + (256 - component).
uint32_t candidatePriority(CandidateType type, uint16_t localPreference, int component = 1);

// Candidates for the advertised addresses, host before srflx, IPv4 local
// preference above IPv6, foundations shared by candidates of the same type
// and base family (RFC 8445 section 5.1.1.3).
std::vector<Candidate> buildCandidates(const std::vector<AdvertisedAddress>& addresses);

}  // namespace jvb::ice
