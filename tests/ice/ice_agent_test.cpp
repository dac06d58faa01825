// IceAgent against a scripted peer built from the same STUN layer, with an
// injected clock: no sockets, no sleeping.
#include "ice/ice_agent.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <vector>

#include "alloc_counter.hpp"

namespace {

namespace stun = jvb::ice::stun;
using jvb::ice::Candidate;
using jvb::ice::Credentials;
using jvb::ice::IceAgent;
using jvb::ice::IceConfig;
using jvb::ice::IceFailure;
using jvb::ice::IceState;
using jvb::ice::PairState;
using jvb::ice::RemoteType;
using jvb::ice::Role;
using jvb::ice::UdpEndpoint;
using std::chrono::milliseconds;
using Bytes = std::vector<uint8_t>;
using TimePoint = IceAgent::TimePoint;

const Credentials kBridge{"brdgUfrg", "bridgePassword0123456789"};
const Credentials kPeer{"peerUfrg", "peerPassword012345678901"};
const UdpEndpoint kBridgeAddr(boost::asio::ip::make_address("198.51.100.1"), 10000);
constexpr uint32_t kPrflxPriority = (110u << 24) | (65535u << 8) | 255u;

UdpEndpoint ep(const char* ip, uint16_t port) {
  return UdpEndpoint(boost::asio::ip::make_address(ip), port);
}

Candidate cand(const char* ip, uint16_t port, const char* type = "host",
               uint32_t priority = 2130706431, const char* protocol = "udp") {
  Candidate c;
  c.ip = ip;
  c.port = port;
  c.type = type;
  c.priority = priority;
  c.protocol = protocol;
  // assign(ptr, len), not operator=(const char*): GCC 12 at -O3 raises a
  // false -Wrestrict on the latter here (GCC bug 105651).
  c.foundation.assign("1", 1);
  return c;
}

// The other side: answers the bridge's checks and sends its own, with the
// peer's credentials.
struct Peer {
  stun::StunCodec codec;
  UdpEndpoint addr;
  explicit Peer(UdpEndpoint a) : addr(a) { codec.setPeerPassword(kBridge.pwd); }

  Bytes answer(const Bytes& req, stun::BindingRequest* seen = nullptr, int error = 0) {
    stun::BindingRequest r;
    EXPECT_EQ(codec.checkRequest(req, kPeer, &r), stun::RequestCheck::kValid);
    if (seen != nullptr) {
      *seen = r;
    }
    Bytes out(stun::kMaxMessageSize);
    out.resize(error != 0
                   ? codec.buildErrorResponse(r.transactionId, error, kPeer.pwd, out)
                   : codec.buildSuccessResponse(r.transactionId, kBridgeAddr, kPeer.pwd, out));
    return out;
  }

  Bytes request(Role role, uint64_t tie, bool useCandidate, uint32_t priority = 1862270975) {
    Bytes out(stun::kMaxMessageSize);
    stun::TransactionId id{};
    const stun::RequestParams p{kPeer.ufrag, kBridge.ufrag, priority, role, tie, useCandidate};
    out.resize(codec.buildRequest(p, out, id));
    return out;
  }
};

struct Sent {
  Bytes bytes;
  UdpEndpoint to;
  TimePoint at;
};

IceConfig testConfig() {
  IceConfig c;
  c.seed = 7;
  return c;
}

struct Harness {
  std::vector<Sent> sent;
  TimePoint now = TimePoint{} + std::chrono::hours(1);
  IceAgent agent;
  std::vector<IceState> states;

  explicit Harness(IceConfig cfg = testConfig(), Role role = Role::kControlling)
      : agent(
            kBridge,
            [this](std::span<const uint8_t> d, const UdpEndpoint& to) {
              sent.push_back({Bytes(d.begin(), d.end()), to, now});
            },
            cfg, role) {
    agent.onStateChange([this](IceState s, IceFailure) { states.push_back(s); });
  }

  void advance(milliseconds d) {
    now += d;
    agent.tick(now);
  }
  IceAgent::Result deliver(const Bytes& d, const UdpEndpoint& from) {
    return agent.handleStun(d, from, now);
  }
  // Ticks in `step`s until a datagram goes out (at most `limit`).
  const Sent* nextSent(milliseconds step = milliseconds(1),
                       milliseconds limit = milliseconds(60000)) {
    const size_t before = sent.size();
    for (milliseconds t{0}; t < limit && sent.size() == before; t += step) {
      advance(step);
    }
    return sent.size() > before ? &sent[before] : nullptr;
  }
};

// Runs the peer's side of the bridge's checks until the agent selects a pair.
void connect(Harness& h, Peer& peer) {
  for (int i = 0; i < 20 && h.agent.state() != IceState::kConnected; ++i) {
    const Sent* s = h.nextSent();
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->to, peer.addr);
    const Bytes resp = peer.answer(s->bytes);
    EXPECT_EQ(h.deliver(resp, peer.addr), IceAgent::Result::kResponse);
  }
  ASSERT_EQ(h.agent.state(), IceState::kConnected);
}

