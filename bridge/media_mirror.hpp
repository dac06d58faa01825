#pragma once
// Carries Colibri2's endpoint state from the control thread (where the
// ConferenceRegistry lives) to the media thread's MediaRouter, as moved
// copies through the media loop's command queue. The Colibri2 reply never
// waits for it.
#include "bridge/conference.hpp"
#include "bridge/media_loop.hpp"
#include "bridge/media_router.hpp"

namespace jvb::bridge {

class MediaMirror : public ConferenceListener {
 public:
  explicit MediaMirror(MediaLoop& media) : media_(media) {}

  void endpointChanged(const std::string& meetingId, const Endpoint& endpoint) override {
    media_.postToRouter(
        [meetingId, endpoint](MediaRouter& r) { r.upsertEndpoint(meetingId, endpoint); });
  }
  void endpointExpired(const std::string& meetingId, const std::string& endpointId) override {
    media_.postToRouter(
        [meetingId, endpointId](MediaRouter& r) { r.removeEndpoint(meetingId, endpointId); });
  }
  void conferenceExpired(const std::string&) override {
    // Its endpoints were reported one by one before this.
  }

 private:
  MediaLoop& media_;
};

}  // namespace jvb::bridge
