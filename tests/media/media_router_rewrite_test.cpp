// SSRC rewriting in the media router (media/audio_ssrc_cache.hpp,
// media_router_ssrc.cpp) with real ICE/DTLS/SRTP clients: a receiver that
// asked for it in Colibri2 gets audio on its slots, with its own extension
// IDs and the slot's mid; another receiver in the same conference gets the
// senders' own SSRCs; sender reports follow the slots; expiry frees slots;
// subscriptions and force-mute still apply; slot changes are reported.
#include <gtest/gtest.h>

#include <mutex>

#include "media_router_harness.hpp"

namespace {

using namespace jvb::router_test;
namespace asio = boost::asio;
using namespace jvb;

const std::string kLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
const std::string kMid = "urn:ietf:params:rtp-hdrext:sdes:mid";
const std::set<std::string> kRewriting = {"source-names", "ssrc-rewriting"};
const std::set<std::string> kMidDemux = {"source-names", "ssrc-rewriting", "rtp-mid-demux"};

// Audio with the level under id 1 and the sender's own mid "0" under id 10.
void sendVoice(Client& c, const asio::ip::udp::endpoint& bridge, uint32_t ssrc, uint16_t seq,
               uint32_t ts, uint8_t level = 20) {
  std::array<uint8_t, 256> p{};
  p[0] = 0x90;
  p[1] = 111;
  rtp::bytes::store16(&p[2], seq);
  rtp::bytes::store32(&p[4], ts);
  rtp::bytes::store32(&p[8], ssrc);
  p[12] = 0xBE;
  p[13] = 0xDE;
  p[15] = 1;
  p[16] = 0x10;  // id 1, len 1
  p[17] = static_cast<uint8_t>(0x80 | level);
  p[18] = 0xA0;  // id 10, len 1
  p[19] = '0';
  std::memcpy(p.data() + 20, "opus-frame", 10);
  const auto r = c.out->protectRtp(std::span<uint8_t>(p.data(), p.size()), 30);
  ASSERT_TRUE(r.ok());
  c.socket.send_to(asio::buffer(p.data(), r.length), bridge);
}

void sendSenderReport(Client& c, const asio::ip::udp::endpoint& bridge, uint32_t ssrc,
                      const rtp::SenderInfo& info) {
  std::array<uint8_t, 256> p{};
  const size_t sr = rtp::writeSenderReport(p, ssrc, info, {});
  const size_t sdes = rtp::writeSdesCname(std::span<uint8_t>(p).subspan(sr), ssrc, "cname");
  const auto r = c.out->protectRtcp(std::span<uint8_t>(p.data(), p.size()), sr + sdes);
  ASSERT_TRUE(r.ok());
  c.socket.send_to(asio::buffer(p.data(), r.length), bridge);
}

std::vector<rtp::ConstRtpPacketView> packetsOn(const Client& c, uint32_t ssrc) {
  std::vector<rtp::ConstRtpPacketView> out;
  for (const auto& p : c.received) {
    if (auto v = rtp::ConstRtpPacketView::parse(p); v && v->ssrc() == ssrc) {
      out.push_back(*v);
    }
  }
  return out;
}

std::set<uint32_t> ssrcsOf(const Client& c) {
  std::set<uint32_t> s;
  for (const auto& p : c.received) {
    s.insert(ssrcOf(p));
  }
  return s;
}

class RewritingTest : public MediaRouterTest {
 protected:
  void SetUp() override {
    opts_.rewrite.newSsrcDelay = std::chrono::milliseconds(delayMs_);
    opts_.rewrite.remapMinIdle = std::chrono::milliseconds(0);
    opts_.rewrite.limit = static_cast<size_t>(limit_);
    MediaRouterTest::SetUp();
    media::MediaEvents events;
    events.audioSlotsChanged = [this](const std::string& meetingId,
                                      std::vector<media::AudioSlotMapping> changes) {
      std::lock_guard lock(mutex_);
      EXPECT_EQ(meetingId, "m");
      for (auto& c : changes) {
        c.freed ? ++freedCount_ : 0;
        mappings_.push_back(std::move(c));
      }
    };
    media_->setEvents(events);
  }
  // The slot changes reported for `receiver`, in order.
  std::vector<media::AudioSlotMapping> mappingsFor(const std::string& receiver) {
    std::lock_guard lock(mutex_);
    std::vector<media::AudioSlotMapping> out;
    for (const auto& m : mappings_) {
      if (m.receiver == receiver) {
        out.push_back(m);
      }
    }
    return out;
  }
  // The latest mapping of `ssrc` for `receiver`.
  std::optional<media::AudioSlotMapping> mappingOf(const std::string& receiver, uint32_t ssrc) {
    std::optional<media::AudioSlotMapping> last;
    for (const auto& m : mappingsFor(receiver)) {
      if (m.ssrc == ssrc && !m.freed) {
        last = m;
      }
    }
    return last;
  }

