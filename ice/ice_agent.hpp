#pragma once
// The ICE agent of one endpoint (RFC 8445 full agent, one component: rtcp-mux)
// on the bridge's shared UDP port, as JVB runs ice4j: controlling (Jicofo
// sends ice-controlling='true'), nominating the first valid host or reflexive
// pair (NominateFirstHostOrReflexiveValid), keeping the selected pair alive
// with consent freshness checks (RFC 7675), and nothing else.
//
// Our single local candidate is the shared port itself, so a candidate pair
// is identified by its remote address. Socket-free and clock-injected: the
// caller feeds datagrams and time, and sends what the SendFn is given.
//
// On the shared port the caller demultiplexes first: a Binding request by
// stun::peekLocalUfrag() to the endpoint owning that ufrag (and
// stun::checkRequest() when it needs to know whether the request is authentic
// before handing it over), a response by its source address (knowsRemote()).
// Media is accepted only from isValidRemote() addresses.
//
// State: new -> checking -> connected -> disconnected (consent expired), or
// new/checking -> failed (every pair failed). disconnected and failed are
// final; the agent then sends nothing, not even responses. An ICE restart is
// a second agent with new local credentials (the owner runs both; RFC 8445
// section 9: same role and tie-breaker, IceConfig::tieBreaker): a request is
// the agent's whose ufrag its USERNAME names, a response the agent's that
// expectsResponse().
//
// Packets that are not authentic STUN for this endpoint change nothing and
// get no answer. An authentic request is answered (its source becomes a
// peer-reflexive pair if it was unknown); only authentic responses to our own
// checks make a pair valid.
//
// Following the peer (a NAT rebinding: the peer's mapped port changes
// mid-call, the peer itself sees nothing change and goes on checking its
// pair): once connected, an authentic request from an address other than
// the selected one is answered and, as RFC 8445 section 8.3 asks after
// completion, triggers a check of that address (learnt peer-reflexively; one
// address at a time); the selected address is probed with a consent check at
// the same time. When
// the new address's check succeeded and the selected one answered nothing
// for IceConfig::moveProbe since the request, the selected pair moves to the
// new address (consent from its response, RFC 7675) and the old one is
// failed: nothing more is sent there. If the old address answers, it stays
// selected and the new one is only valid (media is accepted from both: a
// client pinging a backup pair makes nothing move). ice4j instead answers
// such a request 403 once it terminated (3 s after completion), which leaves
// the client to an ICE restart.
//
// Threading: one thread (the endpoint's media thread). Callbacks run inside
// handleStun()/tick() and must not call back into the agent.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ice/credentials.hpp"
#include "ice/stun.hpp"

namespace jvb::ice {

enum class IceState : uint8_t { kNew, kChecking, kConnected, kDisconnected, kFailed };
enum class IceFailure : uint8_t { kNone, kAllPairsFailed, kConsentExpired };
[[nodiscard]] std::string_view iceStateName(IceState s);
[[nodiscard]] std::string_view iceFailureName(IceFailure f);

enum class RemoteType : uint8_t { kHost, kServerReflexive, kPeerReflexive, kRelayed };
enum class PairState : uint8_t { kWaiting, kInProgress, kSucceeded, kFailed };

struct IceConfig {
  using ms = std::chrono::milliseconds;
  ms ta{50};                     // pacing of new checks (RFC 8445 section 14.2 default)
  ms initialRto{500};            // RFC 8445 section 14.3: at least 500 ms
  ms maxRto{3000};               // doubling stops here (RFC 5389 section 7.2.1 doubles)
  int maxTransmissions = 7;      // Rc of RFC 5389; the check fails one RTO after the last
  ms consentInterval{5000};      // RFC 7675 section 5.1, randomised by 0.8..1.2
  ms consentTimeout{30000};      // no authentic response for this long: consent lost
  int consentTransmissions = 6;  // JVB: 5 retransmissions per consent check
  // Connected: how long the selected address may stay silent to our probe
  // after the peer checked from a new, valid address before the selected
  // pair moves there (see "Following the peer" above).
  ms moveProbe{1000};
  // A valid relayed pair is nominated only when no host/reflexive pair has
  // become valid this long after it (reflexive and host pairs first).
  ms relayNominationDelay{1000};
  size_t maxPairs = 32;                // signalled + peer-reflexive; bounds state per endpoint
  uint16_t localPreference = 65535;    // of our candidate (RFC 8445 section 5.1.2.1)
  std::optional<uint64_t> tieBreaker;  // random when unset (RFC 8445 section 6.1.1)
  std::optional<uint64_t> seed;        // RNG seed (tie-breaker, consent jitter)
};

struct PairInfo {
  UdpEndpoint remote;
  RemoteType type = RemoteType::kHost;
  uint64_t priority = 0;
  PairState state = PairState::kWaiting;
  bool nominated = false;
};

class IceAgent {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  using Duration = Clock::duration;
  // One datagram to send from the shared port; the view is valid only during
  // the call.
  using SendFn = std::function<void(std::span<const uint8_t> datagram, const UdpEndpoint& to)>;
  using StateFn = std::function<void(IceState state, IceFailure why)>;
  // The selected pair moved from `from` to `to` (the agent stays connected).
  using MoveFn = std::function<void(const UdpEndpoint& from, const UdpEndpoint& to)>;

