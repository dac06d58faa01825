#pragma once
// The endpoint connectivity status, as JVB's EndpointConnectionStatusMonitor
// decides it: every check interval, each endpoint that is not a visitor is
// judged from its last incoming activity:
//  - never any activity: after first-transfer-timeout (15 s) since it was
//    created it becomes inactive (not counted as a disconnect; before that
//    it is not judged at all);
//  - otherwise it is active while its last activity is at most
//    max-inactivity-limit (8 s) old. Going inactive counts in
//    endpoints_disconnected, coming back in endpoints_reconnected.
// Each change is reported through `notify` (the bridge channels broadcast
// EndpointConnectivityStatusChangeEvent to the conference, the subject
// included). The set of inactive endpoints is kept per conference and, as
// in JVB, not pruned when an endpoint expires: a re-created endpoint of the
// same id is still inactive to the others until it is seen active again.
// It goes with the conference.
//
// "Activity" is the media thread's lastIncoming (media_router_state.hpp):
// a STUN message that passed, a DTLS record, RTP/RTCP that decrypted. JVB
// counts RTP/RTCP as received (before decryption) and the selected pair's
// consent-freshness responses (PacketIOActivity.lastIncomingActivityInstant,
// Transceiver.handleIncomingPacket, IceTransport consentUpdated); both agree
// that an endpoint whose ICE still answers is active even when it sends no
// media, and that one that went silent altogether (network lost, process
// stopped) is not.
//
// Activity comes from the media thread's per-second report (MediaEvents::
// audioStats), aged by the time since it arrived, as control/expiration.hpp
// does; an endpoint not in the last report (created since) waits for the
// next one. Control thread only.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "control/conference.hpp"
#include "media/media_events.hpp"

namespace jvb::control {

struct ConnectivityOptions {
  // videobridge.ep-connection-status.*
  std::chrono::milliseconds firstTransferTimeout{15000};
  std::chrono::milliseconds maxInactivityLimit{8000};
};

class ConnectivityMonitor : public ConferenceListener {
 public:
  using Clock = std::chrono::steady_clock;
  using Notify =
      std::function<void(const std::string& meetingId, const std::string& endpointId, bool active)>;

  ConnectivityMonitor(const ConferenceRegistry& conferences, ConnectivityOptions options,
                      Notify notify, std::function<Clock::time_point()> now = &Clock::now);

  // The media thread's latest report; replaces the previous one.
  void setActivity(const std::vector<media::ConferenceAudioStats>& audio);
  // One pass over every conference (JVB's run(), per check-interval).
  void check();
  // ConferenceListener: an expired endpoint stays in the inactive set (see
  // above); an expired conference takes its set with it.
  void endpointChanged(const std::string&, const Endpoint&) override {}
  void endpointExpired(const std::string&, const std::string&) override {}
  void conferenceExpired(const std::string& meetingId) override;

  // The endpoints reported inactive and not reported active since that
  // still exist and are not visitors: what an endpoint whose bridge channel
  // opens is told (JVB endpointConnected).
  [[nodiscard]] std::vector<std::string> inactiveEndpoints(const std::string& meetingId) const;
  [[nodiscard]] bool isInactive(const std::string& meetingId, const std::string& endpointId) const;

  // How many endpoints inactiveEndpoints() names, over every conference.
  [[nodiscard]] uint64_t inactiveCount() const;
  [[nodiscard]] uint64_t endpointsDisconnected() const { return disconnected_; }
  [[nodiscard]] uint64_t endpointsReconnected() const { return reconnected_; }
  [[nodiscard]] uint64_t neverConnected() const { return neverConnected_; }

 private:
  struct Activity {
    int64_t sinceCreatedMs = 0;
    int64_t sinceIncomingMs = -1;  // -1: never
  };

  const ConferenceRegistry& conferences_;
  ConnectivityOptions options_;
  Notify notify_;
  std::function<Clock::time_point()> now_;
  std::map<std::pair<std::string, std::string>, Activity> activity_;
  Clock::time_point reportedAt_{};
  std::map<std::string, std::set<std::string>, std::less<>> inactive_;  // by meeting id
  uint64_t disconnected_ = 0;
  uint64_t reconnected_ = 0;
  uint64_t neverConnected_ = 0;  // inactive after first-transfer-timeout
};

}  // namespace jvb::control
