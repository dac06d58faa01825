// SRTP protect and unprotect cost per audio packet, next to the raw OpenSSL
// primitives that bound it, measured in the same run (so RESULTS.md can state
// a ratio).
//
// Packet (as shared/docs/limits.md section 2): 12 B RTP header with X=1, an
// 8 B one-byte header-extension block carrying the audio level, 100 B Opus
// payload = 120 B plaintext. "Sessions" = independent srtp_t contexts with
// distinct keys used round-robin, the cache pressure of 500 receivers.
// "jvb_hmac": with AES_CM_128_HMAC_SHA1_80, 1 = the sessions authenticate with
// srtp/hmac_sha1.* (what srtp::Library registers, i.e. the bridge), 0 = with
// libsrtp's own OpenSSL HMAC-SHA1 (the bridge before it); both in one process.
//
// NOTE: OPENSSL_SUPPRESS_DEPRECATED, for BM_LimitAesCtrHmacSha1Pads only: it
// needs OpenSSL 3.0's deprecated SHA1_* (the only SHA-1 there with no
// allocation per message), as srtp/hmac_sha1.cpp does. Before any OpenSSL
// header.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <benchmark/benchmark.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <srtp2/srtp.h>
#include "bench/audio_packet.hpp"

#include <array>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "srtp/hmac_sha1.hpp"

namespace {

constexpr size_t kPlain = jvb::bench::kAudioPacketSize;

struct SrtpLibrary {
  SrtpLibrary() {
    if (srtp_init() != srtp_err_status_ok)
      throw std::runtime_error("srtp_init failed");
  }
  ~SrtpLibrary() { srtp_shutdown(); }
};
const SrtpLibrary& srtpLibrary() {
  static const SrtpLibrary lib;
  return lib;
}

struct SrtpDeleter {
  void operator()(srtp_ctx_t_* s) const { srtp_dealloc(s); }
};
using SrtpSession = std::unique_ptr<srtp_ctx_t_, SrtpDeleter>;

using jvb::bench::audioPacket;

using MasterKey = std::array<uint8_t, 46>;

MasterKey randomKey() {
  MasterKey key{};
  RAND_bytes(key.data(), static_cast<int>(key.size()));
  return key;
}

// Sessions created after this call authenticate with the chosen HMAC-SHA1
// (a session keeps the auth type it was created with).
void selectHmac(bool jvb) {
  const int status = jvb ? jvb::srtp::useHmacSha1() : jvb::srtp::useLibsrtpHmacSha1();
  if (status != srtp_err_status_ok)
    throw std::runtime_error("srtp_replace_auth_type");
}

SrtpSession makeSession(bool gcm, bool jvbHmac, MasterKey key, bool inbound = false) {
  (void)srtpLibrary();
  selectHmac(jvbHmac);
  srtp_policy_t policy{};
  if (gcm) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  } else {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
  }
  policy.key = key.data();
  policy.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
  policy.window_size = 1024;
  srtp_t s = nullptr;
  if (srtp_create(&s, &policy) != srtp_err_status_ok)
    throw std::runtime_error("srtp_create");
  return SrtpSession(s);
}

const char* label(bool gcm, bool jvbHmac) {
  if (gcm)
    return "AEAD_AES_128_GCM";
  return jvbHmac ? "AES_CM_128_HMAC_SHA1_80 jvb HMAC" : "AES_CM_128_HMAC_SHA1_80 libsrtp HMAC";
}