  // What handleStun() did with a datagram (for counters).
  enum class Result : uint8_t {
    kAnswered,      // authentic request, success response sent
    kRoleConflict,  // authentic request, 487 sent (RFC 8445 section 7.3.1.1)
    kResponse,      // authentic response to one of our checks, processed
    kIgnored,       // indication, stale response, or agent finished
    kRejected,      // not authentic / malformed / not for us: nothing sent
  };

  IceAgent(Credentials local, SendFn send, IceConfig config = {}, Role role = Role::kControlling);
  IceAgent(const IceAgent&) = delete;
  IceAgent& operator=(const IceAgent&) = delete;

  void onStateChange(StateFn fn) { onState_ = std::move(fn); }
  void onSelectedMoved(MoveFn fn) { onMoved_ = std::move(fn); }

  // The peer's ufrag/pwd (Colibri2 transport). May come after its first
  // checks. Returns false (and changes nothing) for empty values or for a
  // second, different pair (ICE restart is not supported).
  bool setRemoteCredentials(std::string_view ufrag, std::string_view pwd);
  // A signalled remote candidate: UDP, component 1, literal IPv4/IPv6
  // address, type host/srflx/prflx/relay. Returns false when ignored
  // (TCP, hostname, bad address, duplicate, too many pairs).
  bool addRemoteCandidate(const Candidate& c);

  // One STUN datagram received on the shared port from `from`.
  Result handleStun(std::span<const uint8_t> datagram, const UdpEndpoint& from, TimePoint now);
  // Runs timers: paced checks, retransmissions and give-ups, nomination,
  // consent freshness. Call at nextWakeup() (or periodically, e.g. 10-20 ms).
  void tick(TimePoint now);
  // When tick() next has something to do; nullopt when nothing is pending.
  [[nodiscard]] std::optional<TimePoint> nextWakeup() const;

  [[nodiscard]] IceState state() const { return state_; }
  [[nodiscard]] IceFailure failure() const { return failure_; }
  [[nodiscard]] Role role() const { return role_; }
  [[nodiscard]] uint64_t tieBreaker() const { return tieBreaker_; }
  [[nodiscard]] const Credentials& localCredentials() const { return local_; }
  // The remote address of the selected (nominated) pair, while connected.
  [[nodiscard]] std::optional<UdpEndpoint> selectedRemote() const;
  // Whether `from` passed one of our checks (media may come from it).
  [[nodiscard]] bool isValidRemote(const UdpEndpoint& from) const;
  // Whether `from` is the address of one of our pairs (responses come from
  // there).
  [[nodiscard]] bool knowsRemote(const UdpEndpoint& from) const;
  // Whether `datagram` (a STUN response) carries the transaction ID of one
  // of our checks in flight.
  [[nodiscard]] bool expectsResponse(std::span<const uint8_t> datagram) const;
  [[nodiscard]] size_t pairCount() const { return pairs_.size(); }
  [[nodiscard]] std::vector<PairInfo> pairs() const;

