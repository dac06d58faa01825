// The media router's SSRC rewriting (audio_ssrc_cache.hpp): conference-wide
// source indices for the slot caches of rewriting receivers, and the slot
// changes reported to the control thread (which announces them in
// AudioSourcesMap on the receiver's bridge channel).
#include "common/log.hpp"
#include "media/media_router.hpp"
#include "media/media_router_state.hpp"

namespace jvb::media {

void MediaRouter::syncSources(ConferenceMedia& conf, Media& ep,
                              const std::vector<SourceSpec>& next) {
  // Sources it no longer signals under the same index: the index is freed
  // (the control thread may already have given it to another source, in a
  // later command).
  std::vector<Media::Source> kept;
  kept.reserve(next.size());
  for (auto& s : ep.sources) {
    const auto same = std::find_if(next.begin(), next.end(), [&](const SourceSpec& n) {
      return n.ssrc == s.ssrc && n.index == s.index;
    });
    if (same == next.end()) {
      releaseSource(conf, s.index);
    } else {
      kept.push_back(std::move(s));
    }
  }
  for (const auto& n : next) {
    auto it = std::find_if(kept.begin(), kept.end(),
                           [&](const Media::Source& s) { return s.ssrc == n.ssrc; });
    if (it == kept.end()) {
      Media::Source s;
      s.ssrc = n.ssrc;
      s.index = n.index;
      kept.push_back(std::move(s));
      it = kept.end() - 1;
    }
    it->synthetic = n.synthetic;
    if (n.index >= conf.sources.size()) {
      conf.sources.resize(n.index + 1);
    }
    conf.sources[n.index] = ConferenceMedia::Source{&ep, n.ssrc, n.name};
  }
  ep.sources = std::move(kept);
  if (conf.includeCount.size() < conf.sources.size()) {
    conf.includeCount.resize(conf.sources.size(), 0);
  }
  // Every rewriting receiver can key any of them, from now on without
  // allocating.
  for (Media* m : conf.members) {
    if (m->rewrite) {
      m->rewrite->reserveSources(conf.sources.size());
    }
  }
}

void MediaRouter::releaseSource(ConferenceMedia& conf, uint32_t index) {
  // As JVB's removeByOwner: the receivers' slots for it are freed (here
  // they keep their SSRC for the next owner) and nothing is announced.
  for (Media* m : conf.members) {
    if (!m->rewrite) {
      continue;
    }
    const int slot = m->rewrite->releaseSource(index);
    if (slot >= 0) {
      const auto& s = m->rewrite->slots()[static_cast<size_t>(slot)];
      pendingMappings_.push_back(AudioSlotMapping{m->spec.id, static_cast<uint32_t>(slot), s.ssrc,
                                                  s.mid, std::string(), std::string(), true});
    }
  }
  if (index < conf.sources.size()) {
    conf.sources[index] = ConferenceMedia::Source{};
  }
}

void MediaRouter::queueMapping(Media& rx, int slot, const ConferenceMedia& conf) {
  const auto& s = rx.rewrite->slots()[static_cast<size_t>(slot)];
  const auto& source = conf.sources[s.source];
  pendingMappings_.push_back(
      AudioSlotMapping{rx.spec.id, static_cast<uint32_t>(slot), s.ssrc, s.mid, source.name,
                       source.owner != nullptr ? source.owner->spec.id : "", false});
  LOG_DEBUG("media", "{}: slot {} (ssrc {}{}{}) now carries {} of {}", rx.tag, slot, s.ssrc,
            s.mid.empty() ? "" : ", mid ", s.mid, source.name,
            source.owner != nullptr ? source.owner->spec.id : "?");
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

}  // namespace jvb::media
