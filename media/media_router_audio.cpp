// The media router's audio decisions (JVB's rules, jvb-interfaces.md section
// 6): what a received audio packet is worth before decryption, the
// conference's speech activity and its dominant-speaker reports, receivers'
// audio subscriptions, and the routing figures for stats.
#include <algorithm>

#include "common/log.hpp"
#include "media/media_router.hpp"
#include "media/media_router_state.hpp"
#include "rtp/audio_level.hpp"
#include "rtp/rtp_packet.hpp"

namespace jvb::media {

namespace {

int64_t millisSince(MediaRouter::Clock::time_point then, MediaRouter::Clock::time_point now) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - then).count();
}

// RFC 6464 level 127 is silence; JVB forwards at most this many in a row
// (jmt.audio.level.forwarded-silence-packets-limit).
constexpr uint8_t kSilenceLevel = 127;
constexpr uint32_t kForwardedSilenceLimit = 3;
// A stream that is dropped before decryption for long (a quiet participant
// under route-loudest-only) still gets one packet decrypted per this many
// sequence numbers, so libsrtp's rollover-counter estimate (RFC 3711 section
// 3.3.1, within 2^15 of the last authenticated one) stays right.
constexpr uint16_t kRocRefreshDistance = 8192;
// The largest SRTP packet whose plain copy fits a forwarded slab (the
// trailer, at most srtp::kMaxTrailer, comes off on decryption).
constexpr size_t kMaxRtp = 1500;

}  // namespace

using media_detail::bump;

void MediaRouter::setAudioSubscription(EndpointHandle endpoint, SubscriptionSpec subscription,
                                       std::vector<uint32_t> included) {
  auto it = endpoints_.find(endpoint);
  if (it == endpoints_.end()) {
    return;
  }
  it->second->subscription = std::move(subscription);
  it->second->included = std::move(included);
  recomputeIncludes(*it->second->conf);
}

void MediaRouter::recomputeIncludes(ConferenceMedia& conf) {
  std::fill(conf.includeCount.begin(), conf.includeCount.end(), 0);
  for (const Media* m : conf.members) {
    for (const uint32_t index : m->included) {
      if (index >= conf.includeCount.size()) {
        conf.includeCount.resize(index + 1, 0);
      }
      ++conf.includeCount[index];
    }
  }
}

MediaRouter::Route MediaRouter::routeOf(Media& ep, std::span<const uint8_t> datagram,
                                        Clock::time_point now, SenderSource*& source) {
  const auto header = rtp::ConstRtpPacketView::parseHeader(datagram);
  if (!header) {
    // The header is cleartext: refused before paying for decryption.
    bump(counters_.rtpDropped);
    const auto defect = rtp::rtpDefectOf(datagram, false);
    if (defect == rtp::RtpDefect::kExtensionLength) {
      misbehaved(ep, Misbehaviour::kBadExtension, counters_.rtpBadExtension,
                 "RTP header-extension block longer than the packet (bytes)", datagram.size());
    } else {
      misbehaved(ep, Misbehaviour::kMalformedRtp, counters_.rtpMalformed,
                 defect == rtp::RtpDefect::kVersion     ? "malformed RTP: version (first byte)"
                 : defect == rtp::RtpDefect::kCsrcCount ? "malformed RTP: CSRC list past the end "
                                                          "(first byte)"
                                                        : "malformed RTP: size (first byte)",
                 datagram[0]);
    }
    return Route::kDrop;
  }
  if (datagram.size() > kMaxRtp) {
    // No forwarded copy can carry it (FanOut::kSlab): refused before
    // decryption rather than failing for every receiver.
    bump(counters_.rtpDropped);
    misbehaved(ep, Misbehaviour::kMalformedRtp, counters_.rtpMalformed, "oversized RTP (bytes)",
               datagram.size());
    return Route::kDrop;
  }
  if (header->hasExtension() &&
      !rtp::extensionElementsValid(header->extensionData(), header->extensionProfile())) {
    // An RFC 8285 element that runs past its block: no receiver's copy
    // could be remapped, nor its audio level trusted.
    bump(counters_.rtpDropped);
    misbehaved(ep, Misbehaviour::kBadExtension, counters_.rtpBadExtension,
               "RTP header-extension element longer than its block (profile)",
               header->extensionProfileId());
    return Route::kDrop;
  }
  if (!ep.spec.payloadTypes.contains(header->payloadType())) {
    bump(counters_.videoDropped);  // video (or an unknown codec): never forwarded
    return Route::kDrop;
  }
  source = ep.findSource(header->ssrc());
  if (source == nullptr) {
    bump(counters_.rtpDropped);  // an SSRC not signalled in Colibri2 for this endpoint
    // Another member's signalled SSRC (spoofing): the router keys sources
    // by sender, so it is never forwarded as that member; named apart.
    // Off the forwarding path: a scan of the conference's sources.
    const uint32_t ssrc = header->ssrc();
    for (const auto& s : ep.conf->sources) {
      if (s.owner != nullptr && s.owner != &ep && s.ssrc == ssrc) {
        misbehaved(ep, Misbehaviour::kSsrcSpoofed, counters_.rtpSsrcSpoofed,
                   "RTP with another endpoint's SSRC", ssrc);
        break;
      }
    }
    return Route::kDrop;
  }
  uint32_t clockRate = ep.spec.payloadTypes.clockRate[header->payloadType()];
  if (clockRate == 0) {
    clockRate = 48000;
  }
  // Received, whatever happens next: the sender's loss figures in our
  // receiver reports must not count what the bridge chose not to forward.
  source->reception.onPacket(header->sequenceNumber(), header->timestamp(), clockRate, now);
  ConferenceMedia& conf = *ep.conf;
  const bool synthetic = source->synthetic;
  Route drop = Route::kDrop;
  if (!source->decrypted || static_cast<uint16_t>(header->sequenceNumber() -
                                                  source->lastDecrypted) >= kRocRefreshDistance) {
    drop = Route::kDecryptOnly;
  }
  if (ep.spec.forceMuteAudio) {
    ++ep.stats.droppedMuted;
    bump(counters_.audioMutedDropped);
    return drop;
  }
  if (const auto level = ep.spec.levelId != 0 ? rtp::readAudioLevel(*header, ep.spec.levelId)
                                              : std::optional<rtp::AudioLevel>{}) {
    if (level->level == kSilenceLevel) {
      if (++ep.silentRun > kForwardedSilenceLimit) {
        // Discarded before speech activity sees it, as JVB does: the
        // speaker's levels go stale and count as silence there.
        ++ep.stats.droppedSilence;
        bump(counters_.audioSilenceDropped);
        return drop;
      }
    } else {
      ep.silentRun = 0;
    }
    if (!synthetic) {
      conf.speech.levelChanged(ep.speaker, level->level, now);
    }
  }
  if (speechConfig_.routeLoudestOnly && !synthetic && !conf.speech.shouldRoute(ep.speaker) &&
      (source->index >= conf.includeCount.size() || conf.includeCount[source->index] == 0)) {
    ++ep.stats.droppedNotLoudest;
    bump(counters_.audioNotLoudestDropped);
    return drop;
  }
  ++ep.stats.packetsRouted;
  return Route::kForward;
}

