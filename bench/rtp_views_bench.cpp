// Per-packet cost of the rtp/ views on the media path: parsing an audio
// packet and reading its RFC 6464 level (before and after decryption), the
// in-place rewrites of the forwarding path, and walking a compound RTCP
// datagram through the typed views.
//
// Packet as shared/docs/limits.md section 2: 12 B header with X=1, an 8 B
// one-byte extension block with the audio level (id 1), 100 B payload.
#include <benchmark/benchmark.h>

#include "bench/audio_packet.hpp"

#include <array>
#include <cstdint>

#include "rtp/audio_level.hpp"
#include "rtp/rtcp_builder.hpp"
#include "rtp/rtcp_packet.hpp"
#include "rtp/rtcp_views.hpp"
#include "rtp/rtp_packet.hpp"

namespace {

constexpr size_t kPlain = jvb::bench::kAudioPacketSize;

using jvb::bench::audioPacket;

void BM_RtpParseAudioLevel(benchmark::State& state) {
  const auto pkt = audioPacket();
  for (auto _ : state) {
    benchmark::DoNotOptimize(pkt.data());
    const auto view = jvb::rtp::ConstRtpPacketView::parse(pkt);
    const auto level = jvb::rtp::readAudioLevel(*view, 1);
    benchmark::DoNotOptimize(level);
    benchmark::DoNotOptimize(view->ssrc());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RtpParseAudioLevel);

// The pre-decrypt read on the SRTP datagram (header-only parse).
void BM_RtpPeekAudioLevel(benchmark::State& state) {
  std::array<uint8_t, kPlain + 16> srtp{};
  const auto pkt = audioPacket();
  std::copy(pkt.begin(), pkt.end(), srtp.begin());
  for (auto _ : state) {
    benchmark::DoNotOptimize(srtp.data());
    benchmark::DoNotOptimize(jvb::rtp::peekAudioLevel(srtp, 1));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RtpPeekAudioLevel);

// Per receiver: SSRC / sequence / timestamp rewrite and the extension ID map.
void BM_RtpRewriteForReceiver(benchmark::State& state) {
  auto pkt = audioPacket();
  jvb::rtp::ExtensionIdMap toReceiver;
  toReceiver.map(1, 3);
  jvb::rtp::ExtensionIdMap back;
  back.map(3, 1);
  uint16_t seq = 0;
  for (auto _ : state) {
    auto view = jvb::rtp::RtpPacketView::parse(pkt);
    view->setSsrc(0xB1D6E000);
    view->setSequenceNumber(++seq);
    view->setTimestamp(seq * 960U);
    benchmark::DoNotOptimize(view->remapExtensionIds((seq & 1) != 0 ? toReceiver : back));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RtpRewriteForReceiver);

// SR with one report block + SDES CNAME (a browser's regular compound), walked
// through the compound view and the typed views.
void BM_RtcpCompoundWalk(benchmark::State& state) {
  std::array<uint8_t, 128> buf{};
  jvb::rtp::ReportBlock block;
  block.ssrc = 0xAABBCCDD;
  size_t n =
      jvb::rtp::writeSenderReport(buf, 0x11223344, jvb::rtp::SenderInfo{}, std::span(&block, 1));
  n += jvb::rtp::writeSdesCname(std::span(buf).subspan(n), 0x11223344, "abcdefgh12345678");
  const auto datagram = std::span(buf).first(n);
  for (auto _ : state) {
    benchmark::DoNotOptimize(datagram.data());
    uint64_t sum = 0;
    const auto compound = jvb::rtp::RtcpCompoundView::parse(datagram);
    for (const jvb::rtp::RtcpPacketView p : *compound) {
      if (const auto sr = jvb::rtp::SenderReportView::from(p)) {
        sum += sr->senderInfo().ntpTimestamp + sr->reportBlock(0)->lastSr;
      } else if (const auto sdes = jvb::rtp::SdesView::from(p)) {
        for (const jvb::rtp::SdesChunk chunk : *sdes) {
          sum += chunk.find(jvb::rtp::sdes_item::kCname)->value.size();
        }
      }
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RtcpCompoundWalk);

}  // namespace
