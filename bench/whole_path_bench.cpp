// The whole media path per received datagram: media::MediaRouter::onDatagram()
// (5-tuple lookup, routing from the cleartext header, speech activity, one
// in-place unprotect, the fan-out: per receiver a copy with its extension IDs
// or an SSRC-rewritten copy, protect, sendmmsg in batches of 64) for a
// conference of 3 senders taking turns and 500 receivers, on the rig of
// bench/router_rig.hpp (the real control::MediaCompiler, keyed endpoints, no
// handshakes). Next to it, in the same binary and run, a reference loop with
// none of the bridge's code: raw libsrtp2 srtp_unprotect of the incoming
// packet once, srtp_protect per receiver into a slab, one sendmmsg per 64
// (bench/fanout_bench.cpp's BM_ReferenceFanOut plus the unprotect). Items
// are forwarded copies; RESULTS.md records the ratio whole path / reference.
//
// Both use the HMAC-SHA1 auth type srtp::Library registers with libsrtp
// (srtp/hmac_sha1.*) for AES_CM_128_HMAC_SHA1_80: the reference's
// srtp_create() picks up whatever auth type is registered.
#include <benchmark/benchmark.h>

#include <openssl/rand.h>
#include <srtp2/srtp.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "bench/router_rig.hpp"

namespace jvb::bench {
extern std::atomic<uint64_t> gAllocations;  // alloc_counter.cpp
}  // namespace jvb::bench

namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using namespace jvb;  // NOLINT(google-build-using-namespace): benchmark
using bench::RigDatagram;
using bench::RigOptions;
using bench::RouterRig;

constexpr size_t kReceivers = 500;
constexpr size_t kSenders = 3;
// Datagrams prepared per refill (outside the timed region).
constexpr size_t kRoundsPerRefill = 256;

srtp::Profile profileOf(const benchmark::State& state) {
  return state.range(0) == 0 ? srtp::Profile::kAeadAes128Gcm : srtp::Profile::kAes128CmHmacSha1_80;
}

// Args: profile (0 AEAD_AES_128_GCM, 1 AES_CM_128_HMAC_SHA1_80), receivers
// with SSRC rewriting (0 none, 1 all).
void BM_WholePath(benchmark::State& state) {
  RigOptions options;
  options.profile = profileOf(state);
  options.receivers = kReceivers;
  options.senders = kSenders;
  options.rewriting =
      state.range(1) != 0 ? RigOptions::Rewriting::kAll : RigOptions::Rewriting::kNone;
  RouterRig rig(options);
  rig.warmUp();
  std::vector<RigDatagram> batch;
  batch.reserve(kRoundsPerRefill * kSenders);
  size_t next = 0;
  auto& counters = rig.counters();
  const uint64_t forwarded0 = counters.rtpForwarded.load();
  const uint64_t dropped0 = counters.rtpDropped.load() + counters.srtpFailed.load();
  const uint64_t allocs0 = jvb::bench::gAllocations.load();
  for (auto _ : state) {
    if (next == batch.size()) {
      state.PauseTiming();
      batch.clear();
      rig.prepare(batch, kRoundsPerRefill);
      next = 0;
      state.ResumeTiming();
    }
    rig.deliver(batch[next++]);
    rig.io().poll();  // the router's 20 ms tick, as the media loop runs it
  }
  const uint64_t allocs = jvb::bench::gAllocations.load() - allocs0;  // before the counters' own
  const uint64_t copies = counters.rtpForwarded.load() - forwarded0;
  state.SetItemsProcessed(static_cast<int64_t>(copies));
  state.counters["copies_per_datagram"] =
      static_cast<double>(copies) / static_cast<double>(state.iterations());
  state.counters["allocs_per_copy"] =
      static_cast<double>(allocs) / static_cast<double>(copies == 0 ? 1 : copies);
  state.counters["dropped"] =
      static_cast<double>(counters.rtpDropped.load() + counters.srtpFailed.load() - dropped0);
}
BENCHMARK(BM_WholePath)
    ->ArgNames({"cm", "rewriting"})
    ->Args({0, 0})
    ->Args({0, 1})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Unit(benchmark::kMicrosecond);

struct SrtpFree {
  void operator()(srtp_ctx_t_* s) const { srtp_dealloc(s); }
};
using RawSession = std::unique_ptr<srtp_ctx_t_, SrtpFree>;

RawSession rawSession(srtp::Profile profile, const std::array<uint8_t, 30>& key, bool inbound) {
  srtp_policy_t policy{};
  if (profile == srtp::Profile::kAeadAes128Gcm) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  } else {
    srtp_crypto_policy_set_rtp_default(&policy.rtp);
    srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
  }
  std::array<uint8_t, 30> copy = key;
  policy.key = copy.data();
  policy.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
  policy.window_size = 1024;
  srtp_t s = nullptr;
  if (srtp_create(&s, &policy) != srtp_err_status_ok) {
    throw std::runtime_error("srtp_create failed");
  }
  return RawSession(s);
}

