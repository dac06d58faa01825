#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "rtp/rtcp_builder.hpp"
#include "rtp/rtcp_packet.hpp"
#include "rtp/rtcp_views.hpp"

namespace {

using namespace jvb::rtp;  // NOLINT(google-build-using-namespace): test
using Bytes = std::vector<uint8_t>;

void append(Bytes& v, const Bytes& more) {
  v.insert(v.end(), more.begin(), more.end());
}

// SR from SSRC 0x11223344 with one report block about 0xAABBCCDD (cumulative
// lost -3), as a browser sends it, followed by SDES with a 16-byte CNAME.
Bytes srSdes() {
  Bytes p = {0x81, 200, 0x00, 0x0C, 0x11, 0x22, 0x33, 0x44,
             // NTP 0xE8F0A1B2'C3D4E5F6, RTP ts 0x00010000, 7 packets, 700 octets
             0xE8, 0xF0, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x00, 0x01, 0x00, 0x00, 0, 0, 0, 7, 0,
             0, 0x02, 0xBC,
             // report block
             0xAA, 0xBB, 0xCC, 0xDD, 0x40, 0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x23, 0x45, 0, 0, 0, 0x20,
             0xA1, 0xB2, 0xC3, 0xD4, 0x00, 0x01, 0x80, 0x00};
  append(p, {0x81, 202, 0x00, 0x06, 0x11, 0x22, 0x33, 0x44, 0x01, 16});
  const std::string cname = "abcdefgh12345678";
  p.insert(p.end(), cname.begin(), cname.end());
  append(p, {0x00, 0x00});  // END + padding to 32 bits
  return p;
}

Bytes pli() {
  return {0x81, 206, 0x00, 0x02, 0, 0, 0, 1, 0xAA, 0xBB, 0xCC, 0xDD};
}

Bytes nack() {
  return {0x81, 205,  0x00, 0x04, 0,    0,    0,    1,    0xAA, 0xBB,
          0xCC, 0xDD, 0x01, 0x00, 0x00, 0x05, 0x02, 0x00, 0x80, 0x00};
}

TEST(RtcpCompound, SenderReportPlusSdes) {
  const Bytes p = srSdes();
  const auto compound = RtcpCompoundView::parse(p);
  ASSERT_TRUE(compound);
  EXPECT_EQ(compound->packetCount(), 2u);
  EXPECT_FALSE(compound->reducedSize());
  std::vector<uint8_t> types;
  for (const RtcpPacketView packet : *compound) {
    types.push_back(packet.type());
  }
  EXPECT_EQ(types, (std::vector<uint8_t>{rtcp_type::kSr, rtcp_type::kSdes}));

  auto it = compound->begin();
  const auto sr = SenderReportView::from(*it);
  ASSERT_TRUE(sr);
  EXPECT_EQ(sr->senderSsrc(), 0x11223344u);
  const SenderInfo info = sr->senderInfo();
  EXPECT_EQ(info.ntpTimestamp, 0xE8F0A1B2C3D4E5F6u);
  EXPECT_EQ(info.rtpTimestamp, 0x10000u);
  EXPECT_EQ(info.packetCount, 7u);
  EXPECT_EQ(info.octetCount, 700u);
  ASSERT_EQ(sr->reportCount(), 1u);
  const auto block = sr->reportBlock(0);
  ASSERT_TRUE(block);
  EXPECT_EQ(block->ssrc, 0xAABBCCDDu);
  EXPECT_EQ(block->fractionLost, 0x40);
  EXPECT_EQ(block->cumulativeLost, -3);
  EXPECT_EQ(block->extendedHighestSequence, 0x12345u);
  EXPECT_EQ(block->jitter, 0x20u);
  EXPECT_EQ(block->lastSr, 0xA1B2C3D4u);
  EXPECT_EQ(block->delaySinceLastSr, 0x18000u);
  EXPECT_FALSE(sr->reportBlock(1));
  EXPECT_TRUE(sr->extension().empty());
  EXPECT_FALSE(ReceiverReportView::from(*it));

  ++it;
  const auto sdes = SdesView::from(*it);
  ASSERT_TRUE(sdes);
  ASSERT_EQ(sdes->chunkCount(), 1u);
  const SdesChunk chunk = *sdes->begin();
  EXPECT_EQ(chunk.ssrc(), 0x11223344u);
  const auto cname = chunk.find(sdes_item::kCname);
  ASSERT_TRUE(cname);
  EXPECT_EQ(cname->text(), "abcdefgh12345678");
  EXPECT_FALSE(chunk.find(sdes_item::kName));
  ++it;
  EXPECT_EQ(it, compound->end());
}

TEST(RtcpCompound, ReceiverReports) {
  ReportBlock a;
  a.ssrc = 1;
  a.cumulativeLost = 0x7FFFFF;
  ReportBlock b;
  b.ssrc = 2;
  b.cumulativeLost = -0x800000;
  b.jitter = 99;
  const std::array blocks{a, b};
  std::array<uint8_t, 64> buf{};
  const size_t n = writeReceiverReport(buf, 0xFEEDFACE, blocks);
  ASSERT_EQ(n, 56u);
  const auto compound = RtcpCompoundView::parse(std::span(buf).first(n));
  ASSERT_TRUE(compound);
  const auto rr = ReceiverReportView::from(*compound->begin());
  ASSERT_TRUE(rr);
  EXPECT_EQ(rr->senderSsrc(), 0xFEEDFACEu);
  ASSERT_EQ(rr->reportCount(), 2u);
  EXPECT_EQ(rr->reportBlock(0)->cumulativeLost, 0x7FFFFF);
  EXPECT_EQ(rr->reportBlock(1)->cumulativeLost, -0x800000);
  EXPECT_EQ(rr->reportBlock(1)->jitter, 99u);
  EXPECT_FALSE(rr->reportBlock(2));

  const size_t empty = writeReceiverReport(buf, 7, {});
  ASSERT_EQ(empty, 8u);
  const auto emptyRr = RtcpCompoundView::parse(std::span(buf).first(empty));
  ASSERT_TRUE(emptyRr);
  EXPECT_EQ(ReceiverReportView::from(*emptyRr->begin())->reportCount(), 0u);
}

TEST(RtcpCompound, ReducedSizePliAndNack) {
  const Bytes p = pli();
  const auto compound = RtcpCompoundView::parse(p);
  ASSERT_TRUE(compound);
  EXPECT_TRUE(compound->reducedSize());
  EXPECT_EQ(compound->packetCount(), 1u);
  const auto fb = FeedbackView::from(*compound->begin());
  ASSERT_TRUE(fb);
  EXPECT_TRUE(fb->isPli());
  EXPECT_FALSE(fb->isNack());
  EXPECT_EQ(fb->senderSsrc(), 1u);
  EXPECT_EQ(fb->mediaSsrc(), 0xAABBCCDDu);
  EXPECT_TRUE(fb->fci().empty());
  EXPECT_EQ(fb->nackCount(), 0u);

  Bytes both = nack();
  append(both, pli());
  const auto two = RtcpCompoundView::parse(both);
  ASSERT_TRUE(two);
  EXPECT_EQ(two->packetCount(), 2u);
  const auto n = FeedbackView::from(*two->begin());
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->isNack());
  EXPECT_EQ(n->fmt(), rtpfb_fmt::kNack);
  ASSERT_EQ(n->nackCount(), 2u);
  EXPECT_EQ(n->nackItem(0)->pid, 0x0100);
  EXPECT_EQ(n->nackItem(0)->blp, 0x0005);
  EXPECT_EQ(n->nackItem(1)->pid, 0x0200);
  EXPECT_EQ(n->nackItem(1)->blp, 0x8000);
  EXPECT_FALSE(n->nackItem(2));
}

