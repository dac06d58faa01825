#pragma once
// The bridge channel's transports, joined to the hub (bridge_channel.hpp) on
// the control thread:
//  - colibri-ws: the http layer asks authorize() before the upgrade, then
//    reports each open socket, its text messages and its close. A newer
//    socket of an endpoint replaces the older one (closed "replaced", as
//    JVB does); when Colibri2 expires the endpoint its socket is closed
//    with 1001.
//  - SCTP: the media thread owns the data channel (MediaRouter); MediaEvents
//    posts its open/message/close here, and messages for it are posted back.
// It is a ConferenceListener so that expiry reaches the channels at once.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/bridge_channel.hpp"
#include "control/colibri_ws.hpp"
#include "control/conference.hpp"
#include "control/stats.hpp"
#include "media/media_events.hpp"

namespace jvb::control {

class MediaCompiler;

class BridgeChannels : public ConferenceListener {
 public:
  // An open websocket as the http layer hands it over (control/ does not
  // depend on http/). Both functions are no-ops once the socket is closed.
  struct Socket {
    uint64_t id = 0;
    std::function<void(std::string)> send;
    std::function<void(uint16_t code, std::string reason)> close;
  };

  // `media` may be null (tests): SCTP sends and audio subscriptions go nowhere.
  BridgeChannels(const ConferenceRegistry& conferences, std::string serverId, MediaCompiler* media,
                 BridgeChannelOptions options = {});

  // colibri-ws.
  [[nodiscard]] ColibriWsVerdict authorize(std::string_view target);
  void socketOpened(std::string_view target, Socket socket);
  void socketMessage(uint64_t socketId, std::string_view text);
  void socketClosed(uint64_t socketId);

  // The SCTP data channel (called on the control thread).
  void channelOpened(const std::string& meetingId, const std::string& endpointId,
                     uint64_t channelId);
  void channelMessage(const std::string& meetingId, const std::string& endpointId,
                      std::string_view text);
  void channelClosed(const std::string& meetingId, const std::string& endpointId,
                     uint64_t channelId);

  void dominantSpeakerChanged(const std::string& meetingId, const std::string& dominant,
                              const std::vector<std::string>& previous, bool silence);
  // From the media side: slots of rewriting receivers changed owner. Each
  // new mapping goes out at once in an AudioSourcesMap (one message per
  // receiver per call); all of a receiver's current mappings go out again
  // whenever one of its channels opens or its websocket is replaced (JVB
  // Endpoint.kt sendAllMappings). Without a channel the message is dropped
  // and counted (JVB does not queue either); the next open sends all.
  void audioSlotsChanged(const std::string& meetingId,
                         const std::vector<media::AudioSlotMapping>& changes);

  // From the connectivity monitor (control/connectivity.hpp): the
  // endpoint's status changed; broadcast to the conference, the subject
  // included (JVB EndpointConnectionStatusMonitor.notifyStatusChange).
  void connectivityChanged(const std::string& meetingId, const std::string& endpointId,
                           bool active);
  // Where the list of inactive endpoints sent to a transport as it opens
  // comes from (unset: the hub's own record of connectivityChanged()).
  void setInactiveEndpoints(std::function<std::vector<std::string>(const std::string&)> source) {
    hub_.setInactiveEndpoints(std::move(source));
  }

  // ConferenceListener.
  void endpointChanged(const std::string&, const Endpoint&) override {}
  void endpointExpired(const std::string& meetingId, const std::string& endpointId) override;
  void conferenceExpired(const std::string& meetingId) override;

  [[nodiscard]] BridgeChannelTotals totals() const;
  [[nodiscard]] size_t openSockets() const { return sockets_.size(); }
  [[nodiscard]] const BridgeChannelHub& hub() const { return hub_; }

 private:
  struct OpenSocket {
    std::string meetingId;
    std::string endpointId;
    Socket socket;
  };
  using Key = std::pair<std::string, std::string>;

  const ConferenceRegistry& conferences_;
  std::string serverId_;
  MediaCompiler* media_;
  BridgeChannelHub hub_;
  std::map<uint64_t, OpenSocket> sockets_;
  std::map<Key, uint64_t> socketOf_;
  uint64_t wsIn_ = 0, wsOut_ = 0, sctpIn_ = 0, sctpOut_ = 0;
  uint64_t socketsReplaced_ = 0, socketsRefused_ = 0;

  // The slot mappings of rewriting receivers, by slot, as last reported by
  // the media side (ordered: events are posted in order).
  std::map<Key, std::map<uint32_t, channel::MappedSource>> mappings_;
  void sendAllMappings(const std::string& meetingId, const std::string& endpointId);
  uint64_t mapsSent_ = 0, mapsDropped_ = 0, fullMapsSent_ = 0, mappingsAnnounced_ = 0;
};

}  // namespace jvb::control