TEST(IceAgent, ChecksThenNominatesTheFirstValidPair) {
  Harness h;
  Peer peer(ep("192.0.2.10", 5000));
  EXPECT_EQ(h.agent.state(), IceState::kNew);
  h.advance(milliseconds(1));
  EXPECT_TRUE(h.sent.empty());  // nothing to check yet
  ASSERT_TRUE(h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd));
  ASSERT_TRUE(h.agent.addRemoteCandidate(cand("192.0.2.10", 5000)));

  const Sent* first = h.nextSent();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(h.agent.state(), IceState::kChecking);
  stun::BindingRequest seen;
  const Bytes resp = peer.answer(first->bytes, &seen);
  EXPECT_FALSE(seen.useCandidate);
  EXPECT_EQ(seen.senderRole, Role::kControlling);
  EXPECT_EQ(seen.tieBreaker, h.agent.tieBreaker());
  EXPECT_EQ(seen.priority, kPrflxPriority);
  EXPECT_EQ(seen.remoteUfrag, kBridge.ufrag);
  EXPECT_FALSE(h.agent.isValidRemote(peer.addr));
  EXPECT_EQ(h.deliver(resp, peer.addr), IceAgent::Result::kResponse);
  EXPECT_TRUE(h.agent.isValidRemote(peer.addr));
  EXPECT_EQ(h.agent.state(), IceState::kChecking);  // valid, not yet nominated

  const Sent* nomination = h.nextSent();
  ASSERT_NE(nomination, nullptr);
  const Bytes resp2 = peer.answer(nomination->bytes, &seen);
  EXPECT_TRUE(seen.useCandidate);
  EXPECT_EQ(h.deliver(resp2, peer.addr), IceAgent::Result::kResponse);
  EXPECT_EQ(h.agent.state(), IceState::kConnected);
  ASSERT_TRUE(h.agent.selectedRemote().has_value());
  EXPECT_EQ(*h.agent.selectedRemote(), peer.addr);
  ASSERT_EQ(h.agent.pairs().size(), 1u);
  EXPECT_TRUE(h.agent.pairs()[0].nominated);
  EXPECT_EQ(h.states, (std::vector<IceState>{IceState::kChecking, IceState::kConnected}));
}

TEST(IceAgent, ChecksInPriorityOrderPacedByTa) {
  IceConfig cfg = testConfig();
  cfg.ta = milliseconds(20);
  Harness h(cfg);
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  ASSERT_TRUE(h.agent.addRemoteCandidate(cand("192.0.2.1", 1, "relay", 16777215)));
  ASSERT_TRUE(h.agent.addRemoteCandidate(cand("192.0.2.2", 2, "host", 2130706431)));
  ASSERT_TRUE(h.agent.addRemoteCandidate(cand("192.0.2.3", 3, "srflx", 1694498815)));
  for (int i = 0; i < 100; ++i) {
    h.advance(milliseconds(1));
  }
  ASSERT_GE(h.sent.size(), 3u);
  EXPECT_EQ(h.sent[0].to, ep("192.0.2.2", 2));
  EXPECT_EQ(h.sent[1].to, ep("192.0.2.3", 3));
  EXPECT_EQ(h.sent[2].to, ep("192.0.2.1", 1));
  EXPECT_GE(h.sent[1].at - h.sent[0].at, milliseconds(20));
  EXPECT_GE(h.sent[2].at - h.sent[1].at, milliseconds(20));
}

TEST(IceAgent, RetransmitsWithBackoffThenGivesUp) {
  IceConfig cfg = testConfig();
  cfg.initialRto = milliseconds(100);
  cfg.maxRto = milliseconds(400);
  cfg.maxTransmissions = 4;
  Harness h(cfg);
  Peer peer(ep("192.0.2.10", 5000));
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000));
  const TimePoint start = h.now;
  for (int i = 0; i < 2000 && h.agent.state() != IceState::kFailed; ++i) {
    h.advance(milliseconds(1));
  }
  ASSERT_EQ(h.sent.size(), 4u);
  const TimePoint t0 = h.sent[0].at;
  EXPECT_EQ(t0 - start, milliseconds(1));
  EXPECT_EQ(h.sent[1].at - t0, milliseconds(100));
  EXPECT_EQ(h.sent[2].at - t0, milliseconds(300));
  EXPECT_EQ(h.sent[3].at - t0, milliseconds(700));
  for (const Sent& s : h.sent) {
    EXPECT_EQ(s.bytes, h.sent[0].bytes);  // a retransmission is the same request
  }
  EXPECT_EQ(h.agent.state(), IceState::kFailed);
  EXPECT_EQ(h.agent.failure(), IceFailure::kAllPairsFailed);
  EXPECT_EQ(h.now - t0, milliseconds(1100));  // one (capped) RTO after the last
  EXPECT_FALSE(h.agent.nextWakeup().has_value());

  // A late answer changes nothing; the failed agent stays silent.
  const Bytes late = peer.answer(h.sent[0].bytes);
  EXPECT_EQ(h.deliver(late, peer.addr), IceAgent::Result::kIgnored);
  EXPECT_EQ(h.deliver(peer.request(Role::kControlled, 1, false), peer.addr),
            IceAgent::Result::kIgnored);
  h.advance(milliseconds(10000));
  EXPECT_EQ(h.sent.size(), 4u);
  EXPECT_EQ(h.agent.state(), IceState::kFailed);
}

