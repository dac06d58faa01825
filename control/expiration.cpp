#include "control/expiration.hpp"

#include "common/log.hpp"

namespace jvb::control {

EntityExpiry::EntityExpiry(ConferenceRegistry& conferences, ExpirationOptions options,
                           std::function<Clock::time_point()> now)
    : conferences_(conferences), options_(options), now_(std::move(now)) {}

void EntityExpiry::setActivity(const std::vector<media::ConferenceAudioStats>& audio) {
  activity_.clear();
  for (const auto& c : audio) {
    for (const auto& e : c.endpoints) {
      activity_[{c.meetingId, e.id}] = Activity{e.sinceCreatedMs, e.sinceIncomingMs, e.iceFailed};
    }
  }
  reportedAt_ = now_();
}

const char* EntityExpiry::reasonToExpire(const Activity& a, int64_t staleMs) const {
  if (a.iceFailed) {
    return "ICE failed";
  }
  if (a.sinceIncomingMs < 0) {
    // Not connected yet: ICE will fail eventually (handled above), or it
    // neither fails nor connects for the never-connected timeout.
    return a.sinceCreatedMs + staleMs > options_.neverConnected.count()
               ? "neither failed nor connected"
               : nullptr;
  }
  return a.sinceIncomingMs + staleMs > options_.timeout.count() ? "no activity" : nullptr;
}

EntityExpiry::Expired EntityExpiry::check() {
  const auto now = now_();
  const int64_t stale =
      std::chrono::duration_cast<std::chrono::milliseconds>(now - reportedAt_).count();
  Expired out;
  for (const auto& [meetingId, conf] : conferences_.conferences()) {
    if (conf.endpoints.empty()) {
      if (now - conf.createdAt > options_.emptyConferenceGrace) {
        out.conferences.push_back(meetingId);
      }
      continue;  // the conference lives one check longer than its endpoints (as JVB)
    }
    for (const auto& [id, ep] : conf.endpoints) {
      const auto it = activity_.find({meetingId, id});
      if (it == activity_.end()) {
        continue;  // created since the last report
      }
      if (const char* why = reasonToExpire(it->second, stale)) {
        LOG_INFO("expire", "{}/{}: expiring ({}; last activity {} ms ago, created {} ms ago)",
                 meetingId, id, why,
                 it->second.sinceIncomingMs < 0 ? -1 : it->second.sinceIncomingMs + stale,
                 it->second.sinceCreatedMs + stale);
        out.endpoints.emplace_back(meetingId, id);
      }
    }
  }
  // Applied after the walk: expiring changes the registry's maps.
  for (const auto& [meetingId, id] : out.endpoints) {
    if (conferences_.expireEndpoint(meetingId, id)) {
      activity_.erase({meetingId, id});
      ++endpointsExpired_;
    }
  }
  for (const auto& meetingId : out.conferences) {
    LOG_INFO("expire", "conference {}: no endpoints for over {} ms, expiring", meetingId,
             options_.emptyConferenceGrace.count());
    if (conferences_.expireConference(meetingId)) {
      ++conferencesExpired_;
    }
  }
  return out;
}

}  // namespace jvb::control
