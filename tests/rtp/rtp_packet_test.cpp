#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "rtp/audio_level.hpp"
#include "rtp/rtp_packet.hpp"

namespace {

using jvb::rtp::ConstRtpPacketView;
using jvb::rtp::ExtensionIdMap;
using jvb::rtp::ExtensionProfile;
using jvb::rtp::peekAudioLevel;
using jvb::rtp::readAudioLevel;
using jvb::rtp::RtpPacketView;
using Bytes = std::vector<uint8_t>;

// V=2, PT 111 (Opus), seq 0x1234, ts 0x01020304, SSRC 0xAABBCCDD.
Bytes fixedHeader(uint8_t b0 = 0x80, uint8_t b1 = 111) {
  return {b0, b1, 0x12, 0x34, 0x01, 0x02, 0x03, 0x04, 0xAA, 0xBB, 0xCC, 0xDD};
}

void append(Bytes& v, const Bytes& more) {
  v.insert(v.end(), more.begin(), more.end());
}

// The packet of shared/docs/limits.md section 2: X=1, one-byte profile, one
// word holding the audio level (id 1) and two padding bytes, then payload.
Bytes audioPacket(uint8_t levelByte = 0x80 | 30) {
  Bytes p = fixedHeader(0x90);
  append(p, {0xBE, 0xDE, 0x00, 0x01, 0x10, levelByte, 0x00, 0x00});
  append(p, {0xDE, 0xAD, 0xBE, 0xEF});
  return p;
}

// One-byte profile: id 1 (1 byte), padding, id 3 (3 bytes), id 14 (16 bytes).
Bytes oneBytePacket() {
  Bytes p = fixedHeader(0x90);
  Bytes ext = {0x10, 0x55, 0x00, 0x32, 0xA1, 0xA2, 0xA3, 0xEF};
  for (uint8_t i = 0; i < 16; ++i) {
    ext.push_back(i);
  }
  while (ext.size() % 4 != 0) {
    ext.push_back(0);
  }
  append(p, {0xBE, 0xDE, 0x00, static_cast<uint8_t>(ext.size() / 4)});
  append(p, ext);
  append(p, {1, 2, 3});
  return p;
}

// Two-byte profile (appbits 0x5): id 1 (1 byte), id 200 (0 bytes), padding,
// id 7 (4 bytes).
Bytes twoBytePacket() {
  Bytes p = fixedHeader(0x90);
  append(p, {0x10, 0x05, 0x00, 0x03});
  append(p, {0x01, 0x01, 0x9E, 200, 0x00, 0x00, 0x07, 0x04, 0xB1, 0xB2, 0xB3, 0xB4});
  append(p, {9, 9});
  return p;
}

TEST(RtpPacket, FixedHeaderFields) {
  Bytes p = fixedHeader(0x80, 0x80 | 111);
  append(p, {1, 2, 3, 4, 5});
  const auto v = ConstRtpPacketView::parse(p);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->marker());
  EXPECT_EQ(v->payloadType(), 111);
  EXPECT_EQ(v->sequenceNumber(), 0x1234);
  EXPECT_EQ(v->timestamp(), 0x01020304u);
  EXPECT_EQ(v->ssrc(), 0xAABBCCDDu);
  EXPECT_EQ(v->csrcCount(), 0);
  EXPECT_FALSE(v->csrc(0));
  EXPECT_FALSE(v->hasExtension());
  EXPECT_EQ(v->extensionProfile(), ExtensionProfile::kNone);
  EXPECT_EQ(v->extensionProfileId(), 0);
  EXPECT_TRUE(v->extensionData().empty());
  EXPECT_EQ(v->headerSize(), 12u);
  EXPECT_EQ(v->payload().size(), 5u);
  EXPECT_EQ(v->payload()[0], 1);
  EXPECT_EQ(v->paddingSize(), 0u);
  EXPECT_FALSE(v->findExtension(1));
}

TEST(RtpPacket, Csrcs) {
  Bytes p = fixedHeader(0x82);
  append(p, {0, 0, 0, 1, 0xFF, 0, 0, 2, 7});
  const auto v = ConstRtpPacketView::parse(p);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->csrcCount(), 2);
  EXPECT_EQ(v->csrc(0), 1u);
  EXPECT_EQ(v->csrc(1), 0xFF000002u);
  EXPECT_FALSE(v->csrc(2));
  EXPECT_EQ(v->headerSize(), 20u);
  EXPECT_EQ(v->payload().size(), 1u);
}

