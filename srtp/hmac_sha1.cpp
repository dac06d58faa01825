// NOTE: SHA1_Init/SHA1_Update/SHA1_Final and SHA_CTX are deprecated in
// OpenSSL 3.0, and the project builds with -Werror. They are used on purpose,
// in this file only: they are OpenSSL 3.0's only SHA-1 with no allocation per
// message. The EVP route (EVP_MD_CTX_copy_ex to restart from a keyed state)
// dups the provider context, a malloc per copy, which is the cost this file
// exists to remove (see hmac_sha1.hpp). Must come before any OpenSSL header.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "srtp/hmac_sha1.hpp"

#include <openssl/crypto.h>  // OPENSSL_cleanse
#include <openssl/sha.h>
#include <srtp2/auth.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#if defined(OPENSSL_NO_DEPRECATED_3_0)
#error "hmac_sha1.cpp needs SHA1_Init/Update/Final (missing from a no-deprecated OpenSSL)"
#endif

// libsrtp's own HMAC-SHA1 (crypto/hash/hmac_ossl.c, hmac_nss.c or hmac.c,
// whichever backend it was built with). Exported by libsrtp2.a and Debian's
// libsrtp2.so, but not declared in its installed headers.
extern "C" const srtp_auth_type_t srtp_hmac;

