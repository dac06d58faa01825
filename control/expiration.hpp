#pragma once
// The bridge's own entity expiration, as JVB's VideobridgeExpireThread: Jicofo
// sends expire='true', but forgets one that timed out, so the bridge must not
// depend on it. Every check interval:
//  - a conference with no endpoints, older than the grace period, expires
//    (Conference.java shouldExpire: 20 s);
//  - otherwise each endpoint whose ICE failed, that never sent anything for
//    the never-connected timeout (Endpoint.kt epTimeout: 2 min), or that sent
//    nothing for entity-expiration.timeout (1 min) expires.
// Expiring goes through ConferenceRegistry::expire*, whose listeners remove
// the endpoint from the media thread (and its speech activity), the bridge
// channels and the stats: the same path as a Colibri2 expire.
//
// Activity comes from the media thread's per-second report (MediaEvents::
// audioStats); an endpoint not in the last report (created since) is left
// for the next check. Control thread only.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "control/conference.hpp"
#include "media/media_events.hpp"

namespace jvb::control {

struct ExpirationOptions {
  std::chrono::milliseconds timeout{60000};               // videobridge.entity-expiration.timeout
  std::chrono::milliseconds neverConnected{120000};       // Endpoint.kt epTimeout
  std::chrono::milliseconds emptyConferenceGrace{20000};  // Conference.java shouldExpire
};

class EntityExpiry {
 public:
  using Clock = std::chrono::steady_clock;

  EntityExpiry(ConferenceRegistry& conferences, ExpirationOptions options,
               std::function<Clock::time_point()> now = &Clock::now);

  // The media thread's latest report; replaces the previous one entirely, so
  // nothing is kept for endpoints that are gone.
  void setActivity(const std::vector<media::ConferenceAudioStats>& audio);

  struct Expired {
    std::vector<std::string> conferences;                        // meeting ids
    std::vector<std::pair<std::string, std::string>> endpoints;  // meeting id, endpoint id
  };
  // One pass of JVB's expire(); what it expired.
  Expired check();

  [[nodiscard]] uint64_t conferencesExpired() const { return conferencesExpired_; }
  [[nodiscard]] uint64_t endpointsExpired() const { return endpointsExpired_; }

 private:
  struct Activity {
    int64_t sinceCreatedMs = 0;
    int64_t sinceIncomingMs = -1;  // -1: never
    bool iceFailed = false;
  };
  // Why the endpoint should expire, or nullptr.
  const char* reasonToExpire(const Activity& a, int64_t staleMs) const;

  ConferenceRegistry& conferences_;
  ExpirationOptions options_;
  std::function<Clock::time_point()> now_;
  std::map<std::pair<std::string, std::string>, Activity> activity_;
  Clock::time_point reportedAt_{};
  uint64_t conferencesExpired_ = 0;
  uint64_t endpointsExpired_ = 0;
};

}  // namespace jvb::control
