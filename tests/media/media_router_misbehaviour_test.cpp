// Authenticated peers that misbehave (README "Misbehaving peers"), through
// the real router on loopback (media_router_harness.hpp: ICE, DTLS and SRTP
// with the project's own client pieces): a peer that sends with another
// endpoint's SSRC, malformed RTP and RTCP after SRTP, header-extension
// blocks that lie about their length, a flood at 40x the audio rate, and a
// new DTLS ClientHello after the handshake. For each: the misbehaving
// packets are dropped and counted, nothing of them reaches anyone, and the
// other endpoints' audio arrives packet for packet.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "dtls/session.hpp"
#include "media/media_loop.hpp"
#include "rtp/demux.hpp"
#include "rtp/rtp_packet.hpp"
#include "srtp/session.hpp"

#include "media_router_harness.hpp"

namespace {

using namespace jvb::router_test;
namespace asio = boost::asio;
using asio::ip::udp;
using namespace jvb;

// A plain RTP header (V=2) with `first` as its first byte.
std::vector<uint8_t> rtpHeader(uint32_t ssrc, uint16_t seq, uint8_t first = 0x80) {
  std::vector<uint8_t> p(12, 0);
  p[0] = first;
  p[1] = 111;
  p[2] = static_cast<uint8_t>(seq >> 8);
  p[3] = static_cast<uint8_t>(seq);
  p[8] = static_cast<uint8_t>(ssrc >> 24);
  p[9] = static_cast<uint8_t>(ssrc >> 16);
  p[10] = static_cast<uint8_t>(ssrc >> 8);
  p[11] = static_cast<uint8_t>(ssrc);
  return p;
}

// `plain` SRTP-protected with the client's keys (valid authentication).
void sendProtected(Client& c, std::vector<uint8_t> plain, bool rtcp = false) {
  const size_t length = plain.size();
  plain.resize(length + srtp::kMaxRtcpTrailer);
  const std::span<uint8_t> buffer(plain.data(), plain.size());
  const auto r = rtcp ? c.out->protectRtcp(buffer, length) : c.out->protectRtp(buffer, length);
  ASSERT_TRUE(r.ok());
  c.socket.send_to(asio::buffer(plain.data(), r.length), c.bridge);
}

void sendRaw(Client& c, const std::vector<uint8_t>& bytes) {
  c.socket.send_to(asio::buffer(bytes), c.bridge);
}

// Packets of `ssrc` a client received.
size_t countFrom(const Client& c, uint32_t ssrc) {
  size_t n = 0;
  for (const auto& p : c.received) {
    n += ssrcOf(p) == ssrc ? 1 : 0;
  }
  return n;
}

// The bridge's log lines about misbehaviour (written on the media thread).
std::mutex gLogMutex;
std::vector<std::string> gMisbehaviourLines;
void captureLine(std::string_view line) {
  if (line.find("not logged again for this endpoint") != std::string_view::npos) {
    const std::lock_guard lock(gLogMutex);
    gMisbehaviourLines.emplace_back(line);
  }
}
size_t misbehaviourLines() {
  const std::lock_guard lock(gLogMutex);
  return gMisbehaviourLines.size();
}

class MisbehavingPeerTest : public MediaRouterTest {
 protected:
  void SetUp() override {
    {
      const std::lock_guard lock(gLogMutex);
      gMisbehaviourLines.clear();
    }
    log::setSink(&captureLine);
    MediaRouterTest::SetUp();
  }
  void TearDown() override {
    MediaRouterTest::TearDown();
    log::setSink(nullptr);
  }
  // Three endpoints up with SRTP on both sides.
  void connectThree() {
    a_ = addClient("a", 1111);
    b_ = addClient("b", 2222);
    c_ = addClient("c", 3333);
    const auto& k = media_->counters();
    ASSERT_TRUE(
        pump(all(), [&] { return k.dtlsSucceeded.load() == 3 && a_->out && b_->out && c_->out; }));
  }
  std::vector<Client*> all() { return {a_.get(), b_.get(), c_.get()}; }
  // b sends `n` packets on its own SSRC (from `seq` on) and a and c must get
  // every one: the rest of the room is untouched.
  void roomStillTalks(uint16_t seq, size_t n) {
    const size_t atA = countFrom(*a_, 2222);
    const size_t atC = countFrom(*c_, 2222);
    for (size_t i = 0; i < n; ++i) {
      b_->sendRtp(2222, 111, static_cast<uint16_t>(seq + i), "b speaks");
    }
    EXPECT_TRUE(pump(
        all(), [&] { return countFrom(*a_, 2222) == atA + n && countFrom(*c_, 2222) == atC + n; }))
        << countFrom(*a_, 2222) - atA << " and " << countFrom(*c_, 2222) - atC << " of " << n;
  }

