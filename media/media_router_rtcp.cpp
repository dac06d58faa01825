// The media router's RTCP: SRTCP from endpoints is terminated here; senders'
// SR info is passed on to the receivers, and the bridge sends its own
// receiver reports (RFC 3550 section 6.4) about what it receives.
#include <array>
#include <cstring>
#include <string_view>

#include "media/media_counters.hpp"
#include "media/media_router.hpp"
#include "media/media_router_state.hpp"
#include "rtp/rtcp_builder.hpp"
#include "rtp/rtcp_views.hpp"

namespace jvb::media {

using media_detail::bump;

void MediaRouter::onRtcp(Media& ep, std::span<uint8_t> datagram, Clock::time_point now) {
  if (!ep.rtpIn) {
    bump(counters_.rtpDropped);
    return;
  }
  const auto res = ep.rtpIn->unprotectRtcp(datagram);  // in place
  if (!res.ok()) {
    bump(counters_.srtpFailed);
    return;
  }
  ep.lastIncoming = now;
  // Terminated here: the bridge answers with its own receiver reports, and
  // passes each signalled stream's sender info on to the receivers (for
  // their lip-sync and statistics), without the sender's report blocks,
  // which describe what the sender receives from the bridge.
  bump(counters_.rtcpTerminated);
  releaseDtlsIfDone(ep);
  const auto compound =
      rtp::RtcpCompoundView::parse(std::span<const uint8_t>(datagram.data(), res.length));
  if (!compound) {
    // Authenticated, and no valid compound (RFC 3550 section 6.1: the
    // lengths must add up to the packet): nothing of it is used.
    misbehaved(ep, Misbehaviour::kMalformedRtcp, counters_.rtcpMalformed,
               "malformed RTCP compound after SRTCP (bytes)", res.length);
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
  for (const auto& packet : *compound) {
    if (packet.type() != rtp::rtcp_type::kSr) {
      continue;
    }
    const auto sr = rtp::SenderReportView::from(packet);
    Media::Source* source = sr ? ep.findSource(sr->senderSsrc()) : nullptr;
    if (source == nullptr) {
      continue;
    }
    const auto info = sr->senderInfo();
    source->reception.onSenderReport(info.ntpTimestamp, now);
    forwardSenderReport(ep, sr->senderSsrc(), info,
                        cname.empty() ? std::string_view(ep.spec.id) : cname);
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
  const Media::Source* source = from.findSource(ssrc);
  for (Media* member : from.conf->members) {
    Media& rx = *member;
    if (&rx == &from || !rx.spec.acceptsAudio) {
      continue;
    }
    if (rx.rewrite) {
      // Only for a source that holds one of its slots, on the slot's SSRC
      // and timestamp base, with the counts of what went out on that SSRC
      // (SsrcCache.kt rewriteRtcp, RtcpSrUpdater.kt); else dropped.
      const auto sr = source == nullptr
                          ? std::nullopt
                          : rx.rewrite->rewriteSenderReport(source->index, info.rtpTimestamp);
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
  for (auto& source : ep.sources) {
    if (n < blocks.size() && source.reception.hasPackets()) {
      blocks[n++] = source.reception.makeReportBlock(source.ssrc, now);
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

}  // namespace jvb::media
