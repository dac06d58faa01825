#pragma once
// The bridge channel: JSON messages between an endpoint and the bridge
// (JVB BridgeChannelMessage.kt), carried by the SCTP data channel or the
// colibri-ws websocket, and the hub that routes them on the control thread
// (JVB EndpointMessageTransport.java, Conference.java).
//
// The codec (namespace channel) never throws. Input over
// kMaxChannelMessageBytes, nested deeper than kMaxChannelJsonDepth, or with
// a duplicate key in an object (JVB: Jackson STRICT_DUPLICATE_DETECTION) is
// Malformed. colibriClass is matched case-sensitively, as Jackson's type ids
// are.
//
// Differences from JVB, on purpose:
//  - Bytes after the JSON value (a NUL byte included) make it Malformed
//    (Jackson ignores what follows the first value).
//  - Unknown properties are ignored (Jackson fails the message on them for
//    every class but EndpointMessage/EndpointStats).
//  - An EndpointMessage without `to` (or `to`: null) is a broadcast (JVB
//    rejects it: `to` is a non-null Kotlin parameter). Blank means ASCII
//    whitespace only (Kotlin's isBlank also takes Unicode spaces).
//  - Messages for video (LastNChangedEvent, ReceiverVideoConstraints,
//    SourceVideoTypeMessage, VideoTypeMessage) are checked lightly, counted
//    and ignored.
//
// Threading: BridgeChannelHub belongs to the control thread and has no
// locks. Transports deliver text through onMessage() and give the hub a
// `send` callback per transport; the hub calls `send` and the hooks
// synchronously. They may call back into the hub.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "media/audio_subscription.hpp"

