// The whole media path must not allocate per packet (shared/docs/style.md
// section 6.2), not only its pieces (tests/srtp/no_alloc_test.cpp): this
// binary replaces the global operator new/delete, OpenSSL's allocator (which
// libsrtp's crypto uses) and the malloc family (libsrtp's own calloc, any C
// library; not under AddressSanitizer) with counting versions, then counts
// every media::MediaRouter::onDatagram() call of a conference of 500
// receivers and 3 senders (bench/router_rig.hpp: built through the real
// control::MediaCompiler, half the receivers SSRC-rewriting, RTP with
// sender reports) in both SRTP profiles, with and without
// route-loudest-only. The warm-up (libsrtp's per-SSRC stream clones,
// rewriting receivers' slots and their reports, the new-SSRC delay) is not
// counted; the router's timers (io_context::poll() between calls) are
// counted apart and only reported (property timer_allocations). An
// allocation in the window records its stack (backtrace(3)), printed when
// the test fails.
#include <execinfo.h>
#include <gtest/gtest.h>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "bench/router_rig.hpp"
#include "rtp/audio_level.hpp"
#include "rtp/header_extensions.hpp"
#include "rtp/rtp_packet.hpp"

namespace {

std::atomic<bool> gCounting{false};
std::atomic<size_t> gNews{0};
std::atomic<size_t> gCryptoMallocs{0};
std::atomic<size_t> gMallocs{0};  // malloc family called directly (C code: libsrtp, glibc, ...)

// The first allocations of a window, with their stacks.
enum class Via : uint8_t { kOperatorNew, kOpenSsl, kMalloc };
constexpr size_t kMaxTraces = 4;
constexpr int kTraceDepth = 24;
struct Trace {
  std::array<void*, kTraceDepth> frames{};
  int depth = 0;
  Via via = Via::kMalloc;
};
std::array<Trace, kMaxTraces> gTraces{};
std::atomic<size_t> gTraceCount{0};
// Set while an allocation is being counted (its malloc is not counted
// again, and backtrace() may allocate).
thread_local bool tInHook = false;

// Counts one allocation of a window and records its stack, unless it is
// part of one counted already: while one is alive, the allocations under it
// (its malloc, backtrace()'s own) are not counted again.
class Counted {
 public:
  Counted(std::atomic<size_t>& counter, Via via) noexcept {
    if (!gCounting.load(std::memory_order_relaxed) || tInHook) {
      return;
    }
    owner_ = true;
    tInHook = true;
    counter.fetch_add(1, std::memory_order_relaxed);
    const size_t i = gTraceCount.fetch_add(1, std::memory_order_relaxed);
    if (i < kMaxTraces) {
      gTraces[i].depth = backtrace(gTraces[i].frames.data(), kTraceDepth);
      gTraces[i].via = via;
    }
  }
  ~Counted() {
    if (owner_) {
      tInHook = false;
    }
  }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;

 private:
  bool owner_ = false;
};

void* cryptoMalloc(size_t n, const char* /*file*/, int /*line*/) {
  const Counted c(gCryptoMallocs, Via::kOpenSsl);
  return std::malloc(n);  // NOLINT(cppcoreguidelines-no-malloc)
}
void* cryptoRealloc(void* p, size_t n, const char* /*file*/, int /*line*/) {
  const Counted c(gCryptoMallocs, Via::kOpenSsl);
  return std::realloc(p, n);  // NOLINT(cppcoreguidelines-no-malloc)
}
void cryptoFree(void* p, const char* /*file*/, int /*line*/) {
  std::free(p);  // NOLINT(cppcoreguidelines-no-malloc)
}

// Must run before OpenSSL allocates anything, i.e. before main().
const bool kCryptoHooked = CRYPTO_set_mem_functions(cryptoMalloc, cryptoRealloc, cryptoFree) == 1;

// backtrace() loads libgcc's unwinder on its first call (which mallocs):
// done before any window.
const int kUnwinderLoaded = [] {
  std::array<void*, 2> frames{};
  return backtrace(frames.data(), 2);
}();

[[gnu::noinline]] void* acquire(size_t n) {
  void* p = nullptr;
  {
    const Counted c(gNews, Via::kOperatorNew);
    p = std::malloc(n == 0 ? 1 : n);  // NOLINT(cppcoreguidelines-no-malloc)
  }
  if (p != nullptr) {
    return p;
  }
  throw std::bad_alloc();
}
// Out of line, so that GCC does not pair the inlined malloc/free across them.
[[gnu::noinline]] void release(void* p) noexcept {
  std::free(p);  // NOLINT(cppcoreguidelines-no-malloc)
}

}  // namespace

