#pragma once
// The bridge's conferences and endpoints as Colibri2 shapes them, and the
// registry that applies a <conference-modify> (typed: conference_request.hpp)
// with jitsi-videobridge's rules (Colibri2ConferenceHandler.kt,
// Videobridge.java): lookup by meeting-id, create/expire, the request shapes
// JVB refuses, unknown endpoints, and auto-expiry of an empty conference.
//
// One difference from JVB, on purpose: a request is all-or-nothing. It is
// validated as a whole against a staged copy of the conference, and an error
// leaves the registry exactly as it was (JVB can leave half-applied state,
// e.g. a conference created by a request that then fails).
//
// Threading: ConferenceRegistry belongs to the control thread and is not
// thread-safe. The listener is called on that thread, after the registry has
// been updated; the media side gets copies through it.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "control/conference_request.hpp"
#include "ice/credentials.hpp"

namespace jvb::control {

inline constexpr int kSctpPort = 5000;  // JVB DcSctpTransport.DEFAULT_SCTP_PORT
inline constexpr const char* kCapSourceNames = "source-names";
inline constexpr const char* kCapSsrcRewriting = "ssrc-rewriting";
inline constexpr const char* kCapRtpMidDemux = "rtp-mid-demux";
inline constexpr const char* kCapPrivateAddresses = "private-address-connectivity";

// One audio source of an endpoint: the media-source id is the source name.
struct AudioSource {
  std::string name;
  bool synthetic = false;
  bool operator==(const AudioSource&) const = default;
};

// An in-place ICE restart in flight (Jicofo's Colibri2Session.restartIce;
// JVB's IceTransport.requestIceRestart): our new credentials, signalled with
// ice-generation, and the endpoint's own new ones once its transport-info
// tagged with that generation came (Jicofo forwards it unmodified). The
// media thread runs the new ICE agent beside the established one, which
// keeps carrying media, and reports whether it connected (cut over) or was
// abandoned: ConferenceRegistry::iceRestartEnded().
struct IceRestart {
  int generation = 0;  // >= 1 (clients reject a restart transport with less)
  ice::Credentials local;
  bool remoteKnown = false;  // the endpoint's tagged answer was applied
  std::string remoteUfrag;
  std::string remotePwd;
  std::vector<ice::Candidate> remoteCandidates;
};

struct Endpoint {
  std::string id;
  std::string statsId;  // from the create request
  std::string mucRole;  // lower-case; empty when not sent
  bool visitor = false;

  // ICE: ours, and what the endpoint signalled (via Jicofo).
  ice::Credentials localIce;  // ice::generateCredentials() at create
  bool iceControlling = false;
  std::string remoteUfrag;
  std::string remotePwd;
  std::vector<ice::Candidate> remoteCandidates;  // generation 0 only, duplicates dropped
  bool remoteRtcpMux = false;
  // ICE restart: whether ICE connected at least once (media event: only then
  // is there a DTLS association and SRTP state for a restart to keep), the
  // generation of the last restart started (0: never), the one in flight.
  bool iceConnected = false;
  int iceGeneration = 0;
  std::optional<IceRestart> iceRestart;

  // DTLS: the endpoint's fingerprints (replaced by a non-empty list) and roles.
  std::vector<Fingerprint> remoteFingerprints;
  std::string remoteDtlsSetup;        // first fingerprint's setup, as last signalled
  std::string dtlsSetup = "actpass";  // ours, as signalled back: actpass|active|passive

  bool sctpRequested = false;

  // Audio codecs and header extensions: added (same id replaces), never removed.
  std::vector<PayloadType> audioPayloadTypes;
  std::vector<HeaderExtension> audioHeaderExtensions;  // URIs JVB knows only
  bool extmapAllowMixed = false;
  bool acceptsAudio = false;  // has an audio payload type: only then is audio sent to it

  // Sources: replaced by each <sources>. SSRC -> source.
  std::map<uint32_t, AudioSource> audioSources;
  std::vector<SsrcGroup> ssrcGroups;  // of the audio media-sources

  bool forceMuteAudio = false;
  bool forceMuteVideo = false;
  std::set<std::string> capabilities;
  std::optional<int> initialLastN;
  std::string websocketPassword;  // 24 random [A-Za-z0-9], fixed for the endpoint's life