TEST(RtpPacket, OneByteExtensions) {
  Bytes p = oneBytePacket();
  const auto v = ConstRtpPacketView::parse(p);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->extensionProfile(), ExtensionProfile::kOneByte);
  EXPECT_EQ(v->extensionProfileId(), 0xBEDE);
  EXPECT_EQ(v->extensionData().size(), 24u);
  const auto e1 = v->findExtension(1);
  ASSERT_TRUE(e1);
  ASSERT_EQ(e1->size(), 1u);
  EXPECT_EQ((*e1)[0], 0x55);
  const auto e3 = v->findExtension(3);
  ASSERT_TRUE(e3);
  EXPECT_EQ(Bytes(e3->begin(), e3->end()), (Bytes{0xA1, 0xA2, 0xA3}));
  const auto e14 = v->findExtension(14);
  ASSERT_TRUE(e14);
  EXPECT_EQ(e14->size(), 16u);
  EXPECT_EQ((*e14)[15], 15);
  EXPECT_FALSE(v->findExtension(2));
  EXPECT_FALSE(v->findExtension(0));
  EXPECT_FALSE(v->findExtension(15));
  EXPECT_EQ(v->payload().size(), 3u);
}

TEST(RtpPacket, TwoByteExtensions) {
  Bytes p = twoBytePacket();
  const auto v = ConstRtpPacketView::parse(p);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->extensionProfile(), ExtensionProfile::kTwoByte);
  EXPECT_EQ(v->extensionProfileId(), 0x1005);
  const auto e1 = v->findExtension(1);
  ASSERT_TRUE(e1);
  EXPECT_EQ(Bytes(e1->begin(), e1->end()), (Bytes{0x9E}));
  const auto e200 = v->findExtension(200);
  ASSERT_TRUE(e200);  // present with no data
  EXPECT_TRUE(e200->empty());
  const auto e7 = v->findExtension(7);
  ASSERT_TRUE(e7);
  EXPECT_EQ(Bytes(e7->begin(), e7->end()), (Bytes{0xB1, 0xB2, 0xB3, 0xB4}));
  EXPECT_FALSE(v->findExtension(2));
  EXPECT_EQ(v->payload().size(), 2u);
}

TEST(RtpPacket, GenericProfileIsRaw) {
  Bytes p = fixedHeader(0x90);
  append(p, {0x12, 0x34, 0x00, 0x01, 0x10, 0x55, 0x00, 0x00, 0x42});
  const auto v = ConstRtpPacketView::parse(p);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->extensionProfile(), ExtensionProfile::kGeneric);
  EXPECT_EQ(v->extensionProfileId(), 0x1234);
  EXPECT_EQ(v->extensionData().size(), 4u);
  EXPECT_FALSE(v->findExtension(1));
  EXPECT_EQ(v->payload().size(), 1u);
}

TEST(RtpPacket, OneByteId15StopsParsing) {
  Bytes p = fixedHeader(0x90);
  append(p, {0xBE, 0xDE, 0x00, 0x02, 0x10, 0x01, 0xF0, 0x20, 0x02, 0x00, 0x00, 0x00});
  const auto v = ConstRtpPacketView::parse(p);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->findExtension(1));
  EXPECT_FALSE(v->findExtension(2));  // after ID 15 (RFC 8285 section 4.2)
}

TEST(RtpPacket, OverrunningElementIsNotFound) {
  Bytes p = fixedHeader(0x90);
  // id 1 ok, then id 2 claims 16 bytes inside a 4-byte body.
  append(p, {0xBE, 0xDE, 0x00, 0x01, 0x10, 0x01, 0x2F, 0x00});
  const auto v = ConstRtpPacketView::parse(p);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->findExtension(1));
  EXPECT_FALSE(v->findExtension(2));
  Bytes q = fixedHeader(0x90);
  append(q, {0x10, 0x00, 0x00, 0x01, 0x01, 0x09, 0x00, 0x00});  // two-byte, len 9 > 2
  const auto w = ConstRtpPacketView::parse(q);
  ASSERT_TRUE(w);
  EXPECT_FALSE(w->findExtension(1));
}

