// The media plane end to end inside one process: the bridge's MediaLoop on
// 127.0.0.1 and two client endpoints built from the project's own client-side
// pieces (a controlled ICE agent, a DTLS client, SRTP sessions) on their own
// UDP sockets. Third-party WebRTC stacks (aiortc, Chromium) are exercised by
// tests/media; this test pins the router's rules: ICE + DTLS + SRTP come up,
// audio from a signalled SSRC reaches the other endpoint (not the sender),
// and unsignalled SSRCs, video and strangers are dropped and counted.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "dtls/session.hpp"
#include "ice/credentials.hpp"
#include "ice/ice_agent.hpp"
#include "ice/stun.hpp"
#include "media/media_loop.hpp"
#include "media/media_router.hpp"
#include "rtp/audio_level.hpp"
#include "rtp/demux.hpp"
#include "rtp/rtcp_builder.hpp"
#include "rtp/rtcp_views.hpp"
#include "rtp/rtp_packet.hpp"
#include "srtp/library.hpp"
#include "srtp/session.hpp"

#include "media_router_harness.hpp"

namespace {

using namespace jvb::router_test;
namespace asio = boost::asio;
using asio::ip::udp;
using namespace jvb;
TEST_F(MediaRouterTest, IceDtlsSrtpAndAudioForwardingBetweenTwoEndpoints) {
  auto& media = *media_;
  const auto bridgeAddr = bridgeAddr_;
  auto& io = io_;
  auto pa = addClient("a", 1111);
  auto pb = addClient("b", 2222);
  Client& a = *pa;
  Client& b = *pb;

  ASSERT_TRUE(pump({&a, &b}, [&] { return a.out && b.out; }))
      << "ICE " << static_cast<int>(a.agent->state()) << "/" << static_cast<int>(b.agent->state())
      << " DTLS " << static_cast<int>(a.dtls->state()) << "/" << static_cast<int>(b.dtls->state())
      << " " << a.dtls->failureReason() << b.dtls->failureReason();
  const auto& c = media.counters();
  EXPECT_EQ(c.iceSucceeded.load(), 2u);
  // The bridge's own SRTP comes up after its side of the handshake finishes.
  ASSERT_TRUE(pump({&a, &b}, [&] { return c.dtlsSucceeded.load() == 2; }));

  // Audio from a signalled SSRC reaches the other endpoint, unchanged.
  for (uint16_t seq = 1; seq <= 5; ++seq) {
    a.sendRtp(1111, 111, seq, "hello from a #" + std::to_string(seq));
  }
  ASSERT_TRUE(pump({&a, &b}, [&] { return b.received.size() == 5; }));
  const auto view = rtp::ConstRtpPacketView::parse(b.received[0]);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->ssrc(), 1111u);
  EXPECT_EQ(view->sequenceNumber(), 1);
  const auto payload = view->payload();
  EXPECT_EQ(std::string(payload.begin(), payload.end()), "hello from a #1");
  EXPECT_TRUE(a.received.empty()) << "a sender must not hear itself";

  // And the other way.
  b.sendRtp(2222, 111, 7, "from b");
  ASSERT_TRUE(pump({&a, &b}, [&] { return a.received.size() == 1; }));
  // Both proved they finished the handshake (authenticated SRTP) and asked
  // for no data channel: their DTLS sessions are released; a DTLS datagram
  // that still comes is dropped and counted (no new session).
  EXPECT_TRUE(pump({&a, &b}, [&] { return c.dtlsReleased.load() == 2; }));
  {
    std::array<uint8_t, 13> record{22, 0xFE, 0xFD};  // a DTLS 1.2 handshake record header
    a.socket.send_to(asio::buffer(record), bridgeAddr);
  }
  EXPECT_TRUE(pump({&a, &b}, [&] { return c.dtlsAfterRelease.load() == 1; }));
  EXPECT_EQ(c.dtlsFailed.load(), 0u);