  int delayMs_ = 0;
  int limit_ = 50;
  std::mutex mutex_;
  std::vector<media::AudioSlotMapping> mappings_;
  int freedCount_ = 0;
};

TEST_F(RewritingTest, RewritingAndPlainReceiversInOneConference) {
  auto a = addClient("a", 1111, {{1, kLevel}, {10, kMid}});
  auto b = addClient("b", 2222, {{1, kLevel}, {10, kMid}});
  auto r = addClient("r", 3333, {{3, kLevel}, {10, kMid}}, kRewriting);
  auto p = addClient("p", 4444, {{1, kLevel}, {10, kMid}});
  std::vector<Client*> all{a.get(), b.get(), r.get(), p.get()};
  const auto& c = media_->counters();
  ASSERT_TRUE(pump(
      all, [&] { return c.dtlsSucceeded.load() == 4 && a->out && b->out && r->out && p->out; }));
  for (uint16_t i = 0; i < 5; ++i) {
    sendVoice(*a, bridgeAddr_, 1111, static_cast<uint16_t>(100 + i), 1000 + 960u * i);
    sendVoice(*b, bridgeAddr_, 2222, static_cast<uint16_t>(60000 + i), 7u + 960u * i);
  }
  ASSERT_TRUE(pump(all, [&] { return r->received.size() == 10 && p->received.size() == 10; }));
  // The plain receiver: the senders' own SSRCs.
  EXPECT_EQ(ssrcsOf(*p), (std::set<uint32_t>{1111, 2222}));
  // The rewriting one: two slot SSRCs, each announced with its owner.
  const auto slots = ssrcsOf(*r);
  ASSERT_EQ(slots.size(), 2u);
  EXPECT_EQ(slots.count(1111) + slots.count(2222), 0u);
  const auto maps = mappingsFor("r");
  ASSERT_EQ(maps.size(), 2u);
  std::map<std::string, uint32_t> slotOf;
  for (const auto& m : maps) {
    EXPECT_FALSE(m.freed);
    EXPECT_EQ(m.mid, "") << "no mid without rtp-mid-demux";
    EXPECT_EQ(m.source, m.owner + "-a0");
    EXPECT_EQ(slots.count(m.ssrc), 1u);
    slotOf[m.owner] = m.ssrc;
  }
  ASSERT_EQ(slotOf.size(), 2u);
  // A fresh slot passes sequence numbers and timestamps through; the
  // receiver's level id (3), the sender's mid stripped.
  const auto fromA = packetsOn(*r, slotOf["a"]);
  ASSERT_EQ(fromA.size(), 5u);
  for (uint16_t i = 0; i < 5; ++i) {
    EXPECT_EQ(fromA[i].sequenceNumber(), 100 + i);
    EXPECT_EQ(fromA[i].timestamp(), 1000 + 960u * i);
    const auto lvl = rtp::readAudioLevel(fromA[i], 3);
    ASSERT_TRUE(lvl);
    EXPECT_EQ(lvl->level, 20);
    EXPECT_FALSE(fromA[i].findExtension(10).has_value());
    const auto payload = fromA[i].payload();
    EXPECT_EQ(std::string(payload.begin(), payload.end()), "opus-frame");
  }
  EXPECT_EQ(packetsOn(*r, slotOf["b"]).front().sequenceNumber(), 60000);
  // Plain receivers have no slots.
  EXPECT_TRUE(mappingsFor("p").empty());
  EXPECT_TRUE(mappingsFor("a").empty());
}

TEST_F(RewritingTest, MidDemuxStampsTheSlotMidOnEveryPacket) {
  auto a = addClient("a", 1111, {{1, kLevel}, {10, kMid}});
  auto b = addClient("b", 2222, {{1, kLevel}, {10, kMid}});
  auto r = addClient("r", 3333, {{1, kLevel}, {12, kMid}}, kMidDemux);
  std::vector<Client*> all{a.get(), b.get(), r.get()};
  ASSERT_TRUE(pump(all, [&] { return a->out && b->out && r->out; }));
  for (uint16_t i = 0; i < 3; ++i) {
    sendVoice(*a, bridgeAddr_, 1111, i, 960u * i);
    sendVoice(*b, bridgeAddr_, 2222, i, 960u * i);
  }
  ASSERT_TRUE(pump(all, [&] { return r->received.size() == 6; }));
  const auto maps = mappingsFor("r");
  ASSERT_EQ(maps.size(), 2u);
  std::set<std::string> mids;
  for (const auto& m : maps) {
    mids.insert(m.mid);
    const auto packets = packetsOn(*r, m.ssrc);
    ASSERT_EQ(packets.size(), 3u);
    for (const auto& v : packets) {
      const auto mid = v.findExtension(12);
      ASSERT_TRUE(mid) << "sdes:mid under the receiver's id";
      EXPECT_EQ(std::string(mid->begin(), mid->end()), m.mid);
      EXPECT_FALSE(v.findExtension(10).has_value()) << "the sender's own mid is gone";
      EXPECT_TRUE(rtp::readAudioLevel(v, 1).has_value());
    }
  }
  EXPECT_EQ(mids, (std::set<std::string>{"a0", "a1"}));
  // a, a plain receiver, does not get mids stamped.
  for (const auto& pkt : a->received) {
    EXPECT_FALSE(rtp::ConstRtpPacketView::parse(pkt)->findExtension(10).has_value());
  }
}

TEST_F(RewritingTest, SenderReportsFollowTheSlotsAndReceiverReportsStopAtTheBridge) {
  auto a = addClient("a", 1111, {{1, kLevel}});
  auto q = addClient("q", 5555, {{1, kLevel}});  // sends reports but no RTP
  auto r = addClient("r", 3333, {{1, kLevel}}, kRewriting);
  auto p = addClient("p", 4444, {{1, kLevel}});
  std::vector<Client*> all{a.get(), q.get(), r.get(), p.get()};
  ASSERT_TRUE(pump(all, [&] { return a->out && q->out && r->out && p->out; }));
  for (uint16_t i = 0; i < 4; ++i) {
    sendVoice(*a, bridgeAddr_, 1111, static_cast<uint16_t>(500 + i), 90000 + 960u * i);
  }
  ASSERT_TRUE(pump(all, [&] { return r->received.size() == 4 && p->received.size() == 4; }));
  const uint32_t slot = ssrcOf(r->received[0]);
  rtp::SenderInfo info;
  info.ntpTimestamp = 0x1122334455667788ULL;
  info.rtpTimestamp = 90000 + 960 * 4;
  info.packetCount = 1234;  // the sender's own counts: what it sent the bridge
  info.octetCount = 99999;
  sendSenderReport(*a, bridgeAddr_, 1111, info);
  sendSenderReport(*q, bridgeAddr_, 5555, info);
  ASSERT_TRUE(pump(all, [&] {
    return findSenderReport(*r, slot).has_value() && findSenderReport(*p, 1111).has_value() &&
           findSenderReport(*p, 5555).has_value();
  }));
  const auto translated = *findSenderReport(*r, slot);
  EXPECT_EQ(translated.ntpTimestamp, info.ntpTimestamp);
  EXPECT_EQ(translated.rtpTimestamp, info.rtpTimestamp);  // delta 0 on a fresh slot
  EXPECT_EQ(translated.packetCount, 4u) << "what the receiver was sent on the slot";
  EXPECT_EQ(translated.octetCount, 4u * 10);
  EXPECT_EQ(findSenderReport(*p, 1111)->packetCount, 1234u) << "plain receivers: as sent";
  pump(
      all, [] { return false; }, 200);
  EXPECT_FALSE(findSenderReport(*r, 1111).has_value());
  EXPECT_FALSE(findSenderReport(*r, 5555).has_value()) << "q holds no slot of r's: dropped";
  // r's own receiver report about its slot goes no further than the bridge.
  rtp::ReportBlock block{};
  block.ssrc = slot;
  std::array<uint8_t, 128> rr{};
  const size_t n = rtp::writeReceiverReport(rr, 3333, std::span(&block, 1));
  const auto prot = r->out->protectRtcp(std::span<uint8_t>(rr.data(), rr.size()), n);
  ASSERT_TRUE(prot.ok());
  r->socket.send_to(asio::buffer(rr.data(), prot.length), bridgeAddr_);
  pump(
      all, [] { return false; }, 200);
  EXPECT_FALSE(findBlock(*a, slot).has_value());
}

class SmallPoolTest : public RewritingTest {
 protected:
  void SetUp() override {
    limit_ = 2;
    RewritingTest::SetUp();
  }
};

TEST_F(SmallPoolTest, AnExpiredSendersSlotIsFreedAndTakenOverWithContinuousNumbers) {
  auto a = addClient("a", 1111, {{1, kLevel}});
  auto b = addClient("b", 2222, {{1, kLevel}});
  auto r = addClient("r", 3333, {{1, kLevel}}, kRewriting);
  std::vector<Client*> all{a.get(), b.get(), r.get()};
  ASSERT_TRUE(pump(all, [&] { return a->out && b->out && r->out; }));
  for (uint16_t i = 0; i < 3; ++i) {
    sendVoice(*a, bridgeAddr_, 1111, static_cast<uint16_t>(10 + i), 960u * i);
    sendVoice(*b, bridgeAddr_, 2222, static_cast<uint16_t>(20 + i), 960u * i);
  }
  ASSERT_TRUE(pump(all, [&] { return r->received.size() == 6; }));
  const auto aSlot =
      mappingsFor("r")[0].owner == "a" ? mappingsFor("r")[0].ssrc : mappingsFor("r")[1].ssrc;
  compiler_->endpointExpired("m", "a");
  ASSERT_TRUE(pump(all, [&] {
    const auto maps = mappingsFor("r");
    return !maps.empty() && maps.back().freed;
  }));
  EXPECT_EQ(mappingsFor("r").back().ssrc, aSlot);
  // A newcomer takes the freed slot: same SSRC, the next sequence number
  // and 960 samples on (it was never sent to r).
  auto d = addClient("d", 6666, {{1, kLevel}});
  all = {b.get(), r.get(), d.get()};
  ASSERT_TRUE(pump(all, [&] { return d->out != std::nullopt; }));
  r->received.clear();
  sendVoice(*d, bridgeAddr_, 6666, 40000, 123456);
  ASSERT_TRUE(pump(all, [&] { return r->received.size() == 1; }));
  const auto v = rtp::ConstRtpPacketView::parse(r->received[0]);
  EXPECT_EQ(v->ssrc(), aSlot);
  EXPECT_EQ(v->sequenceNumber(), 13);
  EXPECT_EQ(v->timestamp(), 960u * 3);
  const auto m = mappingOf("r", aSlot);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->owner, "d");
  EXPECT_EQ(m->source, "d-a0");
  // A third sender now finds the pool full and takes the least recently
  // used slot (b's), announced with its new owner.
  auto e = addClient("e", 7777, {{1, kLevel}});
  all = {b.get(), r.get(), d.get(), e.get()};
  ASSERT_TRUE(pump(all, [&] { return e->out != std::nullopt; }));
  sendVoice(*d, bridgeAddr_, 6666, 40001, 123456 + 960);
  sendVoice(*e, bridgeAddr_, 7777, 9, 5);
  ASSERT_TRUE(pump(all, [&] { return r->received.size() == 3; }));
  EXPECT_EQ(ssrcsOf(*r).size(), 2u) << "never more SSRCs than ssrc-limit.audio";
  const auto taken = mappingsFor("r").back();
  EXPECT_EQ(taken.owner, "e");
  EXPECT_NE(taken.ssrc, aSlot);
}

