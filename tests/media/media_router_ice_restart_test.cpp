// In-place ICE restart on the media thread, in one process: the bridge's
// MediaLoop and clients made of the project's own pieces (media_router_harness.hpp),
// the test thread playing the control thread through the real compiler.
// A restart round (control/conference.hpp IceRestart) runs a second ICE agent
// beside the established one: media keeps flowing on the old pair, the new
// agent answers checks for its ufrag at once and checks itself once the
// client's new credentials come, the media thread cuts over when it connects
// (same DTLS association, same SRTP sessions: no new handshake) and keeps
// answering the old ufrag for the transition window only; a round that does
// not connect in time is abandoned and the old pair kept.
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "media_router_harness.hpp"

namespace {

using namespace jvb::router_test;
namespace asio = boost::asio;
using asio::ip::udp;
using namespace jvb;

class IceRestartRouterTest : public MediaRouterTest {
 protected:
  void SetUp() override {
    opts_.iceRestart.timeout = std::chrono::milliseconds(4000);
    opts_.iceRestart.transitionWindow = std::chrono::milliseconds(3000);
    MediaRouterTest::SetUp();
    media::MediaEvents events;
    events.iceChanged = [this](const std::string&, const std::string& id, media::IceEvent e) {
      std::lock_guard<std::mutex> lock(mu_);
      ice_.emplace_back(id, std::move(e));
    };
    media_->setEvents(std::move(events));
  }

  std::vector<std::pair<std::string, media::IceEvent>> iceEvents() {
    std::lock_guard<std::mutex> lock(mu_);
    return ice_;
  }
  size_t countEvents(media::IceEvent::Kind kind) {
    size_t n = 0;
    for (const auto& [id, e] : iceEvents()) {
      n += e.kind == kind ? 1 : 0;
    }
    return n;
  }

  // The control thread starting round `generation` for `id` (what
  // ConferenceRegistry does on <transport ice-restart='true'/>).
  ice::Credentials startRound(const std::string& id, int generation) {
    control::Endpoint& e = bridgeSide_[id];
    control::IceRestart r;
    r.generation = generation;
    r.local = ice::generateCredentials();
    e.iceRestart = r;
    compiler_->endpointChanged("m", e);
    return r.local;
  }
  // ... and taking the client's tagged answer.
  void answerRound(const std::string& id, const Client& c) {
    control::Endpoint& e = bridgeSide_[id];
    e.iceRestart->remoteKnown = true;
    e.iceRestart->remoteUfrag = c.creds.ufrag;
    e.iceRestart->remotePwd = c.creds.pwd;
    compiler_->endpointChanged("m", e);
  }

