#include "control/connectivity.hpp"

#include "common/log.hpp"

namespace jvb::control {

namespace {
constexpr const char* kLog = "connectivity";
}  // namespace

ConnectivityMonitor::ConnectivityMonitor(const ConferenceRegistry& conferences,
                                         ConnectivityOptions options, Notify notify,
                                         std::function<Clock::time_point()> now)
    : conferences_(conferences),
      options_(options),
      notify_(std::move(notify)),
      now_(std::move(now)) {}

void ConnectivityMonitor::setActivity(const std::vector<media::ConferenceAudioStats>& audio) {
  activity_.clear();
  for (const auto& c : audio) {
    for (const auto& e : c.endpoints) {
      activity_[{c.meetingId, e.id}] = Activity{e.sinceCreatedMs, e.sinceIncomingMs};
    }
  }
  reportedAt_ = now_();
}

void ConnectivityMonitor::check() {
  const int64_t stale =
      std::chrono::duration_cast<std::chrono::milliseconds>(now_() - reportedAt_).count();
  // Changes are collected first: `notify` sends on the bridge channels,
  // which must not run while the registry is being walked.
  std::vector<std::tuple<std::string, std::string, bool>> changes;
  for (const auto& [meetingId, conf] : conferences_.conferences()) {
    for (const auto& [id, ep] : conf.endpoints) {
      if (ep.visitor) {
        continue;  // JVB monitors local endpoints that are not visitors
      }
      const auto it = activity_.find({meetingId, id});
      if (it == activity_.end()) {
        continue;  // created since the last report
      }
      const Activity& a = it->second;
      auto& inactive = inactive_[meetingId];
      const bool wasInactive = inactive.contains(id);
      if (a.sinceIncomingMs < 0) {
        // Never any activity: judged only once it is late (JVB: strictly
        // longer than first-transfer-timeout since creation).
        if (a.sinceCreatedMs + stale > options_.firstTransferTimeout.count() && !wasInactive) {
          LOG_DEBUG(kLog, "{}/{}: nothing received {} ms after creation: inactive", meetingId, id,
                    a.sinceCreatedMs + stale);
          inactive.insert(id);
          ++neverConnected_;
          changes.emplace_back(meetingId, id, false);
        }
        continue;
      }
      const int64_t quietMs = a.sinceIncomingMs + stale;
      const bool active = quietMs <= options_.maxInactivityLimit.count();
      if (!wasInactive && !active) {
        LOG_INFO(kLog, "{}/{}: no activity for {} ms: disconnected", meetingId, id, quietMs);
        inactive.insert(id);
        ++disconnected_;
        changes.emplace_back(meetingId, id, false);
      } else if (wasInactive && active) {
        LOG_INFO(kLog, "{}/{}: active again: reconnected", meetingId, id);
        inactive.erase(id);
        ++reconnected_;
        changes.emplace_back(meetingId, id, true);
      }
    }
  }
  if (notify_) {
    for (const auto& [meetingId, id, active] : changes) {
      notify_(meetingId, id, active);
    }
  }
}

void ConnectivityMonitor::conferenceExpired(const std::string& meetingId) {
  inactive_.erase(meetingId);
}

std::vector<std::string> ConnectivityMonitor::inactiveEndpoints(
    const std::string& meetingId) const {
  std::vector<std::string> out;
  const auto it = inactive_.find(meetingId);
  if (it == inactive_.end()) {
    return out;
  }
  for (const auto& id : it->second) {
    // The set may name endpoints that expired since (JVB filters them too).
    const Endpoint* ep = conferences_.findEndpoint(meetingId, id);
    if (ep != nullptr && !ep->visitor) {
      out.push_back(id);
    }
  }
  return out;
}

uint64_t ConnectivityMonitor::inactiveCount() const {
  uint64_t n = 0;
  for (const auto& [meetingId, ids] : inactive_) {
    n += inactiveEndpoints(meetingId).size();
  }
  return n;
}

bool ConnectivityMonitor::isInactive(const std::string& meetingId,
                                     const std::string& endpointId) const {
  const auto it = inactive_.find(meetingId);
  return it != inactive_.end() && it->second.contains(endpointId);
}

}  // namespace jvb::control