TEST(IceAgent, NextWakeupFollowsTheRetransmissionTimer) {
  IceConfig cfg = testConfig();
  cfg.initialRto = milliseconds(100);
  Harness h(cfg);
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000));
  ASSERT_TRUE(h.agent.nextWakeup().has_value());
  h.agent.tick(h.now);
  ASSERT_EQ(h.sent.size(), 1u);
  ASSERT_TRUE(h.agent.nextWakeup().has_value());
  EXPECT_EQ(*h.agent.nextWakeup() - h.now, milliseconds(100));
  h.now = *h.agent.nextWakeup();
  h.agent.tick(h.now);
  EXPECT_EQ(h.sent.size(), 2u);
}

TEST(IceAgent, ConsentFreshnessThenExpiry) {
  Harness h;
  Peer peer(ep("192.0.2.10", 5000));
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000));
  connect(h, peer);

  // Answered consent checks keep the pair for a minute, every 4-6 s.
  TimePoint last = h.now;
  const TimePoint until = h.now + std::chrono::seconds(60);
  int checks = 0;
  while (h.now < until) {
    const Sent* s = h.nextSent(milliseconds(10));
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->to, peer.addr);
    EXPECT_GE(s->at - last, milliseconds(3990));
    EXPECT_LE(s->at - last, milliseconds(6010));
    last = s->at;
    stun::BindingRequest seen;
    EXPECT_EQ(h.deliver(peer.answer(s->bytes, &seen), peer.addr), IceAgent::Result::kResponse);
    EXPECT_FALSE(seen.useCandidate);
    ++checks;
  }
  EXPECT_GE(checks, 10);
  EXPECT_EQ(h.agent.state(), IceState::kConnected);

  // Silence: retransmissions, then consent expires 30 s after the last answer.
  const TimePoint lastAnswer = h.now;
  while (h.agent.state() == IceState::kConnected && h.now - lastAnswer < std::chrono::seconds(40)) {
    h.advance(milliseconds(10));
  }
  EXPECT_EQ(h.agent.state(), IceState::kDisconnected);
  EXPECT_EQ(h.agent.failure(), IceFailure::kConsentExpired);
  EXPECT_GE(h.now - lastAnswer, std::chrono::seconds(30));
  EXPECT_LE(h.now - lastAnswer, std::chrono::milliseconds(30010));
  EXPECT_FALSE(h.agent.selectedRemote().has_value());
  EXPECT_FALSE(h.agent.isValidRemote(peer.addr));
  const size_t n = h.sent.size();
  h.advance(std::chrono::seconds(20));
  EXPECT_EQ(h.sent.size(), n);
  EXPECT_EQ(h.states.back(), IceState::kDisconnected);
}

TEST(IceAgent, PeerReflexiveFromARequestBeforeCredentials) {
  Harness h;
  Peer peer(ep("203.0.113.5", 6000));
  // The peer's check arrives before Colibri2 brought its ufrag/pwd or any
  // candidate: answered with the local pwd, source learnt as peer-reflexive.
  const Bytes req = peer.request(Role::kControlled, 99, false, 1845501695);
  EXPECT_EQ(h.deliver(req, peer.addr), IceAgent::Result::kAnswered);
  ASSERT_EQ(h.sent.size(), 1u);
  EXPECT_EQ(h.sent[0].to, peer.addr);
  stun::BindingResponse r;
  ASSERT_EQ(peer.codec.checkResponse(h.sent[0].bytes, r), stun::ResponseCheck::kValid);
  EXPECT_EQ(r.errorCode, 0);
  EXPECT_EQ(r.mapped, peer.addr);
  ASSERT_EQ(h.agent.pairs().size(), 1u);
  EXPECT_EQ(h.agent.pairs()[0].type, RemoteType::kPeerReflexive);
  EXPECT_EQ(h.agent.pairs()[0].remote, peer.addr);
  EXPECT_FALSE(h.agent.isValidRemote(peer.addr));  // answered, not checked
  EXPECT_EQ(h.agent.state(), IceState::kNew);
  h.advance(milliseconds(500));
  EXPECT_EQ(h.sent.size(), 1u);  // no pwd: no checks

  ASSERT_TRUE(h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd));
  h.sent.clear();
  connect(h, peer);
  EXPECT_EQ(*h.agent.selectedRemote(), peer.addr);
  // Signalled later, the same address turns the pair into a host one.
  EXPECT_TRUE(h.agent.addRemoteCandidate(cand("203.0.113.5", 6000, "srflx")));
  EXPECT_EQ(h.agent.pairs()[0].type, RemoteType::kServerReflexive);
  EXPECT_EQ(h.agent.pairCount(), 1u);
}