  std::mutex mu_;
  std::vector<std::pair<std::string, media::IceEvent>> ice_;
};

// The client side of a restart (what Chromium does when its remote
// description's ufrag/pwd change): new local credentials, a new ICE agent
// against the bridge's new ones; DTLS and SRTP stay.
void restartClient(Client& c, const ice::Credentials& bridgeNew, uint16_t bridgePort) {
  c.creds = ice::generateCredentials();
  Client* raw = &c;
  c.agent = std::make_unique<ice::IceAgent>(
      c.creds,
      [raw](std::span<const uint8_t> d, const udp::endpoint& to) {
        boost::system::error_code ec;
        raw->socket.send_to(asio::buffer(d.data(), d.size()), to, 0, ec);
      },
      ice::IceConfig{}, ice::Role::kControlled);
  c.agent->setRemoteCredentials(bridgeNew.ufrag, bridgeNew.pwd);
  ice::Candidate cand;
  cand.foundation = "1";
  cand.priority = ice::candidatePriority(ice::CandidateType::kHost, 65535);
  cand.ip = "127.0.0.1";
  cand.port = bridgePort;
  cand.type = "host";
  c.agent->addRemoteCandidate(cand);
}

// A Binding request to the bridge for `bridge` credentials from a socket of
// its own; whether an authentic answer came within 500 ms.
bool probe(asio::io_context& io, const udp::endpoint& bridgeAddr, const ice::Credentials& bridge,
           const std::string& clientUfrag) {
  udp::socket s(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  s.non_blocking(true);
  ice::stun::StunCodec codec;
  codec.setPeerPassword(bridge.pwd);
  std::array<uint8_t, ice::stun::kMaxMessageSize> buf{};
  ice::stun::TransactionId id{};
  const ice::stun::RequestParams params{
      clientUfrag, bridge.ufrag, 1845501695, ice::Role::kControlled, 42, false};
  const size_t n = codec.buildRequest(params, buf, id);
  if (n == 0) {
    return false;
  }
  s.send_to(asio::buffer(buf.data(), n), bridgeAddr);
  const auto deadline = Clock::now() + std::chrono::milliseconds(500);
  while (Clock::now() < deadline) {
    udp::endpoint from;
    boost::system::error_code ec;
    const size_t got = s.receive_from(asio::buffer(buf), from, 0, ec);
    if (!ec) {
      ice::stun::BindingResponse r;
      return codec.checkResponse({buf.data(), got}, r) == ice::stun::ResponseCheck::kValid &&
             r.errorCode == 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  codec.forget(id);
  return false;
}

TEST_F(IceRestartRouterTest, MediaKeepsFlowingAcrossARestartOnTheSameAddressWithoutNewDtls) {
  auto pa = addClient("a", 1111);
  auto pb = addClient("b", 2222);
  Client& a = *pa;
  Client& b = *pb;
  const auto& c = media_->counters();
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.out && b.out && c.dtlsSucceeded.load() == 2; }));
  ASSERT_TRUE(pump({&a, &b}, [&] { return countEvents(media::IceEvent::Kind::kConnected) == 2; }))
      << "first ICE connection reported for both";
  uint16_t seq = 1;
  a.sendRtp(1111, 111, seq++, "before");
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.received.size() == 1; }));
  const ice::Credentials oldBridge = bridgeSide_["b"].localIce;
  const std::string oldClientUfrag = b.creds.ufrag;

  // Round 1 for b: the new agent exists and answers its ufrag at once; the
  // old pair still carries media both ways.
  const ice::Credentials newBridge = startRound("b", 1);
  ASSERT_TRUE(pump(
      {&a, &b}, [&] { return probe(io_, bridgeAddr_, newBridge, "probe"); }, 3000))
      << "the new agent answers checks for its ufrag before the client's answer";
  a.sendRtp(1111, 111, seq++, "during");
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.received.size() == 2; }));

  // The client restarts ICE on the same socket (same 5-tuple: the bridge
  // must tell the agents apart by ufrag, not by address) and answers.
  restartClient(b, newBridge, bridgeAddr_.port());
  answerRound("b", b);
  ASSERT_TRUE(pump({&a, &b},
                   [&] {
                     return countEvents(media::IceEvent::Kind::kRestartSucceeded) == 1 &&
                            b.agent->state() == ice::IceState::kConnected;
                   }))
      << "client ICE " << ice::iceStateName(b.agent->state());
  const auto events = iceEvents();
  const auto it = std::find_if(events.begin(), events.end(), [](const auto& e) {
    return e.second.kind == media::IceEvent::Kind::kRestartSucceeded;
  });
  ASSERT_NE(it, events.end());
  EXPECT_EQ(it->first, "b");
  EXPECT_EQ(it->second.generation, 1);
  EXPECT_EQ(it->second.local.ufrag, newBridge.ufrag);
  EXPECT_EQ(it->second.remoteUfrag, b.creds.ufrag);
  EXPECT_EQ(it->second.remotePwd, b.creds.pwd);

  // Media both ways on the same SRTP sessions; no DTLS handshake since.
  a.sendRtp(1111, 111, seq++, "after");
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.received.size() == 3; }));
  b.sendRtp(2222, 111, 1, "from b after");
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.received.size() == 1; }));
  EXPECT_EQ(c.dtlsSucceeded.load(), 2u);
  EXPECT_EQ(c.dtlsFailed.load(), 0u);
  EXPECT_EQ(c.srtpFailed.load(), 0u);
  EXPECT_EQ(countEvents(media::IceEvent::Kind::kRestartFailed), 0u);

  // The old ufrag is answered during the transition window only.
  EXPECT_TRUE(probe(io_, bridgeAddr_, oldBridge, oldClientUfrag)) << "inside the window";
  ASSERT_TRUE(pump(
      {&a, &b}, [&] { return !probe(io_, bridgeAddr_, oldBridge, oldClientUfrag); }, 8000))
      << "the old ufrag must go once the transition window is over";
  EXPECT_TRUE(probe(io_, bridgeAddr_, newBridge, b.creds.ufrag))
      << "the new agent is the current one";
  // Consent goes on the new pair: b stays connected well past a check.
  pump(
      {&a, &b}, [] { return false; }, 300);
  a.sendRtp(1111, 111, seq++, "later");
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.received.size() == 4; }));
}

TEST_F(IceRestartRouterTest, ARestartToANewAddressMovesMediaThere) {
  auto pa = addClient("a", 1111);
  auto pb = addClient("b", 2222);
  Client& a = *pa;
  Client& b = *pb;
  const auto& c = media_->counters();
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.out && b.out && c.dtlsSucceeded.load() == 2; }));
  ASSERT_TRUE(pump({&a, &b}, [&] { return countEvents(media::IceEvent::Kind::kConnected) == 2; }));
  const uint16_t oldPort = b.port();

  // b's network changed: a new socket (the old one is closed), a new agent.
  const ice::Credentials newBridge = startRound("b", 1);
  b.socket = udp::socket(io_, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  b.socket.non_blocking(true);
  ASSERT_NE(b.port(), oldPort);
  restartClient(b, newBridge, bridgeAddr_.port());
  answerRound("b", b);
  ASSERT_TRUE(
      pump({&a, &b}, [&] { return countEvents(media::IceEvent::Kind::kRestartSucceeded) == 1; }));

  a.sendRtp(1111, 111, 1, "to the new address");
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.received.size() == 1; }));
  b.sendRtp(2222, 111, 1, "from the new address");
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.received.size() == 1; }));
  EXPECT_EQ(c.dtlsSucceeded.load(), 2u);
  EXPECT_EQ(c.srtpFailed.load(), 0u);
}

