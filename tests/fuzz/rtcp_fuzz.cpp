// libFuzzer target: RtcpCompoundView over arbitrary bytes, every packet
// through every typed view (SR, RR, SDES chunks and items, BYE, RTPFB/PSFB,
// APP) with all accessors; plus the RR/SR/SDES builders, whose output must
// parse back. Crashes, sanitizer reports and broken invariants (trap) are
// findings.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "rtp/rtcp_builder.hpp"
#include "rtp/rtcp_packet.hpp"
#include "rtp/rtcp_views.hpp"

namespace {

using namespace jvb::rtp;  // NOLINT(google-build-using-namespace): fuzzer

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

size_t touchBlocks(size_t count, auto&& blockAt) {
  size_t sum = 0;
  for (size_t i = 0; i <= count; ++i) {
    const std::optional<ReportBlock> b = blockAt(i);
    check(b.has_value() == (i < count));
    if (b) {
      sum += b->ssrc + b->fractionLost + static_cast<size_t>(b->cumulativeLost) + b->jitter +
             b->extendedHighestSequence + b->lastSr + b->delaySinceLastSr;
    }
  }
  return sum;
}

size_t touch(const RtcpPacketView& p) {
  size_t sum = p.count() + p.type() + p.hasPadding() + p.body().size();
  check(p.body().size() + 4 <= p.size() && p.size() % 4 == 0);
  if (const auto sr = SenderReportView::from(p)) {
    const SenderInfo info = sr->senderInfo();
    sum += sr->senderSsrc() + info.ntpTimestamp + info.rtpTimestamp + info.packetCount +
           info.octetCount + sr->extension().size();
    sum += touchBlocks(sr->reportCount(), [&](size_t i) { return sr->reportBlock(i); });
  }
  if (const auto rr = ReceiverReportView::from(p)) {
    sum += rr->senderSsrc() + rr->extension().size();
    sum += touchBlocks(rr->reportCount(), [&](size_t i) { return rr->reportBlock(i); });
  }
  if (const auto sdes = SdesView::from(p)) {
    size_t chunks = 0;
    for (const SdesChunk chunk : *sdes) {
      ++chunks;
      sum += chunk.ssrc();
      for (const SdesItem item : chunk) {
        check(item.type != sdes_item::kEnd);
        sum += item.type + item.text().size();
      }
      if (const auto cname = chunk.find(sdes_item::kCname)) {
        sum += cname->value.size();
      }
    }
    check(chunks == sdes->chunkCount());
  }
  if (const auto bye = ByeView::from(p)) {
    for (size_t i = 0; i <= bye->ssrcCount(); ++i) {
      check(bye->ssrc(i).has_value() == (i < bye->ssrcCount()));
    }
    sum += bye->reason().value_or(std::string_view{}).size();
  }
  if (const auto fb = FeedbackView::from(p)) {
    sum += fb->type() + fb->fmt() + fb->senderSsrc() + fb->mediaSsrc() + fb->fci().size() +
           fb->isPli();
    for (size_t i = 0; i <= fb->nackCount(); ++i) {
      const auto item = fb->nackItem(i);
      check(item.has_value() == (i < fb->nackCount()));
      sum += item ? item->pid + item->blp : 0;
    }
  }
  if (const auto app = AppView::from(p)) {
    sum += app->subtype() + app->ssrc() + app->name().size() + app->data().size();
  }
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  volatile size_t sink = 0;
  if (const auto compound = RtcpCompoundView::parse(input)) {
    size_t packets = 0;
    size_t bytes = 0;
    for (const RtcpPacketView p : *compound) {
      ++packets;
      bytes += p.size();
      sink = sink + touch(p);
    }
    check(packets == compound->packetCount() && bytes == size);
    sink = sink + compound->reducedSize();
  } else if (const auto first = RtcpPacketView::parse(input)) {
    sink = sink + touch(*first);
  }

  // Builders fed from the input: what they write must parse back.
  std::array<ReportBlock, 3> blocks{};
  for (size_t i = 0; i < blocks.size() && (i + 1) * 8 <= size; ++i) {
    blocks[i].ssrc = bytes::load32(data + i * 8);
    blocks[i].cumulativeLost = static_cast<int32_t>(bytes::load32(data + i * 8 + 4));
  }
  const size_t nBlocks = size % 4;
  std::array<uint8_t, 256> out{};
  const size_t cap = size % out.size();
  size_t n = size % 2 == 0 ? writeReceiverReport(std::span(out).first(cap), 1,
                                                 std::span(blocks).first(nBlocks % 4))
                           : writeSenderReport(std::span(out).first(cap), 1, SenderInfo{},
                                               std::span(blocks).first(nBlocks % 4));
  const std::string_view cname(reinterpret_cast<const char*>(data), size < 40 ? size : 40);
  n += writeSdesCname(std::span(out).first(cap).subspan(n), 2, cname);
  if (n > 0) {
    const auto built = RtcpCompoundView::parse(std::span(out).first(n));
    check(built.has_value());
    for (const RtcpPacketView p : *built) {
      sink = sink + touch(p);
    }
  }
  return 0;
}
