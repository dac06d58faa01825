// SRTP protect cost per audio packet, next to the raw OpenSSL primitive that
// bounds it, measured in the same run (so RESULTS.md can state a ratio).
//
// Packet (as shared/docs/limits.md section 2): 12 B RTP header with X=1, an
// 8 B one-byte header-extension block carrying the audio level, 100 B Opus
// payload = 120 B plaintext. "Sessions" = independent srtp_t contexts with
// distinct keys used round-robin, the cache pressure of 500 receivers.
#include <benchmark/benchmark.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <srtp2/srtp.h>
#include "bench/audio_packet.hpp"

#include <array>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

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

SrtpSession makeSession(bool gcm) {
  srtp_policy_t policy{};
  if (gcm) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  } else {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
  }
  std::array<uint8_t, 46> key{};
  RAND_bytes(key.data(), static_cast<int>(key.size()));
  policy.key = key.data();
  policy.ssrc.type = ssrc_any_outbound;
  policy.window_size = 1024;
  srtp_t s = nullptr;
  if (srtp_create(&s, &policy) != srtp_err_status_ok)
    throw std::runtime_error("srtp_create");
  return SrtpSession(s);
}

void BM_SrtpProtect(benchmark::State& state) {
  (void)srtpLibrary();
  const bool gcm = state.range(0) != 0;
  const auto sessions = static_cast<size_t>(state.range(1));
  std::vector<SrtpSession> ctx;
  for (size_t i = 0; i < sessions; ++i)
    ctx.push_back(makeSession(gcm));
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
  state.SetLabel(gcm ? "AEAD_AES_128_GCM" : "AES_CM_128_HMAC_SHA1_80");
}
BENCHMARK(BM_SrtpProtect)
    ->ArgNames({"gcm", "sessions"})
    ->Args({1, 1})
    ->Args({1, 500})
    ->Args({0, 1})
    ->Args({0, 500});

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

}  // namespace
