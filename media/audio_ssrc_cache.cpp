#include "media/audio_ssrc_cache.hpp"

#include <algorithm>

namespace jvb::media {

namespace {
// Slots reserved up front: slot creation (on a packet) never allocates up to
// this many; a larger ssrc-limit.audio grows the vector when it gets there.
constexpr size_t kReservedSlots = 256;
}  // namespace

AudioSsrcCache::AudioSsrcCache(const SsrcRewriteConfig& config, bool midDemux, uint64_t seed)
    : config_(config), midDemux_(midDemux), rng_(seed | 1) {
  config_.limit = std::max<size_t>(config_.limit, 1);
  slots_.reserve(std::min(config_.limit, kReservedSlots));
}

void AudioSsrcCache::reserveSources(size_t count) {
  if (received_.size() < count) {
    received_.resize(count);
  }
}

uint32_t AudioSsrcCache::freshSsrc() noexcept {
  // xorshift64*: uniqueness among this receiver's slots is what matters
  // (JVB checks no more than that either); 0 is avoided.
  for (;;) {
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    const auto v = static_cast<uint32_t>((rng_ * 2685821657736338717ULL) >> 32);
    if (v != 0 &&
        std::none_of(slots_.begin(), slots_.end(), [v](const Slot& s) { return s.ssrc == v; })) {
      return v;
    }
  }
}

int AudioSsrcCache::assignSlot(uint32_t source, Clock::time_point now) noexcept {
  int chosen = -1;
  // A free slot first (its owner went away), then a new one while the pool
  // has room, then the least recently used one that has been idle long enough.
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].source == kNoSource) {
      chosen = static_cast<int>(i);
      break;
    }
  }
  if (chosen < 0 && slots_.size() < config_.limit) {
    Slot s;
    s.ssrc = freshSsrc();
    if (midDemux_) {
      // (Not "a" + to_string(): GCC 12 at -O3 flags that with a false
      // -Wrestrict, which a packager's Release build turns into an error.)
      s.mid = std::to_string(slots_.size());
      s.mid.insert(s.mid.begin(), 'a');
    }
    s.liveAt = now + config_.newSsrcDelay;
    slots_.push_back(std::move(s));
    ++counters_.slotsCreated;
    chosen = static_cast<int>(slots_.size() - 1);
  }
  if (chosen < 0) {
    const Slot* lru = nullptr;
    for (const auto& s : slots_) {
      if (lru == nullptr || s.lastUsed < lru->lastUsed) {
        lru = &s;
      }
    }
    if (lru == nullptr || now - lru->lastUsed < config_.remapMinIdle) {
      return -1;
    }
    chosen = static_cast<int>(lru - slots_.data());
  }
  Slot& slot = slots_[static_cast<size_t>(chosen)];
  if (slot.source != kNoSource) {
    received_[slot.source].slot = -1;  // evicted
    received_[slot.source].bound = false;
  }
  if (slot.announced) {
    ++counters_.remappings;
  }
  slot.source = source;
  slot.announced = true;
  slot.lastUsed = now;
  Received& r = received_[source];
  r.slot = chosen;
  r.bound = false;
  return chosen;
}

AudioSsrcCache::Rewrite AudioSsrcCache::rewrite(uint32_t source, uint16_t seq, uint32_t ts,
                                                Clock::time_point now) noexcept {
  Rewrite out;
  if (source >= received_.size()) {
    ++counters_.noSlotDropped;
    return out;
  }
  Received& r = received_[source];
  if (r.slot < 0) {
    r.slot = assignSlot(source, now);
    if (r.slot < 0) {
      ++counters_.noSlotDropped;
      return out;
    }
    out.mappingChanged = true;
  }
  out.slot = r.slot;
  Slot& slot = slots_[static_cast<size_t>(r.slot)];
  out.ssrc = slot.ssrc;
  slot.lastUsed = now;
  if (now < slot.liveAt) {
    ++counters_.delayedPackets;
    out.outcome = Outcome::kDelayed;
    return out;
  }
  if (!r.bound) {
    if (!slot.hasHistory) {
      slot.seqDelta = 0;
      slot.tsDelta = 0;
    } else if (r.seen) {
      slot.seqDelta = static_cast<uint16_t>(slot.lastSeq - r.lastSeq);
      slot.tsDelta = slot.lastTs - r.lastTs;
    } else {
      slot.seqDelta = static_cast<uint16_t>(slot.lastSeq - static_cast<uint16_t>(seq - 1));
      slot.tsDelta = slot.lastTs - (ts - kGuessedTimestampStep);
    }
    r.bound = true;
  }
  r.seen = true;
  r.lastSeq = seq;
  r.lastTs = ts;
  out.outcome = Outcome::kSend;
  out.sequenceNumber = static_cast<uint16_t>(seq + slot.seqDelta);
  out.timestamp = ts + slot.tsDelta;
  slot.lastSeq = out.sequenceNumber;
  slot.lastTs = out.timestamp;
  slot.hasHistory = true;
  return out;
}

void AudioSsrcCache::onSent(int slot, size_t payloadOctets) noexcept {
  if (slot >= 0 && static_cast<size_t>(slot) < slots_.size()) {
    auto& s = slots_[static_cast<size_t>(slot)];
    ++s.packets;
    s.octets += payloadOctets;
  }
}

std::optional<AudioSsrcCache::SenderReport> AudioSsrcCache::rewriteSenderReport(
    uint32_t source, uint32_t rtpTimestamp) const noexcept {
  if (source >= received_.size() || received_[source].slot < 0) {
    return std::nullopt;  // not mapped to this receiver (SsrcCache.kt rewriteRtcp)
  }
  const Received& r = received_[source];
  const Slot& slot = slots_[static_cast<size_t>(r.slot)];
  if (slot.packets == 0 || !r.bound) {
    return std::nullopt;  // nothing sent on it yet (RtcpSrUpdater.kt)
  }
  return SenderReport{slot.ssrc, rtpTimestamp + slot.tsDelta, static_cast<uint32_t>(slot.packets),
                      static_cast<uint32_t>(slot.octets)};
}

int AudioSsrcCache::releaseSource(uint32_t source) noexcept {
  if (source >= received_.size()) {
    return -1;
  }
  const int slot = received_[source].slot;
  received_[source] = Received{};
  if (slot >= 0) {
    slots_[static_cast<size_t>(slot)].source = kNoSource;
  }
  return slot;
}

size_t AudioSsrcCache::slotsInUse() const {
  return static_cast<size_t>(std::count_if(slots_.begin(), slots_.end(),
                                           [](const Slot& s) { return s.source != kNoSource; }));
}

}  // namespace jvb::media