namespace jvb::control {

inline constexpr std::size_t kMaxChannelMessageBytes = 64 * 1024;
inline constexpr std::size_t kMaxChannelJsonDepth = 32;  // nested objects/arrays, root included

namespace channel {

// Client -> bridge ----------------------------------------------------------

struct ClientHello {};

struct EndpointMessage {
  std::string to;         // as sent; "" when absent
  nlohmann::json fields;  // the whole object as received, colibriClass included
  bool isBroadcast() const;
};

struct EndpointStats {
  nlohmann::json fields;  // the whole object as received, colibriClass included
};

struct LastNChanged {  // LastNChangedEvent (video)
  int32_t lastN = -1;
};

struct ReceiverAudioSubscription {
  // The JVB fields (a legacy `mode`/`list` message already translated).
  bool all = false;
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  bool legacy = false;  // it used `mode`
  media::AudioSubscription subscription;
};

struct ReceiverVideoConstraints {};  // video

struct SourceVideoType {  // SourceVideoTypeMessage, or legacy VideoTypeMessage (video)
  std::string sourceName;
  std::string videoType;
  bool legacy = false;
};

struct Unknown {  // a colibriClass a client has no business sending here
  std::string colibriClass;
};

struct Malformed {
  std::string reason;
};

using ClientMessage =
    std::variant<Malformed, ClientHello, EndpointMessage, EndpointStats, LastNChanged,
                 ReceiverAudioSubscription, ReceiverVideoConstraints, SourceVideoType, Unknown>;

// Never throws; never recurses on the input's nesting.
ClientMessage parse(std::string_view text) noexcept;

// Bridge -> client ----------------------------------------------------------

// {"colibriClass":"ServerHello"} plus "version" when not empty.
std::string serverHello(std::string_view version = {});
// `previous`: most recent first, without the dominant speaker.
std::string dominantSpeaker(std::string_view dominant, const std::vector<std::string>& previous,
                            bool silence);
// An EndpointMessage/EndpointStats object with `from` set (overwritten).
std::string relayed(nlohmann::json fields, std::string_view from);
// {"colibriClass":"ForwardedSources","forwardedSources":[...]} (video; empty here).
std::string forwardedSources(const std::vector<std::string>& sources = {});
// One slot of an SSRC-rewriting receiver (JVB BridgeChannelMessage.kt
// AudioSourceMapping): the sender's media-source name, its endpoint id, the
// slot's SSRC, and its mid (left out when empty: only with rtp-mid-demux).
struct MappedSource {
  std::string source;
  std::string owner;
  uint32_t ssrc = 0;
  std::string mid;
};
// {"colibriClass":"AudioSourcesMap","mappedSources":[{"source","owner",
// "ssrc" (a JSON number: lib-jitsi-meet's getTrackBySSRC needs one), "mid"?}]}.
std::string audioSourcesMap(const std::vector<MappedSource>& mapped);
// `active` is sent as the string "true"/"false", as JVB does.
std::string connectivityStatus(std::string_view endpoint, bool active);

}  // namespace channel

enum class ChannelTransport { kWebSocket, kSctp };

struct ChannelCounters {
  uint64_t messagesIn = 0;               // texts received on an attached transport
  uint64_t messagesOut = 0;              // texts a transport accepted
  uint64_t malformed = 0;                // invalid JSON, too large/deep, bad fields
  uint64_t unknownClass = 0;             // valid JSON, colibriClass not for us
  uint64_t endpointMessagesRelayed = 0;  // copies accepted by a transport
  uint64_t endpointStatsRelayed = 0;     // copies accepted by a transport
  uint64_t dominantSpeakerEvents = 0;    // dominantSpeakerChanged() calls
  uint64_t sendFailures = 0;             // `send` returned false
  uint64_t noTransport = 0;              // outgoing, the endpoint has no transport
  uint64_t unknownTarget = 0;            // EndpointMessage to an endpoint not known here
  uint64_t visitorDropped = 0;           // EndpointMessage/EndpointStats from a visitor
  uint64_t statsFiltered = 0;            // EndpointStats messages held back by the filter
  uint64_t videoIgnored = 0;             // LastN, video constraints, video type
  uint64_t audioSubscriptions = 0;       // valid ReceiverAudioSubscription messages
  uint64_t unattachedIn = 0;             // texts on a transport not attached (dropped)
  uint64_t connectivityEvents = 0;       // connectivityChanged() calls
  uint64_t connectivityReplayed = 0;     // inactive endpoints reported to a transport as it opened
};

struct ConferenceChannelStats {
  uint64_t messagesIn = 0;
  uint64_t messagesOut = 0;
  uint64_t endpointMessagesRelayed = 0;
  uint64_t endpointStatsRelayed = 0;
  uint64_t dominantSpeakerChanges = 0;
  std::size_t connectedEndpoints = 0;  // with at least one transport attached
};

struct BridgeChannelOptions {
  // ServerHello "version" (JVB videobridge.version.announce, off by
  // default): empty leaves it out.
  std::string version;
  // EndpointStats filter (JVB Endpoint.wantsStatsFrom): in a conference of
  // more than `statsFilterThreshold` endpoints, stats go out only from the
  // recent speakers. JVB's filter also passes every "ranked speaker", which
  // is everybody unless loudest.route-loudest-only is on, so it is off
  // unless `routeLoudestOnly`. (JVB ranks by the loudest list; the recent
  // speakers stand in for it here.)
  std::size_t statsFilterThreshold = 20;
  bool routeLoudestOnly = false;
};

class BridgeChannelHub {
 public:
  using Send = std::function<bool(const std::string&)>;

  struct Hooks {
    // ReceiverAudioSubscription changed for a receiver (not called when a
    // message repeats the current one; the initial state is kAll).
    std::function<void(const std::string& meetingId, const std::string& endpointId,
                       const media::AudioSubscription&)>
        audioSubscriptionChanged;
    // The optional ones below have initializers so that Hooks{f} builds
    // without -Wmissing-field-initializers.
    //
    // Optional. JVB drops EndpointMessage/EndpointStats from visitors and
    // does not report them inactive to newcomers. Empty: nobody is one.
    std::function<bool(const std::string& meetingId, const std::string& endpointId)> isVisitor = {};
    // Optional. A transport of the endpoint opened, after the hub sent its
    // own messages (JVB then re-sends e.g. AudioSourcesMap: use sendTo()).
    std::function<void(const std::string& meetingId, const std::string& endpointId)>
        channelConnected = {};
  };

  explicit BridgeChannelHub(Hooks hooks, BridgeChannelOptions options = {});