TEST(IceAgent, StrangersCreateNoState) {
  Harness h;
  Peer peer(ep("192.0.2.10", 5000));
  const UdpEndpoint stranger = ep("192.0.2.66", 6666);
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);

  // Wrong ufrag, signed with the right pwd.
  stun::StunCodec other;
  other.setPeerPassword(kBridge.pwd);
  Bytes req(stun::kMaxMessageSize);
  stun::TransactionId id{};
  req.resize(other.buildRequest({"strangr1", "otherUfr", 1, Role::kControlled, 1, false}, req, id));
  EXPECT_EQ(h.deliver(req, stranger), IceAgent::Result::kRejected);
  // Right ufrag, wrong pwd.
  stun::StunCodec forger;
  forger.setPeerPassword("notTheBridgePassword0123");
  req.resize(stun::kMaxMessageSize);
  req.resize(
      forger.buildRequest({kPeer.ufrag, kBridge.ufrag, 1, Role::kControlled, 1, true}, req, id));
  EXPECT_EQ(h.deliver(req, stranger), IceAgent::Result::kRejected);
  // Right credentials but another remote ufrag (an old generation).
  req.resize(stun::kMaxMessageSize);
  req.resize(
      other.buildRequest({"peerOld1", kBridge.ufrag, 1, Role::kControlled, 1, true}, req, id));
  EXPECT_EQ(h.deliver(req, stranger), IceAgent::Result::kRejected);
  // A response to nothing, garbage, an indication.
  Bytes resp(stun::kMaxMessageSize);
  resp.resize(other.buildSuccessResponse(id, kBridgeAddr, kPeer.pwd, resp));
  EXPECT_EQ(h.deliver(resp, stranger), IceAgent::Result::kIgnored);
  EXPECT_EQ(h.deliver(Bytes{0x80, 0x60, 0, 1}, stranger), IceAgent::Result::kRejected);
  const Bytes indication = {0x00, 0x11, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 1,  2,
                            3,    4,    5,    6,    7,    8,    9,    10,   11, 12};
  EXPECT_EQ(h.deliver(indication, stranger), IceAgent::Result::kIgnored);

  EXPECT_TRUE(h.sent.empty());
  EXPECT_EQ(h.agent.pairCount(), 0u);
  EXPECT_FALSE(h.agent.knowsRemote(stranger));
  EXPECT_FALSE(h.agent.isValidRemote(stranger));
  EXPECT_EQ(h.agent.state(), IceState::kNew);
  h.advance(milliseconds(100));
  EXPECT_TRUE(h.sent.empty());
}

TEST(IceAgent, RoleConflictWonBy487) {
  IceConfig cfg = testConfig();
  cfg.tieBreaker = 1000;
  Harness h(cfg);
  Peer peer(ep("192.0.2.10", 5000));
  const Bytes req = peer.request(Role::kControlling, 999, true);
  EXPECT_EQ(h.deliver(req, peer.addr), IceAgent::Result::kRoleConflict);
  ASSERT_EQ(h.sent.size(), 1u);
  stun::BindingResponse r;
  ASSERT_EQ(peer.codec.checkResponse(h.sent[0].bytes, r), stun::ResponseCheck::kValid);
  EXPECT_EQ(r.errorCode, 487);
  EXPECT_EQ(h.agent.role(), Role::kControlling);
  EXPECT_EQ(h.agent.pairCount(), 0u);  // RFC 8445 7.3.1.1: nothing else is done
  // Equal tie-breakers: the agent receiving the request keeps its role too.
  EXPECT_EQ(h.deliver(peer.request(Role::kControlling, 1000, false), peer.addr),
            IceAgent::Result::kRoleConflict);
}

