// srtp::Session (the wrapper) against raw libsrtp on the same packet, same
// policy and same loop, so the wrapper's own cost shows as the difference.
//
// NOTE: a binary of its own, not part of jvb_bench: libsrtp 2.5's srtp_init()
// is not idempotent (a second call fails with bad_param: its debug module is
// already loaded), so srtp::Library cannot share a process with the private
// SrtpLibrary of srtp_bench.cpp. The raw loops here are the same as
// BM_SrtpProtect there, under the one srtp::Library: so with
// AES_CM_128_HMAC_SHA1_80 both loops authenticate with the HMAC-SHA1 it
// registers (srtp/hmac_sha1.*), BM_SrtpProtect's jvb_hmac:1.
//
// Packet as shared/docs/limits.md section 2 (120 B plaintext); each protect
// iteration copies the template and patches the sequence number, each
// unprotect iteration copies one of kPackets pre-protected in-order packets
// and starts a fresh receiver session when they run out.
#include <benchmark/benchmark.h>

#include <srtp2/srtp.h>
#include "bench/audio_packet.hpp"

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "srtp/library.hpp"
#include "srtp/session.hpp"

namespace {

using jvb::srtp::Keys;
using jvb::srtp::Profile;
using jvb::srtp::Session;

constexpr size_t kPlain = jvb::bench::kAudioPacketSize;
constexpr size_t kPackets = 16384;

void library() {
  static jvb::srtp::Library lib;  // as main() would: once, before any Session
}

using jvb::bench::audioPacket;

Keys keysFor(bool gcm, uint8_t seed) {
  Keys k;
  k.profile = gcm ? Profile::kAeadAes128Gcm : Profile::kAes128CmHmacSha1_80;
  k.local.size = k.remote.size = jvb::srtp::keyLength(k.profile) + jvb::srtp::saltLength(k.profile);
  for (size_t i = 0; i < k.local.size; ++i) {
    k.local.bytes[i] = k.remote.bytes[i] = static_cast<uint8_t>(seed * 31 + i);
  }
  return k;
}

struct RawDeleter {
  void operator()(srtp_ctx_t_* s) const { srtp_dealloc(s); }
};
using RawSession = std::unique_ptr<srtp_ctx_t_, RawDeleter>;

// The same policy srtp::Session builds, without the wrapper.
RawSession rawSession(const Keys& keys, bool inbound) {
  srtp_policy_t policy{};
  if (keys.profile == Profile::kAeadAes128Gcm) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  } else {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
  }
  auto key = inbound ? keys.remote.bytes : keys.local.bytes;
  policy.key = key.data();
  policy.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
  policy.window_size = 1024;
  srtp_t s = nullptr;
  if (srtp_create(&s, &policy) != srtp_err_status_ok) {
    throw std::runtime_error("srtp_create");
  }
  return RawSession(s);
}

