// The media router's RTCP: SRTCP from endpoints is terminated here; senders'
// SR info is passed on to the receivers, and the bridge sends its own
// receiver reports (RFC 3550 section 6.4) about what it receives.
#include <array>
#include <cstring>
#include <string_view>

#include "bridge/media_loop.hpp"
#include "bridge/media_router.hpp"
#include "bridge/media_router_state.hpp"
#include "rtp/rtcp_builder.hpp"
#include "rtp/rtcp_views.hpp"

namespace jvb::bridge {

using media_detail::bump;

void MediaRouter::onRtcp(Media& ep, std::span<const uint8_t> datagram) {
  if (!ep.rtpIn || datagram.size() > rxBuf_.size()) {
    bump(counters_.rtpDropped);
    return;
  }
  std::memcpy(rxBuf_.data(), datagram.data(), datagram.size());
  const auto res = ep.rtpIn->unprotectRtcp(std::span<uint8_t>(rxBuf_.data(), datagram.size()));
  if (!res.ok()) {
    bump(counters_.srtpFailed);
    return;
  }
  // Terminated here: the bridge answers with its own receiver reports, and
  // passes each signalled stream's sender info on to the receivers (for
  // their lip-sync and statistics), without the sender's report blocks,
  // which describe what the sender receives from the bridge.
  bump(counters_.rtcpTerminated);
  releaseDtlsIfDone(ep);
  const auto compound =
      rtp::RtcpCompoundView::parse(std::span<const uint8_t>(rxBuf_.data(), res.length));
  if (!compound) {
    return;
  }
  std::string_view cname;
  for (const auto& packet : *compound) {
    if (packet.type() != rtp::rtcp_type::kSdes) {
      continue;
    }
    if (const auto sdes = rtp::SdesView::from(packet)) {
      for (const auto& chunk : *sdes) {
        if (const auto item = chunk.find(rtp::sdes_item::kCname)) {
          cname = item->text();
        }
      }
    }
  }
  const auto now = Clock::now();
  for (const auto& packet : *compound) {
    if (packet.type() != rtp::rtcp_type::kSr) {
      continue;
    }
    const auto sr = rtp::SenderReportView::from(packet);
    if (!sr || ep.cfg.audioSources.count(sr->senderSsrc()) == 0) {
      continue;
    }
    const auto info = sr->senderInfo();
    ep.reception[sr->senderSsrc()].onSenderReport(info.ntpTimestamp, now);
    forwardSenderReport(ep, sr->senderSsrc(), info, cname.empty() ? ep.cfg.id : cname);
  }
}

bool MediaRouter::sendRtcp(Media& to, size_t length) {
  const auto dest = to.destination();
  if (!dest || !to.rtpOut) {
    return false;
  }
  const auto r =
      to.rtpOut->protectRtcp(std::span<uint8_t>(rtcpBuf_.data(), rtcpBuf_.size()), length);
  if (!r.ok()) {
    bump(counters_.srtpFailed);
    return false;
  }
  if (!port_.sendTo(std::span<const uint8_t>(rtcpBuf_.data(), r.length), *dest)) {
    return false;
  }
  bump(counters_.packetsSent);
  bump(counters_.rtcpSent);
  counters_.bytesSent.fetch_add(r.length, std::memory_order_relaxed);
  return true;
}

void MediaRouter::forwardSenderReport(Media& from, uint32_t ssrc, const rtp::SenderInfo& info,
                                      std::string_view cname) {
  std::array<uint8_t, 512> packet{};
  const size_t srLen = rtp::writeSenderReport(packet, ssrc, info, {});
  const size_t sdesLen =
      srLen == 0 ? 0 : rtp::writeSdesCname(std::span<uint8_t>(packet).subspan(srLen), ssrc, cname);
  if (sdesLen == 0) {
    return;
  }
  const size_t length = srLen + sdesLen;
  const auto index = from.sourceIndex.find(ssrc);
  for (auto it = endpoints_.lower_bound(Key{from.meetingId, std::string()});
       it != endpoints_.end() && it->first.first == from.meetingId; ++it) {
    Media& rx = *it->second;
    if (&rx == &from || !rx.cfg.acceptsAudio) {
      continue;
    }
    if (rx.rewrite) {
      // Only for a source that holds one of its slots, on the slot's SSRC
      // and timestamp base, with the counts of what went out on that SSRC
      // (SsrcCache.kt rewriteRtcp, RtcpSrUpdater.kt); else dropped.
      const auto sr = index == from.sourceIndex.end()
                          ? std::nullopt
                          : rx.rewrite->rewriteSenderReport(index->second, info.rtpTimestamp);
      if (!sr) {
        continue;
      }
      const rtp::SenderInfo translated{info.ntpTimestamp, sr->rtpTimestamp, sr->packetCount,
                                       sr->octetCount};
      const size_t n = rtp::writeSenderReport(rtcpBuf_, sr->ssrc, translated, {});
      const size_t d =
          n == 0 ? 0
                 : rtp::writeSdesCname(std::span<uint8_t>(rtcpBuf_).subspan(n), sr->ssrc, cname);
      if (d != 0) {
        sendRtcp(rx, n + d);
      }
      continue;
    }
    std::memcpy(rtcpBuf_.data(), packet.data(), length);
    sendRtcp(rx, length);
  }
}

void MediaRouter::sendReceiverReport(Media& ep, Clock::time_point now) {
  std::array<rtp::ReportBlock, rtp::kMaxReportBlocks> blocks{};
  size_t n = 0;
  for (auto& [ssrc, stats] : ep.reception) {
    if (n < blocks.size() && stats.hasPackets()) {
      blocks[n++] = stats.makeReportBlock(ssrc, now);
    }
  }
  if (n == 0) {
    return;
  }
  const size_t rrLen = rtp::writeReceiverReport(
      rtcpBuf_, bridgeSsrc_, std::span<const rtp::ReportBlock>(blocks.data(), n));
  const size_t sdesLen = rrLen == 0
                             ? 0
                             : rtp::writeSdesCname(std::span<uint8_t>(rtcpBuf_).subspan(rrLen),
                                                   bridgeSsrc_, "jvb-audio");
  if (sdesLen != 0) {
    sendRtcp(ep, rrLen + sdesLen);
  }
}

}  // namespace jvb::bridge