  bool hasCapability(const std::string& name) const { return capabilities.count(name) != 0; }
  // As JVB decides it from the create request's capabilities, which are
  // never updated afterwards (Colibri2ConferenceHandler.kt: midDemux =
  // ssrc-rewriting && rtp-mid-demux). Per receiver; senders are unaffected.
  bool ssrcRewriting() const { return hasCapability(kCapSsrcRewriting); }
  bool rtpMidDemux() const { return ssrcRewriting() && hasCapability(kCapRtpMidDemux); }
};

struct Conference {
  using Clock = std::chrono::steady_clock;
  std::string meetingId;
  std::optional<std::string> name;  // bare room JID
  std::string internalId;           // 16 lower-case hex chars; colibri-ws URLs, REST paths
  uint32_t feedbackAudioSsrc = 0;   // jvb-a0
  uint32_t feedbackVideoSsrc = 0;   // jvb-v0
  Clock::time_point createdAt{};
  bool rtcstatsEnabled = true;
  std::map<std::string, Endpoint> endpoints;  // by endpoint id
};

// Error conditions JVB answers with (RFC 6120 names in xmpp/colibri2).
enum class ErrorCondition {
  kBadRequest,
  kConflict,
  kFeatureNotImplemented,
  kItemNotFound,
  kServiceUnavailable,
  kInternalServerError,
};

// The colibri2 <error reason> (XE Colibri2Error.Reason); kNone: no extension.
enum class ErrorReason {
  kNone,
  kConferenceNotFound,
  kConferenceAlreadyExists,
  kFeatureNotImplemented,
  kGracefulShutdown,
  kUnknownEndpoint,
  kUnspecified,
};
// "conference_not_found", ...; empty for kNone.
std::string_view reasonName(ErrorReason reason);

struct ModifyError {
  ErrorCondition condition = ErrorCondition::kInternalServerError;
  ErrorReason reason = ErrorReason::kNone;
  std::string text;
  std::string endpointId;  // kUnknownEndpoint: the endpoint to name in the error
};

// What the bridge signals back for a created endpoint.
struct LocalTransport {
  ice::Credentials ice;
  std::optional<int> iceGeneration;  // an ICE restart's transport: ice-generation='N'
  std::string dtlsSetup;             // actpass|active|passive
  std::string websocketPassword;
  bool sctp = false;  // the request had <sctp>: answer <sctp port='5000' role='server'/>
};

// What an <transport ice-restart='true'/> for an existing endpoint did (JVB's
// IceRestartResult, with its counters' cases told apart).
enum class IceRestartOutcome {
  kNone,            // not asked for
  kStarted,         // new credentials, ice-generation = the new round
  kSuperseded,      // as kStarted, replacing a round whose checks had started
  kRepeated,        // a round not answered yet: the same credentials again
  kNotEstablished,  // ICE never connected: the current transport, no generation
  kRejected,        // restarts disabled: no <transport> (Jicofo re-invites)
};

struct EndpointReply {
  std::string id;
  bool expired = false;                     // <endpoint id expire='true'/>
  std::optional<LocalTransport> transport;  // create / ICE restart: <transport> with ours
  IceRestartOutcome iceRestart = IceRestartOutcome::kNone;
};

// Everything the <conference-modified> needs, copied out of the registry (the
// conference may be gone by the time the reply is built).
struct ModifyReply {
  std::string meetingId;
  std::string internalId;
  std::vector<EndpointReply> endpoints;  // one per requested endpoint, in order
  bool feedbackSources = false;          // conference create or any endpoint create
  uint32_t feedbackAudioSsrc = 0;
  uint32_t feedbackVideoSsrc = 0;
  bool conferenceCreated = false;
  bool conferenceExpired = false;  // expire='true', or no endpoints left
};

struct ModifyResult {
  std::optional<ModifyError> error;  // set: nothing was changed
  ModifyReply reply;                 // valid when !error
  bool ok() const { return !error.has_value(); }
};

// Called after a successful apply(), on the control thread, in this order:
// endpointExpired for each endpoint that went away (also those of an expired
// conference), endpointChanged for each endpoint the request created or
// updated (its final state), then conferenceExpired. An endpoint created and
// expired by the same request is not reported.
struct ConferenceListener {
  virtual ~ConferenceListener() = default;
  virtual void endpointChanged(const std::string& meetingId, const Endpoint& endpoint) = 0;
  virtual void endpointExpired(const std::string& meetingId, const std::string& endpointId) = 0;
  virtual void conferenceExpired(const std::string& meetingId) = 0;
};

// Several listeners, told in the order added (the media mirror, then the
// bridge channels).
class ConferenceListeners : public ConferenceListener {
 public:
  void add(ConferenceListener* l) { listeners_.push_back(l); }
  void endpointChanged(const std::string& meetingId, const Endpoint& endpoint) override {
    for (auto* l : listeners_) {
      l->endpointChanged(meetingId, endpoint);
    }
  }
  void endpointExpired(const std::string& meetingId, const std::string& endpointId) override {
    for (auto* l : listeners_) {
      l->endpointExpired(meetingId, endpointId);
    }
  }
  void conferenceExpired(const std::string& meetingId) override {
    for (auto* l : listeners_) {
      l->conferenceExpired(meetingId);
    }
  }