// Under AddressSanitizer the malloc family stays ASan's (memory it hands
// out from its interceptors must go back to it), and mallocs() stays 0.
#if defined(__SANITIZE_ADDRESS__)
#define JVB_COUNT_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JVB_COUNT_MALLOC 0
#endif
#endif
#ifndef JVB_COUNT_MALLOC
#define JVB_COUNT_MALLOC 1
#endif

#if JVB_COUNT_MALLOC
// glibc's own entry points, under the malloc family interposed below.
extern "C" {
void* __libc_malloc(size_t n);
void* __libc_calloc(size_t nmemb, size_t n);
void* __libc_realloc(void* p, size_t n);
void __libc_free(void* p);
void* __libc_memalign(size_t alignment, size_t n);
}

// The malloc family, for every library of the process (libsrtp allocates
// with calloc, not through OpenSSL): counted when called directly in a
// window.
extern "C" void* malloc(size_t n) noexcept {
  const Counted c(gMallocs, Via::kMalloc);
  return __libc_malloc(n);
}
extern "C" void* calloc(size_t nmemb, size_t n) noexcept {
  const Counted c(gMallocs, Via::kMalloc);
  return __libc_calloc(nmemb, n);
}
extern "C" void* realloc(void* p, size_t n) noexcept {
  const Counted c(gMallocs, Via::kMalloc);
  return __libc_realloc(p, n);
}
extern "C" void free(void* p) noexcept {
  __libc_free(p);
}
extern "C" void* aligned_alloc(size_t alignment, size_t n) noexcept {
  const Counted c(gMallocs, Via::kMalloc);
  return __libc_memalign(alignment, n);
}
extern "C" void* memalign(size_t alignment, size_t n) noexcept {
  return aligned_alloc(alignment, n);
}
extern "C" int posix_memalign(void** out, size_t alignment, size_t n) noexcept {
  *out = aligned_alloc(alignment, n);
  return *out != nullptr ? 0 : ENOMEM;
}
#endif  // JVB_COUNT_MALLOC

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
using bench::RigDatagram;
using bench::RigOptions;
using bench::RouterRig;

// Counts the allocations made while open(), from its construction on.
class Window {
 public:
  Window() { restore({}); }
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;
  void open() { gCounting.store(true, std::memory_order_relaxed); }
  void close() { gCounting.store(false, std::memory_order_relaxed); }
  [[nodiscard]] static size_t news() { return gNews.load(); }
  [[nodiscard]] static size_t cryptoMallocs() { return gCryptoMallocs.load(); }
  [[nodiscard]] static size_t mallocs() { return gMallocs.load(); }
  [[nodiscard]] static size_t total() { return news() + cryptoMallocs() + mallocs(); }

  // To count something apart: snapshot(), count it, read, restore().
  struct Snapshot {
    size_t news = 0;
    size_t cryptoMallocs = 0;
    size_t mallocs = 0;
    size_t traces = 0;
  };
  [[nodiscard]] static Snapshot snapshot() {
    return {gNews.load(), gCryptoMallocs.load(), gMallocs.load(), gTraceCount.load()};
  }
  static void restore(const Snapshot& s) {
    gNews = s.news;
    gCryptoMallocs = s.cryptoMallocs;
    gMallocs = s.mallocs;
    gTraceCount = s.traces;
  }

