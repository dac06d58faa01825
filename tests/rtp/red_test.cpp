// RFC 2198 RED parsing and stripping (rtp/red.hpp).
#include "rtp/red.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "rtp/audio_level.hpp"
#include "rtp/audio_rewrite.hpp"

namespace jvb::rtp {
namespace {

// A RED payload as Chromium sends it: one redundant block (PT 111, ts offset
// 960, "old") and the primary (PT 111, "new!").
std::vector<uint8_t> redPayload() {
  return {0x80 | 111, 960 >> 6, static_cast<uint8_t>(((960 & 0x3F) << 2) | 0),
          3,          111,      'o',
          'l',        'd',      'n',
          'e',        'w',      '!'};
}

// RTP (PT 63 = RED) with a one-byte extension block (level id 1 = 40, V set)
// around `payload`, optionally with 2 bytes of padding.
std::vector<uint8_t> redPacket(const std::vector<uint8_t>& payload, bool padding = false) {
  std::vector<uint8_t> p = {static_cast<uint8_t>(padding ? 0xB0 : 0x90),
                            63,
                            0x12,
                            0x34,
                            0,
                            0,
                            0x10,
                            0,
                            0,
                            0,
                            0x04,
                            0x57,
                            0xBE,
                            0xDE,
                            0,
                            1,
                            0x10,
                            0x80 | 40,
                            0,
                            0};
  // Appended byte by byte: GCC 12's -Warray-bounds misreads vector::insert here.
  p.reserve(p.size() + payload.size() + 2);
  for (const uint8_t b : payload) {
    p.push_back(b);
  }
  if (padding) {
    p.push_back(0);
    p.push_back(2);
  }
  return p;
}

TEST(Red, ParsesRedundantAndPrimaryBlocks) {
  const auto payload = redPayload();
  const auto r = parseRed(payload);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->payloadType, 111);
  EXPECT_EQ(r->redundantBlocks, 1);
  EXPECT_EQ(r->offset, 4 + 1 + 3);
  EXPECT_EQ(r->size, 4);
}

TEST(Red, PrimaryOnlyAndEmptyPrimary) {
  const std::vector<uint8_t> only = {111, 'x', 'y'};
  auto r = parseRed(only);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->redundantBlocks, 0);
  EXPECT_EQ(r->offset, 1);
  EXPECT_EQ(r->size, 2);
  // A primary header and no data: valid (JVB forwards it as an empty payload).
  const std::vector<uint8_t> empty = {111};
  r = parseRed(empty);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size, 0);
  // Two redundant blocks (lengths 1 and 2, 10-bit length high bits used).
  std::vector<uint8_t> two = {0x80 | 111, 0, 0, 1, 0x80 | 111, 0, 0, 2, 111, 'a', 'b', 'c', 'P'};
  r = parseRed(two);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->redundantBlocks, 2);
  EXPECT_EQ(r->offset, 9 + 3);
  EXPECT_EQ(r->size, 1);
  two[6] = 0x01;  // block length 0x102: past the payload
  EXPECT_FALSE(parseRed(two));
}

TEST(Red, MalformedChainsAreRejected) {
  EXPECT_FALSE(parseRed({}));  // no primary header
  const std::vector<uint8_t> noPrimary = {0x80 | 111, 0, 0, 0};
  EXPECT_FALSE(parseRed(noPrimary));
  const std::vector<uint8_t> cutHeader = {0x80 | 111, 0, 0};
  EXPECT_FALSE(parseRed(cutHeader));
  const std::vector<uint8_t> pastEnd = {0x80 | 111, 0, 0, 5, 111, 'a', 'b'};
  EXPECT_FALSE(parseRed(pastEnd));
  const std::vector<uint8_t> exact = {0x80 | 111, 0, 0, 2, 111, 'a', 'b'};
  const auto r = parseRed(exact);  // the redundant block fills it: empty primary
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size, 0);
  EXPECT_EQ(r->offset, 7);
}

TEST(Red, StripKeepsHeaderExtensionsAndPadding) {
  for (const bool padding : {false, true}) {
    auto p = redPacket(redPayload(), padding);
    const auto v = ConstRtpPacketView::parse(p);
    ASSERT_TRUE(v);
    const auto r = parseRed(v->payload());
    ASSERT_TRUE(r);
    const size_t n = stripRedInPlace(p, p.size(), *r, 111);
    ASSERT_EQ(n, 20u + 4 + (padding ? 2 : 0));
    const auto w = ConstRtpPacketView::parse(std::span<const uint8_t>(p.data(), n));
    ASSERT_TRUE(w);
    EXPECT_EQ(w->payloadType(), 111);
    EXPECT_EQ(w->sequenceNumber(), 0x1234);
    EXPECT_EQ(w->timestamp(), 0x1000u);
    EXPECT_EQ(w->ssrc(), 0x457u);
    EXPECT_EQ(std::string(w->payload().begin(), w->payload().end()), "new!");
    EXPECT_EQ(w->paddingSize(), padding ? 2u : 0u);
    const auto level = readAudioLevel(*w, 1);
    ASSERT_TRUE(level);
    EXPECT_EQ(level->level, 40);
    EXPECT_TRUE(level->voice);
  }
}

TEST(Red, StripRefusesAPrimaryFromAnotherPacket) {
  auto p = redPacket(redPayload());
  RedPrimary other;
  other.offset = 1;
  other.size = 2;
  const auto before = p;
  EXPECT_EQ(stripRedInPlace(p, p.size(), other, 111), 0u);
  EXPECT_EQ(p, before);
  std::vector<uint8_t> junk = {1, 2, 3};
  EXPECT_EQ(stripRedInPlace(junk, junk.size(), other, 111), 0u);
  EXPECT_EQ(stripRedInPlace(junk, 99, other, 111), 0u);
}

TEST(Red, StripAfterTheSsrcRewrite) {
  // The SSRC-rewriting receiver's copy: written by writeRewrittenAudio (level
  // under the receiver's ID 5), then stripped; the primary offsets still hold.
  const auto in = redPacket(redPayload(), true);
  const auto v = ConstRtpPacketView::parse(in);
  ASSERT_TRUE(v);
  const auto r = parseRed(v->payload());
  ASSERT_TRUE(r);
  std::array<uint8_t, 256> out{};
  const AudioRewrite rw{0xABCD, 9, 4242, 1, 5, 0, {}};
  size_t n = writeRewrittenAudio(out, *v, rw);
  ASSERT_GT(n, 0u);
  n = stripRedInPlace(out, n, *r, 96);
  ASSERT_GT(n, 0u);
  const auto w = ConstRtpPacketView::parse(std::span<const uint8_t>(out.data(), n));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->payloadType(), 96);
  EXPECT_EQ(w->ssrc(), 0xABCDu);
  EXPECT_EQ(w->sequenceNumber(), 9);
  EXPECT_EQ(w->timestamp(), 4242u);
  EXPECT_EQ(std::string(w->payload().begin(), w->payload().end()), "new!");
  EXPECT_EQ(w->paddingSize(), 2u);
  const auto level = readAudioLevel(*w, 5);
  ASSERT_TRUE(level);
  EXPECT_EQ(level->level, 40);
}

}  // namespace
}  // namespace jvb::rtp
