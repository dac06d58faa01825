#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <stdexcept>
#include <vector>

#include "rtp/rtcp_builder.hpp"
#include "rtp/rtcp_packet.hpp"
#include "srtp/library.hpp"
#include "srtp/session.hpp"
#include "srtp_test_util.hpp"

namespace {

using namespace jvb::srtp;  // NOLINT(google-build-using-namespace): test
using jvb::srtp::test::bridgeKeys;
using jvb::srtp::test::mirrored;
using jvb::srtp::test::rtpPacket;
using Bytes = std::vector<uint8_t>;

// One Library for the whole binary, as main() would hold it; a test may drop
// and rebuild it.
std::optional<Library>& library() {
  static std::optional<Library> lib;
  return lib;
}

class LibraryEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { library().emplace(); }
  void TearDown() override { library().reset(); }
};
// NOLINTNEXTLINE(cert-err58-cpp): gtest registration idiom
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new LibraryEnvironment);

// Protect `plain` through `out`, returning the SRTP bytes.
Bytes protect(Session& out, const Bytes& plain) {
  Bytes buf(plain.size() + out.rtpTrailer());  // exactly the documented room
  std::copy(plain.begin(), plain.end(), buf.begin());
  const Result r = out.protectRtp(buf, plain.size());
  EXPECT_TRUE(r.ok()) << statusName(r.status) << " " << errorName(r.srtpStatus);
  buf.resize(r.length);
  return buf;
}

class SrtpProfiles : public ::testing::TestWithParam<Profile> {};

TEST_P(SrtpProfiles, RtpRoundTrip) {
  const Keys bridge = bridgeKeys(GetParam());
  Session out = Session::outbound(bridge);
  Session in = Session::inbound(mirrored(bridge));
  EXPECT_EQ(out.direction(), Direction::kOutbound);
  EXPECT_EQ(in.profile(), GetParam());
  const size_t tag = GetParam() == Profile::kAeadAes128Gcm ? 16 : 10;
  EXPECT_EQ(out.rtpTrailer(), tag);
  EXPECT_EQ(out.rtcpTrailer(), tag + 4);
  for (uint16_t seq = 65530; seq != 10; ++seq) {  // across the rollover
    const Bytes plain = rtpPacket(seq);
    Bytes wire = protect(out, plain);
    ASSERT_EQ(wire.size(), plain.size() + tag);
    EXPECT_TRUE(std::equal(plain.begin(), plain.begin() + 20, wire.begin()));  // header clear
    EXPECT_FALSE(std::equal(plain.begin() + 20, plain.end(), wire.begin() + 20));
    const Result r = in.unprotectRtp(wire);
    ASSERT_TRUE(r.ok()) << statusName(r.status) << " " << errorName(r.srtpStatus);
    ASSERT_EQ(r.length, plain.size());
    wire.resize(r.length);
    EXPECT_EQ(wire, plain);
  }
}

TEST_P(SrtpProfiles, TamperedPacketFailsAuthentication) {
  const Keys bridge = bridgeKeys(GetParam());
  Session out = Session::outbound(bridge);
  Session in = Session::inbound(mirrored(bridge));
  const Bytes wire = protect(out, rtpPacket(1));
  for (const size_t at : {wire.size() - 1, size_t{30}, size_t{3}}) {  // tag, payload, header
    Bytes bad = wire;
    bad[at] ^= 0x01;
    const Result r = in.unprotectRtp(bad);
    EXPECT_EQ(r.status, Status::kAuthFailure) << "byte " << at << ": " << errorName(r.srtpStatus);
    EXPECT_EQ(r.length, 0u);
  }
  Bytes good = wire;
  EXPECT_TRUE(in.unprotectRtp(good).ok());  // failures did not poison the stream
}

TEST_P(SrtpProfiles, ReplayIsDetected) {
  const Keys bridge = bridgeKeys(GetParam());
  Session out = Session::outbound(bridge);
  Session in = Session::inbound(mirrored(bridge));
  const Bytes first = protect(out, rtpPacket(100));
  Bytes copy = first;
  ASSERT_TRUE(in.unprotectRtp(copy).ok());
  copy = first;
  EXPECT_EQ(in.unprotectRtp(copy).status, Status::kReplay);
  // Older than the 1024-packet window: 101 arrives after 2100.
  Bytes old = protect(out, rtpPacket(101));
  Bytes ahead = protect(out, rtpPacket(100 + 2000));
  ASSERT_TRUE(in.unprotectRtp(ahead).ok());
  const Result r = in.unprotectRtp(old);
  EXPECT_EQ(r.status, Status::kReplay) << errorName(r.srtpStatus);
}