TEST(IceAgent, RoleConflictLostSwitchesToControlled) {
  IceConfig cfg = testConfig();
  cfg.tieBreaker = 5;
  Harness h(cfg);
  Peer peer(ep("192.0.2.10", 5000));
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000));
  // The peer claims controlling with a larger tie-breaker and nominates.
  EXPECT_EQ(h.deliver(peer.request(Role::kControlling, 6, true), peer.addr),
            IceAgent::Result::kAnswered);
  EXPECT_EQ(h.agent.role(), Role::kControlled);
  ASSERT_EQ(h.sent.size(), 1u);
  stun::BindingResponse r;
  ASSERT_EQ(peer.codec.checkResponse(h.sent[0].bytes, r), stun::ResponseCheck::kValid);
  EXPECT_EQ(r.errorCode, 0);
  // Our triggered check now says ICE-CONTROLLED, without USE-CANDIDATE; its
  // success completes the nomination the peer made.
  const Sent* s = h.nextSent();
  ASSERT_NE(s, nullptr);
  stun::BindingRequest seen;
  const Bytes resp = peer.answer(s->bytes, &seen);
  EXPECT_EQ(seen.senderRole, Role::kControlled);
  EXPECT_FALSE(seen.useCandidate);
  EXPECT_EQ(h.deliver(resp, peer.addr), IceAgent::Result::kResponse);
  EXPECT_EQ(h.agent.state(), IceState::kConnected);
  EXPECT_EQ(*h.agent.selectedRemote(), peer.addr);
}

TEST(IceAgent, RoleConflictResponseSwitchesRoleAndRechecks) {
  Harness h;
  Peer peer(ep("192.0.2.10", 5000));
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000));
  const Sent* s = h.nextSent();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(h.deliver(peer.answer(s->bytes, nullptr, 487), peer.addr), IceAgent::Result::kResponse);
  EXPECT_EQ(h.agent.role(), Role::kControlled);
  s = h.nextSent();
  ASSERT_NE(s, nullptr);
  stun::BindingRequest seen;
  const Bytes resp = peer.answer(s->bytes, &seen);
  EXPECT_EQ(seen.senderRole, Role::kControlled);
  EXPECT_EQ(h.deliver(resp, peer.addr), IceAgent::Result::kResponse);
  EXPECT_TRUE(h.agent.isValidRemote(peer.addr));
  EXPECT_EQ(h.agent.state(), IceState::kChecking);  // now it waits for the peer's nomination
  EXPECT_EQ(h.deliver(peer.request(Role::kControlling, 1, true), peer.addr),
            IceAgent::Result::kAnswered);
  EXPECT_EQ(h.agent.state(), IceState::kConnected);
}

TEST(IceAgent, TriggeredCheckAnswersAnIncomingRequestFirst) {
  IceConfig cfg = testConfig();
  cfg.ta = milliseconds(50);
  Harness h(cfg);
  Peer peer(ep("192.0.2.20", 7000));
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000, "host", 2130706431));
  h.agent.addRemoteCandidate(cand("192.0.2.20", 7000, "host", 2130706000));
  h.advance(milliseconds(1));  // first ordinary check: the higher-priority pair
  ASSERT_EQ(h.sent.size(), 1u);
  EXPECT_EQ(h.sent[0].to, ep("192.0.2.10", 5000));
  EXPECT_EQ(h.deliver(peer.request(Role::kControlled, 1, false), peer.addr),
            IceAgent::Result::kAnswered);
  const Sent* s = h.nextSent();  // the triggered check, once Ta has passed
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->to, peer.addr);
  EXPECT_GE(s->at - h.sent[0].at, milliseconds(50));
}

TEST(IceAgent, FiltersSignalledCandidates) {
  Harness h;
  EXPECT_FALSE(h.agent.addRemoteCandidate(cand("192.0.2.1", 9, "host", 1, "tcp")));
  EXPECT_FALSE(h.agent.addRemoteCandidate(cand("abcd.local", 5000)));
  EXPECT_FALSE(h.agent.addRemoteCandidate(cand("example.org", 5000)));
  EXPECT_FALSE(h.agent.addRemoteCandidate(cand("0.0.0.0", 5000)));
  EXPECT_FALSE(h.agent.addRemoteCandidate(cand("224.0.0.1", 5000)));
  EXPECT_FALSE(h.agent.addRemoteCandidate(cand("192.0.2.1", 0)));
  EXPECT_FALSE(h.agent.addRemoteCandidate(cand("192.0.2.1", 5000, "weird")));
  Candidate rtcp = cand("192.0.2.1", 5001);
  rtcp.component = 2;
  EXPECT_FALSE(h.agent.addRemoteCandidate(rtcp));
  EXPECT_TRUE(h.agent.addRemoteCandidate(cand("192.0.2.1", 5000, "host", 1, "UDP")));
  EXPECT_FALSE(h.agent.addRemoteCandidate(cand("192.0.2.1", 5000)));  // duplicate
  EXPECT_TRUE(h.agent.addRemoteCandidate(cand("2001:db8::1", 5000, "relay")));
  EXPECT_EQ(h.agent.pairCount(), 2u);
  EXPECT_TRUE(h.agent.knowsRemote(ep("2001:db8::1", 5000)));

  EXPECT_FALSE(h.agent.setRemoteCredentials("", "x"));
  EXPECT_TRUE(h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd));
  EXPECT_TRUE(h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd));
  EXPECT_FALSE(h.agent.setRemoteCredentials("restart1", "anotherPassword012345678"));

  IceConfig small = testConfig();
  small.maxPairs = 2;
  Harness h2(small);
  EXPECT_TRUE(h2.agent.addRemoteCandidate(cand("192.0.2.1", 1)));
  EXPECT_TRUE(h2.agent.addRemoteCandidate(cand("192.0.2.1", 2)));
  EXPECT_FALSE(h2.agent.addRemoteCandidate(cand("192.0.2.1", 3)));
}