std::array<uint8_t, 30> randomKey() {
  std::array<uint8_t, 30> k{};
  RAND_bytes(k.data(), static_cast<int>(k.size()));
  return k;
}

// The same work with nothing of the bridge: per datagram from one of 3
// senders (round robin), srtp_unprotect in place once, then for each of the
// others (as many copies as the router makes) a copy into a slab,
// srtp_protect there, one sendmmsg per 64, to loopback sockets never read.
void BM_ReferenceWholePath(benchmark::State& state) {
  (void)bench::rigSrtpLibrary();
  const srtp::Profile profile = profileOf(state);
  asio::io_context io;
  udp::socket sender(io, udp::endpoint(asio::ip::address_v4::loopback(), 0));
  sender.set_option(asio::socket_base::send_buffer_size(4 << 20));  // as ice::UdpPort
  const size_t copies = kReceivers + kSenders - 1;
  std::vector<udp::socket> sinks;
  std::vector<udp::endpoint> dests;
  std::vector<RawSession> out;
  for (size_t i = 0; i < copies; ++i) {
    sinks.emplace_back(io, udp::endpoint(asio::ip::address_v4::loopback(), 0));
    dests.push_back(sinks.back().local_endpoint());
    out.push_back(rawSession(profile, randomKey(), false));
  }
  // Per sender: its own outbound session (to prepare its datagrams) and the
  // bridge's inbound one with the same key.
  std::vector<RawSession> senderOut;
  std::vector<RawSession> in;
  for (size_t s = 0; s < kSenders; ++s) {
    const auto key = randomKey();
    senderOut.push_back(rawSession(profile, key, false));
    in.push_back(rawSession(profile, key, true));
  }
  std::vector<RigDatagram> batch(kRoundsPerRefill * kSenders);
  uint32_t round = 0;
  auto refill = [&] {
    for (size_t i = 0; i < batch.size(); ++i, ++round) {
      const auto s = static_cast<uint16_t>(i % kSenders);
      const uint32_t n = round / kSenders;
      auto& p = batch[i].bytes;
      p = {};
      p[0] = 0x90;
      p[1] = 111;
      p[2] = static_cast<uint8_t>(n >> 8);
      p[3] = static_cast<uint8_t>(n);
      p[8] = static_cast<uint8_t>(0x20 + s);  // SSRC
      p[12] = 0xBE;
      p[13] = 0xDE;
      p[15] = 1;
      p[16] = 0x10;
      p[17] = 0x80 | 30;
      p[18] = 0xA0;
      p[19] = '0';
      int len = static_cast<int>(RouterRig::kRtpPlainSize);
      if (srtp_protect(senderOut[s].get(), p.data(), &len) != srtp_err_status_ok) {
        throw std::runtime_error("srtp_protect failed");
      }
      batch[i].size = static_cast<uint16_t>(len);
      batch[i].sender = s;
    }
  };
  refill();
  constexpr size_t kBatch = 64;
  std::vector<std::array<uint8_t, 1600>> slabs(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  std::vector<iovec> iov(kBatch);
  alignas(4) std::array<uint8_t, 2048> rx{};
  size_t next = 0;
  uint64_t failures = 0;
  for (auto _ : state) {
    if (next == batch.size()) {
      state.PauseTiming();
      refill();
      next = 0;
      state.ResumeTiming();
    }
    const RigDatagram& d = batch[next++];
    std::memcpy(rx.data(), d.bytes.data(), d.size);
    int plain = d.size;
    if (srtp_unprotect(in[d.sender].get(), rx.data(), &plain) != srtp_err_status_ok) {
      ++failures;
      continue;
    }
    size_t k = 0;
    for (size_t i = 0; i < copies; ++i) {
      std::memcpy(slabs[k].data(), rx.data(), static_cast<size_t>(plain));
      int len = plain;
      srtp_protect(out[i].get(), slabs[k].data(), &len);
      iov[k] = iovec{slabs[k].data(), static_cast<size_t>(len)};
      msgs[k] = mmsghdr{};
      msgs[k].msg_hdr.msg_name = const_cast<sockaddr*>(dests[i].data());
      msgs[k].msg_hdr.msg_namelen = static_cast<socklen_t>(dests[i].size());
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      if (++k == kBatch || i + 1 == copies) {
        ::sendmmsg(sender.native_handle(), msgs.data(), static_cast<unsigned>(k), 0);
        k = 0;
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(copies));
  state.counters["copies_per_datagram"] = static_cast<double>(copies);
  state.counters["dropped"] = static_cast<double>(failures);
}
BENCHMARK(BM_ReferenceWholePath)->ArgName("cm")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