TEST_P(SrtpProfiles, OutboundRepeatNeedsOptIn) {
  const Keys bridge = bridgeKeys(GetParam());
  Session strict = Session::outbound(bridge);
  Bytes buf(200);
  const Bytes plain = rtpPacket(5);
  std::copy(plain.begin(), plain.end(), buf.begin());
  ASSERT_TRUE(strict.protectRtp(buf, plain.size()).ok());
  std::copy(plain.begin(), plain.end(), buf.begin());
  EXPECT_EQ(strict.protectRtp(buf, plain.size()).status, Status::kReplay);
  Session lenient = Session::outbound(bridge, {.replayWindow = 1024, .allowRepeatTx = true});
  std::copy(plain.begin(), plain.end(), buf.begin());
  ASSERT_TRUE(lenient.protectRtp(buf, plain.size()).ok());
  std::copy(plain.begin(), plain.end(), buf.begin());
  EXPECT_TRUE(lenient.protectRtp(buf, plain.size()).ok());
}

TEST_P(SrtpProfiles, RtcpRoundTrip) {
  const Keys bridge = bridgeKeys(GetParam());
  Session out = Session::outbound(bridge);
  Session in = Session::inbound(mirrored(bridge));
  Bytes buf(256);
  jvb::rtp::ReportBlock block;
  block.ssrc = 0x11223344;
  block.fractionLost = 3;
  size_t n = jvb::rtp::writeReceiverReport(buf, 0xB1D6E000, std::span(&block, 1));
  n += jvb::rtp::writeSdesCname(std::span(buf).subspan(n), 0xB1D6E000, "jvb-audio");
  const Bytes plain(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
  const Result p = out.protectRtcp(buf, n);
  ASSERT_TRUE(p.ok()) << errorName(p.srtpStatus);
  ASSERT_EQ(p.length, n + out.rtcpTrailer());
  const Bytes wire(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(p.length));

  Bytes tampered = wire;
  tampered[10] ^= 0x80;
  EXPECT_EQ(in.unprotectRtcp(tampered).status, Status::kAuthFailure);

  Bytes rx = wire;
  const Result u = in.unprotectRtcp(rx);
  ASSERT_TRUE(u.ok()) << errorName(u.srtpStatus);
  rx.resize(u.length);
  EXPECT_EQ(rx, plain);
  const auto compound = jvb::rtp::RtcpCompoundView::parse(rx);
  ASSERT_TRUE(compound);
  EXPECT_EQ(compound->packetCount(), 2u);

  rx = wire;
  EXPECT_EQ(in.unprotectRtcp(rx).status, Status::kReplay);
}

TEST_P(SrtpProfiles, WrongKeysFail) {
  const Keys bridge = bridgeKeys(GetParam());
  Session out = Session::outbound(bridge);
  Session notMirrored = Session::inbound(bridge);  // uses bridge.remote
  Session otherAssociation = Session::inbound(mirrored(bridgeKeys(GetParam(), 7)));
  const Bytes wire = protect(out, rtpPacket(9));
  Bytes a = wire;
  EXPECT_EQ(notMirrored.unprotectRtp(a).status, Status::kAuthFailure);
  Bytes b = wire;
  EXPECT_EQ(otherAssociation.unprotectRtp(b).status, Status::kAuthFailure);
}

TEST_P(SrtpProfiles, BadLengthsAndMisuse) {
  const Keys bridge = bridgeKeys(GetParam());
  Session out = Session::outbound(bridge);
  Session in = Session::inbound(mirrored(bridge));
  const Bytes plain = rtpPacket(1);
  Bytes noRoom = plain;  // no space for the tag
  EXPECT_EQ(out.protectRtp(noRoom, plain.size()).status, Status::kBadLength);
  EXPECT_EQ(out.protectRtp(noRoom, plain.size() + 1).status, Status::kBadLength);
  Bytes tiny(40);
  EXPECT_EQ(out.protectRtp(tiny, 11).status, Status::kBadLength);
  EXPECT_EQ(out.protectRtcp(tiny, 7).status, Status::kBadLength);
  Bytes shortRtp(12 + out.rtpTrailer() - 1, 0x80);
  EXPECT_EQ(in.unprotectRtp(shortRtp).status, Status::kBadLength);
  Bytes shortRtcp(8 + out.rtcpTrailer() - 1, 0x80);
  EXPECT_EQ(in.unprotectRtcp(shortRtcp).status, Status::kBadLength);
  // Header extension length pointing past the datagram: libsrtp refuses.
  Bytes lying = protect(out, rtpPacket(2));
  lying[14] = 0x7F;
  EXPECT_EQ(in.unprotectRtp(lying).status, Status::kBadLength);
  // Wrong direction.
  Bytes buf(plain.size() + kMaxTrailer);
  std::copy(plain.begin(), plain.end(), buf.begin());
  EXPECT_EQ(in.protectRtp(buf, plain.size()).status, Status::kOther);
  EXPECT_EQ(out.unprotectRtp(buf).status, Status::kOther);
  // Moved-from.
  Session moved = std::move(out);
  EXPECT_EQ(out.protectRtp(buf, plain.size()).status,
            Status::kOther);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(moved.protectRtp(buf, plain.size()).ok());
}

TEST_P(SrtpProfiles, SeveralSsrcsShareOneSession) {
  const Keys bridge = bridgeKeys(GetParam());
  Session out = Session::outbound(bridge);
  Session in = Session::inbound(mirrored(bridge));
  for (uint32_t ssrc = 1; ssrc <= 4; ++ssrc) {
    for (uint16_t seq = 0; seq < 3; ++seq) {
      Bytes wire = protect(out, rtpPacket(seq, ssrc));
      EXPECT_TRUE(in.unprotectRtp(wire).ok());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Profiles, SrtpProfiles,
                         ::testing::Values(Profile::kAeadAes128Gcm, Profile::kAes128CmHmacSha1_80),
                         [](const auto& p) {
                           return p.param == Profile::kAeadAes128Gcm ? "Gcm" : "HmacSha1_80";
                         });

TEST(SrtpSession, CreationErrorsThrow) {
  Keys keys = bridgeKeys(Profile::kAeadAes128Gcm);
  keys.local.size = 30;  // HMAC-SHA1 sizes under a GCM profile
  EXPECT_THROW((void)Session::outbound(keys), std::invalid_argument);
  EXPECT_NO_THROW((void)Session::inbound(keys));  // remote is still right
  EXPECT_THROW((void)Session::inbound(bridgeKeys(Profile::kAeadAes128Gcm), {.replayWindow = 32}),
               std::invalid_argument);
  EXPECT_THROW((void)Session::inbound(bridgeKeys(Profile::kAeadAes128Gcm), {.replayWindow = 40000}),
               std::invalid_argument);
}

TEST(SrtpLibrary, OneAtATime) {
  ASSERT_TRUE(Library::initialized());
  EXPECT_THROW(Library second, std::logic_error);
  EXPECT_TRUE(Library::initialized());  // the failed one did not shut it down
  library().reset();
  EXPECT_FALSE(Library::initialized());
  EXPECT_THROW((void)Session::inbound(bridgeKeys(Profile::kAeadAes128Gcm)), std::logic_error);
  library().emplace();
  EXPECT_NO_THROW((void)Session::inbound(bridgeKeys(Profile::kAeadAes128Gcm)));
}

TEST(SrtpSession, Names) {
  EXPECT_EQ(errorName(0), "srtp_err_status_ok");
  EXPECT_EQ(errorName(7), "srtp_err_status_auth_fail");
  EXPECT_EQ(errorName(27), "srtp_err_status_pkt_idx_adv");
  EXPECT_EQ(errorName(28), "srtp_err_status_unknown");
  EXPECT_EQ(errorName(-1), "srtp_err_status_unknown");
  EXPECT_EQ(statusName(Status::kReplay), "replay");
}

}  // namespace