 private:
  struct Transaction {
    bool active = false;
    stun::TransactionId id{};
    std::vector<uint8_t> bytes;  // resent unchanged; capacity reused
    TimePoint nextSend{};
    Duration rto{};
    int sent = 0;
    int maxSends = 0;
    bool useCandidate = false;
    Role role = Role::kControlling;
  };
  struct Pair {
    UdpEndpoint remote;
    RemoteType type = RemoteType::kHost;
    uint32_t remotePriority = 0;
    uint64_t priority = 0;
    PairState state = PairState::kWaiting;
    bool nominated = false;
    bool nominateOnSuccess = false;  // controlled: USE-CANDIDATE seen before it was valid
    bool triggered = false;          // in the triggered-check queue
    TimePoint validSince{};
    TimePoint lastSuccess{};  // last authentic success response to our check
    Transaction tx;
  };

  Result handleRequest(std::span<const uint8_t> datagram, const UdpEndpoint& from, TimePoint now);
  Result handleResponse(std::span<const uint8_t> datagram, const UdpEndpoint& from, TimePoint now);
  void sendNow(std::span<const uint8_t> datagram, const UdpEndpoint& to);
  Pair* findPair(const UdpEndpoint& remote);
  const Pair* findPair(const UdpEndpoint& remote) const;
  Pair* addPair(const UdpEndpoint& remote, RemoteType type, uint32_t remotePriority);
  void enqueueTriggered(Pair& p, bool front = false);
  uint64_t pairPriority(uint32_t remotePriority) const;
  void setRole(Role role);
  bool startTransaction(Transaction& tx, bool useCandidate, int maxSends, const UdpEndpoint& to,
                        TimePoint now);
  void runRetransmissions(TimePoint now);
  void runChecks(TimePoint now);
  void runConsent(TimePoint now);
  void maybeNominate(TimePoint now);
  void select(Pair& p, TimePoint now);
  // Connected: an authentic request from `from`, not the selected address.
  void followPeer(const UdpEndpoint& from, uint32_t remotePriority, TimePoint now);
  void maybeMove(TimePoint now);
  Pair* recyclePair(const UdpEndpoint& remote, RemoteType type, uint32_t remotePriority);
  void checkAllFailed();
  void finish(IceState state, IceFailure why);
  void setState(IceState state, IceFailure why = IceFailure::kNone);
  Duration consentDelay();
  [[nodiscard]] bool canCheck() const;

  Credentials local_;
  SendFn send_;
  StateFn onState_;
  MoveFn onMoved_;
  IceConfig config_;
  Role role_;
  std::mt19937_64 rng_;
  uint64_t tieBreaker_ = 0;
  uint32_t localPriority_ = 0;  // our host candidate, for pair priorities
  uint32_t prflxPriority_ = 0;  // the PRIORITY we put in checks
  std::string remoteUfrag_;
  stun::StunCodec codec_;

  std::vector<Pair> pairs_;  // reserved to maxPairs: never reallocates
  std::vector<size_t> triggered_;
  std::optional<size_t> selected_;
  std::optional<size_t>
      nominating_;  // controlling: pair whose USE-CANDIDATE check is due/in flight
  TimePoint nextCheckAt_{};
  Transaction consentTx_;
  TimePoint nextConsentAt_{};
  TimePoint lastConsent_{};
  std::optional<size_t> moving_;  // connected: the address the peer checked from
  TimePoint moveSince_{};         // its first request (the probe of the selected one)
  IceState state_ = IceState::kNew;
  IceFailure failure_ = IceFailure::kNone;
  std::array<uint8_t, stun::kMaxMessageSize> scratch_{};  // responses: no allocation
};

}  // namespace jvb::ice