  // A transport of an endpoint opened. `transportId` tells sockets apart: a
  // newer transport of the same kind replaces the older one (the caller
  // closes that one; the hub forgets it). As JVB: a websocket gets
  // ServerHello at once and becomes the active transport; then, on either
  // kind, the endpoint gets ForwardedSources (empty), the endpoints
  // currently reported inactive, and the current dominant speaker, on its
  // active transport.
  void attach(const std::string& meetingId, const std::string& endpointId, ChannelTransport t,
              uint64_t transportId, Send send);
  // No-op unless `transportId` is the attached one.
  void detach(const std::string& meetingId, const std::string& endpointId, ChannelTransport t,
              uint64_t transportId);
  // One text message received on the endpoint's transport `t`.
  void onMessage(const std::string& meetingId, const std::string& endpointId, ChannelTransport t,
                 std::string_view text);

  // From the media side: the new dominant speaker and the previous ones
  // (most recent first; the dominant is dropped from them). Sent to every
  // endpoint of the conference. An empty `dominant` only clears the state.
  void dominantSpeakerChanged(const std::string& meetingId, const std::string& dominant,
                              const std::vector<std::string>& previous, bool silence);
  // From the media side: an endpoint's media stopped/resumed (JVB
  // EndpointConnectionStatusMonitor). Sent to every endpoint, itself
  // included; remembered for endpoints that connect later.
  void connectivityChanged(const std::string& meetingId, const std::string& endpointId,
                           bool active);
  // Where the endpoints to report inactive to a transport as it opens come
  // from (JVB EndpointConnectionStatusMonitor.endpointConnected;
  // control/connectivity.hpp decides which). Unset: those last reported
  // inactive through connectivityChanged() and not expired, less visitors.
  void setInactiveEndpoints(std::function<std::vector<std::string>(const std::string&)> source) {
    inactiveSource_ = std::move(source);
  }
  void endpointExpired(const std::string& meetingId, const std::string& endpointId);
  void conferenceExpired(const std::string& meetingId);

  // Sends `text` on the endpoint's active transport (JVB: the websocket if
  // it was the last to receive, else the data channel, else the websocket).
  // False when it has none or the transport refused it.
  bool sendTo(const std::string& meetingId, const std::string& endpointId, const std::string& text);

  [[nodiscard]] bool connected(const std::string& meetingId, const std::string& endpointId) const;
  [[nodiscard]] media::AudioSubscription audioSubscription(const std::string& meetingId,
                                                           const std::string& endpointId) const;
  [[nodiscard]] const ChannelCounters& counters() const { return counters_; }
  [[nodiscard]] std::optional<ConferenceChannelStats> conferenceStats(
      const std::string& meetingId) const;
  [[nodiscard]] std::map<std::string, ConferenceChannelStats> conferenceStats() const;

 private:
  using SendPtr = std::shared_ptr<const Send>;
  struct Slot {
    uint64_t id = 0;
    SendPtr send;  // null: not attached
  };
  struct EndpointState {
    Slot ws;
    Slot sctp;
    bool wsLastActive = false;
    media::AudioSubscription subscription;
  };
  struct ConferenceState {
    std::map<std::string, EndpointState> endpoints;  // attached at least once, not expired
    std::vector<std::string> speakers;               // recent speakers, dominant first
    bool silence = false;
    std::set<std::string> inactive;
    ConferenceChannelStats stats;
  };
  struct Tally {
    uint64_t sent = 0;
    uint64_t failed = 0;
  };

  static const SendPtr* active(const EndpointState& ep);
  // The active transport of every endpoint of `conf` but `except` (empty:
  // none left out); endpoints without one are counted in noTransport.
  std::vector<SendPtr> activeTargets(const ConferenceState& conf, const std::string& except = {});
  // Calls every target, then counts (targets may re-enter the hub).
  Tally deliver(const std::string& meetingId, const std::vector<SendPtr>& targets,
                const std::string& text);
  void onEndpointMessage(const std::string& meetingId, const std::string& endpointId,
                         channel::EndpointMessage msg);
  void onEndpointStats(const std::string& meetingId, const std::string& endpointId,
                       channel::EndpointStats msg);
  void onAudioSubscription(const std::string& meetingId, const std::string& endpointId,
                           const channel::ReceiverAudioSubscription& msg);
  bool isVisitor(const std::string& meetingId, const std::string& endpointId) const;

  Hooks hooks_;
  BridgeChannelOptions options_;
  std::function<std::vector<std::string>(const std::string&)> inactiveSource_;
  std::unordered_map<std::string, ConferenceState> conferences_;
  ChannelCounters counters_;
};

}  // namespace jvb::control