  std::unique_ptr<Client> a_, b_, c_;
};

// SSRC spoofing: the router keys a packet's source by its sender (the
// 5-tuple's endpoint, then that endpoint's own SSRC table), so c sending on
// a's SSRC is never forwarded as a; it is told apart from other unsignalled
// SSRCs, counted and logged once for c.
TEST_F(MisbehavingPeerTest, AnotherEndpointsSsrcIsDroppedAndNeverForwardedAsIt) {
  connectThree();
  const auto& k = media_->counters();
  const auto dropped = k.rtpDropped.load();
  for (uint16_t seq = 1; seq <= 20; ++seq) {
    c_->sendRtp(1111, 111, seq, "c pretends to be a");
    if (seq % 4 == 0) {
      a_->sendRtp(1111, 111, static_cast<uint16_t>(seq / 4), "the real a");
    }
  }
  c_->sendRtp(9999, 111, 1, "unsignalled, nobody's");
  ASSERT_TRUE(pump(all(), [&] {
    return k.rtpSsrcSpoofed.load() == 20 && k.rtpDropped.load() == dropped + 21 &&
           countFrom(*b_, 1111) == 5 && countFrom(*c_, 1111) == 5;
  })) << k.rtpSsrcSpoofed.load();
  pump(
      all(), [] { return false; }, 200);
  // What reached b and c on a's SSRC is a's five packets and nothing else.
  for (const Client* rx : {b_.get(), c_.get()}) {
    EXPECT_EQ(countFrom(*rx, 1111), 5u);
    for (const auto& p : rx->received) {
      const auto v = rtp::ConstRtpPacketView::parse(p);
      ASSERT_TRUE(v);
      const auto payload = v->payload();
      EXPECT_EQ(std::string(payload.begin(), payload.end()), "the real a");
    }
  }
  EXPECT_EQ(countFrom(*a_, 1111), 0u);
  EXPECT_EQ(k.misbehavingEndpoints.load(), 1u);
  EXPECT_EQ(misbehaviourLines(), 1u) << "logged once for c, not per packet";
  // c's own SSRC still works for it.
  c_->sendRtp(3333, 111, 1, "c as itself");
  EXPECT_TRUE(pump(all(), [&] { return countFrom(*a_, 3333) == 1 && countFrom(*b_, 3333) == 1; }));
  roomStillTalks(1, 10);
}

// Malformed RTP and RTCP from a keyed peer: before decryption where the
// cleartext header shows it, after SRTP where only the plaintext does.
TEST_F(MisbehavingPeerTest, MalformedRtpAndRtcpAfterSrtpAreDroppedAndCounted) {
  connectThree();
  const auto& k = media_->counters();
  const auto srtpFailed = k.srtpFailed.load();
  const auto unknown = [&](rtp::PacketKind kind) {
    return k.droppedUnknownSource[static_cast<size_t>(kind)].load();
  };
  const auto otherKinds = unknown(rtp::PacketKind::kUnknown);

  // A CSRC count (15) whose list runs past the end: cleartext, dropped
  // before decryption (no valid SRTP needed to be refused).
  {
    auto p = rtpHeader(1111, 100, 0x8F);
    p.resize(40, 0xAB);
    sendRaw(*a_, p);
  }
  // Padding (P=1) whose count (200) is larger than the payload: the count
  // is encrypted, so only the decrypted packet shows it.
  {
    auto p = rtpHeader(1111, 101, 0xA0);
    p.resize(p.size() + 8, 0x11);
    p.back() = 200;
    sendProtected(*a_, p);
  }
  // Oversized: 1600 bytes of RTP, which no forwarded copy could carry.
  {
    auto p = rtpHeader(1111, 102);
    p.resize(1600, 0x22);
    sendProtected(*a_, p);
  }
  ASSERT_TRUE(pump(all(), [&] { return k.rtpMalformed.load() == 3; })) << k.rtpMalformed.load();
  // Version 3 (first byte 0xC0) is not RTP by RFC 7983's first-byte demux:
  // dropped with the other datagrams no protocol claims.
  {
    auto p = rtpHeader(1111, 103, 0xC0);
    p.resize(40, 0);
    sendRaw(*a_, p);
  }
  ASSERT_TRUE(pump(all(), [&] { return unknown(rtp::PacketKind::kUnknown) == otherKinds + 1; }));

  // An SRTCP packet that authenticates and whose receiver report claims 16
  // words in an 8-byte packet.
  {
    std::vector<uint8_t> rr{0x80, 201, 0x00, 0x10, 0x00, 0x00, 0x04, 0x57};
    sendProtected(*a_, rr, /*rtcp=*/true);
  }
  // A compound whose second packet's length runs past the end.
  {
    std::vector<uint8_t> rr{0x80, 201, 0x00, 0x01, 0x00, 0x00, 0x04, 0x57,
                            0x81, 202, 0x00, 0x09, 0x00, 0x00, 0x04, 0x57};
    sendProtected(*a_, rr, /*rtcp=*/true);
  }
  ASSERT_TRUE(pump(all(), [&] { return k.rtcpMalformed.load() == 2; })) << k.rtcpMalformed.load();
  EXPECT_EQ(k.srtpFailed.load(), srtpFailed) << "all of it authenticated";
  pump(
      all(), [] { return false; }, 200);
  EXPECT_EQ(countFrom(*b_, 1111), 0u);
  EXPECT_EQ(countFrom(*c_, 1111), 0u);
  EXPECT_EQ(k.misbehavingEndpoints.load(), 1u);
  EXPECT_EQ(misbehaviourLines(), 2u) << "once for malformed RTP, once for RTCP";

  // a's well-formed audio goes on, and so does everyone else's.
  for (uint16_t seq = 200; seq < 205; ++seq) {
    a_->sendRtp(1111, 111, seq, "a is fine now");
  }
  EXPECT_TRUE(pump(all(), [&] { return countFrom(*b_, 1111) == 5 && countFrom(*c_, 1111) == 5; }));
  roomStillTalks(1, 10);
}

// Header-extension blocks that lie about their length: the block's own
// length word past the packet, an RFC 8285 one-byte or two-byte element
// past the block. A one-byte ID 15 (ends the block, RFC 8285 section 4.2)
// is valid and forwarded.
TEST_F(MisbehavingPeerTest, HeaderExtensionsThatLieAboutTheirLengthAreDropped) {
  connectThree();
  const auto& k = media_->counters();
  // The block says 255 words; the packet has 8 bytes after the header.
  {
    auto p = rtpHeader(1111, 10, 0x90);
    const std::vector<uint8_t> ext{0xBE, 0xDE, 0x00, 0xFF, 0x10, 0x7F, 0x00, 0x00};
    p.insert(p.end(), ext.begin(), ext.end());
    sendRaw(*a_, p);
  }
  // One-byte: one word of elements, the first claims 16 bytes (len 15).
  {
    auto p = rtpHeader(1111, 11, 0x90);
    const std::vector<uint8_t> ext{0xBE, 0xDE, 0x00, 0x01, 0x1F, 0x7F, 0x00, 0x00};
    p.insert(p.end(), ext.begin(), ext.end());
    p.resize(p.size() + 20, 0x33);
    sendProtected(*a_, p);
  }
  // Two-byte (0x1000): one word, an element claiming 200 bytes.
  {
    auto p = rtpHeader(1111, 12, 0x90);
    const std::vector<uint8_t> ext{0x10, 0x00, 0x00, 0x01, 0x01, 0xC8, 0x00, 0x00};
    p.insert(p.end(), ext.begin(), ext.end());
    p.resize(p.size() + 20, 0x44);
    sendProtected(*a_, p);
  }
  ASSERT_TRUE(pump(all(), [&] { return k.rtpBadExtension.load() == 3; }))
      << k.rtpBadExtension.load();
  // Valid: a one-byte element, then ID 15 (the rest is not parsed).
  {
    auto p = rtpHeader(1111, 13, 0x90);
    const std::vector<uint8_t> ext{0xBE, 0xDE, 0x00, 0x01, 0x10, 0x7F, 0xF0, 0x00};
    p.insert(p.end(), ext.begin(), ext.end());
    const std::string payload = "valid extensions";
    p.insert(p.end(), payload.begin(), payload.end());
    sendProtected(*a_, p);
  }
  EXPECT_TRUE(pump(all(), [&] { return countFrom(*b_, 1111) == 1 && countFrom(*c_, 1111) == 1; }));
  EXPECT_EQ(k.rtpBadExtension.load(), 3u);
  EXPECT_EQ(k.misbehavingEndpoints.load(), 1u);
  EXPECT_EQ(misbehaviourLines(), 1u);
  roomStillTalks(1, 10);
}

// A DTLS ClientHello from a keyed endpoint (a new handshake from scratch):
// refused before any DTLS state sees it; the established SRTP goes on both
// ways.
TEST_F(MisbehavingPeerTest, ANewClientHelloAfterTheHandshakeIsRefusedAndSrtpGoesOn) {
  connectThree();
  const auto& k = media_->counters();
  a_->sendRtp(1111, 111, 1, "before");
  ASSERT_TRUE(pump(all(), [&] { return countFrom(*b_, 1111) == 1; }));
  // A fresh client session's first flight is a ClientHello (epoch 0).
  std::vector<uint8_t> hello;
  {
    const dtls::Certificate cert = dtls::Certificate::generate();
    const dtls::Context ctx{cert};
    dtls::Session fresh(
        ctx, dtls::Role::kClient,
        std::vector<dtls::RemoteFingerprint>{{"sha-256", cert_->fingerprintSha256()}},
        [&](std::span<const uint8_t> d) {
          if (hello.empty()) {
            hello.assign(d.begin(), d.end());
          }
        });
    fresh.start(Clock::now());
  }
  ASSERT_FALSE(hello.empty());
  ASSERT_TRUE(dtls::containsClientHello(hello));
  sendRaw(*a_, hello);
  sendRaw(*a_, hello);
  ASSERT_TRUE(pump(all(), [&] { return k.dtlsRenegotiationRefused.load() == 2; }));
  EXPECT_EQ(k.dtlsFailed.load(), 0u);
  for (uint16_t seq = 2; seq <= 6; ++seq) {
    a_->sendRtp(1111, 111, seq, "after");
  }
  EXPECT_TRUE(pump(all(), [&] { return countFrom(*b_, 1111) == 6 && countFrom(*c_, 1111) == 6; }));
  b_->sendRtp(2222, 111, 1, "to a");
  EXPECT_TRUE(pump(all(), [&] { return countFrom(*a_, 2222) == 1; }));
  EXPECT_EQ(k.misbehavingEndpoints.load(), 1u);
  EXPECT_EQ(misbehaviourLines(), 1u);
}

// The per-endpoint packet-rate cap (jvb-audio.endpoint-rate-limit; 100
// packets a second with a burst of 20 here): a flood at 20x that is
// dropped before decryption, counted for the flooder alone, and every packet
// of the others arrives.
class FloodTest : public MisbehavingPeerTest {
 protected:
  void SetUp() override {
    opts_.rateLimit = media::EndpointRateLimit{100, 20};
    MisbehavingPeerTest::SetUp();
  }
};

TEST_F(FloodTest, AFloodIsCappedPerEndpointAndTheRoomIsUntouched) {
  connectThree();
  const auto& k = media_->counters();
  // One second of b at 50 packets a second (20 ms apart) while a sends 40
  // packets in each of those 20 ms: 2000 a second, 20x the cap (half of
  // them stays over it even if a loaded host stretches the second to ten).
  constexpr int kRounds = 50;
  constexpr int kPerRound = 40;
  const size_t bAtA = countFrom(*a_, 2222);
  const size_t bAtC = countFrom(*c_, 2222);
  const auto began = Clock::now();
  uint16_t aSeq = 1;
  for (int round = 0; round < kRounds; ++round) {
    b_->sendRtp(2222, 111, static_cast<uint16_t>(round + 1), "b at 50 pps");
    for (int i = 0; i < kPerRound; ++i) {
      a_->sendRtp(1111, 111, aSeq++, "a floods");
    }
    pump(
        all(), [] { return false; }, 20);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  ASSERT_TRUE(pump(all(),
                   [&] {
                     return countFrom(*a_, 2222) == bAtA + kRounds &&
                            countFrom(*c_, 2222) == bAtC + kRounds;
                   }))
      << "b lost packets: " << countFrom(*a_, 2222) - bAtA << " and " << countFrom(*c_, 2222) - bAtC
      << " of " << kRounds;
  pump(
      all(), [] { return false; }, 200);
  const uint64_t flood = kRounds * kPerRound;
  // What the cap let through: the burst, and 100 a second over the time it
  // took (a slow host stretches that, never the other way).
  const auto passed = countFrom(*b_, 1111);
  EXPECT_LE(passed, 21 + static_cast<size_t>(100 * seconds) + 1) << seconds << " s";
  EXPECT_EQ(countFrom(*c_, 1111), passed);
  EXPECT_EQ(k.rateLimited.load(), flood - passed);
  EXPECT_GE(k.rateLimited.load(), flood / 2);
  EXPECT_EQ(k.misbehavingEndpoints.load(), 1u) << "only the flooder";
  EXPECT_EQ(misbehaviourLines(), 1u) << "once, not per dropped packet";
  EXPECT_EQ(k.srtpFailed.load(), 0u);
  // Back to its normal rate, a is heard again.
  pump(
      all(), [] { return false; }, 300);
  const size_t before = countFrom(*b_, 1111);
  for (int i = 0; i < 5; ++i) {
    a_->sendRtp(1111, 111, aSeq++, "a calmed down");
    pump(
        all(), [] { return false; }, 20);
  }
  EXPECT_TRUE(pump(all(), [&] { return countFrom(*b_, 1111) == before + 5; }));
  roomStillTalks(100, 10);
}

// Video (a payload type not signalled for audio) is dropped before
// decryption like before and does not use up the cap: a client that sends
// 400 video packets a second alongside its audio loses none of the audio.
TEST_F(FloodTest, VideoDoesNotTakeTheCapFromTheSendersAudio) {
  connectThree();
  const auto& k = media_->counters();
  constexpr int kRounds = 50;
  constexpr int kVideoPerRound = 8;  // 400 a second, 4x the cap
  const size_t aAtB = countFrom(*b_, 1111);
  const size_t aAtC = countFrom(*c_, 1111);
  const uint64_t videoBefore = k.videoDropped.load();
  uint16_t vSeq = 1;
  for (int round = 0; round < kRounds; ++round) {
    a_->sendRtp(1111, 111, static_cast<uint16_t>(round + 1), "a speaks");
    for (int i = 0; i < kVideoPerRound; ++i) {
      a_->sendRtp(1112, 100, vSeq++, "a's video");
    }
    pump(
        all(), [] { return false; }, 20);
  }
  EXPECT_TRUE(pump(all(),
                   [&] {
                     return countFrom(*b_, 1111) == aAtB + kRounds &&
                            countFrom(*c_, 1111) == aAtC + kRounds;
                   }))
      << "a's audio lost: " << countFrom(*b_, 1111) - aAtB << " and " << countFrom(*c_, 1111) - aAtC
      << " of " << kRounds;
  EXPECT_EQ(k.videoDropped.load() - videoBefore, uint64_t{kRounds} * kVideoPerRound);
  EXPECT_EQ(k.rateLimited.load(), 0u);
  EXPECT_EQ(k.misbehavingEndpoints.load(), 0u);
}

}  // namespace