namespace jvb::srtp {

namespace {

constexpr size_t kBlock = SHA_CBLOCK;          // 64
constexpr size_t kDigest = SHA_DIGEST_LENGTH;  // 20

// One auth function's state: both keyed states, fixed after init(), and the
// packet's running inner hash.
struct State {
  SHA_CTX inner;    // SHA-1 after (K ^ ipad)
  SHA_CTX outer;    // SHA-1 after (K ^ opad)
  SHA_CTX running;  // inner + the bytes of this packet so far
};

// What alloc() hands libsrtp: its srtp_auth_t and the state in one block.
// auth is the first member of a standard-layout struct, so the srtp_auth_t*
// libsrtp gives back to dealloc() converts back to the block.
struct Block {
  srtp_auth_t auth;
  State state;
};
static_assert(std::is_standard_layout_v<Block>);
static_assert(offsetof(Block, auth) == 0);

// The vtable's functions: libsrtp calls alloc and init when it creates a
// session, start, update and compute per packet, dealloc at srtp_dealloc.
srtp_err_status_t alloc(srtp_auth_t** out, int keyLen, int outLen) noexcept;

srtp_err_status_t dealloc(srtp_auth_t* a) noexcept {
  if (a == nullptr) {
    return srtp_err_status_bad_param;
  }
  Block* block = reinterpret_cast<Block*>(a);
  OPENSSL_cleanse(block, sizeof(*block));  // the keyed states are key material
  delete block;
  return srtp_err_status_ok;
}

srtp_err_status_t init(void* statev, const uint8_t* key, int keyLen) noexcept {
  if (statev == nullptr || keyLen < 0 || (keyLen > 0 && key == nullptr)) {
    return srtp_err_status_bad_param;
  }
  State& s = *static_cast<State*>(statev);
  // RFC 2104 section 2: a key longer than the block is hashed first, then
  // zero-padded to the block.
  std::array<uint8_t, kBlock> k{};
  const auto len = static_cast<size_t>(keyLen);
  if (len > kBlock) {
    SHA_CTX c;
    if (SHA1_Init(&c) != 1 || SHA1_Update(&c, key, len) != 1 || SHA1_Final(k.data(), &c) != 1) {
      OPENSSL_cleanse(&c, sizeof(c));
      return srtp_err_status_auth_fail;
    }
    OPENSSL_cleanse(&c, sizeof(c));
  } else if (len > 0) {
    std::memcpy(k.data(), key, len);
  }
  std::array<uint8_t, kBlock> pad{};
  for (size_t i = 0; i < kBlock; ++i) {
    pad[i] = static_cast<uint8_t>(k[i] ^ 0x36);
  }
  bool ok = SHA1_Init(&s.inner) == 1 && SHA1_Update(&s.inner, pad.data(), kBlock) == 1;
  for (size_t i = 0; i < kBlock; ++i) {
    pad[i] = static_cast<uint8_t>(k[i] ^ 0x5C);
  }
  ok = ok && SHA1_Init(&s.outer) == 1 && SHA1_Update(&s.outer, pad.data(), kBlock) == 1;
  OPENSSL_cleanse(k.data(), k.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  s.running = s.inner;
  return ok ? srtp_err_status_ok : srtp_err_status_auth_fail;
}

srtp_err_status_t start(void* statev) noexcept {
  State& s = *static_cast<State*>(statev);
  s.running = s.inner;  // a fixed-size copy: the whole per-packet "re-init"
  return srtp_err_status_ok;
}

srtp_err_status_t update(void* statev, const uint8_t* message, int octets) noexcept {
  if (octets < 0) {
    return srtp_err_status_bad_param;
  }
  if (octets == 0) {
    return srtp_err_status_ok;
  }
  State& s = *static_cast<State*>(statev);
  return SHA1_Update(&s.running, message, static_cast<size_t>(octets)) == 1
             ? srtp_err_status_ok
             : srtp_err_status_auth_fail;
}

// Hashes the last bytes, then writes the first tagLen bytes of
// SHA1(K ^ opad || SHA1(K ^ ipad || message)). Finalising overwrites both
// SHA_CTX copies' chaining values with the digests and OpenSSL wipes their
// data blocks, so no keyed state is left behind on the stack.
srtp_err_status_t compute(void* statev, const uint8_t* message, int octets, int tagLen,
                          uint8_t* tag) noexcept {
  if (tagLen < 0 || static_cast<size_t>(tagLen) > kDigest || octets < 0) {
    return srtp_err_status_bad_param;
  }
  State& s = *static_cast<State*>(statev);
  std::array<uint8_t, kDigest> digest;
  if (octets > 0 && SHA1_Update(&s.running, message, static_cast<size_t>(octets)) != 1) {
    return srtp_err_status_auth_fail;
  }
  if (SHA1_Final(digest.data(), &s.running) != 1) {
    return srtp_err_status_auth_fail;
  }
  SHA_CTX outer = s.outer;
  if (SHA1_Update(&outer, digest.data(), kDigest) != 1 || SHA1_Final(digest.data(), &outer) != 1) {
    return srtp_err_status_auth_fail;
  }
  std::memcpy(tag, digest.data(), static_cast<size_t>(tagLen));
  return srtp_err_status_ok;
}

// Self-test data: RFC 2202 section 3, all seven HMAC-SHA1 cases (case 5 also
// truncated to 96 bits as in the RFC; cases 6 and 7 hash an 80-byte key).
// libsrtp runs them in srtp_replace_auth_type(), then its own case (= RFC 2202
// case 1) from the auth type being replaced.
template <size_t N>
consteval std::array<uint8_t, N - 1> text(const char (&s)[N]) {
  std::array<uint8_t, N - 1> out{};
  for (size_t i = 0; i + 1 < N; ++i) {
    out[i] = static_cast<uint8_t>(s[i]);
  }
  return out;
}

template <size_t N>
consteval std::array<uint8_t, N> repeat(uint8_t b) {
  std::array<uint8_t, N> out{};
  for (auto& x : out) {
    x = b;
  }
  return out;
}

consteval uint8_t nibble(char c) {
  return static_cast<uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10);
}

template <size_t N>
consteval std::array<uint8_t, (N - 1) / 2> hex(const char (&s)[N]) {
  std::array<uint8_t, (N - 1) / 2> out{};
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint8_t>(nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]));
  }
  return out;
}

consteval std::array<uint8_t, 25> counting25() {
  std::array<uint8_t, 25> out{};
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint8_t>(i + 1);
  }
  return out;
}