TEST(IceAgent, RelayedPairIsNominatedOnlyAfterADelay) {
  IceConfig cfg = testConfig();
  cfg.relayNominationDelay = milliseconds(300);
  Harness h(cfg);
  Peer peer(ep("192.0.2.30", 3478));
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.30", 3478, "relay", 16777215));
  const Sent* s = h.nextSent();
  ASSERT_NE(s, nullptr);
  const TimePoint validAt = h.now;
  EXPECT_EQ(h.deliver(peer.answer(s->bytes), peer.addr), IceAgent::Result::kResponse);
  s = h.nextSent();
  ASSERT_NE(s, nullptr);
  EXPECT_GE(h.now - validAt, milliseconds(300));
  stun::BindingRequest seen;
  EXPECT_EQ(h.deliver(peer.answer(s->bytes, &seen), peer.addr), IceAgent::Result::kResponse);
  EXPECT_TRUE(seen.useCandidate);
  EXPECT_EQ(h.agent.state(), IceState::kConnected);
}

TEST(IceAgent, AnsweringAKnownPeerDoesNotAllocate) {
  Harness h;
  Peer peer(ep("192.0.2.10", 5000));
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000));
  connect(h, peer);
  const Bytes req = peer.request(Role::kControlled, 1, false);
  h.sent.reserve(h.sent.size() + 200);
  size_t answered = 0;
  jvb::test::startCountingAllocations();
  for (int i = 0; i < 100; ++i) {
    answered += h.agent.handleStun(req, peer.addr, h.now) == IceAgent::Result::kAnswered ? 1 : 0;
  }
  const size_t allocations = jvb::test::stopCountingAllocations();
  EXPECT_EQ(answered, 100u);
  // Only the test's own capture of each response allocates (one vector each).
  EXPECT_EQ(allocations, 100u);
}

// What an owner running two agents during an ICE restart relies on: a
// response is claimed only by the agent whose check it answers, and a second
// agent given the first one's tie-breaker claims the same role in its checks.
TEST(IceAgent, ExpectsResponseOnlyToItsOwnChecksAndKeepsAGivenTieBreaker) {
  Harness h;
  Peer peer(ep("192.0.2.10", 5000));
  ASSERT_TRUE(h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd));
  ASSERT_TRUE(h.agent.addRemoteCandidate(cand("192.0.2.10", 5000)));
  const Sent* check = h.nextSent();
  ASSERT_NE(check, nullptr);
  const Bytes resp = peer.answer(check->bytes);
  EXPECT_TRUE(h.agent.expectsResponse(resp));
  EXPECT_FALSE(h.agent.expectsResponse(Bytes(resp.begin(), resp.begin() + 12)));  // truncated

  IceConfig second = testConfig();
  second.seed = 8;
  second.tieBreaker = h.agent.tieBreaker();
  Harness other(second);
  EXPECT_EQ(other.agent.tieBreaker(), h.agent.tieBreaker());
  EXPECT_FALSE(other.agent.expectsResponse(resp));  // not its check
  EXPECT_EQ(h.deliver(resp, peer.addr), IceAgent::Result::kResponse);
  EXPECT_FALSE(h.agent.expectsResponse(resp));  // answered: no longer in flight
}

