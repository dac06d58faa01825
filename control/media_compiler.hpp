#pragma once
// Compiles the control thread's Colibri2 state (conference.hpp) into the
// media thread's model (media/media_model.hpp) and sends it as typed
// commands: integer handles for conferences and endpoints, conference-wide
// source indices (freed ones reused), interned header-extension profiles
// with their per-pair ID maps, and receivers' audio subscriptions as source
// indices (recompiled when the conference's sources change). The Colibri2
// reply never waits for the media thread.
//
// Threading: the control thread; not thread-safe. A ConferenceListener.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "control/conference.hpp"
#include "media/audio_subscription.hpp"
#include "media/media_model.hpp"

namespace jvb::control {

class MediaCompiler : public ConferenceListener {
 public:
  // Where the commands go (MediaLoop::send, or a test's sink). False: the
  // media thread is gone.
  using Sink = std::function<bool(media::Command)>;
  explicit MediaCompiler(Sink sink) : sink_(std::move(sink)) {}

  // ConferenceListener.
  void endpointChanged(const std::string& meetingId, const Endpoint& endpoint) override;
  void endpointExpired(const std::string& meetingId, const std::string& endpointId) override;
  void conferenceExpired(const std::string& meetingId) override;

  // A receiver's ReceiverAudioSubscription (from the bridge channel).
  void setAudioSubscription(const std::string& meetingId, const std::string& endpointId,
                            const media::AudioSubscription& subscription);
  // A bridge-channel message for the endpoint's SCTP data channel; false
  // when the endpoint is not known here.
  bool sendChannelMessage(const std::string& meetingId, const std::string& endpointId,
                          std::string text);

  // Whether the conference's forwarded audio goes to the export ring (it has
  // a Colibri2 <connect>); kept across the conference's media coming and going.
  void setConferenceExport(const std::string& meetingId, bool enabled);
  // The meeting-id of a conference's media handle (what the export ring carries).
  [[nodiscard]] const std::string* meetingIdOf(media::ConferenceHandle handle) const;

  // The media handle of an endpoint (tests, diagnostics).
  [[nodiscard]] std::optional<media::EndpointHandle> handleOf(const std::string& meetingId,
                                                              const std::string& endpointId);

  // The spec an endpoint compiles to (exposed for tests).
  static media::EndpointSpec compile(const Endpoint& endpoint);

 private:
  struct SourceState {
    uint32_t index = 0;
    std::string name;
    bool synthetic = false;
  };
  struct EndpointState {
    media::EndpointHandle handle = 0;
    std::map<uint32_t, SourceState> sources;  // by SSRC
    media::AudioSubscription subscription;    // as the client sent it
    bool subscribed = false;                  // a subscription was received
    media::SubscriptionSpec compiled;
    std::vector<uint32_t> included;
  };
  struct ConferenceState {
    media::ConferenceHandle handle = 0;
    std::map<std::string, EndpointState> endpoints;
    std::vector<uint32_t> freeIndices;
    uint32_t nextIndex = 0;
  };

  struct Found {
    ConferenceState* conf = nullptr;
    EndpointState* ep = nullptr;
  };
  Found find(const std::string& meetingId, const std::string& endpointId);
  uint32_t profileOf(const std::vector<HeaderExtension>& extensions);
  void sendProfiles();
  void recompileSubscriptions(ConferenceState& conf, const std::string& meetingId);
  bool compileSubscription(const ConferenceState& conf, EndpointState& ep);

  Sink sink_;
  std::map<std::string, ConferenceState> conferences_;  // by meeting-id
  std::map<media::ConferenceHandle, std::string> meetingByHandle_;
  std::set<std::string> exporting_;  // meeting-ids with an export
  media::ConferenceHandle nextConference_ = 1;
  media::EndpointHandle nextEndpoint_ = 1;
  // Interned negotiations: their (id, uri) lists, in profile order.
  std::vector<std::vector<HeaderExtension>> profiles_;
};

}  // namespace jvb::control