TEST(RtpPacket, Padding) {
  Bytes p = fixedHeader(0xA0);
  append(p, {1, 2, 3, 4, 0, 0, 0, 4});
  auto v = ConstRtpPacketView::parse(p);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->hasPadding());
  EXPECT_EQ(v->paddingSize(), 4u);
  EXPECT_EQ(v->payload().size(), 4u);
  p.back() = 8;  // the whole payload is padding: allowed
  v = ConstRtpPacketView::parse(p);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->payload().empty());
  p.back() = 9;  // reaches into the header
  EXPECT_FALSE(ConstRtpPacketView::parse(p));
  p.back() = 0;  // count includes itself, so 0 is invalid
  EXPECT_FALSE(ConstRtpPacketView::parse(p));
  const Bytes noRoom = fixedHeader(0xA0);  // P set, no byte for the count
  EXPECT_FALSE(ConstRtpPacketView::parse(noRoom));
}

TEST(RtpPacket, TruncatedInputsRejected) {
  for (const Bytes& full : {oneBytePacket(), twoBytePacket(), audioPacket()}) {
    const size_t header = ConstRtpPacketView::parse(full)->headerSize();
    for (size_t n = 0; n < full.size(); ++n) {
      const auto v = ConstRtpPacketView::parse(std::span(full).first(n));
      EXPECT_EQ(v.has_value(), n >= header) << "prefix " << n;
    }
  }
}

TEST(RtpPacket, LyingLengthsRejected) {
  EXPECT_FALSE(ConstRtpPacketView::parse(Bytes{}));
  EXPECT_FALSE(ConstRtpPacketView::parse(Bytes(11, 0x80)));
  for (const uint8_t version : std::initializer_list<uint8_t>{0x00, 0x40, 0xC0}) {
    EXPECT_FALSE(ConstRtpPacketView::parse(fixedHeader(version)));
  }
  Bytes cc = fixedHeader(0x8F);  // 15 CSRCs announced, 2 present
  append(cc, Bytes(8, 0));
  EXPECT_FALSE(ConstRtpPacketView::parse(cc));
  Bytes ext = fixedHeader(0x90);  // 0xFFFF words announced
  append(ext, {0xBE, 0xDE, 0xFF, 0xFF, 0x10, 0x01, 0, 0});
  EXPECT_FALSE(ConstRtpPacketView::parse(ext));
  Bytes extHeader = fixedHeader(0x90);  // X set, extension header cut
  append(extHeader, {0xBE, 0xDE, 0x00});
  EXPECT_FALSE(ConstRtpPacketView::parse(extHeader));
  Bytes huge(jvb::rtp::kRtpMaxPacket + 1, 0);
  huge[0] = 0x80;
  EXPECT_FALSE(ConstRtpPacketView::parse(huge));
}

TEST(RtpPacket, SettersWriteInPlace) {
  Bytes p = audioPacket();
  auto v = RtpPacketView::parse(p);
  ASSERT_TRUE(v);
  v->setSsrc(0x01020304);
  v->setSequenceNumber(0xFFFE);
  v->setTimestamp(0xCAFEBABE);
  v->setPayloadType(109);
  v->setMarker(true);
  const Bytes expected = {0x90, 0x80 | 109, 0xFF, 0xFE, 0xCA, 0xFE, 0xBA, 0xBE, 1, 2, 3, 4};
  EXPECT_EQ(Bytes(p.begin(), p.begin() + 12), expected);
  v->setMarker(false);
  EXPECT_EQ(p[1], 109);
  v->setPayloadType(0xFF);  // only 7 bits are used
  EXPECT_EQ(p[1], 0x7F);
  const ConstRtpPacketView c = *v;  // mutable -> const
  EXPECT_EQ(c.ssrc(), 0x01020304u);
  EXPECT_EQ(c.payloadType(), 127);
  EXPECT_EQ(readAudioLevel(*v, 1)->level, 30);  // extension untouched
}