TEST(RtcpCompound, ByeAndApp) {
  Bytes p = {0x82, 203, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 2, 6, 'l', 'e', 'f', 't', '!', '!', 0};
  append(p, {0x85, 204, 0x00, 0x03, 0, 0, 0, 9, 'J', 'V', 'B', '0', 1, 2, 3, 4});
  const auto compound = RtcpCompoundView::parse(p);
  ASSERT_TRUE(compound);
  auto it = compound->begin();
  const auto bye = ByeView::from(*it);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->ssrcCount(), 2u);
  EXPECT_EQ(bye->ssrc(1), 2u);
  EXPECT_FALSE(bye->ssrc(2));
  EXPECT_EQ(bye->reason(), "left!!");
  const auto app = AppView::from(*++it);
  ASSERT_TRUE(app);
  EXPECT_EQ(app->subtype(), 5);
  EXPECT_EQ(app->ssrc(), 9u);
  EXPECT_EQ(app->name(), "JVB0");
  EXPECT_EQ(app->data().size(), 4u);

  const Bytes bare = {0x81, 203, 0x00, 0x01, 0, 0, 0, 1};
  const auto b = ByeView::from(*RtcpPacketView::parse(bare));
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->reason());
}

TEST(RtcpCompound, PaddingOnLastPacketOnly) {
  Bytes p = pli();
  append(p, {0xA1, 206, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4});  // padded PLI
  const auto ok = RtcpCompoundView::parse(p);
  ASSERT_TRUE(ok);
  const RtcpPacketView last = *++ok->begin();
  EXPECT_TRUE(last.hasPadding());
  EXPECT_EQ(last.size(), 16u);
  EXPECT_EQ(last.body().size(), 8u);
  Bytes swapped(p.begin() + 12, p.end());
  append(swapped, pli());
  EXPECT_FALSE(RtcpCompoundView::parse(swapped));
}

