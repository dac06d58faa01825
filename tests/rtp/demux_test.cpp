#include <gtest/gtest.h>

#include <vector>

#include "rtp/demux.hpp"

namespace {

using jvb::rtp::classify;
using jvb::rtp::PacketKind;

std::vector<uint8_t> withFirstBytes(uint8_t b0, uint8_t b1, size_t size) {
  std::vector<uint8_t> v(size, 0);
  if (size > 0)
    v[0] = b0;
  if (size > 1)
    v[1] = b1;
  return v;
}

TEST(Demux, Rfc7983Ranges) {
  EXPECT_EQ(classify(withFirstBytes(0x00, 0x01, 20)), PacketKind::kStun);  // binding request
  EXPECT_EQ(classify(withFirstBytes(0x01, 0x01, 20)), PacketKind::kStun);  // binding response
  EXPECT_EQ(classify(withFirstBytes(16, 0, 40)), PacketKind::kZrtp);
  EXPECT_EQ(classify(withFirstBytes(22, 0xfe, 13)), PacketKind::kDtls);  // handshake, DTLS 1.2
  EXPECT_EQ(classify(withFirstBytes(23, 0xfe, 40)), PacketKind::kDtls);  // application data
  EXPECT_EQ(classify(withFirstBytes(64, 0, 40)), PacketKind::kTurn);
  EXPECT_EQ(classify(withFirstBytes(0x80, 111, 12)), PacketKind::kRtp);   // Opus PT 111
  EXPECT_EQ(classify(withFirstBytes(0x90, 0xEF, 40)), PacketKind::kRtp);  // marker + PT 111, ext
  EXPECT_EQ(classify(withFirstBytes(0x80, 200, 28)), PacketKind::kRtcp);  // SR
  EXPECT_EQ(classify(withFirstBytes(0x81, 201, 32)), PacketKind::kRtcp);  // RR
  EXPECT_EQ(classify(withFirstBytes(0x8F, 206, 20)), PacketKind::kRtcp);  // PSFB
  EXPECT_EQ(classify(withFirstBytes(0x80, 223, 8)), PacketKind::kRtcp);
  EXPECT_EQ(classify(withFirstBytes(0x80, 224, 12)), PacketKind::kRtp);
}

TEST(Demux, OutOfRangeAndTruncatedAreUnknown) {
  EXPECT_EQ(classify({}), PacketKind::kUnknown);
  EXPECT_EQ(classify(withFirstBytes(4, 0, 100)), PacketKind::kUnknown);
  EXPECT_EQ(classify(withFirstBytes(80, 0, 100)), PacketKind::kUnknown);
  EXPECT_EQ(classify(withFirstBytes(127, 0, 100)), PacketKind::kUnknown);
  EXPECT_EQ(classify(withFirstBytes(192, 0, 100)), PacketKind::kUnknown);
  EXPECT_EQ(classify(withFirstBytes(255, 0, 100)), PacketKind::kUnknown);
  EXPECT_EQ(classify(withFirstBytes(0x00, 0x01, 19)), PacketKind::kUnknown);  // short STUN
  EXPECT_EQ(classify(withFirstBytes(22, 0xfe, 12)), PacketKind::kUnknown);    // short DTLS
  EXPECT_EQ(classify(withFirstBytes(0x80, 111, 11)), PacketKind::kUnknown);   // short RTP
  EXPECT_EQ(classify(withFirstBytes(0x80, 200, 7)), PacketKind::kUnknown);    // short RTCP
  EXPECT_EQ(classify(withFirstBytes(0x80, 0, 1)), PacketKind::kUnknown);
}

TEST(Demux, EveryFirstByteHasAName) {
  for (int b = 0; b < 256; ++b) {
    const auto kind = classify(withFirstBytes(static_cast<uint8_t>(b), 0, 64));
    EXPECT_FALSE(jvb::rtp::kindName(kind).empty());
  }
}

}  // namespace
