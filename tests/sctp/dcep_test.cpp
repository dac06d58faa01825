// sctp::dcep: DATA_CHANNEL_OPEN / ACK codec (RFC 8832 section 5).
#include <gtest/gtest.h>

#include <vector>

#include "sctp/dcep.hpp"

namespace {

using namespace jvb::sctp::dcep;

TEST(Dcep, BuildsTheBridgeChannelOpenAsRfc8832Section5_1) {
  Open open;
  open.label = "JVB data channel";
  open.protocol = "http://jitsi.org/protocols/colibri";
  const auto bytes = buildOpen(open);
  ASSERT_TRUE(bytes.has_value());
  ASSERT_EQ(bytes->size(), 12u + 16u + 34u);
  const std::vector<uint8_t> header(bytes->begin(), bytes->begin() + 12);
  EXPECT_EQ(header, (std::vector<uint8_t>{0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 16, 0, 34}));
  EXPECT_EQ(std::string(bytes->begin() + 12, bytes->begin() + 28), "JVB data channel");
  const auto parsed = parseOpen(*bytes);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, open);
}

TEST(Dcep, RoundTripsEveryField) {
  Open open;
  open.channelType = ChannelType::kPartialReliableTimedUnordered;
  open.priority = 512;
  open.reliabilityParameter = 0x01020304;
  open.label = "";
  open.protocol = std::string(1000, 'p');
  const auto bytes = buildOpen(open);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ((*bytes)[1], 0x82);
  EXPECT_EQ((*bytes)[4], 0x01);
  EXPECT_EQ((*bytes)[7], 0x04);
  EXPECT_EQ(parseOpen(*bytes), open);
  EXPECT_FALSE(isOrdered(open.channelType));
  EXPECT_TRUE(isOrdered(ChannelType::kPartialReliableRexmit));
}

TEST(Dcep, RejectsBogusOpens) {
  const auto good = *buildOpen({ChannelType::kReliable, 0, 0, "abc", "de"});
  EXPECT_TRUE(parseOpen(good).has_value());
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(parseOpen({good.data(), n}).has_value()) << "truncated to " << n;
  }
  auto longLabel = good;
  longLabel[9] = 4;  // label 4 + protocol 2 > 5 bytes present
  EXPECT_FALSE(parseOpen(longLabel).has_value());
  auto hugeLength = good;
  hugeLength[8] = 0xff;
  hugeLength[10] = 0xff;
  EXPECT_FALSE(parseOpen(hugeLength).has_value());
  auto badType = good;
  badType[1] = 0x03;
  EXPECT_FALSE(parseOpen(badType).has_value());
  auto notOpen = good;
  notOpen[0] = kAck;
  EXPECT_FALSE(parseOpen(notOpen).has_value());
  auto trailing = good;
  trailing.push_back(0xee);
  EXPECT_TRUE(parseOpen(trailing).has_value()) << "bytes after the protocol are ignored";
}

TEST(Dcep, Ack) {
  const auto ack = buildAck();
  EXPECT_TRUE(isAck(ack));
  EXPECT_FALSE(isAck(std::vector<uint8_t>{}));
  EXPECT_FALSE(isAck(std::vector<uint8_t>{kOpen}));
  EXPECT_FALSE(isAck(std::vector<uint8_t>{kAck, 0}));
  EXPECT_EQ(messageType(ack), kAck);
  EXPECT_FALSE(messageType({}).has_value());
}

TEST(Dcep, RefusesTooLongStrings) {
  Open open;
  open.label = std::string(65536, 'x');
  EXPECT_FALSE(buildOpen(open).has_value());
  open.label = std::string(65535, 'x');
  EXPECT_TRUE(buildOpen(open).has_value());
}

TEST(Dcep, KnownChannelTypes) {
  for (int t = 0; t < 256; ++t) {
    const bool known = t == 0x00 || t == 0x80 || t == 0x01 || t == 0x81 || t == 0x02 || t == 0x82;
    EXPECT_EQ(isKnownChannelType(static_cast<uint8_t>(t)), known) << t;
  }
}

}  // namespace