  // The recorded stacks (addresses; resolve with addr2line -f -C -e <binary>).
  static std::string traces() {
    std::string out;
    const size_t n = std::min(gTraceCount.load(), kMaxTraces);
    for (size_t i = 0; i < n; ++i) {
      out += gTraces[i].via == Via::kOperatorNew ? "operator new:\n"
             : gTraces[i].via == Via::kOpenSsl   ? "OpenSSL malloc:\n"
                                                 : "malloc:\n";
      char** symbols = backtrace_symbols(gTraces[i].frames.data(), gTraces[i].depth);
      for (int f = 0; symbols != nullptr && f < gTraces[i].depth; ++f) {
        out += "  ";
        out += symbols[f];
        out += '\n';
      }
      std::free(symbols);  // NOLINT(cppcoreguidelines-no-malloc)
    }
    return out;
  }
};

TEST(WholePathAlloc, CountersWork) {
  ASSERT_TRUE(kCryptoHooked);
  ASSERT_GT(kUnwinderLoaded, 0);
  Window w;
  w.open();
  // volatile: the pointers escape, so the compiler cannot elide the pairs
  int* volatile leak = new int(1);
  delete leak;
  void* volatile crypto = OPENSSL_malloc(8);
  OPENSSL_free(crypto);
  void* volatile plain = std::malloc(8);  // NOLINT(cppcoreguidelines-no-malloc)
  std::free(plain);                       // NOLINT(cppcoreguidelines-no-malloc)
  w.close();
  // Each counted once, under the name it was asked for by.
  EXPECT_EQ(Window::news(), 1u);
  EXPECT_EQ(Window::cryptoMallocs(), 1u);
  EXPECT_EQ(Window::mallocs(), size_t{JVB_COUNT_MALLOC});
  EXPECT_EQ(gTraceCount.load(), size_t{2 + JVB_COUNT_MALLOC});
}

struct Case {
  srtp::Profile profile;
  bool routeLoudestOnly;
  bool red = false;  // Opus RED senders, RED and non-RED receivers
};
std::string nameOf(const Case& c) {
  return std::string(c.profile == srtp::Profile::kAeadAes128Gcm ? "Gcm" : "HmacSha1_80") +
         (c.routeLoudestOnly ? "_LoudestOnly" : "_AllRouted") + (c.red ? "_Red" : "");
}
void PrintTo(const Case& c, std::ostream* os) {
  *os << nameOf(c);
}

class WholePathAllocTest : public ::testing::TestWithParam<Case> {};

// What one receiver's socket holds: decrypted with its keys, checked.
struct Received {
  size_t rtp = 0;
  size_t rtcp = 0;
  size_t bad = 0;              // did not decrypt, or not the forwarded packet
  std::set<uint32_t> ssrcs{};  // of the RTP packets
};