// A NAT rebinding: the peer's mapped port changes mid-call. The peer sees
// nothing change and goes on checking from its socket, which the bridge now
// sees at a new address; the old one answers nothing any more.
TEST(IceAgent, FollowsThePeerToItsNewAddressAfterANatRebinding) {
  Harness h;
  Peer peer(ep("192.0.2.10", 5000));
  const UdpEndpoint rebound = ep("192.0.2.10", 41000);
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000));
  connect(h, peer);
  std::vector<std::pair<UdpEndpoint, UdpEndpoint>> moves;
  h.agent.onSelectedMoved(
      [&](const UdpEndpoint& from, const UdpEndpoint& to) { moves.emplace_back(from, to); });
  h.advance(milliseconds(1000));
  h.sent.clear();

  // The peer's consent check from the new address: answered there, a check
  // of the new address and a probe of the selected one.
  EXPECT_EQ(h.deliver(peer.request(Role::kControlled, 1, false), rebound),
            IceAgent::Result::kAnswered);
  ASSERT_EQ(h.sent.size(), 3u);
  EXPECT_EQ(h.sent[0].to, rebound);  // the response
  stun::BindingResponse r;
  ASSERT_EQ(peer.codec.checkResponse(h.sent[0].bytes, r), stun::ResponseCheck::kValid);
  EXPECT_EQ(r.mapped, rebound);
  const auto toNew = std::find_if(h.sent.begin(), h.sent.end(), [&](const Sent& x) {
    return x.to == rebound && &x != &h.sent[0];
  });
  const auto toOld =
      std::find_if(h.sent.begin(), h.sent.end(), [&](const Sent& x) { return x.to == peer.addr; });
  ASSERT_NE(toNew, h.sent.end());
  ASSERT_NE(toOld, h.sent.end());
  EXPECT_FALSE(h.agent.isValidRemote(rebound));  // answered, not yet checked
  stun::BindingRequest seen;
  const Bytes answer = peer.answer(toNew->bytes, &seen);
  EXPECT_FALSE(seen.useCandidate);  // the peer's pair is the same: nothing to nominate
  h.advance(milliseconds(5));
  EXPECT_EQ(h.deliver(answer, rebound), IceAgent::Result::kResponse);
  EXPECT_TRUE(h.agent.isValidRemote(rebound));      // media from there is the endpoint's
  EXPECT_EQ(*h.agent.selectedRemote(), peer.addr);  // until the old one proved silent

  // The old address answers nothing: after moveProbe the pair moves.
  while (h.agent.selectedRemote() == peer.addr && h.now - toOld->at < milliseconds(3000)) {
    h.advance(milliseconds(10));
  }
  EXPECT_EQ(*h.agent.selectedRemote(), rebound);
  EXPECT_GE(h.now - toOld->at, milliseconds(1000));
  EXPECT_LE(h.now - toOld->at, milliseconds(1010));
  EXPECT_EQ(h.agent.state(), IceState::kConnected);
  EXPECT_FALSE(h.agent.isValidRemote(peer.addr));
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].first, peer.addr);
  EXPECT_EQ(moves[0].second, rebound);
  EXPECT_EQ(h.agent.pairCount(), 2u);
  const auto pairs = h.agent.pairs();
  EXPECT_EQ(pairs[1].type, RemoteType::kPeerReflexive);
  EXPECT_TRUE(pairs[1].nominated);
  EXPECT_FALSE(pairs[0].nominated);

  // From now on consent goes to the new address only; answered, it holds.
  const size_t movedAt = h.sent.size();
  for (int i = 0; i < 8; ++i) {
    const Sent* s = h.nextSent(milliseconds(10));
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->to, rebound);
    EXPECT_EQ(h.deliver(peer.answer(s->bytes), rebound), IceAgent::Result::kResponse);
  }
  EXPECT_EQ(h.agent.state(), IceState::kConnected);
  for (size_t i = movedAt; i < h.sent.size(); ++i) {
    EXPECT_NE(h.sent[i].to, peer.addr);
  }
  // A late check from the old address is answered but moves nothing back
  // while the new one answers our probe.
  const size_t before = h.sent.size();
  EXPECT_EQ(h.deliver(peer.request(Role::kControlled, 1, false), peer.addr),
            IceAgent::Result::kAnswered);
  for (size_t i = before; i < h.sent.size(); ++i) {
    if (h.sent[i].to == rebound) {
      EXPECT_EQ(h.deliver(peer.answer(h.sent[i].bytes), rebound), IceAgent::Result::kResponse);
    }
  }
  h.advance(milliseconds(2000));
  EXPECT_EQ(*h.agent.selectedRemote(), rebound);
  EXPECT_EQ(moves.size(), 1u);
}

// A client that checks a second (backup) pair now and then, as libwebrtc
// does: the selected address answers the probe, so nothing moves; the other
// one becomes valid (media from it is accepted).
TEST(IceAgent, AnAnsweringSelectedAddressStaysSelected) {
  Harness h;
  Peer peer(ep("192.0.2.10", 5000));
  const UdpEndpoint backup = ep("2001:db8::10", 5002);
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000));
  connect(h, peer);
  int moves = 0;
  h.agent.onSelectedMoved([&](const UdpEndpoint&, const UdpEndpoint&) { ++moves; });
  for (int round = 0; round < 3; ++round) {
    h.advance(milliseconds(700));
    const size_t mark = h.sent.size();
    EXPECT_EQ(h.deliver(peer.request(Role::kControlled, 1, false), backup),
              IceAgent::Result::kAnswered);
    // Both answer (the selected one first or second: either way it stays).
    for (size_t i = mark; i < h.sent.size(); ++i) {
      const Sent s = h.sent[i];
      stun::BindingRequest seen;
      if (peer.codec.checkRequest(s.bytes, kPeer, &seen) != stun::RequestCheck::kValid) {
        continue;  // our response to its check
      }
      EXPECT_EQ(h.deliver(peer.answer(s.bytes), s.to), IceAgent::Result::kResponse);
    }
    EXPECT_TRUE(h.agent.isValidRemote(backup));
    h.advance(milliseconds(1500));
    EXPECT_EQ(*h.agent.selectedRemote(), peer.addr);
  }
  EXPECT_EQ(moves, 0);
  EXPECT_EQ(h.agent.pairCount(), 2u);
}