TEST_F(RewritingTest, SubscriptionAndForceMuteApplyBeforeASlotIsTaken) {
  auto a = addClient("a", 1111, {{1, kLevel}});
  auto b = addClient("b", 2222, {{1, kLevel}});
  auto r = addClient("r", 3333, {{1, kLevel}}, kRewriting);
  std::vector<Client*> all{a.get(), b.get(), r.get()};
  ASSERT_TRUE(pump(all, [&] { return a->out && b->out && r->out; }));
  auto sub = media::AudioSubscription::fromFields(true, {}, {"a-a0"});
  compiler_->setAudioSubscription("m", "r", sub);
  for (uint16_t i = 0; i < 3; ++i) {
    sendVoice(*a, bridgeAddr_, 1111, i, 960u * i);
    sendVoice(*b, bridgeAddr_, 2222, i, 960u * i);
  }
  ASSERT_TRUE(pump(all, [&] { return r->received.size() == 3 && b->received.size() == 3; }));
  pump(
      all, [] { return false; }, 100);
  EXPECT_EQ(r->received.size(), 3u);
  ASSERT_EQ(mappingsFor("r").size(), 1u) << "the excluded source never gets a slot";
  EXPECT_EQ(mappingsFor("r")[0].owner, "b");
  // Force-muted by Colibri2: nothing more from b on its slot.
  auto muted = bridgeSide_["b"];
  muted.forceMuteAudio = true;
  compiler_->endpointChanged("m", muted);
  const auto& c = media_->counters();
  const auto before = c.audioMutedDropped.load();
  sendVoice(*b, bridgeAddr_, 2222, 3, 960u * 3);
  ASSERT_TRUE(pump(all, [&] { return c.audioMutedDropped.load() == before + 1; }));
  pump(
      all, [] { return false; }, 100);
  EXPECT_EQ(r->received.size(), 3u);
}

class DelayedTest : public RewritingTest {
 protected:
  void SetUp() override {
    delayMs_ = 300;
    RewritingTest::SetUp();
  }
};

TEST_F(DelayedTest, ANewSsrcIsAnnouncedBeforeItCarriesMedia) {
  auto a = addClient("a", 1111, {{1, kLevel}});
  auto r = addClient("r", 3333, {{1, kLevel}}, kRewriting);
  std::vector<Client*> all{a.get(), r.get()};
  ASSERT_TRUE(pump(all, [&] { return a->out && r->out; }));
  const auto start = Clock::now();
  uint16_t seq = 0;
  ASSERT_TRUE(pump(all, [&] {
    sendVoice(*a, bridgeAddr_, 1111, seq, 960u * seq);
    ++seq;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return !r->received.empty();
  }));
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(300));
  const auto maps = mappingsFor("r");
  ASSERT_EQ(maps.size(), 1u) << "announced once, before the first packet";
  EXPECT_EQ(ssrcOf(r->received[0]), maps[0].ssrc);
}

}  // namespace
