// The media router's audio decisions (JVB's rules, jvb-interfaces.md section
// 6): what a received audio packet is worth before decryption, the
// conference's speech activity and its dominant-speaker reports, receivers'
// audio subscriptions, and the routing figures for stats.
#include <algorithm>

#include "bridge/media_loop.hpp"
#include "bridge/media_router.hpp"
#include "bridge/media_router_state.hpp"
#include "common/log.hpp"
#include "rtp/audio_level.hpp"
#include "rtp/rtp_packet.hpp"

namespace jvb::bridge {

namespace {

// RFC 6464 level 127 is silence; JVB forwards at most this many in a row
// (jmt.audio.level.forwarded-silence-packets-limit).
constexpr uint8_t kSilenceLevel = 127;
constexpr uint32_t kForwardedSilenceLimit = 3;
// A stream that is dropped before decryption for long (a quiet participant
// under route-loudest-only) still gets one packet decrypted per this many
// sequence numbers, so libsrtp's rollover-counter estimate (RFC 3711 section
// 3.3.1, within 2^15 of the last authenticated one) stays right.
constexpr uint16_t kRocRefreshDistance = 8192;

bool isAudioPayloadType(const Endpoint& e, uint8_t pt) {
  return std::any_of(e.audioPayloadTypes.begin(), e.audioPayloadTypes.end(),
                     [pt](const PayloadType& p) { return p.id == pt; });
}

}  // namespace

using media_detail::bump;

void MediaRouter::setAudioSubscription(const std::string& meetingId, const std::string& endpointId,
                                       const AudioSubscription& subscription) {
  auto it = endpoints_.find(Key{meetingId, endpointId});
  if (it == endpoints_.end()) {
    return;
  }
  it->second->subscription = subscription;
  recomputeIncludes(meetingId);
}

void MediaRouter::recomputeIncludes(const std::string& meetingId) {
  auto c = conferences_.find(meetingId);
  if (c == conferences_.end()) {
    return;
  }
  auto& includes = c->second.explicitIncludes;
  includes.clear();
  for (auto it = endpoints_.lower_bound(Key{meetingId, std::string()});
       it != endpoints_.end() && it->first.first == meetingId; ++it) {
    const auto& included = it->second->subscription.included;
    includes.insert(included.begin(), included.end());
  }
}

MediaRouter::Route MediaRouter::routeOf(Media& ep, std::span<const uint8_t> datagram,
                                        Clock::time_point now) {
  const auto header = rtp::ConstRtpPacketView::parseHeader(datagram);
  if (!header) {
    bump(counters_.rtpDropped);
    return Route::kDrop;
  }
  if (!isAudioPayloadType(ep.cfg, header->payloadType())) {
    bump(counters_.videoDropped);  // video (or an unknown codec): never forwarded
    return Route::kDrop;
  }
  const auto source = ep.cfg.audioSources.find(header->ssrc());
  if (source == ep.cfg.audioSources.end()) {
    bump(counters_.rtpDropped);  // an SSRC not signalled in Colibri2
    return Route::kDrop;
  }
  uint32_t clockRate = 48000;
  for (const auto& pt : ep.cfg.audioPayloadTypes) {
    if (pt.id == header->payloadType() && pt.clockrate != 0) {
      clockRate = pt.clockrate;
    }
  }
  // Received, whatever happens next: the sender's loss figures in our
  // receiver reports must not count what the bridge chose not to forward.
  ep.reception[header->ssrc()].onPacket(header->sequenceNumber(), header->timestamp(), clockRate,
                                        now);
  auto conf = conferences_.find(ep.meetingId);
  const bool synthetic = source->second.synthetic;
  Route drop = Route::kDrop;
  if (auto last = ep.lastDecrypted.find(header->ssrc());
      last == ep.lastDecrypted.end() ||
      static_cast<uint16_t>(header->sequenceNumber() - last->second) >= kRocRefreshDistance) {
    drop = Route::kDecryptOnly;
  }
  if (ep.cfg.forceMuteAudio) {
    ++ep.stats.droppedMuted;
    bump(counters_.audioMutedDropped);
    return drop;
  }
  if (const auto level = ep.levelId != 0 ? rtp::readAudioLevel(*header, ep.levelId)
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
    if (!synthetic && conf != conferences_.end()) {
      conf->second.speech.levelChanged(ep.speaker, level->level, now);
    }
  }
  if (speechConfig_.routeLoudestOnly && !synthetic && conf != conferences_.end() &&
      !conf->second.speech.shouldRoute(ep.speaker) &&
      (conf->second.explicitIncludes.empty() ||
       conf->second.explicitIncludes.count(source->second.name) == 0)) {
    ++ep.stats.droppedNotLoudest;
    bump(counters_.audioNotLoudestDropped);
    return drop;
  }
  ++ep.stats.packetsRouted;
  return Route::kForward;
}

void MediaRouter::decideSpeakers(ConferenceMedia& conf, const std::string& meetingId,
                                 Clock::time_point now) {
  conf.nextDecision = now + SpeechActivity::kDecisionInterval;
  if (conf.speech.decide(now)) {
    reportDominant(conf, meetingId);
  }
}

void MediaRouter::reportDominant(ConferenceMedia& conf, const std::string& meetingId) {
  bump(counters_.dominantSpeakerChanges);
  const auto dominant = conf.speech.dominant();
  std::string dominantId;
  if (dominant) {
    dominantId = std::string(conf.speech.endpointId(*dominant));
    if (auto m = conf.bySpeaker.find(*dominant); m != conf.bySpeaker.end()) {
      ++m->second->stats.speakerChanges;
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
  std::vector<ConferenceAudioStats> all;
  all.reserve(conferences_.size());
  for (auto& [meetingId, conf] : conferences_) {
    ConferenceAudioStats c;
    c.meetingId = meetingId;
    c.speakerChanges = conf.speech.dominantSpeakerChanges();
    const auto dominant = conf.speech.dominant();
    if (dominant) {
      c.dominantSpeaker = std::string(conf.speech.endpointId(*dominant));
    }
    c.endpoints.reserve(conf.bySpeaker.size());
    for (const auto& [handle, m] : conf.bySpeaker) {
      c.endpoints.push_back(m->stats);
      auto& e = c.endpoints.back();
      e.dominant = dominant && *dominant == handle;
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

}  // namespace jvb::bridge