constexpr auto kKey1 = repeat<20>(0x0B);
constexpr auto kData1 = text("Hi There");
constexpr auto kTag1 = hex("b617318655057264e28bc0b6fb378c8ef146be00");
constexpr auto kKey2 = text("Jefe");
constexpr auto kData2 = text("what do ya want for nothing?");
constexpr auto kTag2 = hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
constexpr auto kKey3 = repeat<20>(0xAA);
constexpr auto kData3 = repeat<50>(0xDD);
constexpr auto kTag3 = hex("125d7342b9ac11cd91a39af48aa17b4f63f175d3");
constexpr auto kKey4 = counting25();
constexpr auto kData4 = repeat<50>(0xCD);
constexpr auto kTag4 = hex("4c9007f4026250c6bc8414f9bf50c86c2d7235da");
constexpr auto kKey5 = repeat<20>(0x0C);
constexpr auto kData5 = text("Test With Truncation");
constexpr auto kTag5 = hex("4c1a03424b55e07fe7f27be1d58bb9324a9a5a04");
constexpr auto kKey67 = repeat<80>(0xAA);
constexpr auto kData6 = text("Test Using Larger Than Block-Size Key - Hash Key First");
constexpr auto kTag6 = hex("aa4ae5e15272d00e95705637ce8a3b55ed402112");
constexpr auto kData7 =
    text("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data");
constexpr auto kTag7 = hex("e8e99d0f45237d786d6bbaa7965c7808bbff1a91");

template <size_t K, size_t D, size_t T>
constexpr srtp_auth_test_case_t testCase(const std::array<uint8_t, K>& key,
                                         const std::array<uint8_t, D>& data,
                                         const std::array<uint8_t, T>& tag, size_t tagLen,
                                         const srtp_auth_test_case_t* next) {
  srtp_auth_test_case_t t{};
  t.key_length_octets = static_cast<int>(K);
  t.key = key.data();
  t.data_length_octets = static_cast<int>(D);
  t.data = data.data();
  t.tag_length_octets = static_cast<int>(tagLen);
  t.tag = tag.data();
  t.next_test_case = next;
  return t;
}

constexpr srtp_auth_test_case_t kCase7 = testCase(kKey67, kData7, kTag7, kDigest, nullptr);
constexpr srtp_auth_test_case_t kCase6 = testCase(kKey67, kData6, kTag6, kDigest, &kCase7);
constexpr srtp_auth_test_case_t kCase5t = testCase(kKey5, kData5, kTag5, 12, &kCase6);
constexpr srtp_auth_test_case_t kCase5 = testCase(kKey5, kData5, kTag5, kDigest, &kCase5t);
constexpr srtp_auth_test_case_t kCase4 = testCase(kKey4, kData4, kTag4, kDigest, &kCase5);
constexpr srtp_auth_test_case_t kCase3 = testCase(kKey3, kData3, kTag3, kDigest, &kCase4);
constexpr srtp_auth_test_case_t kCase2 = testCase(kKey2, kData2, kTag2, kDigest, &kCase3);
constexpr srtp_auth_test_case_t kCase1 = testCase(kKey1, kData1, kTag1, kDigest, &kCase2);

constexpr char kDescription[] = "HMAC-SHA1, precomputed pads, no per-packet allocation (jvb-audio)";

const srtp_auth_type_t kHmacSha1 = {
    alloc, dealloc, init, compute, update, start, kDescription, &kCase1, SRTP_HMAC_SHA1,
};

srtp_err_status_t alloc(srtp_auth_t** out, int keyLen, int outLen) noexcept {
  if (out == nullptr) {
    return srtp_err_status_bad_param;
  }
  *out = nullptr;
  if (keyLen < 0 || outLen < 0 || static_cast<size_t>(outLen) > kDigest) {
    return srtp_err_status_bad_param;
  }
  // Plain new (not nothrow): it pairs with dealloc()'s delete even where a
  // test or a tool replaces only the ordinary operator new.
  std::unique_ptr<Block> block;
  try {
    block = std::make_unique<Block>();
  } catch (const std::bad_alloc&) {
    return srtp_err_status_alloc_fail;
  }
  block->auth.type = &kHmacSha1;
  block->auth.state = &block->state;
  block->auth.out_len = outLen;
  block->auth.key_len = keyLen;
  block->auth.prefix_len = 0;
  *out = &block.release()->auth;  // libsrtp owns it now: dealloc() frees it
  return srtp_err_status_ok;
}

}  // namespace

const srtp_auth_type_t& hmacSha1AuthType() noexcept {
  return kHmacSha1;
}

int useHmacSha1() noexcept {
  return srtp_replace_auth_type(&kHmacSha1, SRTP_HMAC_SHA1);
}

int useLibsrtpHmacSha1() noexcept {
  return srtp_replace_auth_type(&srtp_hmac, SRTP_HMAC_SHA1);
}

}  // namespace jvb::srtp