TEST(RtcpCompound, MalformedLengthsRejected) {
  EXPECT_FALSE(RtcpCompoundView::parse(Bytes{}));
  EXPECT_FALSE(RtcpCompoundView::parse(Bytes{0x80, 201, 0x00}));
  Bytes longer = pli();
  longer[3] = 3;  // one word more than present
  EXPECT_FALSE(RtcpCompoundView::parse(longer));
  Bytes trailing = pli();
  append(trailing, {0x80, 201});  // half a header after the last packet
  EXPECT_FALSE(RtcpCompoundView::parse(trailing));
  Bytes version = pli();
  version[0] = 0x41;
  EXPECT_FALSE(RtcpCompoundView::parse(version));
  Bytes notRtcp = pli();
  notRtcp[1] = 111;  // an RTP payload type
  EXPECT_FALSE(RtcpCompoundView::parse(notRtcp));
  Bytes zeroPad = pli();
  zeroPad[0] |= 0x20;
  zeroPad.back() = 0;
  EXPECT_FALSE(RtcpCompoundView::parse(zeroPad));
  zeroPad.back() = 9;  // more than the 8-byte body
  EXPECT_FALSE(RtcpCompoundView::parse(zeroPad));
  // Every prefix of a valid compound is rejected, not misread.
  const Bytes full = srSdes();
  for (size_t n = 0; n < full.size(); ++n) {
    if (n == 52) {
      continue;  // the SR alone is a valid compound
    }
    EXPECT_FALSE(RtcpCompoundView::parse(std::span(full).first(n))) << "prefix " << n;
  }
}

TEST(RtcpViews, CountsThatLieAreRejected) {
  Bytes sr = srSdes();
  sr.resize(52);
  sr[0] = 0x82;                              // RC 2, one block present
  EXPECT_TRUE(RtcpCompoundView::parse(sr));  // length fields are consistent
  EXPECT_FALSE(SenderReportView::from(*RtcpPacketView::parse(sr)));
  const Bytes rr = {0x81, 201, 0x00, 0x01, 0, 0, 0, 1};  // RC 1, no block
  EXPECT_FALSE(ReceiverReportView::from(*RtcpPacketView::parse(rr)));
  const Bytes byeCount = {0x83, 203, 0x00, 0x01, 0, 0, 0, 1};
  EXPECT_FALSE(ByeView::from(*RtcpPacketView::parse(byeCount)));
  const Bytes byeReason = {0x81, 203, 0x00, 0x02, 0, 0, 0, 1, 9, 'a', 'b', 'c'};
  EXPECT_FALSE(ByeView::from(*RtcpPacketView::parse(byeReason)));
  const Bytes fb = {0x81, 205, 0x00, 0x01, 0, 0, 0, 1};  // no media SSRC
  EXPECT_FALSE(FeedbackView::from(*RtcpPacketView::parse(fb)));
  const Bytes app = {0x80, 204, 0x00, 0x01, 0, 0, 0, 1};  // no name
  EXPECT_FALSE(AppView::from(*RtcpPacketView::parse(app)));
  EXPECT_FALSE(FeedbackView::from(*RtcpPacketView::parse(app)));
}