// What a receiver must get: plain Opus (the senders' or RED's primary) or
// RED as sent.
Received readPeer(RouterRig::Peer& peer, bool redSenders) {
  const bool asRed = redSenders && peer.red;
  const uint8_t pt = asRed ? RouterRig::kRedPt : uint8_t{111};
  const size_t payload =
      redSenders && !peer.red ? RouterRig::kRedPrimarySize : RouterRig::kRtpPlainSize - 20;
  Received r;
  srtp::Session in = srtp::Session::inbound(RouterRig::mirrored(peer.keys));
  alignas(4) std::array<uint8_t, 2048> buf{};
  for (;;) {
    boost::system::error_code ec;
    const size_t n = peer.socket.receive(boost::asio::buffer(buf), 0, ec);
    if (ec) {
      break;
    }
    const std::span<uint8_t> d(buf.data(), n);
    if (n >= 2 && buf[1] >= 200 && buf[1] <= 204) {
      ++r.rtcp;
      r.bad += in.unprotectRtcp(d).ok() ? 0 : 1;
      continue;
    }
    const auto res = in.unprotectRtp(d);
    const auto view = res.ok() ? rtp::ConstRtpPacketView::parse(d.first(res.length)) : std::nullopt;
    // 100 bytes of payload; the audio level kept (id 1), sdes:mid (id 10)
    // stripped: the receiver's m-lines have their own mids.
    if (!view || view->payload().size() != payload || view->payloadType() != pt ||
        !rtp::readAudioLevel(*view, 1) ||
        rtp::findExtensionElement(view->extensionData(), view->extensionProfile(), 10)) {
      ++r.bad;
      continue;
    }
    ++r.rtp;
    r.ssrcs.insert(view->ssrc());
  }
  return r;
}