 private:
  std::vector<ConferenceListener*> listeners_;
};

// ICE restarts (JVB's IceTransport metrics ice_restarts_*).
struct IceRestartCounts {
  uint64_t started = 0;         // ice_restarts_started (superseding ones included)
  uint64_t superseded = 0;      // ice_restarts_superseded
  uint64_t repeated = 0;        // (ours) a pending round described again
  uint64_t notEstablished = 0;  // ice_restarts_not_established
  uint64_t rejected = 0;        // ice_restarts_rejected
  uint64_t succeeded = 0;       // ice_restarts_succeeded
  uint64_t failed = 0;          // ice_restarts_failed (timed out or failed: old pair kept)
};

// What the media thread reports of an ICE restart it ran (the new agent's
// credentials and the endpoint's, for the registry to adopt on success).
struct IceRestartEnd {
  int generation = 0;
  bool succeeded = false;
  ice::Credentials local;
  std::string remoteUfrag;
  std::string remotePwd;
};

// Numbers for /colibri/stats and presence (JVB's names in comments).
struct ConferenceCounts {
  size_t conferences = 0;                  // conferences
  size_t endpoints = 0;                    // endpoints / participants
  size_t largestConference = 0;            // largest_conference
  size_t endpointsWithAudioSources = 0;    // endpoints that signalled an audio source
  uint64_t totalConferencesCreated = 0;    // total_conferences_created
  uint64_t totalConferencesCompleted = 0;  // total_conferences_completed
  uint64_t totalParticipants = 0;          // total_participants: endpoints ever created
  double totalConferenceSeconds = 0;       // total_conference_seconds, of completed ones
  IceRestartCounts iceRestarts;
};

// JidCreate.entityBareFrom as JVB uses it for the conference name: a
// non-empty localpart before the first '@', a non-empty domainpart, without
// the characters nodeprep forbids; a "/resource" is dropped. Returns the bare
// JID, or nullopt if `jid` is not one.
std::optional<std::string> entityBareJid(std::string_view jid);

// Our DTLS setup once the endpoint signals `remoteSetup` (RFC 5763/8842):
// active -> passive (we are the DTLS server), passive -> active, actpass ->
// active; anything else leaves `current` unchanged. Case-insensitive.
std::string localDtlsSetup(const std::string& current, const std::string& remoteSetup);

class ConferenceRegistry {
 public:
  using Clock = Conference::Clock;
  using Result = ModifyResult;

  explicit ConferenceRegistry(std::function<Clock::time_point()> now = &Clock::now);

  // Applies one <conference-modify>. `refuseNewConferences`: the bridge is in
  // graceful shutdown (a create is answered service-unavailable).
  Result apply(const ConferenceModify& request, bool refuseNewConferences);

  // The bridge's own decisions (expire timer, shutdown): remove and tell the
  // listener. False when there was nothing to remove.
  bool expireConference(const std::string& meetingId);
  bool expireEndpoint(const std::string& meetingId, const std::string& endpointId);

  void setListener(ConferenceListener* listener) { listener_ = listener; }
  // videobridge.sctp.enabled. With false an endpoint create that asks for
  // SCTP is refused (feature-not-implemented), as JVB refuses it.
  void setSctpEnabled(bool enabled) { sctpEnabled_ = enabled; }
  // videobridge.ice.restart.enabled with a positive timeout. False: an ICE
  // restart request is answered with no <transport> (JVB's UNAVAILABLE).
  void setIceRestartEnabled(bool enabled) { iceRestartEnabled_ = enabled; }

  // The media thread's ICE events (posted to the control thread). Unknown
  // endpoints are ignored (expired meanwhile); no listener is called: the
  // media thread made the change itself.
  void iceConnected(const std::string& meetingId, const std::string& endpointId);
  void iceRestartEnded(const std::string& meetingId, const std::string& endpointId,
                       const IceRestartEnd& end);

  // Lookups. The pointers stay valid until the next apply()/expire*().
  const Conference* findByMeetingId(std::string_view meetingId) const;
  const Conference* findByInternalId(std::string_view internalId) const;
  const Endpoint* findEndpoint(std::string_view meetingId, std::string_view endpointId) const;
  const std::map<std::string, Conference, std::less<>>& conferences() const { return conferences_; }

  ConferenceCounts counts() const;

 private:
  void remove(std::map<std::string, Conference, std::less<>>::iterator it);

  std::function<Clock::time_point()> now_;
  ConferenceListener* listener_ = nullptr;
  bool sctpEnabled_ = true;
  bool iceRestartEnabled_ = true;
  IceRestartCounts iceRestarts_;
  std::map<std::string, Conference, std::less<>> conferences_;    // by meeting-id
  std::map<std::string, std::string, std::less<>> byInternalId_;  // internal id -> meeting-id
  uint64_t totalCreated_ = 0;
  uint64_t totalCompleted_ = 0;
  uint64_t totalParticipants_ = 0;
  double totalSeconds_ = 0;
};

}  // namespace jvb::control