TEST(RtcpViews, SdesBounds) {
  // Two chunks: CNAME + NAME, then an empty chunk (SSRC + 4 null octets).
  const Bytes good = {0x82, 202, 0x00, 0x05, 0, 0, 0, 1, 1, 2, 'a', 'b',
                      2,    1,   'n',  0,    0, 0, 0, 2, 0, 0, 0,   0};
  auto sdes = SdesView::from(*RtcpPacketView::parse(good));
  ASSERT_TRUE(sdes);
  std::vector<uint32_t> ssrcs;
  size_t items = 0;
  for (const SdesChunk chunk : *sdes) {
    ssrcs.push_back(chunk.ssrc());
    for (const SdesItem item : chunk) {
      EXPECT_NE(item.type, sdes_item::kEnd);
      ++items;
    }
  }
  EXPECT_EQ(ssrcs, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(items, 2u);
  EXPECT_EQ((*sdes->begin()).find(sdes_item::kName)->text(), "n");

  // Item length overruns; missing END; more chunks announced than present.
  const Bytes overrun = {0x81, 202, 0x00, 0x02, 0, 0, 0, 1, 1, 9, 'a', 'b'};
  EXPECT_FALSE(SdesView::from(*RtcpPacketView::parse(overrun)));
  const Bytes noEnd = {0x81, 202, 0x00, 0x02, 0, 0, 0, 1, 1, 2, 'a', 'b'};
  EXPECT_FALSE(SdesView::from(*RtcpPacketView::parse(noEnd)));
  Bytes moreChunks = good;
  moreChunks[0] = 0x83;
  EXPECT_FALSE(SdesView::from(*RtcpPacketView::parse(moreChunks)));
}

TEST(RtcpBuilder, SenderReportSdesCompound) {
  std::array<uint8_t, 128> buf{};
  ReportBlock block;
  block.ssrc = 0xAABBCCDD;
  block.fractionLost = 12;
  const SenderInfo info{0x0102030405060708, 48000, 10, 1000};
  const size_t sr = writeSenderReport(buf, 0x11223344, info, std::span(&block, 1));
  ASSERT_EQ(sr, 52u);
  const size_t sdes = writeSdesCname(std::span(buf).subspan(sr), 0x11223344, "bridge-cname");
  ASSERT_EQ(sdes, 24u);  // 4 + 4 + 2 + 12 + END, padded
  const auto compound = RtcpCompoundView::parse(std::span(buf).first(sr + sdes));
  ASSERT_TRUE(compound);
  auto it = compound->begin();
  const auto view = SenderReportView::from(*it);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->senderInfo().ntpTimestamp, info.ntpTimestamp);
  EXPECT_EQ(view->senderInfo().octetCount, 1000u);
  EXPECT_EQ(view->reportBlock(0)->fractionLost, 12);
  const auto cname = (*SdesView::from(*++it)->begin()).find(sdes_item::kCname);
  ASSERT_TRUE(cname);
  EXPECT_EQ(cname->text(), "bridge-cname");
  // A CNAME ending on a 32-bit boundary still gets its END octet.
  EXPECT_EQ(writeSdesCname(buf, 1, "ab"), 16u);
  EXPECT_TRUE(SdesView::from(*RtcpPacketView::parse(std::span(buf).first(16))));
}

TEST(RtcpBuilder, RefusesWhatDoesNotFit) {
  std::array<uint8_t, 51> small{};
  const SenderInfo info{};
  const ReportBlock block{};
  EXPECT_EQ(writeSenderReport(small, 1, info, std::span(&block, 1)), 0u);
  EXPECT_EQ(writeReceiverReport(std::span(small).first(7), 1, {}), 0u);
  const std::vector<ReportBlock> tooMany(32);
  std::vector<uint8_t> big(2048);
  EXPECT_EQ(writeReceiverReport(big, 1, tooMany), 0u);
  EXPECT_EQ(writeSdesCname(big, 1, std::string(256, 'x')), 0u);
  EXPECT_EQ(writeSdesCname(small, 1, std::string(60, 'x')), 0u);
  EXPECT_EQ(writeReceiverReport(big, 1, std::span(tooMany).first(31)), 8u + 31 * 24);
}

}  // namespace
