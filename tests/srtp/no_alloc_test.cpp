// The packet path must not allocate (shared/docs/style.md section 6.2): this
// binary replaces the global operator new/delete with counting versions and
// routes OpenSSL's allocator (which libsrtp's crypto uses) through a counter
// too, then runs every hot call of rtp/ and srtp/ inside a counted window.
#include <gtest/gtest.h>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "media/audio_ssrc_cache.hpp"
#include "media/fanout.hpp"
#include "rtp/audio_level.hpp"
#include "rtp/audio_rewrite.hpp"
#include "rtp/rtcp_builder.hpp"
#include "rtp/rtcp_packet.hpp"
#include "rtp/rtcp_views.hpp"
#include "rtp/rtp_packet.hpp"
#include "srtp/hmac_sha1.hpp"
#include "srtp/library.hpp"
#include "srtp/session.hpp"
#include "srtp_test_util.hpp"

namespace {

std::atomic<bool> gCounting{false};
std::atomic<size_t> gNews{0};
std::atomic<size_t> gCryptoMallocs{0};

void* cryptoMalloc(size_t n, const char* /*file*/, int /*line*/) {
  if (gCounting.load(std::memory_order_relaxed)) {
    gCryptoMallocs.fetch_add(1, std::memory_order_relaxed);
  }
  return std::malloc(n);  // NOLINT(cppcoreguidelines-no-malloc)
}
void* cryptoRealloc(void* p, size_t n, const char* /*file*/, int /*line*/) {
  if (gCounting.load(std::memory_order_relaxed)) {
    gCryptoMallocs.fetch_add(1, std::memory_order_relaxed);
  }
  return std::realloc(p, n);  // NOLINT(cppcoreguidelines-no-malloc)
}
void cryptoFree(void* p, const char* /*file*/, int /*line*/) {
  std::free(p);  // NOLINT(cppcoreguidelines-no-malloc)
}

// Must run before OpenSSL allocates anything, i.e. before main().
const bool kCryptoHooked = CRYPTO_set_mem_functions(cryptoMalloc, cryptoRealloc, cryptoFree) == 1;

struct Window {
  Window() {
    gNews = 0;
    gCryptoMallocs = 0;
    gCounting = true;
  }
  ~Window() { gCounting = false; }
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;
};

[[gnu::noinline]] void* acquire(size_t n) {
  if (gCounting.load(std::memory_order_relaxed)) {
    gNews.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) {  // NOLINT(cppcoreguidelines-no-malloc)
    return p;
  }
  throw std::bad_alloc();
}
// Out of line, so that GCC does not pair the inlined malloc/free across them.
[[gnu::noinline]] void release(void* p) noexcept {
  std::free(p);  // NOLINT(cppcoreguidelines-no-malloc)
}

}  // namespace

void* operator new(size_t n) {
  return acquire(n);
}
void* operator new[](size_t n) {
  return operator new(n);
}
void operator delete(void* p) noexcept {
  release(p);
}
void operator delete[](void* p) noexcept {
  release(p);
}
void operator delete(void* p, size_t /*n*/) noexcept {
  release(p);
}
void operator delete[](void* p, size_t /*n*/) noexcept {
  release(p);
}

