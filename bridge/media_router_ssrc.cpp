// The media router's SSRC rewriting (audio_ssrc_cache.hpp): conference-wide
// source indices for the slot caches of rewriting receivers, and the slot
// changes reported to the control thread (which announces them in
// AudioSourcesMap on the receiver's bridge channel).
#include "bridge/media_router.hpp"
#include "bridge/media_router_state.hpp"
#include "common/log.hpp"

namespace jvb::bridge {

void MediaRouter::syncSources(ConferenceMedia& conf, Media& ep, bool gone) {
  // Sources it no longer signals (or renamed): their index goes.
  for (auto it = ep.sourceIndex.begin(); it != ep.sourceIndex.end();) {
    const auto now = gone ? ep.cfg.audioSources.end() : ep.cfg.audioSources.find(it->first);
    if (now == ep.cfg.audioSources.end() || now->second.name != conf.sources[it->second].name) {
      releaseSource(conf, it->second);
      it = ep.sourceIndex.erase(it);
    } else {
      ++it;
    }
  }
  if (gone) {
    return;
  }
  for (const auto& [ssrc, source] : ep.cfg.audioSources) {
    if (ep.sourceIndex.count(ssrc) != 0) {
      continue;
    }
    uint32_t index = 0;
    if (!conf.freeSources.empty()) {
      index = conf.freeSources.back();
      conf.freeSources.pop_back();
    } else {
      index = static_cast<uint32_t>(conf.sources.size());
      conf.sources.emplace_back();
    }
    conf.sources[index] = ConferenceMedia::Source{&ep, ssrc, source.name};
    ep.sourceIndex.emplace(ssrc, index);
  }
  // Every rewriting receiver can key any of them, from now on without
  // allocating.
  for (const auto& [handle, m] : conf.bySpeaker) {
    if (m->rewrite) {
      m->rewrite->reserveSources(conf.sources.size());
    }
  }
}

void MediaRouter::releaseSource(ConferenceMedia& conf, uint32_t index) {
  // As JVB's removeByOwner: the receivers' slots for it are freed (here
  // they keep their SSRC for the next owner) and nothing is announced.
  for (const auto& [handle, m] : conf.bySpeaker) {
    if (!m->rewrite) {
      continue;
    }
    const int slot = m->rewrite->releaseSource(index);
    if (slot >= 0) {
      const auto& s = m->rewrite->slots()[static_cast<size_t>(slot)];
      pendingMappings_.push_back(AudioSlotMapping{m->cfg.id, static_cast<uint32_t>(slot), s.ssrc,
                                                  s.mid, std::string(), std::string(), true});
    }
  }
  conf.sources[index] = ConferenceMedia::Source{};
  conf.freeSources.push_back(index);
}

void MediaRouter::queueMapping(Media& rx, int slot, const ConferenceMedia& conf) {
  const auto& s = rx.rewrite->slots()[static_cast<size_t>(slot)];
  const auto& source = conf.sources[s.source];
  pendingMappings_.push_back(
      AudioSlotMapping{rx.cfg.id, static_cast<uint32_t>(slot), s.ssrc, s.mid, source.name,
                       source.owner != nullptr ? source.owner->cfg.id : "", false});
  LOG_DEBUG("media", "{}: slot {} (ssrc {}{}{}) now carries {} of {}", rx.tag, slot, s.ssrc,
            s.mid.empty() ? "" : ", mid ", s.mid, source.name,
            source.owner != nullptr ? source.owner->cfg.id : "?");
}

void MediaRouter::flushMappings(const std::string& meetingId) {
  if (pendingMappings_.empty()) {
    return;
  }
  if (events_.audioSlotsChanged) {
    events_.audioSlotsChanged(meetingId, std::move(pendingMappings_));
  }
  pendingMappings_.clear();
}

}  // namespace jvb::bridge
