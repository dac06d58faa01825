#include "rtp/rtcp_builder.hpp"

#include <algorithm>
#include <cstring>

namespace jvb::rtp {

namespace {

void writeHeader(uint8_t* p, uint8_t count, uint8_t type, size_t size) noexcept {
  p[0] = static_cast<uint8_t>(0x80 | count);  // V = 2, P = 0
  p[1] = type;
  bytes::store16(p + 2, static_cast<uint16_t>(size / 4 - 1));
}

void writeReportBlock(uint8_t* p, const ReportBlock& b) noexcept {
  bytes::store32(p, b.ssrc);
  p[4] = b.fractionLost;
  // 24-bit signed: clamp to its range (RFC 3550 section 6.4.1).
  const int32_t lost = std::clamp<int32_t>(b.cumulativeLost, -0x800000, 0x7FFFFF);
  bytes::store24(p + 5, static_cast<uint32_t>(lost) & 0xFFFFFF);
  bytes::store32(p + 8, b.extendedHighestSequence);
  bytes::store32(p + 12, b.jitter);
  bytes::store32(p + 16, b.lastSr);
  bytes::store32(p + 20, b.delaySinceLastSr);
}

void writeBlocks(uint8_t* p, std::span<const ReportBlock> blocks) noexcept {
  for (const ReportBlock& b : blocks) {
    writeReportBlock(p, b);
    p += kReportBlockSize;
  }
}

}  // namespace

size_t writeReceiverReport(std::span<uint8_t> out, uint32_t senderSsrc,
                           std::span<const ReportBlock> blocks) noexcept {
  if (blocks.size() > kMaxReportBlocks) {
    return 0;
  }
  const size_t size = kRtcpHeader + 4 + blocks.size() * kReportBlockSize;
  if (out.size() < size) {
    return 0;
  }
  uint8_t* p = out.data();
  writeHeader(p, static_cast<uint8_t>(blocks.size()), rtcp_type::kRr, size);
  bytes::store32(p + 4, senderSsrc);
  writeBlocks(p + 8, blocks);
  return size;
}

size_t writeSenderReport(std::span<uint8_t> out, uint32_t senderSsrc, const SenderInfo& info,
                         std::span<const ReportBlock> blocks) noexcept {
  if (blocks.size() > kMaxReportBlocks) {
    return 0;
  }
  const size_t size = kRtcpHeader + 4 + kSenderInfoSize + blocks.size() * kReportBlockSize;
  if (out.size() < size) {
    return 0;
  }
  uint8_t* p = out.data();
  writeHeader(p, static_cast<uint8_t>(blocks.size()), rtcp_type::kSr, size);
  bytes::store32(p + 4, senderSsrc);
  bytes::store64(p + 8, info.ntpTimestamp);
  bytes::store32(p + 16, info.rtpTimestamp);
  bytes::store32(p + 20, info.packetCount);
  bytes::store32(p + 24, info.octetCount);
  writeBlocks(p + 28, blocks);
  return size;
}

size_t writeSdesCname(std::span<uint8_t> out, uint32_t ssrc, std::string_view cname) noexcept {
  if (cname.size() > 255) {
    return 0;
  }
  // Header, SSRC, CNAME item (type, length, text), END + null padding to 32 bits.
  const size_t chunk = (4 + 2 + cname.size() + 1 + 3) & ~size_t{3};
  const size_t size = kRtcpHeader + chunk;
  if (out.size() < size) {
    return 0;
  }
  uint8_t* p = out.data();
  writeHeader(p, 1, rtcp_type::kSdes, size);
  bytes::store32(p + 4, ssrc);
  p[8] = sdes_item::kCname;
  p[9] = static_cast<uint8_t>(cname.size());
  if (!cname.empty()) {
    std::memcpy(p + 10, cname.data(), cname.size());
  }
  std::memset(p + 10 + cname.size(), 0, size - 10 - cname.size());
  return size;
}

}  // namespace jvb::rtp