void MediaRouter::decideSpeakers(ConferenceMedia& conf, Clock::time_point now) {
  conf.nextDecision = now + SpeechActivity::kDecisionInterval;
  if (conf.speech.decide(now)) {
    reportDominant(conf);
  }
}

void MediaRouter::reportDominant(ConferenceMedia& conf) {
  const std::string& meetingId = conf.meetingId;
  bump(counters_.dominantSpeakerChanges);
  const auto dominant = conf.speech.dominant();
  std::string dominantId;
  if (dominant) {
    dominantId = std::string(conf.speech.endpointId(*dominant));
    for (Media* m : conf.members) {
      if (m->speaker == *dominant) {
        ++m->stats.speakerChanges;
      }
    }
  }
  LOG_DEBUG("media", "{}: dominant speaker {}", meetingId,
            dominantId.empty() ? "(none)" : dominantId);
  if (!events_.dominantSpeakerChanged) {
    return;
  }
  std::vector<std::string> previous;
  for (const auto h : conf.speech.recentSpeakers()) {
    if (!dominant || h != *dominant) {
      previous.emplace_back(conf.speech.endpointId(h));
    }
  }
  events_.dominantSpeakerChanged(meetingId, dominantId, previous, !dominant.has_value());
}

void MediaRouter::publishAudioStats() {
  if (!events_.audioStats) {
    return;
  }
  const auto now = Clock::now();
  std::vector<ConferenceAudioStats> all;
  all.reserve(conferences_.size());
  for (auto& [handle, conf] : conferences_) {
    ConferenceAudioStats c;
    c.meetingId = conf.meetingId;
    c.speakerChanges = conf.speech.dominantSpeakerChanges();
    const auto dominant = conf.speech.dominant();
    if (dominant) {
      c.dominantSpeaker = std::string(conf.speech.endpointId(*dominant));
    }
    c.endpoints.reserve(conf.members.size());
    for (const Media* m : conf.members) {
      c.endpoints.push_back(m->stats);
      auto& e = c.endpoints.back();
      e.dominant = dominant && *dominant == m->speaker;
      for (const auto& source : m->sources) {
        e.rtpReceived += source.reception.received();
        e.rtpExpected += source.reception.expected();
      }
      e.sinceCreatedMs = millisSince(m->created, now);
      e.sinceIncomingMs = m->lastIncoming ? millisSince(*m->lastIncoming, now) : -1;
      // Not while an ICE restart is in flight: that is the endpoint recovering.
      e.iceFailed = m->ice && !m->pendingIce &&
                    (m->ice->state() == ice::IceState::kFailed ||
                     m->ice->state() == ice::IceState::kDisconnected);
      if (m->rewrite) {
        const auto& k = m->rewrite->counters();
        e.ssrcRewriting = true;
        e.slotsUsed = m->rewrite->slotsInUse();
        e.slotsCreated = k.slotsCreated;
        e.remappings = k.remappings;
        e.delayedPackets = k.delayedPackets;
        e.noSlotDropped = k.noSlotDropped;
      }
    }
    all.push_back(std::move(c));
  }
  events_.audioStats(std::move(all));
}

}  // namespace jvb::media