TEST(RtpPacket, RewriteExtensionIdOneByte) {
  Bytes p = oneBytePacket();
  auto v = RtpPacketView::parse(p);
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->rewriteExtensionId(1, 15));  // not expressible in one byte
  EXPECT_FALSE(v->rewriteExtensionId(1, 0));
  EXPECT_FALSE(v->rewriteExtensionId(1, 3));  // would duplicate id 3
  EXPECT_FALSE(v->rewriteExtensionId(2, 5));  // no element 2
  EXPECT_EQ(p, oneBytePacket());              // nothing written so far
  EXPECT_TRUE(v->rewriteExtensionId(3, 9));
  EXPECT_FALSE(v->findExtension(3));
  const auto e9 = v->findExtension(9);
  ASSERT_TRUE(e9);
  EXPECT_EQ(e9->size(), 3u);  // length bits kept
  EXPECT_EQ((*e9)[0], 0xA1);
}

TEST(RtpPacket, RewriteExtensionIdTwoByte) {
  Bytes p = twoBytePacket();
  auto v = RtpPacketView::parse(p);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->rewriteExtensionId(1, 250));
  ASSERT_TRUE(v->findExtension(250));
  EXPECT_EQ((*v->findExtension(250))[0], 0x9E);
  EXPECT_FALSE(v->rewriteExtensionId(7, 200));
  Bytes g = fixedHeader(0x90);
  append(g, {0x12, 0x34, 0x00, 0x01, 0x10, 0x55, 0x00, 0x00});
  auto gv = RtpPacketView::parse(g);
  ASSERT_TRUE(gv);
  EXPECT_FALSE(gv->rewriteExtensionId(1, 2));  // generic profile: no elements
}

TEST(RtpPacket, RemapExtensionIds) {
  Bytes p = oneBytePacket();
  auto v = RtpPacketView::parse(p);
  ASSERT_TRUE(v);
  ExtensionIdMap swap;  // 1 <-> 3 in one pass, 14 stripped
  swap.map(1, 3);
  swap.map(3, 1);
  swap.strip(14);
  EXPECT_TRUE(v->remapExtensionIds(swap));
  EXPECT_EQ((*v->findExtension(3))[0], 0x55);
  EXPECT_EQ(v->findExtension(1)->size(), 3u);
  EXPECT_FALSE(v->findExtension(14));
  for (const uint8_t b : v->extensionData().subspan(7)) {
    EXPECT_EQ(b, 0);  // the stripped element became padding
  }
  const Bytes before = p;
  ExtensionIdMap bad;
  bad.map(1, 15);
  EXPECT_FALSE(v->remapExtensionIds(bad));
  ExtensionIdMap collide;
  collide.map(1, 3);  // 3 stays 3
  EXPECT_FALSE(v->remapExtensionIds(collide));
  EXPECT_EQ(p, before);                                 // all or nothing
  EXPECT_TRUE(v->remapExtensionIds(ExtensionIdMap{}));  // identity
  EXPECT_EQ(p, before);
}

TEST(RtpPacket, ParseHeaderForSrtp) {
  Bytes p = audioPacket();
  p[0] |= 0x20;  // P set, but the last byte is ciphertext / tag
  append(p, Bytes(10, 0));
  EXPECT_FALSE(ConstRtpPacketView::parse(p));
  const auto v = ConstRtpPacketView::parseHeader(p);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->payload().size(), p.size() - 20);
  EXPECT_EQ(v->paddingSize(), 0u);
}

TEST(AudioLevel, OneByte) {
  const Bytes p = audioPacket(0x80 | 30);
  const auto v = ConstRtpPacketView::parse(p);
  ASSERT_TRUE(v);
  const auto level = readAudioLevel(*v, 1);
  ASSERT_TRUE(level);
  EXPECT_EQ(level->level, 30);
  EXPECT_TRUE(level->voice);
  EXPECT_FALSE(readAudioLevel(*v, 2));
  const Bytes silent = audioPacket(127);
  const auto s = readAudioLevel(*ConstRtpPacketView::parse(silent), 1);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->level, 127);
  EXPECT_FALSE(s->voice);
}

TEST(AudioLevel, TwoByte) {
  const Bytes p = twoBytePacket();  // id 1 holds 0x9E: V=1, level 30
  const auto level = readAudioLevel(*ConstRtpPacketView::parse(p), 1);
  ASSERT_TRUE(level);
  EXPECT_EQ(level->level, 30);
  EXPECT_TRUE(level->voice);
  EXPECT_FALSE(readAudioLevel(*ConstRtpPacketView::parse(p), 200));  // no data
}