  // Unsignalled SSRC and video: dropped and counted, nothing reaches b.
  const auto droppedBefore = c.rtpDropped.load();
  a.sendRtp(9999, 111, 1, "not signalled");
  a.sendRtp(1111, 100, 6, "video");
  EXPECT_TRUE(pump({&a, &b}, [&] {
    return c.rtpDropped.load() == droppedBefore + 1 && c.videoDropped.load() == 1;
  }));
  pump(
      {&a, &b}, [] { return false; }, 200);
  EXPECT_EQ(b.received.size(), 5u);

  // A stranger's RTP creates no state and reaches no one.
  udp::socket stranger(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::array<uint8_t, 40> junk{};
  junk[0] = 0x80;
  junk[1] = 111;
  const auto unknownBefore =
      c.droppedUnknownSource[static_cast<size_t>(rtp::PacketKind::kRtp)].load();
  stranger.send_to(asio::buffer(junk), bridgeAddr);
  EXPECT_TRUE(pump({&a, &b}, [&] {
    return c.droppedUnknownSource[static_cast<size_t>(rtp::PacketKind::kRtp)].load() ==
           unknownBefore + 1;
  }));

  // A tampered packet from a fails SRTP authentication and is counted.
  const auto srtpBefore = c.srtpFailed.load();
  {
    std::array<uint8_t, 64> p{};
    p[0] = 0x80;
    p[1] = 111;
    p[3] = 9;
    p[10] = 0x04;
    p[11] = 0x57;  // SSRC 1111, a's signalled one: dropped only by authentication
    const auto r = a.out->protectRtp(std::span<uint8_t>(p.data(), p.size()), 20);
    ASSERT_TRUE(r.ok());
    p[r.length - 1] ^= 0x01;
    a.socket.send_to(asio::buffer(p.data(), r.length), bridgeAddr);
  }
  EXPECT_TRUE(pump({&a, &b}, [&] { return c.srtpFailed.load() == srtpBefore + 1; }));

  // b expires: a's audio goes nowhere.
  compiler_->endpointExpired("m", "b");
  pump(
      {&a, &b}, [] { return false; }, 100);
  const auto forwarded = c.rtpForwarded.load();
  a.sendRtp(1111, 111, 8, "to nobody");
  pump(
      {&a, &b}, [] { return false; }, 200);
  EXPECT_EQ(c.rtpForwarded.load(), forwarded);
}

TEST_F(MediaRouterTest, AVanishedEndpointLosesConsentAndTheOthersKeepTalking) {
  ice::IceConfig fast;
  fast.consentInterval = std::chrono::milliseconds(200);
  fast.consentTimeout = std::chrono::milliseconds(1500);
  media_->setIceConfig(fast);
  auto a = addClient("a", 1111);
  auto b = addClient("b", 2222);
  auto gone = addClient("c", 3333);
  const auto& c = media_->counters();
  ASSERT_TRUE(pump({a.get(), b.get(), gone.get()},
                   [&] { return c.dtlsSucceeded.load() == 3 && a->out && b->out && gone->out; }));
  a->sendRtp(1111, 111, 1, "before");
  ASSERT_TRUE(pump({a.get(), b.get(), gone.get()},
                   [&] { return b->received.size() == 1 && gone->received.size() == 1; }));

  // c stops answering anything (its process froze, its network went away).
  ASSERT_TRUE(pump(
      {a.get(), b.get()}, [&] { return c.iceFailed.load() == 1; }, 10000))
      << "consent freshness did not notice the vanished endpoint";
  const auto forwardedBefore = c.rtpForwarded.load();
  a->sendRtp(1111, 111, 2, "after");
  ASSERT_TRUE(pump({a.get(), b.get()}, [&] { return b->received.size() == 2; }));
  pump(
      {a.get(), b.get()}, [] { return false; }, 200);
  EXPECT_EQ(c.rtpForwarded.load(), forwardedBefore + 1) << "nothing more goes to the vanished one";
  EXPECT_EQ(a->agent->state(), ice::IceState::kConnected);
  EXPECT_EQ(b->agent->state(), ice::IceState::kConnected);
}

}  // namespace

