// srtp/hmac_sha1.*: the HMAC-SHA1 auth type that srtp::Library registers in
// place of libsrtp's own. Its vtable against RFC 2202 and against OpenSSL's
// one-shot HMAC() on random keys, messages, splits and tag lengths; then whole
// sessions: the bytes on the wire are the same as with libsrtp's own HMAC, and
// a peer on libsrtp's own HMAC interoperates both ways.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <srtp2/auth.h>
#include <srtp2/srtp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rtp/rtcp_builder.hpp"
#include "srtp/hmac_sha1.hpp"
#include "srtp/library.hpp"
#include "srtp/session.hpp"
#include "srtp_test_util.hpp"

// libsrtp's own HMAC-SHA1 and its registry lookup: exported by libsrtp2, not
// declared in its installed headers.
extern "C" const srtp_auth_type_t srtp_hmac;
extern "C" const srtp_auth_type_t* srtp_crypto_kernel_get_auth_type(srtp_auth_type_id_t id);

namespace {

using namespace jvb::srtp;  // NOLINT(google-build-using-namespace): test
using jvb::srtp::test::bridgeKeys;
using jvb::srtp::test::mirrored;
using jvb::srtp::test::rtpPacket;
using Bytes = std::vector<uint8_t>;

Bytes fromText(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

Bytes fromHex(std::string_view s) {
  Bytes out;
  for (size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string toHex(std::span<const uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (const uint8_t x : b) {
    s += kDigits[x >> 4];
    s += kDigits[x & 15];
  }
  return s;
}

// An auth function of either type, freed through its own vtable.
struct AuthDeleter {
  void operator()(srtp_auth_t* a) const noexcept { (void)srtp_auth_dealloc(a); }
};
using Auth = std::unique_ptr<srtp_auth_t, AuthDeleter>;

Auth allocAuth(const srtp_auth_type_t& type, size_t keyLen, size_t tagLen) {
  srtp_auth_t* a = nullptr;
  const srtp_err_status_t s =
      srtp_auth_type_alloc(&type, &a, static_cast<int>(keyLen), static_cast<int>(tagLen));
  EXPECT_EQ(s, srtp_err_status_ok);
  return Auth(a);
}

// start, then the message in up to three pieces (update, update, compute), as
// libsrtp feeds a packet: its header+payload, then the ROC in compute.
Bytes tagOf(srtp_auth_t* a, std::span<const uint8_t> msg, size_t cut1, size_t cut2) {
  EXPECT_EQ(srtp_auth_start(a), srtp_err_status_ok);
  EXPECT_EQ(srtp_auth_update(a, msg.data(), static_cast<int>(cut1)), srtp_err_status_ok);
  EXPECT_EQ(srtp_auth_update(a, msg.data() + cut1, static_cast<int>(cut2 - cut1)),
            srtp_err_status_ok);
  Bytes tag(static_cast<size_t>(a->out_len));
  EXPECT_EQ(
      srtp_auth_compute(a, msg.data() + cut2, static_cast<int>(msg.size() - cut2), tag.data()),
      srtp_err_status_ok);
  return tag;
}

Bytes openSslHmac(std::span<const uint8_t> key, std::span<const uint8_t> msg, size_t tagLen) {
  std::array<uint8_t, EVP_MAX_MD_SIZE> md{};
  unsigned int mdLen = 0;
  static const uint8_t kEmpty = 0;  // HMAC() wants a key pointer even for no key
  const uint8_t* k = key.empty() ? &kEmpty : key.data();
  EXPECT_NE(
      HMAC(EVP_sha1(), k, static_cast<int>(key.size()), msg.data(), msg.size(), md.data(), &mdLen),
      nullptr);
  EXPECT_EQ(mdLen, 20u);
  return Bytes(md.begin(), md.begin() + static_cast<ptrdiff_t>(tagLen));
}

struct Rfc2202Case {
  Bytes key;
  Bytes data;
  Bytes digest;
};

// RFC 2202 section 3, test cases 1-7 for HMAC-SHA-1 (this test's own copy,
// independent of the self-test data in srtp/hmac_sha1.cpp).
std::vector<Rfc2202Case> rfc2202() {
  Bytes key4;
  for (uint8_t i = 1; i <= 25; ++i) {
    key4.push_back(i);
  }
  return {
      {Bytes(20, 0x0b), fromText("Hi There"), fromHex("b617318655057264e28bc0b6fb378c8ef146be00")},
      {fromText("Jefe"), fromText("what do ya want for nothing?"),
       fromHex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")},
      {Bytes(20, 0xaa), Bytes(50, 0xdd), fromHex("125d7342b9ac11cd91a39af48aa17b4f63f175d3")},
      {key4, Bytes(50, 0xcd), fromHex("4c9007f4026250c6bc8414f9bf50c86c2d7235da")},
      {Bytes(20, 0x0c), fromText("Test With Truncation"),
       fromHex("4c1a03424b55e07fe7f27be1d58bb9324a9a5a04")},
      {Bytes(80, 0xaa), fromText("Test Using Larger Than Block-Size Key - Hash Key First"),
       fromHex("aa4ae5e15272d00e95705637ce8a3b55ed402112")},
      {Bytes(80, 0xaa),
       fromText("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
       fromHex("e8e99d0f45237d786d6bbaa7965c7808bbff1a91")},
  };
}

TEST(HmacSha1, Rfc2202Vectors) {
  const srtp_auth_type_t& type = hmacSha1AuthType();
  EXPECT_EQ(type.id, static_cast<srtp_auth_type_id_t>(SRTP_HMAC_SHA1));
  int n = 1;
  for (const Rfc2202Case& c : rfc2202()) {
    SCOPED_TRACE("RFC 2202 case " + std::to_string(n++));
    EXPECT_EQ(openSslHmac(c.key, c.data, 20), c.digest);  // the vectors themselves
    for (const size_t tagLen : {size_t{20}, size_t{12}, size_t{10}, size_t{4}}) {
      Auth a = allocAuth(type, c.key.size(), tagLen);
      ASSERT_TRUE(a);
      EXPECT_EQ(a->type, &type);
      EXPECT_EQ(a->prefix_len, 0);
      ASSERT_EQ(srtp_auth_init(a.get(), c.key.data()), srtp_err_status_ok);
      const Bytes expected(c.digest.begin(), c.digest.begin() + static_cast<ptrdiff_t>(tagLen));
      EXPECT_EQ(tagOf(a.get(), c.data, 0, 0), expected);
      // A second message on the same keyed state: start() resets it.
      EXPECT_EQ(tagOf(a.get(), c.data, c.data.size() / 3, c.data.size() / 2), expected);
    }
  }
}

// What libsrtp runs on srtp_replace_auth_type(): the type's own test cases,
// then those of the type it replaces.
TEST(HmacSha1, PassesLibsrtpSelfTests) {
  EXPECT_EQ(srtp_auth_type_self_test(&hmacSha1AuthType()), srtp_err_status_ok);
  EXPECT_EQ(srtp_auth_type_test(&hmacSha1AuthType(), srtp_hmac.test_data), srtp_err_status_ok);
  size_t cases = 0;
  for (const srtp_auth_test_case_t* t = hmacSha1AuthType().test_data; t != nullptr;
       t = t->next_test_case) {
    ++cases;
  }
  EXPECT_EQ(cases, 8u);  // RFC 2202 cases 1-7, and case 5 truncated to 96 bits
}

// Random keys (empty, short, SRTP's 20 bytes, a block, longer than a block:
// hashed first), messages from empty to several blocks, cut anywhere between
// update and compute, every tag length; several messages per keyed state and
// re-keying a used one. Against OpenSSL's one-shot HMAC() and libsrtp's own
// auth type.
TEST(HmacSha1, MatchesOpenSslHmacOnRandomInputs) {
  std::mt19937 rng(20261203);  // fixed: a failure reproduces
  auto uniform = [&](size_t lo, size_t hi) {
    return std::uniform_int_distribution<size_t>(lo, hi)(rng);
  };
  const std::array<size_t, 9> keySizes{0, 1, 16, 20, 55, 63, 64, 65, 131};
  size_t checked = 0;
  for (int round = 0; round < 300; ++round) {
    const size_t keyLen = round < 9 ? keySizes[static_cast<size_t>(round)] : uniform(0, 140);
    const size_t tagLen = round % 3 == 0 ? 10 : uniform(1, 20);
    Bytes key(keyLen);
    for (auto& b : key) {
      b = static_cast<uint8_t>(rng());
    }
    Auth ours = allocAuth(hmacSha1AuthType(), keyLen, tagLen);
    // libsrtp's own refuses an empty key (EVP_MAC_init reads a NULL key as
    // "keep the old one"); SRTP's auth key is 20 bytes.
    Auth stock = keyLen == 0 ? nullptr : allocAuth(srtp_hmac, keyLen, tagLen);
    ASSERT_TRUE(ours);
    if (round % 10 == 0) {  // re-keying a used state
      Bytes other(keyLen, 0x5a);
      ASSERT_EQ(srtp_auth_init(ours.get(), other.data()), srtp_err_status_ok);
      (void)tagOf(ours.get(), other, 0, 0);
    }
    ASSERT_EQ(srtp_auth_init(ours.get(), key.data()), srtp_err_status_ok);
    if (stock) {
      ASSERT_EQ(srtp_auth_init(stock.get(), key.data()), srtp_err_status_ok);
    }
    for (int m = 0; m < 8; ++m) {
      const size_t msgLen = m == 0 ? 0 : uniform(0, 600);
      Bytes msg(msgLen);
      for (auto& b : msg) {
        b = static_cast<uint8_t>(rng());
      }
      const size_t cut1 = uniform(0, msgLen);
      const size_t cut2 = uniform(cut1, msgLen);
      const Bytes expected = openSslHmac(key, msg, tagLen);
      const Bytes got = tagOf(ours.get(), msg, cut1, cut2);
      ASSERT_EQ(toHex(got), toHex(expected))
          << "key " << toHex(key) << " msg " << toHex(msg) << " cuts " << cut1 << "," << cut2;
      if (stock) {
        ASSERT_EQ(toHex(tagOf(stock.get(), msg, cut2, cut2)), toHex(expected));
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2400u);
}

TEST(HmacSha1, RefusesBadParameters) {
  const srtp_auth_type_t& type = hmacSha1AuthType();
  srtp_auth_t* a = nullptr;
  EXPECT_EQ(type.alloc(&a, 20, 21), srtp_err_status_bad_param);  // longer than SHA-1
  EXPECT_EQ(a, nullptr);
  EXPECT_EQ(type.alloc(&a, -1, 10), srtp_err_status_bad_param);
  EXPECT_EQ(type.alloc(nullptr, 20, 10), srtp_err_status_bad_param);
  Auth ok = allocAuth(type, 20, 10);
  std::array<uint8_t, 20> key{};
  std::array<uint8_t, 20> tag{};
  ASSERT_EQ(srtp_auth_init(ok.get(), key.data()), srtp_err_status_ok);
  ASSERT_EQ(srtp_auth_start(ok.get()), srtp_err_status_ok);
  EXPECT_EQ(type.update(ok->state, key.data(), -1), srtp_err_status_bad_param);
  EXPECT_EQ(type.compute(ok->state, key.data(), 4, 21, tag.data()), srtp_err_status_bad_param);
  EXPECT_EQ(type.compute(ok->state, key.data(), -4, 10, tag.data()), srtp_err_status_bad_param);
}

// ---------------------------------------------------------------------------
// Whole sessions.

constexpr Profile kCm = Profile::kAes128CmHmacSha1_80;

TEST(HmacSha1Sessions, LibraryRegistersIt) {
  {
    const Library lib;
    EXPECT_EQ(srtp_crypto_kernel_get_auth_type(SRTP_HMAC_SHA1), &hmacSha1AuthType());
    ASSERT_EQ(useLibsrtpHmacSha1(), srtp_err_status_ok);
    EXPECT_EQ(srtp_crypto_kernel_get_auth_type(SRTP_HMAC_SHA1), &srtp_hmac);
    ASSERT_EQ(useHmacSha1(), srtp_err_status_ok);
    EXPECT_EQ(srtp_crypto_kernel_get_auth_type(SRTP_HMAC_SHA1), &hmacSha1AuthType());
  }
  const Library again;  // srtp_shutdown() dropped it; srtp_init() + Library put it back
  EXPECT_EQ(srtp_crypto_kernel_get_auth_type(SRTP_HMAC_SHA1), &hmacSha1AuthType());
}

// Sessions created under libsrtp's own HMAC-SHA1 (the "stock" peer, as any
// libsrtp/OpenSSL endpoint runs) next to the bridge's.
struct Pair {
  Session stockOut;
  Session stockIn;
  Session oursOut;
  Session oursIn;
};

Pair sessions(const Keys& keys) {
  EXPECT_EQ(useLibsrtpHmacSha1(), srtp_err_status_ok);
  Session stockOut = Session::outbound(keys);
  Session stockIn = Session::inbound(mirrored(keys));
  EXPECT_EQ(useHmacSha1(), srtp_err_status_ok);
  return Pair{std::move(stockOut), std::move(stockIn), Session::outbound(keys),
              Session::inbound(mirrored(keys))};
}

Bytes protectRtp(Session& out, const Bytes& plain) {
  Bytes buf(plain.size() + kMaxTrailer);
  std::copy(plain.begin(), plain.end(), buf.begin());
  const Result r = out.protectRtp(buf, plain.size());
  EXPECT_TRUE(r.ok()) << statusName(r.status) << " " << errorName(r.srtpStatus);
  buf.resize(r.length);
  return buf;
}

Bytes protectRtcp(Session& out, const Bytes& plain) {
  Bytes buf(plain.size() + kMaxRtcpTrailer);
  std::copy(plain.begin(), plain.end(), buf.begin());
  const Result r = out.protectRtcp(buf, plain.size());
  EXPECT_TRUE(r.ok()) << statusName(r.status) << " " << errorName(r.srtpStatus);
  buf.resize(r.length);
  return buf;
}

// Unprotects a copy; returns the plaintext, or empty on failure.
Bytes unprotect(Session& in, const Bytes& wire, bool rtcp) {
  Bytes b = wire;
  const Result r = rtcp ? in.unprotectRtcp(b) : in.unprotectRtp(b);
  if (!r.ok()) {
    return {};
  }
  b.resize(r.length);
  return b;
}

TEST(HmacSha1Sessions, RtpBytesOnTheWireUnchangedAndInteroperable) {
  const Library lib;
  for (const uint8_t seed : {uint8_t{1}, uint8_t{42}, uint8_t{200}}) {
    Pair p = sessions(bridgeKeys(kCm, seed));
    size_t packets = 0;
    for (const uint32_t ssrc : {0x11223344u, 0xB1D6E000u}) {
      for (uint16_t seq = 65500; seq != 40; ++seq) {  // across the rollover (ROC in the tag)
        const Bytes plain = rtpPacket(seq, ssrc, (seq * 37u) % 300);
        const Bytes stock = protectRtp(p.stockOut, plain);
        const Bytes ours = protectRtp(p.oursOut, plain);
        ASSERT_EQ(toHex(ours), toHex(stock)) << "seq " << seq;
        ASSERT_EQ(ours.size(), plain.size() + 10);
        EXPECT_EQ(unprotect(p.stockIn, ours, false), plain);  // bridge -> stock peer
        EXPECT_EQ(unprotect(p.oursIn, stock, false), plain);  // stock peer -> bridge
        ++packets;
      }
    }
    EXPECT_EQ(packets, 2u * 76);
    // A touched tag or payload fails on both implementations.
    Bytes bad = protectRtp(p.oursOut, rtpPacket(100));
    bad.back() ^= 0x01;
    EXPECT_TRUE(unprotect(p.stockIn, bad, false).empty());
    EXPECT_TRUE(unprotect(p.oursIn, bad, false).empty());
    bad.back() ^= 0x01;
    bad[30] ^= 0x80;
    EXPECT_TRUE(unprotect(p.stockIn, bad, false).empty());
    EXPECT_TRUE(unprotect(p.oursIn, bad, false).empty());
  }
}

TEST(HmacSha1Sessions, RtcpBytesOnTheWireUnchangedAndInteroperable) {
  const Library lib;
  Pair p = sessions(bridgeKeys(kCm, 9));
  for (uint32_t i = 0; i < 50; ++i) {
    Bytes buf(512);
    std::vector<jvb::rtp::ReportBlock> blocks(i % 4);
    for (auto& b : blocks) {
      b.ssrc = 0x1000 + i;
      b.extendedHighestSequence = i * 7;
    }
    size_t n = jvb::rtp::writeReceiverReport(buf, 0xB1D6E000, blocks);
    n += jvb::rtp::writeSdesCname(std::span(buf).subspan(n), 0xB1D6E000, "jvb-audio");
    const Bytes plain(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
    const Bytes stock = protectRtcp(p.stockOut, plain);
    const Bytes ours = protectRtcp(p.oursOut, plain);
    ASSERT_EQ(toHex(ours), toHex(stock)) << "report " << i;
    EXPECT_EQ(unprotect(p.stockIn, ours, true), plain);
    EXPECT_EQ(unprotect(p.oursIn, stock, true), plain);
  }
}

// The first packet of bridgeKeys(kCm), as libsrtp 2.5 with its own OpenSSL
// HMAC protected it before this auth type existed: pins the wire format
// independently of the in-process comparison above.
TEST(HmacSha1Sessions, GoldenPacket) {
  const Library lib;
  Pair p = sessions(bridgeKeys(kCm));
  const Bytes plain = rtpPacket(1, 0x11223344, 16);
  constexpr std::string_view kGolden =
      "906f0001000003c011223344bede0001109e0000"  // header and extension, in the clear
      "0d070359eb63941d6119c3c8515381032e217e00"  // 16 B payload, encrypted
      "e469e57bb597";                             // 10 B HMAC-SHA1-80 tag
  EXPECT_EQ(toHex(protectRtp(p.stockOut, plain)), kGolden);
  EXPECT_EQ(toHex(protectRtp(p.oursOut, plain)), kGolden);
}

}  // namespace