TEST_P(WholePathAllocTest, OnDatagramAllocatesNothing) {
  ASSERT_TRUE(kCryptoHooked);
  RigOptions options;
  options.profile = GetParam().profile;
  options.routeLoudestOnly = GetParam().routeLoudestOnly;
  options.rewriting = RigOptions::Rewriting::kHalf;
  options.rtcpEvery = 50;
  options.red = GetParam().red;
  RouterRig rig(options);
  // The per-endpoint packet-rate cap runs on every datagram (far above
  // what the senders send here: it admits all of them).
  rig.router().setRateLimit(media::EndpointRateLimit{1000000, 1000000});
  ASSERT_EQ(rig.router().endpointCount(), 503u);
  ASSERT_EQ(rig.router().connectedCount(), 503u);

  constexpr size_t kRounds = 400;  // 1 200 RTP datagrams, 24 SRTCP ones
  std::vector<RigDatagram> datagrams;
  datagrams.reserve(kRounds * 3 + kRounds * 3 / options.rtcpEvery + 3);
  // Non-vacuous: the first packet of each SSRC allocates (libsrtp's stream
  // clones at the router and at each receiver's outbound session), and the
  // counter sees it.
  rig.prepare(datagrams, 1);
  {
    Window first;
    for (const RigDatagram& d : datagrams) {
      const auto datagram = rig.load(d);
      first.open();
      rig.router().onDatagram(datagram, rig.from(d));
      first.close();
    }
    EXPECT_GT(Window::total(), 0u);
  }
  datagrams.clear();
  // The conference has an audio export (Colibri2 <connects>): every
  // forwarded packet is also copied into the export ring, which the
  // control thread drains (here: between datagrams, outside the window).
  media::ExportRing exportRing(64);
  rig.router().setExportRing(&exportRing);
  rig.router().setConferenceExport(1, true);  // the rig's conference: the compiler's first handle
  rig.warmUp();
  rig.prepare(datagrams, kRounds);

  // Two receivers to decrypt what reached them: one plain, one rewriting.
  RouterRig::Peer& plain = *rig.peers()[3];
  RouterRig::Peer& rewriting = *rig.peers()[4];
  ASSERT_FALSE(plain.rewriting);
  ASSERT_TRUE(rewriting.rewriting);
  // With RED: 3 plain with RED, 4 rewriting without, 5 plain without, 6
  // rewriting with.
  RouterRig::Peer& plainOther = *rig.peers()[5];
  RouterRig::Peer& rewritingOther = *rig.peers()[6];
  ASSERT_EQ(plain.red, options.red);
  ASSERT_FALSE(rewriting.red);
  ASSERT_FALSE(plainOther.rewriting || plainOther.red);
  ASSERT_TRUE(rewritingOther.rewriting);
  ASSERT_EQ(rewritingOther.red, options.red);
  for (auto* p : {&plain, &rewriting, &plainOther, &rewritingOther}) {
    p->socket.set_option(boost::asio::socket_base::receive_buffer_size(1 << 20));
  }
  rig.drainSockets();

  auto& c = rig.counters();
  const uint64_t forwarded0 = c.rtpForwarded.load();
  const uint64_t redCopies0 = c.redDecapsulated.load() + c.redForwarded.load();
  const uint64_t redStripped0 = c.redDecapsulated.load();
  const uint64_t terminated0 = c.rtcpTerminated.load();
  const uint64_t srtpFailed0 = c.srtpFailed.load();
  const uint64_t dropped0 = c.rtpDropped.load() + c.audioNotLoudestDropped.load() +
                            c.audioSilenceDropped.load() + c.audioMutedDropped.load();
  size_t rtpCalls = 0;
  size_t rtcpCalls = 0;
  size_t timerAllocations = 0;  // not part of the window
  Window w;
  for (size_t i = 0; i < datagrams.size(); ++i) {
    const RigDatagram& d = datagrams[i];
    const auto datagram = rig.load(d);
    const auto& from = rig.from(d);
    w.open();
    rig.router().onDatagram(datagram, from);
    w.close();
    ++(d.rtcp ? rtcpCalls : rtpCalls);
    exportRing.drain([](const media::ExportPacket&) {});
    if (i % 3 == 2) {
      // The router's 20 ms tick (receiver reports, speech decisions),
      // counted on its own.
      const auto before = Window::snapshot();
      w.open();
      rig.io().poll();
      w.close();
      timerAllocations += Window::total() - (before.news + before.cryptoMallocs + before.mallocs);
      Window::restore(before);
    }
  }
  const size_t news = Window::news();
  const size_t cryptoMallocs = Window::cryptoMallocs();
  const size_t mallocs = Window::mallocs();
  RecordProperty("operator_new", std::to_string(news));
  RecordProperty("openssl_mallocs", std::to_string(cryptoMallocs));
  RecordProperty("mallocs", std::to_string(mallocs));
  RecordProperty("timer_allocations", std::to_string(timerAllocations));
  EXPECT_EQ(news, 0u) << "operator new in " << datagrams.size() << " onDatagram calls\n"
                      << Window::traces();
  EXPECT_EQ(cryptoMallocs, 0u) << "OpenSSL allocations in " << datagrams.size()
                               << " onDatagram calls\n"
                               << Window::traces();
  EXPECT_EQ(mallocs, 0u) << "malloc in " << datagrams.size() << " onDatagram calls\n"
                         << Window::traces();

  // The fan-out happened: every RTP packet to the 502 other endpoints.
  EXPECT_EQ(rtcpCalls, kRounds * 3 / options.rtcpEvery);
  EXPECT_GE(exportRing.pushed(), rtpCalls / 3);  // routed packets were exported
  EXPECT_EQ(exportRing.dropped(), 0u);
  EXPECT_EQ(c.rtpForwarded.load() - forwarded0, rtpCalls * rig.copiesPerPacket());
  EXPECT_EQ(c.rtcpTerminated.load() - terminated0, rtcpCalls);
  EXPECT_EQ(c.srtpFailed.load() - srtpFailed0, 0u);
  EXPECT_EQ(c.rtpDropped.load() + c.audioNotLoudestDropped.load() + c.audioSilenceDropped.load() +
                c.audioMutedDropped.load() - dropped0,
            0u);
  // And decrypts at the receivers: the senders' SSRCs for a plain one, the
  // rewriting one's own slot SSRCs (one per sender) for the other.
  const std::set<uint32_t> senderSsrcs = {rig.peers()[0]->ssrc, rig.peers()[1]->ssrc,
                                          rig.peers()[2]->ssrc};
  if (options.red) {
    // Every copy was RED: stripped for the non-RED receivers (2 of 3).
    EXPECT_EQ(c.redDecapsulated.load() + c.redForwarded.load() - redCopies0,
              rtpCalls * rig.copiesPerPacket());
    EXPECT_GT(c.redDecapsulated.load() - redStripped0, rtpCalls * rig.copiesPerPacket() / 2);
    EXPECT_EQ(c.redInvalidDropped.load() + c.redMalformed.load(), 0u);
    for (auto* other : {&plainOther, &rewritingOther}) {
      const Received o = readPeer(*other, true);
      EXPECT_GE(o.rtp, 100u);
      EXPECT_EQ(o.bad, 0u);
      EXPECT_EQ(o.ssrcs.size(), 3u);
    }
  } else {
    EXPECT_EQ(c.redDecapsulated.load() + c.redForwarded.load() - redCopies0, 0u);
  }
  const Received p = readPeer(plain, options.red);
  EXPECT_GE(p.rtp, 100u);
  EXPECT_GE(p.rtcp, 1u);
  EXPECT_EQ(p.bad, 0u);
  EXPECT_EQ(p.ssrcs, senderSsrcs);
  const Received r = readPeer(rewriting, options.red);
  EXPECT_GE(r.rtp, 100u);
  EXPECT_GE(r.rtcp, 1u);
  EXPECT_EQ(r.bad, 0u);
  EXPECT_EQ(r.ssrcs.size(), 3u);
  for (const uint32_t s : r.ssrcs) {
    EXPECT_EQ(senderSsrcs.count(s), 0u) << "rewriting receiver got a sender's own SSRC " << s;
  }
}