TEST_F(IceRestartRouterTest, AnUnansweredRoundIsAbandonedAndTheOldPairKept) {
  auto pa = addClient("a", 1111);
  auto pb = addClient("b", 2222);
  Client& a = *pa;
  Client& b = *pb;
  const auto& c = media_->counters();
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.out && b.out && c.dtlsSucceeded.load() == 2; }));

  const ice::Credentials round1 = startRound("b", 1);
  ASSERT_TRUE(pump(
      {&a, &b}, [&] { return probe(io_, bridgeAddr_, round1, "p"); }, 3000));
  // Round 2 supersedes round 1 (its ufrag goes at once), and is never answered.
  const ice::Credentials round2 = startRound("b", 2);
  ASSERT_TRUE(pump(
      {&a, &b}, [&] { return probe(io_, bridgeAddr_, round2, "p"); }, 3000));
  EXPECT_FALSE(probe(io_, bridgeAddr_, round1, "p"));
  // A round already seen is not started again (a late upsert of round 1).
  startRound("b", 1);
  pump(
      {&a, &b}, [] { return false; }, 100);
  EXPECT_FALSE(probe(io_, bridgeAddr_, round1, "p"));

  ASSERT_TRUE(pump(
      {&a, &b}, [&] { return countEvents(media::IceEvent::Kind::kRestartFailed) == 1; }, 8000))
      << "round 2 must be abandoned after videobridge.ice.restart.timeout";
  const auto events = iceEvents();
  EXPECT_EQ(events.back().second.generation, 2);
  EXPECT_EQ(countEvents(media::IceEvent::Kind::kRestartSucceeded), 0u);
  EXPECT_FALSE(probe(io_, bridgeAddr_, round2, "p"));
  // The established pair never stopped.
  a.sendRtp(1111, 111, 1, "still here");
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.received.size() == 1; }));
  EXPECT_EQ(b.agent->state(), ice::IceState::kConnected);
}

// A NAT rebinding, no restart: the client keeps its agent and its socket as
// it sees them, but the bridge sees it from a new port from now on and the
// old one answers nothing. The client's next consent check comes from there:
// the bridge checks the new address, probes the old one, and moves the
// endpoint's selected pair (ice_agent.hpp, "Following the peer"): media both
// ways on the new address, nothing more to the old one, same DTLS and SRTP.
TEST_F(IceRestartRouterTest, ANatRebindingIsFollowedWithoutARestart) {
  clientIce_.consentInterval = std::chrono::milliseconds(300);
  auto pa = addClient("a", 1111);
  auto pb = addClient("b", 2222);
  Client& a = *pa;
  Client& b = *pb;
  const auto& c = media_->counters();
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.out && b.out && c.dtlsSucceeded.load() == 2; }));
  uint16_t seq = 1;
  a.sendRtp(1111, 111, seq++, "before");
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.received.size() == 1; }));

  udp::socket old = std::move(b.socket);
  old.non_blocking(true);
  b.socket = udp::socket(io_, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  b.socket.non_blocking(true);
  ASSERT_NE(b.port(), old.local_endpoint().port());
  ASSERT_TRUE(pump(
      {&a, &b}, [&] { return c.icePeerMoves.load() == 1; }, 10000))
      << "the bridge must follow b to its new port";
  std::array<uint8_t, 2048> buf{};
  const auto drainOld = [&] {
    size_t n = 0;
    for (;;) {
      udp::endpoint from;
      boost::system::error_code ec;
      old.receive_from(asio::buffer(buf), from, 0, ec);
      if (ec) {
        return n;
      }
      ++n;
    }
  };
  EXPECT_GT(drainOld(), 0u) << "before the move the bridge still sent to the old port";

  a.sendRtp(1111, 111, seq++, "after");
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.received.size() == 2; }))
      << "a's audio reaches b at its new port";
  b.sendRtp(2222, 111, 1, "from the new port");
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.received.size() == 1; }))
      << "b's audio from its new port is forwarded";
  // Consent checks and media go on: nothing reaches the old port any more.
  auto nextSend = Clock::now();
  (void)pump(
      {&a, &b},
      [&] {
        if (Clock::now() >= nextSend) {
          a.sendRtp(1111, 111, seq++, "later");
          nextSend += std::chrono::milliseconds(20);
        }
        return false;
      },
      800);
  EXPECT_GT(b.received.size(), 2u);
  EXPECT_EQ(drainOld(), 0u) << "nothing is sent to the old address after the move";
  EXPECT_EQ(b.agent->state(), ice::IceState::kConnected);
  EXPECT_EQ(c.icePeerMoves.load(), 1u);
  EXPECT_EQ(c.iceFailed.load(), 0u);
  EXPECT_EQ(c.dtlsSucceeded.load(), 2u);
  EXPECT_EQ(c.srtpFailed.load(), 0u);
  EXPECT_EQ(countEvents(media::IceEvent::Kind::kRestartSucceeded), 0u);
}

}  // namespace
