// The per-receiver slot logic of SSRC rewriting (media/audio_ssrc_cache.hpp)
// against JVB's rules (SsrcCache.kt, SsrcCacheTest.kt) and the bridge's own
// remap/new-SSRC rules.
#include "media/audio_ssrc_cache.hpp"

#include <gtest/gtest.h>

#include <set>

namespace jvb::media {
namespace {

using namespace std::chrono_literals;
using Clock = AudioSsrcCache::Clock;
using Outcome = AudioSsrcCache::Outcome;

SsrcRewriteConfig config(size_t limit, Clock::duration delay = 0ms, Clock::duration idle = 0ms) {
  SsrcRewriteConfig c;
  c.limit = limit;
  c.newSsrcDelay = delay;
  c.remapMinIdle = idle;
  return c;
}

struct Fixture {
  explicit Fixture(SsrcRewriteConfig c, bool mid = false) : cache(c, mid, 12345) {
    cache.reserveSources(16);
  }
  AudioSsrcCache cache;
  Clock::time_point now = Clock::time_point{} + 1000s;
  // Sends `n` packets of `source` 20 ms apart from (seq, ts); returns the last result.
  AudioSsrcCache::Rewrite send(uint32_t source, uint16_t& seq, uint32_t& ts, int n = 1) {
    AudioSsrcCache::Rewrite r;
    for (int i = 0; i < n; ++i) {
      r = cache.rewrite(source, seq, ts, now);
      if (r.outcome == Outcome::kSend) {
        cache.onSent(r.slot, 80);
      }
      ++seq;
      ts += 960;
      now += 20ms;
    }
    return r;
  }
};

TEST(AudioSsrcCache, FirstAssignmentPassesSequenceAndTimestampThrough) {
  Fixture f(config(3));
  uint16_t seq = 1000;
  uint32_t ts = 50000;
  const auto r = f.cache.rewrite(0, seq, ts, f.now);
  ASSERT_EQ(r.outcome, Outcome::kSend);
  EXPECT_TRUE(r.mappingChanged);
  EXPECT_EQ(r.slot, 0);
  EXPECT_NE(r.ssrc, 0u);
  EXPECT_EQ(r.sequenceNumber, 1000);
  EXPECT_EQ(r.timestamp, 50000u);
  const auto again = f.cache.rewrite(0, 1001, 50960, f.now + 20ms);
  EXPECT_FALSE(again.mappingChanged);
  EXPECT_EQ(again.ssrc, r.ssrc);
  EXPECT_EQ(again.sequenceNumber, 1001);
  EXPECT_EQ(f.cache.counters().slotsCreated, 1u);
  EXPECT_EQ(f.cache.slots()[0].mid, "");  // no mid without mid demux
}

TEST(AudioSsrcCache, DistinctSsrcsAndMidsInCreationOrder) {
  Fixture f(config(4), true);
  std::set<uint32_t> ssrcs;
  for (uint32_t s = 0; s < 4; ++s) {
    const auto r = f.cache.rewrite(s, 1, 1, f.now);
    ASSERT_EQ(r.outcome, Outcome::kSend);
    EXPECT_EQ(r.slot, static_cast<int>(s));
    ssrcs.insert(r.ssrc);
    EXPECT_EQ(f.cache.slots()[s].mid, std::string("a").append(std::to_string(s)));
  }
  EXPECT_EQ(ssrcs.size(), 4u);
  EXPECT_EQ(f.cache.slotsInUse(), 4u);
}

TEST(AudioSsrcCache, LruReuseContinuesSequenceAndTimestamp) {
  Fixture f(config(2));
  uint16_t s0 = 100, s1 = 5000, s2 = 40000;
  uint32_t t0 = 1000, t1 = 777777, t2 = 123;
  const auto a = f.send(0, s0, t0, 5);  // slot 0 ends at seq 104, ts 1000 + 4*960
  f.send(1, s1, t1, 5);                 // slot 1, more recently used
  ASSERT_EQ(a.sequenceNumber, 104);
  const auto c = f.cache.rewrite(2, s2, t2, f.now);  // pool full: the LRU slot (0)
  ASSERT_EQ(c.outcome, Outcome::kSend);
  EXPECT_TRUE(c.mappingChanged);
  EXPECT_EQ(c.slot, 0);
  EXPECT_EQ(c.ssrc, a.ssrc);                // same SSRC, new owner
  EXPECT_EQ(c.sequenceNumber, 105);         // last + 1
  EXPECT_EQ(c.timestamp, 1000u + 5 * 960);  // last + 960
  const auto c2 = f.cache.rewrite(2, static_cast<uint16_t>(s2 + 1), t2 + 960, f.now + 20ms);
  EXPECT_EQ(c2.sequenceNumber, 106);
  EXPECT_EQ(c2.timestamp, 1000u + 6 * 960);
  EXPECT_EQ(f.cache.counters().remappings, 1u);
  // Source 0 lost its slot: its SR is dropped.
  EXPECT_FALSE(f.cache.rewriteSenderReport(0, 1).has_value());
}

TEST(AudioSsrcCache, ReturningSenderJumpsForwardByWhatItMissed) {
  Fixture f(config(1));
  uint16_t s0 = 10, s1 = 20000;
  uint32_t t0 = 0, t1 = 9000000;
  f.send(0, s0, t0, 3);  // sent 10..12, slot last 12
  f.send(1, s1, t1, 3);  // takes the slot: 13..15
  s0 += 50;              // source 0 went on sending (not to this receiver): 63 next
  t0 += 50 * 960;
  const auto back = f.cache.rewrite(0, s0, t0, f.now);
  ASSERT_EQ(back.outcome, Outcome::kSend);
  EXPECT_TRUE(back.mappingChanged);
  // seen before: delta = slot.last (15) - own last (12): 63 + 3 = 66, forward.
  EXPECT_EQ(back.sequenceNumber, 66);
  // ts: its own 50880 + (slot last 4800 - own last 1920).
  EXPECT_EQ(back.timestamp, 50880u + 4800u - 1920u);
  EXPECT_GT(static_cast<int16_t>(back.sequenceNumber - 15), 0);
}

TEST(AudioSsrcCache, SequenceWrapIsContinuous) {
  Fixture f(config(1));
  uint16_t s0 = 65534;
  uint32_t t0 = 0xFFFFFC40;  // wraps after one step
  f.send(0, s0, t0, 2);      // 65534, 65535
  uint16_t s1 = 3;
  uint32_t t1 = 5;
  const auto r = f.send(1, s1, t1, 2);  // 0, 1 on the same SSRC
  EXPECT_EQ(r.sequenceNumber, 1);
  EXPECT_EQ(r.timestamp, 0xFFFFFC40u + 3 * 960);
}

TEST(AudioSsrcCache, SenderReportTranslated) {
  Fixture f(config(2));
  uint16_t s1 = 7;
  uint32_t t1 = 100;
  f.send(1, s1, t1, 1);  // slot 0 (no history: delta 0)
  uint16_t s0 = 500;
  uint32_t t0 = 90000;
  const auto first = f.send(0, s0, t0, 4);                      // slot 1
  EXPECT_FALSE(f.cache.rewriteSenderReport(3, 1).has_value());  // never mapped
  const auto sr = f.cache.rewriteSenderReport(0, 90000 + 4 * 960);
  ASSERT_TRUE(sr.has_value());
  EXPECT_EQ(sr->ssrc, first.ssrc);
  EXPECT_EQ(sr->rtpTimestamp, 90000u + 4 * 960);  // delta 0 for a fresh slot
  EXPECT_EQ(sr->packetCount, 4u);
  EXPECT_EQ(sr->octetCount, 4u * 80);
  // A new owner of slot 0 after source 1: SR timestamps move by its delta,
  // counts are the SSRC's totals across owners.
  SsrcRewriteConfig c = config(1);
  Fixture g(c);
  uint16_t a = 10;
  uint32_t at = 1000;
  g.send(0, a, at, 2);  // slot ts 1000, 1960
  uint16_t b = 300;
  uint32_t bt = 50000;
  const auto rb = g.send(1, b, bt, 1);  // 1960 + 960 = 2920 for 50000
  ASSERT_EQ(rb.timestamp, 2920u);
  const auto sb = g.cache.rewriteSenderReport(1, 50000 + 960);
  ASSERT_TRUE(sb.has_value());
  EXPECT_EQ(sb->rtpTimestamp, 2920u + 960);
  EXPECT_EQ(sb->packetCount, 3u);
  EXPECT_FALSE(g.cache.rewriteSenderReport(0, 1).has_value());  // evicted
}

TEST(AudioSsrcCache, SenderRemovedFreesItsSlotForTheNextSource) {
  Fixture f(config(2), true);
  uint16_t s0 = 1, s1 = 1, s2 = 900;
  uint32_t t0 = 1, t1 = 1, t2 = 1;
  const auto r0 = f.send(0, s0, t0, 2);
  f.send(1, s1, t1, 2);
  EXPECT_EQ(f.cache.releaseSource(0), r0.slot);
  EXPECT_EQ(f.cache.releaseSource(0), -1);
  EXPECT_EQ(f.cache.slotsInUse(), 1u);
  EXPECT_FALSE(f.cache.rewriteSenderReport(0, 1).has_value());
  // Source 2 takes the freed slot (not the LRU one), SSRC and mid kept.
  const auto r2 = f.cache.rewrite(2, s2, t2, f.now);
  ASSERT_EQ(r2.outcome, Outcome::kSend);
  EXPECT_EQ(r2.slot, r0.slot);
  EXPECT_EQ(r2.ssrc, r0.ssrc);
  EXPECT_EQ(f.cache.slots()[static_cast<size_t>(r2.slot)].mid, "a0");
  EXPECT_EQ(r2.sequenceNumber, 3);  // continues slot 0 (1, 2)
  EXPECT_EQ(f.cache.counters().slotsCreated, 2u);
  // The index of source 0 can name a new source: it starts unseen.
  uint16_t n0 = 7000;
  uint32_t nt0 = 5;
  f.now += 10s;
  const auto fresh = f.cache.rewrite(0, n0, nt0, f.now);  // LRU: slot 1
  ASSERT_EQ(fresh.outcome, Outcome::kSend);
  EXPECT_EQ(fresh.sequenceNumber, 3);  // slot 1's last (2) + 1: treated as never seen
}

TEST(AudioSsrcCache, NewSsrcCarriesMediaOnlyAfterTheDelay) {
  Fixture f(config(1, 200ms, 0ms));
  const auto r = f.cache.rewrite(0, 10, 100, f.now);
  EXPECT_EQ(r.outcome, Outcome::kDelayed);
  EXPECT_TRUE(r.mappingChanged);
  EXPECT_NE(r.ssrc, 0u) << "the SSRC to announce is known";
  EXPECT_FALSE(f.cache.rewrite(0, 11, 1060, f.now + 100ms).mappingChanged);
  EXPECT_EQ(f.cache.rewrite(0, 12, 2020, f.now + 199ms).outcome, Outcome::kDelayed);
  const auto live = f.cache.rewrite(0, 13, 2980, f.now + 200ms);
  ASSERT_EQ(live.outcome, Outcome::kSend);
  EXPECT_EQ(live.sequenceNumber, 13);
  EXPECT_EQ(f.cache.counters().delayedPackets, 3u);
  // A remap of the now known SSRC is not delayed.
  const auto remap = f.cache.rewrite(1, 500, 7, f.now + 300ms);
  EXPECT_EQ(remap.outcome, Outcome::kSend);
  EXPECT_TRUE(remap.mappingChanged);
  EXPECT_EQ(remap.sequenceNumber, 14);
}

TEST(AudioSsrcCache, BusySlotsAreNotStolenBeforeTheyAreIdle) {
  Fixture f(config(2, 0ms, 500ms));
  uint16_t s0 = 1, s1 = 1;
  uint32_t t0 = 1, t1 = 1;
  f.send(0, s0, t0, 1);
  f.send(1, s1, t1, 1);
  // Both slots used within 500 ms: a third source gets none (JVB would evict).
  const auto miss = f.cache.rewrite(2, 1, 1, f.now);
  EXPECT_EQ(miss.outcome, Outcome::kNoSlot);
  EXPECT_FALSE(miss.mappingChanged);
  EXPECT_EQ(f.cache.counters().noSlotDropped, 1u);
  // Source 1 keeps talking, source 0 stops: after 500 ms slot 0 is taken.
  for (int i = 0; i < 30; ++i) {
    f.send(1, s1, t1, 1);
  }
  const auto got = f.cache.rewrite(2, 1, 1, f.now);
  ASSERT_EQ(got.outcome, Outcome::kSend);
  EXPECT_EQ(got.slot, 0);
  EXPECT_EQ(f.cache.counters().remappings, 1u);
}

TEST(AudioSsrcCache, UnknownSourceIndexIsRefused) {
  Fixture f(config(2));
  EXPECT_EQ(f.cache.rewrite(99, 1, 1, f.now).outcome, Outcome::kNoSlot);
  EXPECT_EQ(f.cache.releaseSource(99), -1);
  EXPECT_FALSE(f.cache.rewriteSenderReport(99, 1).has_value());
}

}  // namespace
}  // namespace jvb::media
