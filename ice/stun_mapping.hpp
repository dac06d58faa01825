#pragma once
// Public-address discovery through STUN servers
// (ice4j.harvest.mapping.stun.addresses): plain RFC 5389 Binding requests
// (no credentials) to each server, sent from the bridge's media port so that
// the mapping learned is the one peers reach, with RFC 5389 retransmissions
// and a periodic refresh. Socket-free and clock-driven: the media thread
// owns one, calls poll() from a timer and hands it the datagrams that come
// from a server's address (media_router.cpp).
//
// What ice4j does (MappingCandidateHarvesters, StunMappingCandidateHarvester,
// StunClientTransaction): one Binding request per STUN server and local IPv4
// address, from a fresh ephemeral socket, at start-up only; retransmissions
// after 100 ms doubling up to 1600 ms, 6 of them; a server that never
// answers is dropped and logged (stunDiscoveryFailed when none answered).
// The mapped address's IP then becomes a srflx candidate next to every host
// candidate of the matching local address, with the host candidate's port.
// Here the request leaves the media port itself, so the mapped port is the
// one to advertise; and a failed or changed mapping is retried on every
// refresh instead of never.
//
// Nothing allocates once constructed: each server's request lives in a
// fixed buffer and retransmissions resend those bytes.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ice/stun.hpp"

namespace jvb::ice {

// "host:port" as ice4j reads an entry of ice4j.harvest.mapping.stun.addresses
// (the port is required; "[v6]:port" is accepted too). nullopt with `error`
// set for anything else.
struct StunServerName {
  std::string host;
  uint16_t port = 0;
};
std::optional<StunServerName> parseStunServer(std::string_view text, std::string& error);

struct StunMappingTiming {
  // RFC 5389 section 7.2.1 with ice4j's StunClientTransaction defaults.
  std::chrono::milliseconds firstRetransmit{100};
  std::chrono::milliseconds maxRetransmit{1600};
  int maxRetransmissions = 6;
  // Time between rounds (after a success or a timeout).
  std::chrono::milliseconds refresh{30000};
};

class StunMapper {
 public:
  using Clock = std::chrono::steady_clock;
  using Send = std::function<void(std::span<const uint8_t>, const UdpEndpoint&)>;

  // What one round with one server ended with.
  struct Outcome {
    size_t server = 0;                  // index into servers()
    std::optional<UdpEndpoint> mapped;  // nullopt: no answer, or an error response
    int errorCode = 0;                  // the error response's code, if any
  };

  StunMapper(std::vector<UdpEndpoint> servers, StunMappingTiming timing);
  ~StunMapper();
  StunMapper(const StunMapper&) = delete;
  StunMapper& operator=(const StunMapper&) = delete;

  [[nodiscard]] const std::vector<UdpEndpoint>& servers() const { return servers_; }
  // True when `from` is one of the servers (a short linear scan).
  [[nodiscard]] bool isServer(const UdpEndpoint& from) const;

  // Sends what is due at `now` (first requests, retransmissions) through
  // `send`, reports timed-out rounds through `done`, and returns when it
  // wants to be polled next.
  Clock::time_point poll(Clock::time_point now, const Send& send,
                         const std::function<void(const Outcome&)>& done);

  // A datagram from `from`: when it is the Binding response to the
  // outstanding request to that server, ends the round and returns its
  // outcome. Anything else (not STUN, unmatched, malformed) returns nullopt
  // and changes nothing; `rejected` is set when it was STUN from a server
  // but not a response we are waiting for.
  std::optional<Outcome> onDatagram(std::span<const uint8_t> datagram, const UdpEndpoint& from,
                                    Clock::time_point now, bool* rejected = nullptr);

 private:
  struct Agent;  // libnice's StunAgent (no credentials)
  struct Server {
    UdpEndpoint address;
    bool inFlight = false;
    int sends = 0;
    std::chrono::milliseconds rto{0};
    Clock::time_point due{};  // next send (idle) or retransmission/timeout (in flight)
    stun::TransactionId id{};
    std::array<uint8_t, 64> request{};
    size_t requestLen = 0;
  };
  std::vector<UdpEndpoint> servers_;
  std::vector<Server> state_;
  StunMappingTiming timing_;
  std::unique_ptr<Agent> agent_;
};

}  // namespace jvb::ice