template <bool kWrapper>
void protectLoop(benchmark::State& state) {
  library();
  const bool gcm = state.range(0) != 0;
  const auto sessions = static_cast<size_t>(state.range(1));
  std::vector<Session> wrapped;
  std::vector<RawSession> raw;
  for (size_t i = 0; i < sessions; ++i) {
    const Keys keys = keysFor(gcm, static_cast<uint8_t>(i));
    if constexpr (kWrapper) {
      wrapped.push_back(Session::outbound(keys));
    } else {
      raw.push_back(rawSession(keys, false));
    }
  }
  const auto tmpl = audioPacket();
  alignas(8) std::array<uint8_t, kPlain + jvb::srtp::kMaxTrailer> buf{};
  uint16_t seq = 0;
  size_t i = 0;
  for (auto _ : state) {
    std::memcpy(buf.data(), tmpl.data(), kPlain);
    buf[2] = static_cast<uint8_t>(seq >> 8);
    buf[3] = static_cast<uint8_t>(seq);
    bool ok = false;
    if constexpr (kWrapper) {
      ok = wrapped[i].protectRtp(buf, kPlain).ok();
    } else {
      int len = static_cast<int>(kPlain);
      ok = srtp_protect(raw[i].get(), buf.data(), &len) == srtp_err_status_ok;
    }
    if (!ok) {
      state.SkipWithError("protect failed");
      break;
    }
    benchmark::DoNotOptimize(buf.data());
    if (++i == sessions) {
      i = 0;
      ++seq;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(gcm ? "AEAD_AES_128_GCM" : "AES_CM_128_HMAC_SHA1_80");
}

void BM_RawSrtpProtect(benchmark::State& state) {
  protectLoop<false>(state);
}
void BM_SessionProtect(benchmark::State& state) {
  protectLoop<true>(state);
}
BENCHMARK(BM_RawSrtpProtect)
    ->ArgNames({"gcm", "sessions"})
    ->Args({1, 1})
    ->Args({1, 500})
    ->Args({0, 1})
    ->Args({0, 500});
BENCHMARK(BM_SessionProtect)
    ->ArgNames({"gcm", "sessions"})
    ->Args({1, 1})
    ->Args({1, 500})
    ->Args({0, 1})
    ->Args({0, 500});

// kPackets in-order SRTP packets from one sender.
std::vector<std::array<uint8_t, kPlain + 16>> protectedPackets(const Keys& keys, size_t& length) {
  Session out = Session::outbound(keys);
  const auto tmpl = audioPacket();
  std::vector<std::array<uint8_t, kPlain + 16>> pkts(kPackets);
  for (size_t s = 0; s < kPackets; ++s) {
    std::memcpy(pkts[s].data(), tmpl.data(), kPlain);
    pkts[s][2] = static_cast<uint8_t>(s >> 8);
    pkts[s][3] = static_cast<uint8_t>(s);
    const auto r = out.protectRtp(pkts[s], kPlain);
    if (!r.ok()) {
      throw std::runtime_error("protect");
    }
    length = r.length;
  }
  return pkts;
}

template <bool kWrapper>
void unprotectLoop(benchmark::State& state) {
  library();
  const bool gcm = state.range(0) != 0;
  const Keys keys = keysFor(gcm, 1);
  size_t length = 0;
  const auto pkts = protectedPackets(keys, length);
  std::optional<Session> session;
  RawSession raw;
  auto fresh = [&] {
    if constexpr (kWrapper) {
      session.emplace(Session::inbound(keys));
    } else {
      raw = rawSession(keys, true);
    }
  };
  fresh();
  alignas(8) std::array<uint8_t, kPlain + 16> buf{};
  size_t i = 0;
  for (auto _ : state) {
    std::memcpy(buf.data(), pkts[i].data(), length);
    bool ok = false;
    if constexpr (kWrapper) {
      ok = session->unprotectRtp(std::span(buf).first(length)).ok();
    } else {
      int len = static_cast<int>(length);
      ok = srtp_unprotect(raw.get(), buf.data(), &len) == srtp_err_status_ok;
    }
    if (!ok) {
      state.SkipWithError("unprotect failed");
      break;
    }
    benchmark::DoNotOptimize(buf.data());
    if (++i == kPackets) {
      state.PauseTiming();
      i = 0;
      fresh();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(gcm ? "AEAD_AES_128_GCM" : "AES_CM_128_HMAC_SHA1_80");
}

void BM_RawSrtpUnprotect(benchmark::State& state) {
  unprotectLoop<false>(state);
}
void BM_SessionUnprotect(benchmark::State& state) {
  unprotectLoop<true>(state);
}
BENCHMARK(BM_RawSrtpUnprotect)->ArgNames({"gcm"})->Arg(1)->Arg(0);
BENCHMARK(BM_SessionUnprotect)->ArgNames({"gcm"})->Arg(1)->Arg(0);

}  // namespace
