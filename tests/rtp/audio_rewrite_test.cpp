// The rewritten copy for an SSRC-rewriting receiver (rtp/audio_rewrite.hpp).
#include "rtp/audio_rewrite.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "rtp/audio_level.hpp"
#include "rtp/bytes.hpp"

namespace jvb::rtp {
namespace {

// RTP with one CSRC, a one-byte block (level id 1 = 33 with V set, mid id 10
// = "0", transport-cc id 5), payload "opus" and 3 bytes of padding.
std::vector<uint8_t> senderPacket() {
  std::vector<uint8_t> p = {
      0xB1, 0xEF,  // V=2 P=1 X=1 CC=1; M=1 PT=111
      0x12, 0x34,      0,    0,    0x10, 0,    0,    0,    0x04, 0x57,  // seq, ts, SSRC 1111
      0xCC, 0xCC,      0xCC, 0xCC,                                      // CSRC
      0xBE, 0xDE,      0,    2,                                         // 2 words
      0x10, 0x80 | 33, 0xA0, '0',  0x51, 0x00, 0x07, 0x00, 'o',  'p',  'u', 's', 0, 0, 3};
  return p;
}

TEST(AudioRewrite, SlotValuesLevelUnderTheReceiversIdNoMid) {
  const auto in = senderPacket();
  const auto v = ConstRtpPacketView::parse(in);
  ASSERT_TRUE(v);
  std::array<uint8_t, 256> out{};
  AudioRewrite r{0xDEADBEEF, 7, 123456, 1, 3, 0, {}};
  const size_t n = writeRewrittenAudio(out, *v, r);
  ASSERT_GT(n, 0u);
  const auto w = ConstRtpPacketView::parse(std::span<const uint8_t>(out.data(), n));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->ssrc(), 0xDEADBEEFu);
  EXPECT_EQ(w->sequenceNumber(), 7);
  EXPECT_EQ(w->timestamp(), 123456u);
  EXPECT_TRUE(w->marker());
  EXPECT_EQ(w->payloadType(), 111);
  EXPECT_EQ(w->csrc(0), 0xCCCCCCCCu);
  EXPECT_EQ(w->extensionProfile(), ExtensionProfile::kOneByte);
  const auto level = readAudioLevel(*w, 3);
  ASSERT_TRUE(level);
  EXPECT_EQ(level->level, 33);
  EXPECT_TRUE(level->voice);
  EXPECT_FALSE(w->findExtension(1));   // under the receiver's id only
  EXPECT_FALSE(w->findExtension(10));  // the sender's mid stripped
  EXPECT_FALSE(w->findExtension(5));   // transport-cc stripped, as JVB's HeaderExtStripper
  EXPECT_EQ(std::string(w->payload().begin(), w->payload().end()), "opus");
  EXPECT_EQ(w->paddingSize(), 3u);
  EXPECT_EQ(n, 12u + 4 + 4 + 4 + 4 + 3);  // header, CSRC, ext header + 1 word, payload, padding
}

TEST(AudioRewrite, MidStampedOneByteAndTwoByteForms) {
  const auto in = senderPacket();
  const auto v = ConstRtpPacketView::parse(in);
  std::array<uint8_t, 256> out{};
  const size_t n = writeRewrittenAudio(out, *v, AudioRewrite{1, 2, 3, 1, 1, 10, "a12"});
  const auto w = ConstRtpPacketView::parse(std::span<const uint8_t>(out.data(), n));
  ASSERT_TRUE(w);
  const auto mid = w->findExtension(10);
  ASSERT_TRUE(mid);
  EXPECT_EQ(std::string(mid->begin(), mid->end()), "a12");
  EXPECT_EQ(readAudioLevel(*w, 1)->level, 33);
  // A receiver id above 14 needs the two-byte form.
  const size_t m = writeRewrittenAudio(out, *v, AudioRewrite{1, 2, 3, 1, 20, 30, "a0"});
  const auto t = ConstRtpPacketView::parse(std::span<const uint8_t>(out.data(), m));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->extensionProfile(), ExtensionProfile::kTwoByte);
  EXPECT_EQ(readAudioLevel(*t, 20)->level, 33);
  const auto mid2 = t->findExtension(30);
  ASSERT_TRUE(mid2);
  EXPECT_EQ(std::string(mid2->begin(), mid2->end()), "a0");
}

TEST(AudioRewrite, NothingToCarryMeansNoExtensionBlock) {
  const auto in = senderPacket();
  const auto v = ConstRtpPacketView::parse(in);
  std::array<uint8_t, 256> out{};
  const size_t n = writeRewrittenAudio(out, *v, AudioRewrite{1, 2, 3, 1, 0, 0, {}});
  const auto w = ConstRtpPacketView::parse(std::span<const uint8_t>(out.data(), n));
  ASSERT_TRUE(w);
  EXPECT_FALSE(w->hasExtension());
  EXPECT_EQ(n, 12u + 4 + 4 + 3);
  EXPECT_EQ(std::string(w->payload().begin(), w->payload().end()), "opus");
}

TEST(AudioRewrite, RefusedWhenItCannotBeExpressedOrDoesNotFit) {
  const auto in = senderPacket();
  const auto v = ConstRtpPacketView::parse(in);
  std::array<uint8_t, 256> out{};
  EXPECT_EQ(writeRewrittenAudio(out, *v, AudioRewrite{1, 2, 3, 1, 1, 10, {}}), 0u);
  EXPECT_EQ(writeRewrittenAudio(out, *v, AudioRewrite{1, 2, 3, 1, 1, 10, "a12345678901234567"}),
            0u);
  EXPECT_EQ(writeRewrittenAudio(std::span<uint8_t>(out.data(), 20), *v,
                                AudioRewrite{1, 2, 3, 1, 1, 10, "a0"}),
            0u);
  // Level and mid under one receiver id: the mid wins.
  const size_t n = writeRewrittenAudio(out, *v, AudioRewrite{1, 2, 3, 1, 10, 10, "a0"});
  const auto w = ConstRtpPacketView::parse(std::span<const uint8_t>(out.data(), n));
  ASSERT_TRUE(w);
  const auto mid = w->findExtension(10);
  ASSERT_TRUE(mid);
  EXPECT_EQ(std::string(mid->begin(), mid->end()), "a0");
}

}  // namespace
}  // namespace jvb::rtp