void BM_SrtpProtect(benchmark::State& state) {
  const bool gcm = state.range(0) != 0;
  const auto sessions = static_cast<size_t>(state.range(1));
  const bool jvbHmac = state.range(2) != 0;
  std::vector<SrtpSession> ctx;
  for (size_t i = 0; i < sessions; ++i)
    ctx.push_back(makeSession(gcm, jvbHmac, randomKey()));
  const auto tmpl = audioPacket();
  std::array<uint8_t, kPlain + SRTP_MAX_TRAILER_LEN> buf{};
  uint16_t seq = 0;
  size_t i = 0;
  for (auto _ : state) {
    std::memcpy(buf.data(), tmpl.data(), kPlain);
    buf[2] = static_cast<uint8_t>(seq >> 8);
    buf[3] = static_cast<uint8_t>(seq);
    int len = static_cast<int>(kPlain);
    if (srtp_protect(ctx[i].get(), buf.data(), &len) != srtp_err_status_ok) {
      state.SkipWithError("srtp_protect failed");
      break;
    }
    benchmark::DoNotOptimize(buf.data());
    if (++i == sessions) {
      i = 0;
      ++seq;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(label(gcm, jvbHmac));
}
BENCHMARK(BM_SrtpProtect)
    ->ArgNames({"gcm", "sessions", "jvb_hmac"})
    ->Args({1, 1, 1})
    ->Args({1, 500, 1})
    ->Args({0, 1, 0})
    ->Args({0, 500, 0})
    ->Args({0, 1, 1})
    ->Args({0, 500, 1});

// Unprotect: `rounds` in-order packets per sender, protected up front, fed
// round-robin over the sessions (round r of every session, then r + 1). When
// they run out (timing paused) the inbound sessions are made again and each
// takes round 0 untimed, so that libsrtp's one-off clone of the ssrc_any
// template per new SSRC stays out of the figure.
void BM_SrtpUnprotect(benchmark::State& state) {
  const bool gcm = state.range(0) != 0;
  const auto sessions = static_cast<size_t>(state.range(1));
  const bool jvbHmac = state.range(2) != 0;
  const size_t rounds = sessions == 1 ? 16384 : 128;
  using Packet = std::array<uint8_t, kPlain + 16>;
  std::vector<MasterKey> keys(sessions);
  std::vector<Packet> pkts(sessions * rounds);  // [round * sessions + session]
  int length = 0;
  const auto tmpl = audioPacket();
  for (size_t s = 0; s < sessions; ++s) {
    keys[s] = randomKey();
    const SrtpSession out = makeSession(gcm, true, keys[s]);
    for (size_t r = 0; r < rounds; ++r) {
      Packet& p = pkts[r * sessions + s];
      std::memcpy(p.data(), tmpl.data(), kPlain);
      p[2] = static_cast<uint8_t>(r >> 8);
      p[3] = static_cast<uint8_t>(r);
      length = static_cast<int>(kPlain);
      if (srtp_protect(out.get(), p.data(), &length) != srtp_err_status_ok)
        throw std::runtime_error("srtp_protect");
    }
  }
  std::vector<SrtpSession> in;
  std::array<uint8_t, kPlain + 16> buf{};
  auto fresh = [&] {
    in.clear();
    for (size_t s = 0; s < sessions; ++s) {
      in.push_back(makeSession(gcm, jvbHmac, keys[s], true));
      std::memcpy(buf.data(), pkts[s].data(), static_cast<size_t>(length));
      int len = length;
      if (srtp_unprotect(in.back().get(), buf.data(), &len) != srtp_err_status_ok)
        throw std::runtime_error("srtp_unprotect");
    }
  };
  fresh();
  size_t r = 1;
  size_t s = 0;
  for (auto _ : state) {
    std::memcpy(buf.data(), pkts[r * sessions + s].data(), static_cast<size_t>(length));
    int len = length;
    if (srtp_unprotect(in[s].get(), buf.data(), &len) != srtp_err_status_ok) {
      state.SkipWithError("srtp_unprotect failed");
      break;
    }
    benchmark::DoNotOptimize(buf.data());
    if (++s == sessions) {
      s = 0;
      if (++r == rounds) {
        state.PauseTiming();
        fresh();
        r = 1;
        state.ResumeTiming();
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(label(gcm, jvbHmac));
}
BENCHMARK(BM_SrtpUnprotect)
    ->ArgNames({"gcm", "sessions", "jvb_hmac"})
    ->Args({1, 1, 1})
    ->Args({1, 500, 1})
    ->Args({0, 1, 0})
    ->Args({0, 500, 0})
    ->Args({0, 1, 1})
    ->Args({0, 500, 1});

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// The floor under an AEAD_AES_128_GCM protect: one OpenSSL AES-128-GCM seal of
// the same payload with the header as AAD, on a context keyed once, with only
// the IV set per packet (the least work any SRTP stack can do).
void BM_LimitEvpAesGcmSeal(benchmark::State& state) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> c(EVP_CIPHER_CTX_new());
  std::array<uint8_t, 16> key{};
  std::array<uint8_t, 12> iv{};
  RAND_bytes(key.data(), 16);
  EVP_EncryptInit_ex(c.get(), EVP_aes_128_gcm(), nullptr, key.data(), iv.data());
  const auto pkt = audioPacket();
  std::array<uint8_t, kPlain + 16> out{};
  for (auto _ : state) {
    int n = 0;
    EVP_EncryptInit_ex(c.get(), nullptr, nullptr, nullptr, iv.data());
    EVP_EncryptUpdate(c.get(), nullptr, &n, pkt.data(), 20);
    EVP_EncryptUpdate(c.get(), out.data(), &n, pkt.data() + 20, kPlain - 20);
    EVP_EncryptFinal_ex(c.get(), out.data() + n, &n);
    EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_GET_TAG, 16, out.data() + kPlain - 20);
    benchmark::DoNotOptimize(out.data());
    ++iv[11];
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LimitEvpAesGcmSeal);

struct MacDeleter {
  void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// The floor under AES_CM_128_HMAC_SHA1_80: AES-128-CTR over the payload plus
// HMAC-SHA1 over the whole packet, both keyed once, IV / MAC state reset per
// packet.
void BM_LimitEvpAesCtrHmacSha1(benchmark::State& state) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> c(EVP_CIPHER_CTX_new());
  std::array<uint8_t, 16> key{};
  std::array<uint8_t, 16> iv{};
  std::array<uint8_t, 20> authKey{};
  RAND_bytes(key.data(), 16);
  RAND_bytes(authKey.data(), 20);
  EVP_EncryptInit_ex(c.get(), EVP_aes_128_ctr(), nullptr, key.data(), iv.data());
  std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> m(EVP_MAC_CTX_new(mac.get()));
  std::array<char, 5> digest{'S', 'H', 'A', '1', '\0'};
  std::array<OSSL_PARAM, 2> params{OSSL_PARAM_construct_utf8_string("digest", digest.data(), 0),
                                   OSSL_PARAM_construct_end()};
  EVP_MAC_init(m.get(), authKey.data(), authKey.size(), params.data());
  auto pkt = audioPacket();
  std::array<uint8_t, 20> tag{};
  for (auto _ : state) {
    int n = 0;
    EVP_EncryptInit_ex(c.get(), nullptr, nullptr, nullptr, iv.data());
    EVP_EncryptUpdate(c.get(), pkt.data() + 20, &n, pkt.data() + 20, kPlain - 20);
    size_t tagLen = 0;
    EVP_MAC_init(m.get(), nullptr, 0, nullptr);
    EVP_MAC_update(m.get(), pkt.data(), kPlain);
    EVP_MAC_final(m.get(), tag.data(), &tagLen, tag.size());
    benchmark::DoNotOptimize(tag.data());
    ++iv[15];
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LimitEvpAesCtrHmacSha1);

// The tighter floor under AES_CM_128_HMAC_SHA1_80: the same AES-128-CTR, and
// HMAC-SHA1 over the packet plus its 4-byte ROC (what SRTP authenticates)
// from SHA-1 states keyed once with K ^ ipad / K ^ opad, so per packet only
// the SHA-1 compressions RFC 2104 needs and no allocation (OpenSSL 3.0's
// EVP_MAC re-init in the limit above copies a digest context, a malloc).
void BM_LimitAesCtrHmacSha1Pads(benchmark::State& state) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> c(EVP_CIPHER_CTX_new());
  std::array<uint8_t, 16> key{};
  std::array<uint8_t, 16> iv{};
  std::array<uint8_t, 64> pad{};
  RAND_bytes(key.data(), 16);
  RAND_bytes(pad.data(), 20);  // the 20-byte auth key, zero-padded to the block
  EVP_EncryptInit_ex(c.get(), EVP_aes_128_ctr(), nullptr, key.data(), iv.data());
  SHA_CTX inner;
  SHA_CTX outer;
  for (auto& b : pad)
    b ^= 0x36;
  SHA1_Init(&inner);
  SHA1_Update(&inner, pad.data(), pad.size());
  for (auto& b : pad)
    b ^= 0x36 ^ 0x5C;
  SHA1_Init(&outer);
  SHA1_Update(&outer, pad.data(), pad.size());
  auto pkt = audioPacket();
  const std::array<uint8_t, 4> roc{};
  std::array<uint8_t, 20> tag{};
  for (auto _ : state) {
    int n = 0;
    EVP_EncryptInit_ex(c.get(), nullptr, nullptr, nullptr, iv.data());
    EVP_EncryptUpdate(c.get(), pkt.data() + 20, &n, pkt.data() + 20, kPlain - 20);
    SHA_CTX h = inner;
    SHA1_Update(&h, pkt.data(), kPlain);
    SHA1_Update(&h, roc.data(), roc.size());
    SHA1_Final(tag.data(), &h);
    SHA_CTX o = outer;
    SHA1_Update(&o, tag.data(), tag.size());
    SHA1_Final(tag.data(), &o);
    benchmark::DoNotOptimize(tag.data());
    ++iv[15];
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LimitAesCtrHmacSha1Pads);

}  // namespace