namespace {

TEST_F(MediaRouterTest, BadInputIsDroppedAndCountedAndDisturbsNoOne) {
  auto a = addClient("a", 1111);
  auto b = addClient("b", 2222);
  const auto& c = media_->counters();
  ASSERT_TRUE(
      pump({a.get(), b.get()}, [&] { return c.dtlsSucceeded.load() == 2 && a->out && b->out; }));
  const auto unknown = [&](rtp::PacketKind k) {
    return c.droppedUnknownSource[static_cast<size_t>(k)].load();
  };
  udp::socket stranger(io_, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  stranger.non_blocking(true);

  // A binding request for a's ufrag, keyed with the wrong password.
  {
    ice::stun::StunCodec codec;
    codec.setPeerPassword("this-is-not-the-password");
    std::array<uint8_t, 512> buf{};
    ice::stun::TransactionId id{};
    const std::string localUfrag = "strg";
    ice::stun::RequestParams params;
    params.localUfrag = localUfrag;
    params.remoteUfrag = bridgeSide_["a"].localIce.ufrag;
    params.priority = 1;
    params.role = ice::Role::kControlled;
    const size_t n = codec.buildRequest(params, buf, id);
    ASSERT_GT(n, 0u);
    const auto rejected = c.stunRejected.load();
    stranger.send_to(asio::buffer(buf.data(), n), bridgeAddr_);
    EXPECT_TRUE(pump({a.get(), b.get()}, [&] { return c.stunRejected.load() == rejected + 1; }));
    // ... and a well-keyed one for a ufrag no endpoint has.
    codec.setPeerPassword(bridgeSide_["a"].localIce.pwd);
    params.remoteUfrag = "nobodyhere";
    const size_t m = codec.buildRequest(params, buf, id);
    const auto stun = unknown(rtp::PacketKind::kStun);
    stranger.send_to(asio::buffer(buf.data(), m), bridgeAddr_);
    EXPECT_TRUE(
        pump({a.get(), b.get()}, [&] { return unknown(rtp::PacketKind::kStun) == stun + 1; }));
  }
  // Truncated STUN, random bytes, DTLS from a stranger.
  {
    const auto junk = unknown(rtp::PacketKind::kUnknown);
    const auto dtlsStrangers = unknown(rtp::PacketKind::kDtls);
    const std::array<uint8_t, 10> shortStun{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2};
    stranger.send_to(asio::buffer(shortStun), bridgeAddr_);
    std::array<uint8_t, 100> random{};
    for (size_t i = 0; i < random.size(); ++i)
      random[i] = static_cast<uint8_t>(i * 37 + 201);
    stranger.send_to(asio::buffer(random), bridgeAddr_);
    std::array<uint8_t, 60> hello{22, 0xfe, 0xfd};
    stranger.send_to(asio::buffer(hello), bridgeAddr_);
    EXPECT_TRUE(pump({a.get(), b.get()}, [&] {
      return unknown(rtp::PacketKind::kUnknown) == junk + 2 &&
             unknown(rtp::PacketKind::kDtls) == dtlsStrangers + 1;
    }));
    std::array<uint8_t, 64> reply{};
    boost::system::error_code ec;
    udp::endpoint from;
    stranger.receive_from(asio::buffer(reply), from, 0, ec);
    EXPECT_TRUE(ec) << "the bridge answered a stranger";
  }
  // A replayed SRTP packet: forwarded once, the copy dropped and counted.
  {
    std::array<uint8_t, 256> p{};
    p[0] = 0x80;
    p[1] = 111;
    p[3] = 42;
    p[8] = 0x00;
    p[9] = 0x00;
    p[10] = 0x04;
    p[11] = 0x57;  // SSRC 1111
    std::memcpy(p.data() + 12, "replay me", 9);
    const auto r = a->out->protectRtp(std::span<uint8_t>(p.data(), p.size()), 21);
    ASSERT_TRUE(r.ok());
    const auto srtpBefore = c.srtpFailed.load();
    a->socket.send_to(asio::buffer(p.data(), r.length), bridgeAddr_);
    a->socket.send_to(asio::buffer(p.data(), r.length), bridgeAddr_);
    EXPECT_TRUE(pump({a.get(), b.get()}, [&] {
      return b->received.size() == 1 && c.srtpFailed.load() == srtpBefore + 1;
    }));
  }
  // Both endpoints still talk.
  a->sendRtp(1111, 111, 100, "still here");
  b->sendRtp(2222, 111, 100, "me too");
  EXPECT_TRUE(
      pump({a.get(), b.get()}, [&] { return b->received.size() == 2 && a->received.size() == 1; }));
}

}  // namespace

namespace {

TEST_F(MediaRouterTest, ReceiverReportsToSendersAndSenderReportsPassedOn) {
  auto a = addClient("a", 1111);
  auto b = addClient("b", 2222);
  const auto& c = media_->counters();
  ASSERT_TRUE(
      pump({a.get(), b.get()}, [&] { return c.dtlsSucceeded.load() == 2 && a->out && b->out; }));
  for (uint16_t seq = 10; seq < 20; ++seq) {
    if (seq != 15) {  // one packet lost on the way
      a->sendRtp(1111, 111, seq, "x");
    }
  }
  ASSERT_TRUE(pump({a.get(), b.get()}, [&] { return b->received.size() == 9; }));

  // a's sender report: the bridge keeps its NTP time for LSR and passes the
  // sender info on to b.
  rtp::SenderInfo info;
  info.ntpTimestamp = 0x0123456789abcdefULL;
  info.rtpTimestamp = 48000;
  info.packetCount = 9;
  info.octetCount = 9;
  {
    std::array<uint8_t, 256> p{};
    const size_t sr = rtp::writeSenderReport(p, 1111, info, {});
    const size_t sdes = rtp::writeSdesCname(std::span<uint8_t>(p).subspan(sr), 1111, "a-cname");
    const auto r = a->out->protectRtcp(std::span<uint8_t>(p.data(), p.size()), sr + sdes);
    ASSERT_TRUE(r.ok());
    a->socket.send_to(asio::buffer(p.data(), r.length), bridgeAddr_);
  }
  ASSERT_TRUE(pump({a.get(), b.get()}, [&] { return findSenderReport(*b, 1111).has_value(); }));
  const auto passed = *findSenderReport(*b, 1111);
  EXPECT_EQ(passed.ntpTimestamp, info.ntpTimestamp);
  EXPECT_EQ(passed.rtpTimestamp, info.rtpTimestamp);
  EXPECT_EQ(passed.packetCount, info.packetCount);

  // The bridge's receiver report to a (about once a second) covers a's stream.
  ASSERT_TRUE(pump(
      {a.get(), b.get()},
      [&] {
        const auto blk = findBlock(*a, 1111);
        return blk && blk->lastSr != 0;
      },
      5000));
  const auto blk = *findBlock(*a, 1111);
  EXPECT_EQ(blk.extendedHighestSequence, 19u);
  EXPECT_EQ(blk.cumulativeLost, 1);
  EXPECT_EQ(blk.lastSr, static_cast<uint32_t>(info.ntpTimestamp >> 16));
  EXPECT_FALSE(findBlock(*b, 1111).has_value()) << "b is told nothing about a's reception";
  EXPECT_GE(c.rtcpSent.load(), 2u);
}

}  // namespace

namespace {

TEST_F(MediaRouterTest, HeaderExtensionIdsAreMappedPerReceiverAndMidIsStripped) {
  const std::string level = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
  const std::string mid = "urn:ietf:params:rtp-hdrext:sdes:mid";
  auto a = addClient("a", 1111, {{1, level}, {10, mid}});
  auto b = addClient("b", 2222, {{3, level}, {10, mid}});  // another id for the level
  auto d = addClient("d", 4444, {{1, level}, {10, mid}});  // the same negotiation as a
  const auto& c = media_->counters();
  ASSERT_TRUE(pump({a.get(), b.get(), d.get()},
                   [&] { return c.dtlsSucceeded.load() == 3 && a->out && b->out && d->out; }));
  // a sends level 25 (id 1) and mid "0" (id 10) in a one-byte extension block.
  std::array<uint8_t, 256> p{};
  p[0] = 0x90;  // X=1
  p[1] = 111;
  p[3] = 1;
  p[10] = 0x04;
  p[11] = 0x57;  // SSRC 1111
  p[12] = 0xBE;
  p[13] = 0xDE;
  p[15] = 1;     // one word of elements
  p[16] = 0x10;  // id 1, len 1
  p[17] = 25;
  p[18] = 0xA0;  // id 10, len 1
  p[19] = '0';
  std::memcpy(p.data() + 20, "opus", 4);
  const auto r = a->out->protectRtp(std::span<uint8_t>(p.data(), p.size()), 24);
  ASSERT_TRUE(r.ok());
  a->socket.send_to(asio::buffer(p.data(), r.length), bridgeAddr_);
  ASSERT_TRUE(pump({a.get(), b.get(), d.get()},
                   [&] { return b->received.size() == 1 && d->received.size() == 1; }));
  for (Client* rx : {b.get(), d.get()}) {
    auto view = rtp::ConstRtpPacketView::parse(rx->received[0]);
    ASSERT_TRUE(view);
    const uint8_t want = rx == b.get() ? 3 : 1;
    const auto lvl = rtp::readAudioLevel(*view, want);
    ASSERT_TRUE(lvl) << "audio level not under id " << int(want);
    EXPECT_EQ(lvl->level, 25);
    EXPECT_FALSE(view->findExtension(10).has_value()) << "sdes:mid is stripped";
    const auto payload = view->payload();
    EXPECT_EQ(std::string(payload.begin(), payload.end()), "opus");
  }
}

// route-loudest-only on, num-loudest 3 (the shipped deployment's setting).
class LoudestRoutingTest : public MediaRouterTest {
 protected:
  void SetUp() override {
    opts_.speech.routeLoudestOnly = true;
    opts_.speech.numLoudest = 3;
    MediaRouterTest::SetUp();
    media::MediaEvents events;
    events.dominantSpeakerChanged = [this](const std::string&, const std::string& dominant,
                                           const std::vector<std::string>& previous, bool) {
      std::lock_guard lock(mutex_);
      dominant_ = dominant;
      previous_ = previous;
      ++changes_;
    };
    media_->setEvents(events);
  }
  std::string dominant() {
    std::lock_guard lock(mutex_);
    return dominant_;
  }
  std::mutex mutex_;
  std::string dominant_;
  std::vector<std::string> previous_;
  int changes_ = 0;
};

TEST_F(LoudestRoutingTest, OnlyTheThreeLoudestOfTwentySendersReachReceiversAndTheSetFollowsLevels) {
  constexpr int kSenders = 20;
  std::vector<std::unique_ptr<Client>> senders;
  std::vector<Client*> all;
  const std::string level = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
  for (int i = 0; i < kSenders; ++i) {
    senders.push_back(
        addClient("s" + std::to_string(i), 1000 + static_cast<uint32_t>(i), {{1, level}}));
    all.push_back(senders.back().get());
  }
  auto rx = addClient("r", 5000, {{1, level}});
  all.push_back(rx.get());
  const auto& c = media_->counters();
  ASSERT_TRUE(pump(
      all,
      [&] {
        return c.dtlsSucceeded.load() == kSenders + 1 &&
               std::all_of(all.begin(), all.end(), [](Client* x) { return x->out.has_value(); });
      },
      20000));

  // Sender i speaks at -(10 + 4i) dBov: s0, s1, s2 are the loudest. Every
  // 25th packet is near silence, as speech has pauses (a steady level is its
  // own noise floor to the dominant-speaker algorithm).
  std::vector<uint8_t> levels(kSenders);
  for (int i = 0; i < kSenders; ++i) {
    levels[static_cast<size_t>(i)] = static_cast<uint8_t>(10 + 4 * i);
  }
  uint16_t seq = 1;
  auto talk = [&](int rounds) {
    for (int round = 0; round < rounds; ++round, ++seq) {
      for (int i = 0; i < kSenders; ++i) {
        const uint8_t l = seq % 25 == 0 ? 120 : levels[static_cast<size_t>(i)];
        sendAudio(*senders[static_cast<size_t>(i)], bridgeAddr_, 1000 + static_cast<uint32_t>(i),
                  seq, l);
      }
      pump(
          all, [] { return false; }, 20);
    }
  };
  auto heard = [&] {
    std::map<uint32_t, int> n;
    for (const auto& p : rx->received) {
      ++n[ssrcOf(p)];
    }
    return n;
  };
  talk(60);  // 1.2 s: rankings settle, a dominant speaker is chosen
  rx->received.clear();
  talk(25);
  auto n = heard();
  std::set<uint32_t> got;
  for (const auto& [ssrc, count] : n) {
    got.insert(ssrc);
  }
  std::set<uint32_t> expected{1000, 1001, 1002};
  const auto dom = dominant();
  ASSERT_FALSE(dom.empty()) << "no dominant speaker elected";
  expected.insert(1000 + static_cast<uint32_t>(std::stoi(dom.substr(1))));
  EXPECT_EQ(got, expected) << "dominant " << dom;
  for (uint32_t ssrc : {1000u, 1001u, 1002u}) {
    EXPECT_GE(n[ssrc], 20) << ssrc;  // (a pause packet may rank lower for a moment)
  }
  EXPECT_GT(c.audioNotLoudestDropped.load(), 0u);

  // s17, s18, s19 become the loudest; s0..s2 fall quiet: the set follows.
  for (int i = 0; i < kSenders; ++i) {
    levels[static_cast<size_t>(i)] = static_cast<uint8_t>(90 - 4 * i / 2);
  }
  levels[17] = 5;
  levels[18] = 6;
  levels[19] = 7;
  talk(40);
  rx->received.clear();
  talk(25);
  n = heard();
  for (uint32_t ssrc : {1017u, 1018u, 1019u}) {
    EXPECT_GE(n[ssrc], 20) << ssrc;
  }
  const auto dom2 = dominant();
  for (const auto& [ssrc, count] : n) {
    const bool loud = ssrc >= 1017;
    const bool isDominant = "s" + std::to_string(ssrc - 1000) == dom2;
    EXPECT_TRUE(loud || isDominant)
        << "ssrc " << ssrc << " forwarded " << count
        << " times while not among the loudest (dominant " << dom2 << ")";
  }
  // Nobody hears themselves.
  for (int i = 0; i < kSenders; ++i) {
    for (const auto& p : senders[static_cast<size_t>(i)]->received) {
      EXPECT_NE(ssrcOf(p), 1000u + static_cast<uint32_t>(i));
    }
  }
}

TEST_F(LoudestRoutingTest, DominantSpeakerMovesToWhoTalksOnAndIsReported) {
  const std::string level = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
  auto a = addClient("a", 1111, {{1, level}});
  auto b = addClient("b", 2222, {{1, level}});
  auto l = addClient("l", 3333, {{1, level}});
  const auto& c = media_->counters();
  std::vector<Client*> all{a.get(), b.get(), l.get()};
  ASSERT_TRUE(pump(all, [&] { return c.dtlsSucceeded.load() == 3 && a->out && b->out && l->out; }));
  uint16_t seq = 1;
  auto talk = [&](int rounds, uint8_t la, uint8_t lb) {
    for (int i = 0; i < rounds; ++i, ++seq) {
      const bool pause = seq % 25 == 0;
      sendAudio(*a, bridgeAddr_, 1111, seq, pause ? 120 : la);
      sendAudio(*b, bridgeAddr_, 2222, seq, pause ? 120 : lb);
      pump(
          all, [] { return false; }, 20);
    }
  };
  talk(100, 10, 127);  // a talks, b is silent
  EXPECT_EQ(dominant(), "a");
  talk(150, 127, 10);  // b talks on
  EXPECT_EQ(dominant(), "b");
  {
    std::lock_guard lock(mutex_);
    ASSERT_FALSE(previous_.empty());
    EXPECT_EQ(previous_.front(), "a");
  }
  EXPECT_GE(c.dominantSpeakerChanges.load(), 2u);
  // Silence after 3 packets in a row is not forwarded.
  const auto silenceBefore = c.audioSilenceDropped.load();
  l->received.clear();
  for (int i = 0; i < 10; ++i, ++seq) {
    sendAudio(*a, bridgeAddr_, 1111, seq, 127);
  }
  pump(
      all, [&] { return c.audioSilenceDropped.load() >= silenceBefore + 7; }, 2000);
  EXPECT_EQ(c.audioSilenceDropped.load(), silenceBefore + 7);
}

TEST_F(MediaRouterTest, ForceMuteAndAudioSubscriptionTakeEffectAtOnce) {
  const std::string level = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
  auto a = addClient("a", 1111, {{1, level}});
  auto b = addClient("b", 2222, {{1, level}});
  auto r = addClient("r", 3333, {{1, level}});
  const auto& c = media_->counters();
  std::vector<Client*> all{a.get(), b.get(), r.get()};
  ASSERT_TRUE(pump(all, [&] { return c.dtlsSucceeded.load() == 3 && a->out && b->out && r->out; }));
  uint16_t seq = 1;
  auto round = [&] {
    sendAudio(*a, bridgeAddr_, 1111, seq, 20);
    sendAudio(*b, bridgeAddr_, 2222, seq, 30);
    ++seq;
  };
  auto countFrom = [&](uint32_t ssrc) {
    return std::count_if(r->received.begin(), r->received.end(),
                         [ssrc](const auto& p) { return ssrcOf(p) == ssrc; });
  };
  round();
  ASSERT_TRUE(pump(all, [&] { return countFrom(1111) == 1 && countFrom(2222) == 1; }));

  // r excludes a's source: only b's audio reaches r; b still hears a.
  auto sub = media::AudioSubscription::fromFields(true, {}, {"a-a0"});
  compiler_->setAudioSubscription("m", "r", sub);
  r->received.clear();
  b->received.clear();
  round();
  ASSERT_TRUE(pump(all, [&] { return countFrom(2222) == 1 && b->received.size() == 1; }));
  pump(
      all, [] { return false; }, 100);
  EXPECT_EQ(countFrom(1111), 0);

  // Include only a: the opposite.
  sub = media::AudioSubscription::fromFields(false, {"a-a0"}, {});
  compiler_->setAudioSubscription("m", "r", sub);
  r->received.clear();
  round();
  ASSERT_TRUE(pump(all, [&] { return countFrom(1111) == 1; }));
  pump(
      all, [] { return false; }, 100);
  EXPECT_EQ(countFrom(2222), 0);

  // Back to all; then Colibri2 force-mutes a: its packets are dropped at once.
  sub = media::AudioSubscription{};
  compiler_->setAudioSubscription("m", "r", sub);
  auto muted = bridgeSide_["a"];
  muted.forceMuteAudio = true;
  compiler_->endpointChanged("m", muted);
  r->received.clear();
  const auto mutedBefore = c.audioMutedDropped.load();
  round();
  ASSERT_TRUE(pump(
      all, [&] { return countFrom(2222) == 1 && c.audioMutedDropped.load() == mutedBefore + 1; }));
  pump(
      all, [] { return false; }, 100);
  EXPECT_EQ(countFrom(1111), 0);
}

}  // namespace
