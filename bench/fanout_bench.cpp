// Fan-out of one audio packet to N SRTP receivers over the media port's
// socket: the bridge's FanOut (copy into a slab, srtp protect per receiver,
// sendmmsg in batches of 64), next to a reference loop written straight on
// libsrtp2 and sendmmsg with none of the bridge's code, measured in the same
// run. The reference is this host's limit (L_fwd in shared/docs/limits.md);
// RESULTS.md records the ratio. A counting operator new reports heap
// allocations per forwarded packet (the target is zero).
#include <benchmark/benchmark.h>

#include <openssl/rand.h>
#include <srtp2/srtp.h>
#include <sys/socket.h>
#include "bench/audio_packet.hpp"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "media/audio_ssrc_cache.hpp"
#include "media/fanout.hpp"
#include "rtp/audio_rewrite.hpp"
#include "rtp/rtp_packet.hpp"
#include "srtp/library.hpp"
#include "srtp/session.hpp"

namespace jvb::bench {
extern std::atomic<uint64_t> gAllocations;  // alloc_counter.cpp
}  // namespace jvb::bench

namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using namespace jvb;

constexpr size_t kPlain = jvb::bench::kAudioPacketSize;

const srtp::Library& library() {
  static const srtp::Library lib;
  return lib;
}

srtp::Keys randomKeys() {
  srtp::Keys k;
  k.profile = srtp::Profile::kAeadAes128Gcm;
  k.local.size = k.remote.size = 28;
  RAND_bytes(k.local.bytes.data(), 28);
  RAND_bytes(k.remote.bytes.data(), 28);
  return k;
}

using jvb::bench::audioPacket;

