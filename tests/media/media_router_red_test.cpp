// RFC 2198 RED (Opus RED) in the media router with real ICE/DTLS/SRTP
// clients: a RED sender's packets reach receivers that negotiated RED as
// sent and the others stripped to the primary Opus encoding (JVB's
// AudioRedHandler, policy NOOP), on plain and SSRC-rewriting receivers; a
// malformed RED packet goes only to RED receivers and is counted; the level
// still drives speech activity.
#include <gtest/gtest.h>

#include <mutex>

#include "media_router_harness.hpp"
#include "rtp/bytes.hpp"
#include "rtp/red.hpp"

namespace {

using namespace jvb::router_test;
namespace asio = boost::asio;
using namespace jvb;

const std::string kLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
const std::set<std::string> kRewriting = {"source-names", "ssrc-rewriting"};
constexpr uint8_t kRedPt = 63;
constexpr uint8_t kOpusPt = 111;

// A RED packet (PT 63) with the level under id 1: one redundant block
// ("prev-<seq>") and the primary block ("opus-<seq>"), both PT 111; or, with
// `malformed`, a redundant block longer than the payload.
void sendRed(Client& c, const asio::ip::udp::endpoint& bridge, uint32_t ssrc, uint16_t seq,
             uint32_t ts, bool malformed = false, uint8_t level = 20) {
  std::array<uint8_t, 256> p{};
  p[0] = 0x90;
  p[1] = kRedPt;
  rtp::bytes::store16(&p[2], seq);
  rtp::bytes::store32(&p[4], ts);
  rtp::bytes::store32(&p[8], ssrc);
  p[12] = 0xBE;
  p[13] = 0xDE;
  p[15] = 1;
  p[16] = 0x10;  // id 1, len 1
  p[17] = static_cast<uint8_t>(0x80 | level);
  const std::string prev = "prev-" + std::to_string(seq);
  const std::string primary = "opus-" + std::to_string(seq);
  size_t o = 20;
  p[o++] = 0x80 | kOpusPt;
  p[o++] = 960 >> 6;
  p[o++] = static_cast<uint8_t>((960 & 0x3F) << 2);
  p[o++] = static_cast<uint8_t>(malformed ? 200 : prev.size());
  p[o++] = kOpusPt;
  std::memcpy(&p[o], prev.data(), prev.size());
  o += prev.size();
  std::memcpy(&p[o], primary.data(), primary.size());
  o += primary.size();
  const auto r = c.out->protectRtp(std::span<uint8_t>(p.data(), p.size()), o);
  ASSERT_TRUE(r.ok());
  c.socket.send_to(asio::buffer(p.data(), r.length), bridge);
}

// A padding-only packet under the RED payload type, as Chromium's bandwidth
// probes once RED is its send codec: no payload, 40 bytes of padding.
void sendRedPadding(Client& c, const asio::ip::udp::endpoint& bridge, uint32_t ssrc, uint16_t seq) {
  std::array<uint8_t, 256> p{};
  p[0] = 0xA0;  // V=2, P=1
  p[1] = kRedPt;
  rtp::bytes::store16(&p[2], seq);
  rtp::bytes::store32(&p[8], ssrc);
  p[12 + 39] = 40;
  const auto r = c.out->protectRtp(std::span<uint8_t>(p.data(), p.size()), 12 + 40);
  ASSERT_TRUE(r.ok());
  c.socket.send_to(asio::buffer(p.data(), r.length), bridge);
}

std::string payloadOf(const rtp::ConstRtpPacketView& v) {
  return {v.payload().begin(), v.payload().end()};
}

std::vector<rtp::ConstRtpPacketView> views(const Client& c) {
  std::vector<rtp::ConstRtpPacketView> out;
  for (const auto& p : c.received) {
    if (auto v = rtp::ConstRtpPacketView::parse(p)) {
      out.push_back(*v);
    }
  }
  return out;
}

class RedTest : public MediaRouterTest {
 protected:
  void SetUp() override {
    // A rewriting receiver's first packets on a new slot are not held back.
    opts_.rewrite.newSsrcDelay = std::chrono::milliseconds(0);
    opts_.rewrite.remapMinIdle = std::chrono::milliseconds(0);
    MediaRouterTest::SetUp();
  }
  // A client whose Colibri2 audio has RED (pt 63, before Opus) or not, and
  // Opus under `opusPt`.
  std::unique_ptr<Client> add(const std::string& id, uint32_t ssrc, bool red, uint8_t levelId,
                              std::set<std::string> capabilities = {}, uint8_t opusPt = kOpusPt) {
    auto c = std::make_unique<Client>(io_, bridgeAddr_);
    auto ep = bridgeEndpoint(id, *c, ssrc);
    ep.audioPayloadTypes.front().id = opusPt;
    if (red) {
      control::PayloadType r{kRedPt, "red", 48000, 2, {}, {}};
      ep.audioPayloadTypes.insert(ep.audioPayloadTypes.begin(), r);
    }
    ep.audioHeaderExtensions = {{levelId, kLevel}};
    ep.capabilities = std::move(capabilities);
    c->connect(ep, cert_->fingerprintSha256());
    compiler_->endpointChanged("m", ep);
    return c;
  }
};

TEST_F(RedTest, RedReceiversGetItAsSentOthersThePrimary) {
  auto s = add("s", 1111, true, 1);
  auto redPlain = add("rp", 2222, true, 1);
  auto opusPlain = add("op", 3333, false, 4);  // its own level id
  auto redRw = add("rr", 4444, true, 1, kRewriting);
  auto opusRw = add("or", 5555, false, 3, kRewriting);
  std::vector<Client*> all{s.get(), redPlain.get(), opusPlain.get(), redRw.get(), opusRw.get()};
  const auto& c = media_->counters();
  ASSERT_TRUE(pump(all, [&] {
    return c.dtlsSucceeded.load() == 5 && s->out && redPlain->out && opusPlain->out && redRw->out &&
           opusRw->out;
  }));
  for (uint16_t i = 0; i < 5; ++i) {
    sendRed(*s, bridgeAddr_, 1111, static_cast<uint16_t>(100 + i), 5000 + 960u * i);
  }
  ASSERT_TRUE(pump(all, [&] {
    return redPlain->received.size() == 5 && opusPlain->received.size() == 5 &&
           redRw->received.size() == 5 && opusRw->received.size() == 5;
  }));
  for (Client* rx : {redPlain.get(), redRw.get()}) {
    const auto v = views(*rx);
    ASSERT_EQ(v.size(), 5u);
    for (uint16_t i = 0; i < 5; ++i) {
      EXPECT_EQ(v[i].payloadType(), kRedPt) << "RED as sent";
      const auto red = rtp::parseRed(v[i].payload());
      ASSERT_TRUE(red);
      EXPECT_EQ(v[i].payload().subspan(red->offset).size(), red->size);
      EXPECT_EQ(std::string(v[i].payload().begin() + red->offset, v[i].payload().end()),
                "opus-" + std::to_string(100 + i));
      EXPECT_EQ(v[i].sequenceNumber(), 100 + i);
      EXPECT_TRUE(rtp::readAudioLevel(v[i], 1).has_value());
    }
  }
  EXPECT_EQ(views(*redPlain)[0].ssrc(), 1111u);
  EXPECT_NE(views(*redRw)[0].ssrc(), 1111u) << "on its slot";
  for (auto [rx, levelId] : {std::pair{opusPlain.get(), 4}, std::pair{opusRw.get(), 3}}) {
    const auto v = views(*rx);
    ASSERT_EQ(v.size(), 5u);
    for (uint16_t i = 0; i < 5; ++i) {
      EXPECT_EQ(v[i].payloadType(), kOpusPt) << "the primary's Opus";
      EXPECT_EQ(payloadOf(v[i]), "opus-" + std::to_string(100 + i));
      EXPECT_EQ(v[i].sequenceNumber(), 100 + i) << "one packet in, one out";
      EXPECT_EQ(v[i].timestamp(), 5000 + 960u * i);
      const auto level = rtp::readAudioLevel(v[i], static_cast<uint8_t>(levelId));
      ASSERT_TRUE(level) << "the level under the receiver's id";
      EXPECT_EQ(level->level, 20);
      EXPECT_TRUE(level->voice);
    }
  }
  EXPECT_EQ(views(*opusPlain)[0].ssrc(), 1111u);
  EXPECT_NE(views(*opusRw)[0].ssrc(), 1111u);
  EXPECT_EQ(c.redReceived.load(), 5u);
  EXPECT_EQ(c.redMalformed.load(), 0u);
  EXPECT_EQ(c.redForwarded.load(), 10u);
  EXPECT_EQ(c.redDecapsulated.load(), 10u);
  EXPECT_EQ(c.redInvalidDropped.load(), 0u);
}

TEST_F(RedTest, MalformedRedGoesOnlyToRedReceivers) {
  auto s = add("s", 1111, true, 1);
  auto red = add("r", 2222, true, 1);
  auto opus = add("o", 3333, false, 1);
  auto opusRw = add("w", 4444, false, 1, kRewriting);
  std::vector<Client*> all{s.get(), red.get(), opus.get(), opusRw.get()};
  const auto& c = media_->counters();
  ASSERT_TRUE(pump(all, [&] { return s->out && red->out && opus->out && opusRw->out; }));
  sendRed(*s, bridgeAddr_, 1111, 10, 960);
  sendRed(*s, bridgeAddr_, 1111, 11, 1920, true);
  sendRed(*s, bridgeAddr_, 1111, 12, 2880);
  ASSERT_TRUE(pump(all, [&] {
    return red->received.size() == 3 && opus->received.size() == 2 && opusRw->received.size() == 2;
  }));
  for (Client* rx : {opus.get(), opusRw.get()}) {
    const auto v = views(*rx);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(payloadOf(v[0]), "opus-10");
    EXPECT_EQ(payloadOf(v[1]), "opus-12");
    EXPECT_EQ(v[1].sequenceNumber(), 12) << "the gap is the dropped packet's";
  }
  EXPECT_EQ(c.redReceived.load(), 3u);
  EXPECT_EQ(c.redMalformed.load(), 1u);
  EXPECT_EQ(c.redInvalidDropped.load(), 2u);
  EXPECT_EQ(c.redForwarded.load(), 3u);
  EXPECT_EQ(c.redDecapsulated.load(), 4u);
}

TEST_F(RedTest, PaddingOnlyProbesAreNotRedAndStayWithRedReceivers) {
  auto s = add("s", 1111, true, 1);
  auto red = add("r", 2222, true, 1);
  auto opus = add("o", 3333, false, 1);
  std::vector<Client*> all{s.get(), red.get(), opus.get()};
  const auto& c = media_->counters();
  ASSERT_TRUE(pump(all, [&] { return s->out && red->out && opus->out; }));
  sendRedPadding(*s, bridgeAddr_, 1111, 20);
  sendRed(*s, bridgeAddr_, 1111, 21, 960);
  ASSERT_TRUE(pump(all, [&] { return red->received.size() == 2 && opus->received.size() == 1; }));
  const auto r = views(*red);
  EXPECT_EQ(r[0].payload().size(), 0u);
  EXPECT_EQ(r[0].paddingSize(), 40u);
  EXPECT_EQ(payloadOf(views(*opus)[0]), "opus-21");
  EXPECT_EQ(c.redPaddingOnly.load(), 1u);
  EXPECT_EQ(c.redReceived.load(), 1u);
  EXPECT_EQ(c.redMalformed.load(), 0u);
  EXPECT_EQ(c.redInvalidDropped.load(), 0u);
}

TEST_F(RedTest, PlainOpusFromARedSenderAndTheReceiversOpusPayloadType) {
  auto s = add("s", 1111, true, 1);
  auto other = add("o", 2222, false, 1, {}, 96);  // Opus under 96
  std::vector<Client*> all{s.get(), other.get()};
  const auto& c = media_->counters();
  ASSERT_TRUE(pump(all, [&] { return s->out && other->out; }));
  sendAudio(*s, bridgeAddr_, 1111, 1, 30);  // plain Opus (PT 111): not RED
  sendRed(*s, bridgeAddr_, 1111, 2, 960);
  ASSERT_TRUE(pump(all, [&] { return other->received.size() == 2; }));
  const auto v = views(*other);
  EXPECT_EQ(v[0].payloadType(), kOpusPt) << "non-RED packets are forwarded unchanged";
  EXPECT_EQ(v[1].payloadType(), 96) << "the sender's Opus primary under the receiver's Opus pt";
  EXPECT_EQ(payloadOf(v[1]), "opus-2");
  EXPECT_EQ(c.redReceived.load(), 1u);
  EXPECT_EQ(c.redDecapsulated.load(), 1u);
}

TEST_F(RedTest, RedSpeechStillDrivesTheDominantSpeaker) {
  std::mutex mutex;
  std::string dominant;
  media::MediaEvents events;
  events.dominantSpeakerChanged = [&](const std::string&, const std::string& id,
                                      const std::vector<std::string>&, bool) {
    std::lock_guard lock(mutex);
    dominant = id;
  };
  media_->setEvents(events);
  auto s = add("s", 1111, true, 1);
  auto q = add("q", 2222, false, 1);
  std::vector<Client*> all{s.get(), q.get()};
  ASSERT_TRUE(pump(all, [&] { return s->out && q->out; }));
  uint16_t seq = 0;
  ASSERT_TRUE(pump(
      all,
      [&] {
        // Pauses now and then: a steady level is its own noise floor to the
        // dominant-speaker algorithm.
        sendRed(*s, bridgeAddr_, 1111, seq, 960u * seq, false, seq % 25 == 0 ? 120 : 20);
        ++seq;
        std::lock_guard lock(mutex);
        return dominant == "s";
      },
      10000))
      << "the level in the RED packet's header feeds speech activity";
}

}  // namespace
