#pragma once
// What the media thread tells the control thread: dominant-speaker changes,
// the bridge channel's SCTP side, and routing statistics. MediaRouter calls
// these on the media thread; whoever sets them (app/main.cpp) posts the
// work to the control thread, so nothing here may block or take a lock.
// Each is optional (an empty function: nobody listens).
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ice/credentials.hpp"

namespace jvb::media {

// Routing figures of one endpoint, as a sender (media thread counts).
struct EndpointAudioStats {
  std::string id;
  uint64_t speakerChanges = 0;     // times it became the dominant speaker
  uint64_t packetsRouted = 0;      // its packets that passed the routing filters
  uint64_t droppedNotLoudest = 0;  // route-loudest-only: not among the loudest
  uint64_t droppedSilence = 0;     // level 127 after 3 in a row
  uint64_t droppedMuted = 0;       // force-muted by Colibri2
  uint64_t forwarded = 0;          // copies sent to receivers
  bool dominant = false;
  // Reception of its audio streams (all SSRCs, RFC 3550 A.3), cumulative:
  // packets accepted and packets expected from the sequence numbers. The
  // difference is what was lost on the way to the bridge.
  uint64_t rtpReceived = 0;
  uint64_t rtpExpected = 0;
  // Activity, for the bridge's own entity expiration (control/expiration.hpp)
  // and the connectivity status lib-jitsi-meet shows: milliseconds since the
  // endpoint was created and since its last authenticated packet (a STUN
  // check that passed, a DTLS record, RTP/RTCP that decrypted; -1: never),
  // and whether its ICE failed or lost consent.
  int64_t sinceCreatedMs = 0;
  int64_t sinceIncomingMs = -1;
  bool iceFailed = false;
  // As a receiver with SSRC rewriting (audio_ssrc_cache.hpp); all 0 without.
  bool ssrcRewriting = false;
  uint64_t slotsUsed = 0;  // slots with an owner now
  uint64_t slotsCreated = 0;
  uint64_t remappings = 0;
  uint64_t delayedPackets = 0;  // held back while a new SSRC was being announced
  uint64_t noSlotDropped = 0;   // no slot free or idle long enough
};

// One slot of a rewriting receiver that got a new owner (announce it in
// AudioSourcesMap) or lost its owner (`freed`: nothing to announce; the
// slot's SSRC carries nothing until its next owner).
struct AudioSlotMapping {
  std::string receiver;  // endpoint id
  uint32_t slot = 0;
  uint32_t ssrc = 0;
  std::string mid;     // empty without rtp-mid-demux
  std::string source;  // the sender's media-source name
  std::string owner;   // the sender's endpoint id
  bool freed = false;
};

struct ConferenceAudioStats {
  std::string meetingId;
  std::string dominantSpeaker;  // empty: none
  uint64_t speakerChanges = 0;
  std::vector<EndpointAudioStats> endpoints;
};

struct StunMappingResult {
  boost::asio::ip::udp::endpoint server;
  std::optional<boost::asio::ip::udp::endpoint> mapped;
  int errorCode = 0;
};

// The ICE of one endpoint: it connected for the first time, or an ICE
// restart ended (connected and cut over to, or abandoned: failed or timed
// out, the established pair kept). On success, the new agent's credentials
// and the endpoint's, which are now the endpoint's transport.
struct IceEvent {
  enum class Kind { kConnected, kRestartSucceeded, kRestartFailed };
  Kind kind = Kind::kConnected;
  int generation = 0;  // restarts
  ice::Credentials local;
  std::string remoteUfrag;
  std::string remotePwd;
};

struct MediaEvents {
  // A conference's dominant speaker changed: the new one (empty when
  // silence was detected) and the previous speakers, most recent first.
  std::function<void(const std::string& meetingId, const std::string& dominant,
                     const std::vector<std::string>& previous, bool silence)>
      dominantSpeakerChanged;
  // The endpoint's SCTP data channel (the bridge channel) opened, carried a
  // text message, or closed. `channelId` tells one association from the next.
  std::function<void(const std::string& meetingId, const std::string& endpointId,
                     uint64_t channelId)>
      channelOpened;
  std::function<void(const std::string& meetingId, const std::string& endpointId, std::string text)>
      channelMessage;
  std::function<void(const std::string& meetingId, const std::string& endpointId,
                     uint64_t channelId)>
      channelClosed;
  // Slots of rewriting receivers changed owner (in the order they did).
  std::function<void(const std::string& meetingId, std::vector<AudioSlotMapping>)>
      audioSlotsChanged;
  std::function<void(const std::string& meetingId, const std::string& endpointId, IceEvent)>
      iceChanged;
  // Every second: the routing figures of every conference.
  std::function<void(std::vector<ConferenceAudioStats>)> audioStats;
  // One round of public-address discovery with STUN server `server` ended
  // (cmd::SetStunServers): the address it saw the media port's request come
  // from, or nullopt (no answer after the retransmissions, or an error
  // response with `errorCode`).
  std::function<void(const StunMappingResult&)> stunMapping;
};

}  // namespace jvb::media