// N receiving sockets on loopback (never read: the kernel drops what
// overflows, which costs the sender nothing) and one sending socket.
struct Rig {
  asio::io_context io;
  udp::socket sender{io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::vector<udp::socket> receivers;
  std::vector<udp::endpoint> dests;
  explicit Rig(size_t n) {
    sender.set_option(asio::socket_base::send_buffer_size(4 << 20));
    for (size_t i = 0; i < n; ++i) {
      receivers.emplace_back(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      dests.push_back(receivers.back().local_endpoint());
    }
  }
};

void BM_FanOut(benchmark::State& state) {
  (void)library();
  const auto n = static_cast<size_t>(state.range(0));
  Rig rig(n);
  std::vector<srtp::Session> sessions;
  for (size_t i = 0; i < n; ++i) {
    sessions.push_back(srtp::Session::outbound(randomKeys()));
  }
  auto pkt = audioPacket();
  media::FanOut fan(rig.sender.native_handle());
  uint16_t seq = 0;
  const uint64_t allocBefore = jvb::bench::gAllocations.load();
  for (auto _ : state) {
    pkt[2] = static_cast<uint8_t>(seq >> 8);
    pkt[3] = static_cast<uint8_t>(seq);
    ++seq;
    for (size_t i = 0; i < n; ++i) {
      fan.add(pkt, sessions[i], rig.dests[i]);
    }
    fan.flush();
  }
  const double packets = static_cast<double>(state.iterations()) * static_cast<double>(n);
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["allocs_per_packet"] =
      static_cast<double>(jvb::bench::gAllocations.load() - allocBefore) / packets;
  state.counters["send_failures"] = static_cast<double>(fan.totals().sendFailures);
}
BENCHMARK(BM_FanOut)->Arg(500)->Unit(benchmark::kMicrosecond);

// The same fan-out to SSRC-rewriting receivers (what Jicofo asks for by
// default): per receiver its slot cache maps the source to a slot and the
// copy is written rewritten (slot SSRC, sequence number, timestamp, the
// receiver's audio-level id; Arg 1: plus the slot's sdes:mid, as with
// rtp-mid-demux) instead of copied. Compare with BM_FanOut in the same run.
void BM_FanOutRewriting(benchmark::State& state) {
  (void)library();
  const auto n = static_cast<size_t>(state.range(0));
  const bool mid = state.range(1) != 0;
  Rig rig(n);
  std::vector<srtp::Session> sessions;
  std::vector<media::AudioSsrcCache> caches;
  caches.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    sessions.push_back(srtp::Session::outbound(randomKeys()));
    caches.emplace_back(media::SsrcRewriteConfig{}, mid, i + 1);
    caches.back().reserveSources(4);
  }
  auto pkt = audioPacket();
  media::FanOut fan(rig.sender.native_handle());
  uint16_t seq = 0;
  uint32_t ts = 0;
  const auto start = media::AudioSsrcCache::Clock::now();
  auto now = start;
  const uint64_t allocBefore = jvb::bench::gAllocations.load();
  uint64_t sent = 0;
  for (auto _ : state) {
    pkt[2] = static_cast<uint8_t>(seq >> 8);
    pkt[3] = static_cast<uint8_t>(seq);
    const auto view = rtp::ConstRtpPacketView::parse(pkt);
    for (size_t i = 0; i < n; ++i) {
      const auto rw = caches[i].rewrite(0, seq, ts, now);
      if (rw.outcome != media::AudioSsrcCache::Outcome::kSend) {
        continue;
      }
      const rtp::AudioRewrite spec{rw.ssrc,
                                   rw.sequenceNumber,
                                   rw.timestamp,
                                   1,
                                   1,
                                   mid ? uint8_t{10} : uint8_t{0},
                                   caches[i].slots()[static_cast<size_t>(rw.slot)].mid};
      if (fan.addRewritten(*view, spec, sessions[i], rig.dests[i])) {
        caches[i].onSent(rw.slot, view->payload().size());
        ++sent;
      }
    }
    fan.flush();
    ++seq;
    ts += 960;
    // Past the new-SSRC delay at once: the benchmark measures forwarding.
    now = start + std::chrono::seconds(1) + std::chrono::milliseconds(20) * seq;
  }
  const double packets = static_cast<double>(state.iterations()) * static_cast<double>(n);
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["allocs_per_packet"] =
      static_cast<double>(jvb::bench::gAllocations.load() - allocBefore) / packets;
  state.counters["sent_fraction"] = static_cast<double>(sent) / packets;
}
BENCHMARK(BM_FanOutRewriting)->Args({500, 0})->Args({500, 1})->Unit(benchmark::kMicrosecond);

struct SrtpFree {
  void operator()(srtp_ctx_t_* s) const { srtp_dealloc(s); }
};

// The same work with nothing of the bridge: raw srtp_protect into a slab per
// receiver, one sendmmsg per 64.
void BM_ReferenceFanOut(benchmark::State& state) {
  (void)library();
  const auto n = static_cast<size_t>(state.range(0));
  Rig rig(n);
  std::vector<std::unique_ptr<srtp_ctx_t_, SrtpFree>> ctx;
  for (size_t i = 0; i < n; ++i) {
    srtp_policy_t policy{};
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
    std::array<uint8_t, 28> key{};
    RAND_bytes(key.data(), 28);
    policy.key = key.data();
    policy.ssrc.type = ssrc_any_outbound;
    policy.window_size = 1024;
    srtp_t s = nullptr;
    srtp_create(&s, &policy);
    ctx.emplace_back(s);
  }
  constexpr size_t kBatch = 64;
  std::vector<std::array<uint8_t, 1600>> slabs(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  std::vector<iovec> iov(kBatch);
  auto pkt = audioPacket();
  uint16_t seq = 0;
  for (auto _ : state) {
    pkt[2] = static_cast<uint8_t>(seq >> 8);
    pkt[3] = static_cast<uint8_t>(seq);
    ++seq;
    size_t k = 0;
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(slabs[k].data(), pkt.data(), kPlain);
      int len = static_cast<int>(kPlain);
      srtp_protect(ctx[i].get(), slabs[k].data(), &len);
      iov[k] = iovec{slabs[k].data(), static_cast<size_t>(len)};
      msgs[k] = mmsghdr{};
      msgs[k].msg_hdr.msg_name = const_cast<sockaddr*>(rig.dests[i].data());
      msgs[k].msg_hdr.msg_namelen = static_cast<socklen_t>(rig.dests[i].size());
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      if (++k == kBatch || i + 1 == n) {
        ::sendmmsg(rig.sender.native_handle(), msgs.data(), static_cast<unsigned>(k), 0);
        k = 0;
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_ReferenceFanOut)->Arg(500)->Unit(benchmark::kMicrosecond);

}  // namespace