// Authenticated peers that misbehave (README "Misbehaving peers"): each
// case is counted per packet and logged once per endpoint, so after its
// first packet (which logs, outside the window) none allocates: another
// endpoint's SSRC, a CSRC list past the end, a header-extension element past
// its block, padding past the payload after SRTP, an RTCP compound with bad
// lengths after SRTCP, a ClientHello after the handshake, and a flood over
// the packet-rate cap.
TEST(WholePathAlloc, MisbehavingPeersAllocateNothing) {
  ASSERT_TRUE(kCryptoHooked);
  RigOptions options;
  options.receivers = 20;
  RouterRig rig(options);
  rig.warmUp(std::chrono::milliseconds(100));
  auto& c = rig.counters();
  RouterRig::Peer& bad = *rig.peers()[0];
  const uint32_t otherSsrc = rig.peers()[1]->ssrc;
  // The misbehaving endpoint's own outbound SRTP, far ahead of the rig's
  // sequence numbers and SRTCP indexes (no replays).
  srtp::Session out = srtp::Session::outbound(RouterRig::mirrored(bad.keys));
  using Bytes = std::vector<uint8_t>;
  const auto header = [](uint32_t ssrc, uint16_t seq, uint8_t first) {
    Bytes p(12, 0);
    p[0] = first;
    p[1] = 111;
    p[2] = static_cast<uint8_t>(seq >> 8);
    p[3] = static_cast<uint8_t>(seq);
    p[8] = static_cast<uint8_t>(ssrc >> 24);
    p[9] = static_cast<uint8_t>(ssrc >> 16);
    p[10] = static_cast<uint8_t>(ssrc >> 8);
    p[11] = static_cast<uint8_t>(ssrc);
    return p;
  };
  const auto protect = [&out](Bytes p, bool rtcp) {
    const size_t n = p.size();
    p.resize(n + srtp::kMaxRtcpTrailer);
    const auto r = rtcp ? out.protectRtcp(p, n) : out.protectRtp(p, n);
    EXPECT_TRUE(r.ok());
    p.resize(r.length);
    return p;
  };
  constexpr int kEach = 50;
  std::vector<Bytes> datagrams;  // the first of each kind is delivered apart
  uint16_t seq = 30000;
  for (int i = 0; i <= kEach; ++i) {
    auto spoofed = header(otherSsrc, seq, 0x80);
    spoofed.resize(60, 0x5A);
    datagrams.push_back(protect(spoofed, false));
    auto csrc = header(bad.ssrc, seq, 0x8F);
    csrc.resize(40, 0);
    datagrams.push_back(csrc);
    auto ext = header(bad.ssrc, seq, 0x90);
    const Bytes block{0xBE, 0xDE, 0x00, 0x01, 0x1F, 0x00, 0x00, 0x00};  // an element past it
    ext.insert(ext.end(), block.begin(), block.end());
    ext.resize(60, 0x5A);
    datagrams.push_back(protect(ext, false));
    ++seq;
    auto padding = header(bad.ssrc, seq++, 0xA0);
    padding.resize(40, 0x5A);
    padding.back() = 200;
    datagrams.push_back(protect(padding, false));
    datagrams.push_back(protect(Bytes{0x80, 201, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01}, true));
    Bytes hello{22, 0xFE, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0};
    datagrams.push_back(hello);
  }
  const size_t kinds = datagrams.size() / (kEach + 1);
  alignas(4) std::array<uint8_t, 2048> buf{};
  const auto deliver = [&](const Bytes& d) {
    std::memcpy(buf.data(), d.data(), d.size());
    rig.router().onDatagram(std::span<uint8_t>(buf.data(), d.size()), bad.address);
  };
  for (size_t i = 0; i < kinds; ++i) {
    deliver(datagrams[i]);  // logs once: outside the window
  }
  EXPECT_EQ(c.misbehavingEndpoints.load(), 1u);
  Window w;
  for (size_t i = kinds; i < datagrams.size(); ++i) {
    w.open();
    deliver(datagrams[i]);
    w.close();
  }
  EXPECT_EQ(c.rtpSsrcSpoofed.load(), kEach + 1u);
  EXPECT_EQ(c.rtpMalformed.load(), 2 * (kEach + 1u));
  EXPECT_EQ(c.rtpBadExtension.load(), kEach + 1u);
  EXPECT_EQ(c.rtcpMalformed.load(), kEach + 1u);
  EXPECT_EQ(c.dtlsRenegotiationRefused.load(), kEach + 1u);
  // A flood: one datagram a second, no burst; the rig's next RTP of the
  // endpoint is over it (the first one also logs).
  rig.router().setRateLimit(media::EndpointRateLimit{1, 0});
  std::vector<RigDatagram> rigDatagrams;
  rigDatagrams.reserve(3 * (kEach + 2));
  rig.prepare(rigDatagrams, kEach + 2);
  // Outside the window until the first drop (which logs): the first
  // datagram of the cap is admitted.
  size_t windowed = 0;
  for (const RigDatagram& d : rigDatagrams) {
    if (d.sender != 0) {
      continue;
    }
    const auto datagram = rig.load(d);
    const bool counting = c.rateLimited.load() > 0;
    if (counting) {
      w.open();
    }
    rig.router().onDatagram(datagram, rig.from(d));
    w.close();
    windowed += counting ? 1 : 0;
  }
  ASSERT_GE(windowed, size_t{kEach});
  EXPECT_EQ(c.rateLimited.load(), windowed + 1);
  EXPECT_EQ(Window::news(), 0u) << Window::traces();
  EXPECT_EQ(Window::cryptoMallocs(), 0u) << Window::traces();
  EXPECT_EQ(Window::mallocs(), 0u) << Window::traces();
  EXPECT_EQ(c.misbehavingEndpoints.load(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Profiles, WholePathAllocTest,
                         ::testing::Values(Case{srtp::Profile::kAeadAes128Gcm, false},
                                           Case{srtp::Profile::kAes128CmHmacSha1_80, false},
                                           Case{srtp::Profile::kAeadAes128Gcm, true},
                                           Case{srtp::Profile::kAes128CmHmacSha1_80, true},
                                           Case{srtp::Profile::kAeadAes128Gcm, false, true}),
                         [](const auto& p) { return nameOf(p.param); });

}  // namespace