namespace {

using namespace jvb;  // NOLINT(google-build-using-namespace): test
using srtp::test::bridgeKeys;
using srtp::test::mirrored;
using srtp::test::rtpPacket;

TEST(NoAlloc, CountersWork) {
  ASSERT_TRUE(kCryptoHooked);
  Window w;
  // volatile: the pointer escapes, so clang cannot elide the new/delete pair
  int* volatile leak = new int(1);
  delete leak;
  EXPECT_EQ(gNews.load(), 1u);
}

TEST(NoAlloc, RtpAndRtcpViews) {
  std::vector<uint8_t> pkt = rtpPacket(1);
  std::array<uint8_t, 256> rtcp{};
  rtp::ExtensionIdMap map;
  map.map(1, 5);
  size_t level = 0;
  {
    Window w;
    for (int i = 0; i < 100; ++i) {
      auto view = rtp::RtpPacketView::parse(pkt);
      ASSERT_TRUE(view);
      level += rtp::readAudioLevel(*view, 1).value_or(rtp::AudioLevel{}).level;
      level += rtp::peekAudioLevel(pkt, 1).has_value() ? 1 : 0;
      view->setSsrc(view->ssrc() + 1);
      view->setSequenceNumber(static_cast<uint16_t>(view->sequenceNumber() + 1));
      view->setTimestamp(view->timestamp() + 960);
      view->setMarker(!view->marker());
      ASSERT_TRUE(view->remapExtensionIds(map));
      ASSERT_TRUE(view->rewriteExtensionId(5, 1));
      level += view->payload().size();

      const rtp::ReportBlock block{};
      size_t n = rtp::writeSenderReport(rtcp, 1, rtp::SenderInfo{}, std::span(&block, 1));
      n += rtp::writeSdesCname(std::span(rtcp).subspan(n), 1, "cname");
      const auto compound = rtp::RtcpCompoundView::parse(std::span(rtcp).first(n));
      ASSERT_TRUE(compound);
      for (const rtp::RtcpPacketView p : *compound) {
        if (const auto sr = rtp::SenderReportView::from(p)) {
          level += sr->reportBlock(0)->jitter;
        } else if (const auto sdes = rtp::SdesView::from(p)) {
          for (const rtp::SdesChunk chunk : *sdes) {
            level += chunk.find(rtp::sdes_item::kCname)->value.size();
          }
        }
      }
    }
    EXPECT_EQ(gNews.load(), 0u);
    EXPECT_EQ(gCryptoMallocs.load(), 0u);
  }
  EXPECT_GT(level, 0u);
}

class NoAllocSrtp : public ::testing::TestWithParam<srtp::Profile> {};

TEST_P(NoAllocSrtp, ProtectUnprotect) {
  srtp::Library lib;
  const srtp::Keys keys = bridgeKeys(GetParam());
  srtp::Session out = srtp::Session::outbound(keys);
  srtp::Session in = srtp::Session::inbound(mirrored(keys));
  alignas(4) std::array<uint8_t, 1500> buf{};
  const std::vector<uint8_t> plain = rtpPacket(0);
  std::array<uint8_t, 64> rtcpPlain{};
  const size_t rtcpLen = rtp::writeReceiverReport(rtcpPlain, 7, {});

  auto roundTrip = [&](uint16_t seq) {
    std::copy(plain.begin(), plain.end(), buf.begin());
    buf[2] = static_cast<uint8_t>(seq >> 8);
    buf[3] = static_cast<uint8_t>(seq);
    const srtp::Result p = out.protectRtp(buf, plain.size());
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(in.unprotectRtp(std::span(buf).first(p.length)).ok());
    std::copy(rtcpPlain.begin(), rtcpPlain.begin() + static_cast<ptrdiff_t>(rtcpLen), buf.begin());
    const srtp::Result pc = out.protectRtcp(buf, rtcpLen);
    ASSERT_TRUE(pc.ok());
    ASSERT_TRUE(in.unprotectRtcp(std::span(buf).first(pc.length)).ok());
  };
  roundTrip(0);  // libsrtp clones the ssrc_any template per new SSRC: once
  Window w;
  for (uint16_t seq = 1; seq <= 200; ++seq) {
    roundTrip(seq);
  }
  // Rejections are on the packet path too.
  std::array<uint8_t, 40> junk{};
  junk[0] = 0x80;
  EXPECT_EQ(in.unprotectRtp(junk).status, srtp::Status::kAuthFailure);
  EXPECT_EQ(in.unprotectRtp(std::span(junk).first(13)).status, srtp::Status::kBadLength);
  const size_t news = gNews.load();
  const size_t cryptoMallocs = gCryptoMallocs.load();
  RecordProperty("openssl_mallocs", std::to_string(cryptoMallocs));
  EXPECT_EQ(news, 0u);  // the wrapper and libsrtp's stream lookup
  // Both profiles: AES_CM_128_HMAC_SHA1_80 authenticates with srtp::Library's
  // HMAC-SHA1 (srtp/hmac_sha1.hpp), not libsrtp 2.5's, whose OpenSSL 3.0
  // EVP_MAC re-init and final copy a digest context (EVP_MD_CTX_copy_ex dups
  // the provider context): 2 malloc/free pairs per packet (see the next test).
  EXPECT_EQ(cryptoMallocs, 0u) << "OpenSSL allocations in 200 RTP+RTCP round trips";
}

// The counter sees the cost the test above rules out: sessions created under
// libsrtp's own HMAC-SHA1 allocate per packet, so a 0 above is not vacuous.
TEST(NoAlloc, LibsrtpOwnHmacSha1Allocates) {
  srtp::Library lib;
  ASSERT_EQ(srtp::useLibsrtpHmacSha1(), 0);
  const srtp::Keys keys = bridgeKeys(srtp::Profile::kAes128CmHmacSha1_80);
  srtp::Session out = srtp::Session::outbound(keys);
  srtp::Session in = srtp::Session::inbound(mirrored(keys));
  ASSERT_EQ(srtp::useHmacSha1(), 0);
  alignas(4) std::array<uint8_t, 1500> buf{};
  const std::vector<uint8_t> plain = rtpPacket(0);
  auto roundTrip = [&](uint16_t seq) {
    std::copy(plain.begin(), plain.end(), buf.begin());
    buf[2] = static_cast<uint8_t>(seq >> 8);
    buf[3] = static_cast<uint8_t>(seq);
    const srtp::Result p = out.protectRtp(buf, plain.size());
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(in.unprotectRtp(std::span(buf).first(p.length)).ok());
  };
  roundTrip(0);
  Window w;
  for (uint16_t seq = 1; seq <= 100; ++seq) {
    roundTrip(seq);
  }
  RecordProperty("openssl_mallocs", std::to_string(gCryptoMallocs.load()));
  EXPECT_GE(gCryptoMallocs.load(), 2u * 100) << "libsrtp's own HMAC-SHA1 stopped allocating";
}

// SSRC rewriting for a receiver, per packet: the slot lookup (including
// slot creation, LRU remaps and frees, the paths a speaker change takes),
// the rewritten copy with the slot's mid, protect and the batched send.
TEST(NoAlloc, RewritingFanOut) {
  srtp::Library lib;
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::udp::socket sink(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  asio::ip::udp::socket sender(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto to = sink.local_endpoint();
  constexpr size_t kReceivers = 8;
  std::vector<srtp::Session> sessions;
  std::vector<media::AudioSsrcCache> caches;
  caches.reserve(kReceivers);
  media::SsrcRewriteConfig cfg;
  cfg.limit = 3;  // fewer slots than the 5 sources below: remaps happen
  cfg.newSsrcDelay = std::chrono::milliseconds(0);
  cfg.remapMinIdle = std::chrono::milliseconds(0);
  for (size_t i = 0; i < kReceivers; ++i) {
    sessions.push_back(srtp::Session::outbound(bridgeKeys(srtp::Profile::kAeadAes128Gcm)));
    caches.emplace_back(cfg, true, i + 7);
    caches.back().reserveSources(5);
  }
  media::FanOut fan(sender.native_handle());
  std::vector<uint8_t> pkt = rtpPacket(0);
  auto now = media::AudioSsrcCache::Clock::now();
  size_t sent = 0;
  auto burst = [&](uint32_t source, uint16_t seq) {
    auto view = rtp::ConstRtpPacketView::parse(pkt);
    ASSERT_TRUE(view);
    for (size_t i = 0; i < kReceivers; ++i) {
      const auto rw = caches[i].rewrite(source, seq, seq * 960u, now);
      if (rw.outcome != media::AudioSsrcCache::Outcome::kSend) {
        continue;
      }
      const rtp::AudioRewrite spec{rw.ssrc,
                                   rw.sequenceNumber,
                                   rw.timestamp,
                                   1,
                                   3,
                                   10,
                                   caches[i].slots()[static_cast<size_t>(rw.slot)].mid};
      if (fan.addRewritten(*view, spec, sessions[i], to)) {
        caches[i].onSent(rw.slot, view->payload().size());
        ++sent;
      }
    }
    fan.flush();
  };
  burst(0, 0);  // libsrtp's per-SSRC stream clone: once per slot SSRC, before counting
  burst(1, 0);
  burst(2, 0);
  {
    Window w;
    for (uint16_t seq = 1; seq <= 200; ++seq) {
      now += std::chrono::milliseconds(20);
      burst(seq % 3, seq);  // resident sources
      if (seq % 50 == 0) {
        burst(3 + seq % 2, seq);  // a newcomer takes the least recently used slot
        for (auto& c : caches) {
          (void)c.releaseSource(3 + seq % 2);
        }
      }
    }
    EXPECT_EQ(gNews.load(), 0u);
    EXPECT_EQ(gCryptoMallocs.load(), 0u);
  }
  EXPECT_GT(caches[0].counters().remappings, 0u);
  EXPECT_GT(sent, 200u * kReceivers);
}

INSTANTIATE_TEST_SUITE_P(Profiles, NoAllocSrtp,
                         ::testing::Values(srtp::Profile::kAeadAes128Gcm,
                                           srtp::Profile::kAes128CmHmacSha1_80),
                         [](const auto& p) {
                           return p.param == srtp::Profile::kAeadAes128Gcm ? "Gcm" : "HmacSha1_80";
                         });

}  // namespace