TEST(AudioLevel, PeekBeforeDecrypt) {
  Bytes p = audioPacket(0x05);
  p[0] |= 0x20;
  append(p, Bytes(16, 0xEE));  // stands for ciphertext + GCM tag
  const auto level = peekAudioLevel(p, 1);
  ASSERT_TRUE(level);
  EXPECT_EQ(level->level, 5);
  EXPECT_FALSE(level->voice);
  EXPECT_FALSE(peekAudioLevel(std::span(p).first(15), 1));
  EXPECT_FALSE(peekAudioLevel(fixedHeader(), 1));
}

}  // namespace

namespace {

using jvb::rtp::extensionElementsValid;
using jvb::rtp::RtpDefect;
using jvb::rtp::rtpDefectOf;

// Header-extension elements that run past their block (README "Misbehaving
// peers"): the router drops such packets; ID 15 and padding are fine.
TEST(ExtensionElementsValid, OneAndTwoByteBodies) {
  const auto oneByte = ExtensionProfile::kOneByte;
  const auto twoByte = ExtensionProfile::kTwoByte;
  EXPECT_TRUE(extensionElementsValid(Bytes{0x10, 0x7F, 0x00, 0x00}, oneByte));
  EXPECT_TRUE(extensionElementsValid(Bytes{}, oneByte));
  EXPECT_TRUE(extensionElementsValid(Bytes{0x00, 0x00, 0x00, 0x00}, oneByte));  // padding
  EXPECT_TRUE(extensionElementsValid(Bytes{0x13, 1, 2, 3, 4, 0x00, 0x00, 0x00}, oneByte));
  EXPECT_FALSE(extensionElementsValid(Bytes{0x1F, 0x7F, 0x00, 0x00}, oneByte));  // 16 bytes
  EXPECT_FALSE(extensionElementsValid(Bytes{0x10, 0x7F, 0x21, 0x00}, oneByte));  // 2nd: 2 of 1
  // ID 15 ends the block: what follows is not parsed.
  EXPECT_TRUE(extensionElementsValid(Bytes{0x10, 0x7F, 0xF0, 0xFF}, oneByte));
  EXPECT_TRUE(extensionElementsValid(Bytes{0x01, 0x02, 0xAA, 0xBB}, twoByte));
  EXPECT_TRUE(extensionElementsValid(Bytes{0x01, 0x00, 0x00, 0x00}, twoByte));  // empty data
  EXPECT_FALSE(extensionElementsValid(Bytes{0x01, 0xC8, 0x00, 0x00}, twoByte));
  EXPECT_FALSE(extensionElementsValid(Bytes{0x00, 0x00, 0x00, 0x05}, twoByte));  // no length
  EXPECT_TRUE(extensionElementsValid(Bytes{0xFF, 0xFF}, ExtensionProfile::kGeneric));
  EXPECT_TRUE(extensionElementsValid(Bytes{}, ExtensionProfile::kNone));
}

TEST(RtpDefectOf, NamesWhatTheParseRefused) {
  Bytes ok{0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xAA};
  EXPECT_EQ(rtpDefectOf(ok, true), RtpDefect::kNone);
  EXPECT_EQ(rtpDefectOf(Bytes{0x80, 111, 0}, true), RtpDefect::kSize);
  Bytes version = ok;
  version[0] = 0x40;
  EXPECT_EQ(rtpDefectOf(version, true), RtpDefect::kVersion);
  Bytes csrc = ok;
  csrc[0] = 0x8F;
  EXPECT_EQ(rtpDefectOf(csrc, true), RtpDefect::kCsrcCount);
  Bytes ext{0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0x00, 0x05, 0x10, 0x7F};
  EXPECT_EQ(rtpDefectOf(ext, true), RtpDefect::kExtensionLength);
  EXPECT_FALSE(ConstRtpPacketView::parseHeader(ext));
  Bytes padding = ok;
  padding[0] = 0xA0;
  padding.back() = 200;
  EXPECT_EQ(rtpDefectOf(padding, true), RtpDefect::kPadding);
  EXPECT_EQ(rtpDefectOf(padding, false), RtpDefect::kNone);  // the header alone parses
}

}  // namespace