// A check from an address that then never answers ours moves nothing: the
// selected pair stands or falls by its own consent.
TEST(IceAgent, ANewAddressThatDoesNotAnswerMovesNothing) {
  Harness h;
  Peer peer(ep("192.0.2.10", 5000));
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000));
  connect(h, peer);
  const UdpEndpoint oneWay = ep("192.0.2.10", 42000);
  EXPECT_EQ(h.deliver(peer.request(Role::kControlled, 1, false), oneWay),
            IceAgent::Result::kAnswered);
  const TimePoint asked = h.now;
  while (h.now - asked < std::chrono::seconds(20)) {
    h.advance(milliseconds(10));
  }
  EXPECT_FALSE(h.agent.isValidRemote(oneWay));
  EXPECT_EQ(h.agent.pairs()[1].state, PairState::kFailed);
  EXPECT_EQ(*h.agent.selectedRemote(), peer.addr);
  // Nobody answered anything: consent to the selected one expires as usual.
  while (h.agent.state() == IceState::kConnected && h.now - asked < std::chrono::seconds(40)) {
    h.advance(milliseconds(10));
  }
  EXPECT_EQ(h.agent.state(), IceState::kDisconnected);
  EXPECT_EQ(h.agent.failure(), IceFailure::kConsentExpired);
}

// A long call through a NAT that rebinds again and again: the agent keeps
// following, in the room of the pairs that failed.
TEST(IceAgent, KeepsFollowingThroughManyRebindings) {
  IceConfig cfg = testConfig();
  cfg.maxPairs = 4;
  Harness h(cfg);
  Peer peer(ep("192.0.2.10", 5000));
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000));
  connect(h, peer);
  int moves = 0;
  h.agent.onSelectedMoved([&](const UdpEndpoint&, const UdpEndpoint&) { ++moves; });
  for (uint16_t i = 1; i <= 20; ++i) {
    const UdpEndpoint now = ep("192.0.2.10", static_cast<uint16_t>(5000 + i));
    const size_t mark = h.sent.size();
    ASSERT_EQ(h.deliver(peer.request(Role::kControlled, 1, false), now),
              IceAgent::Result::kAnswered);
    for (size_t k = mark; k < h.sent.size(); ++k) {
      const Sent s = h.sent[k];
      stun::BindingRequest seen;
      if (s.to == now &&
          peer.codec.checkRequest(s.bytes, kPeer, &seen) == stun::RequestCheck::kValid) {
        EXPECT_EQ(h.deliver(peer.answer(s.bytes), now), IceAgent::Result::kResponse);
      }
    }
    h.advance(milliseconds(1100));
    ASSERT_EQ(*h.agent.selectedRemote(), now) << "rebinding " << i;
    EXPECT_LE(h.agent.pairCount(), 4u);
  }
  EXPECT_EQ(moves, 20);
  EXPECT_EQ(h.agent.state(), IceState::kConnected);
}

// A peer checking from many source addresses at once (it holds the
// password): each request is answered, but only one address at a time gets
// checks of ours.
TEST(IceAgent, OneNewAddressIsCheckedAtATime) {
  Harness h;
  Peer peer(ep("192.0.2.10", 5000));
  h.agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  h.agent.addRemoteCandidate(cand("192.0.2.10", 5000));
  connect(h, peer);
  h.advance(milliseconds(1000));
  h.sent.clear();
  for (uint16_t i = 1; i <= 10; ++i) {
    EXPECT_EQ(h.deliver(peer.request(Role::kControlled, 1, false), ep("198.51.100.7", 7000 + i)),
              IceAgent::Result::kAnswered);
  }
  size_t checks = 0;
  size_t responses = 0;
  for (const Sent& s : h.sent) {
    stun::BindingRequest seen;
    if (peer.codec.checkRequest(s.bytes, kPeer, &seen) == stun::RequestCheck::kValid) {
      ++checks;
    } else {
      ++responses;
    }
  }
  EXPECT_EQ(responses, 10u);
  EXPECT_EQ(checks, 2u);  // the first new address, and the probe of the selected one
  EXPECT_EQ(h.agent.pairCount(), 2u);
  EXPECT_EQ(*h.agent.selectedRemote(), peer.addr);
}

}  // namespace
