#pragma once
// The media thread's model of the bridge's endpoints, compiled from Colibri2
// on the control thread (control/media_compiler.*) and handed over in typed
// commands. Everything the per-packet path consults is an integer, a bitset
// or a small flat table: conferences and endpoints are integer handles,
// sources are conference-wide indices, header-extension negotiations are
// interned profiles with a precomputed ID map per (sender, receiver) pair,
// and a receiver's audio subscription is a set of source indices. Strings
// (ids, source names) travel along only for logs and for what the media
// thread reports back (events).
#include <algorithm>
#include <array>
#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ice/credentials.hpp"
#include "ice/stun_mapping.hpp"
#include "media/audio_subscription.hpp"
#include "rtp/header_extensions.hpp"

namespace jvb::media {

using ConferenceHandle = uint32_t;
using EndpointHandle = uint32_t;  // unique across the bridge's lifetime

// The audio payload types an endpoint negotiated, with their clock rates,
// and which of them are RFC 2198 RED ("red", Opus RED) and Opus: a receiver
// without RED gets a RED sender's packets stripped to their primary Opus
// encoding (rtp/red.hpp, JVB's AudioRedHandler.kt).
struct PayloadTypes {
  static constexpr uint8_t kNone = 0xFF;
  std::bitset<128> audio;
  std::array<uint32_t, 128> clockRate{};
  uint8_t red = kNone;   // the (first) RED payload type, kNone: not negotiated
  uint8_t opus = kNone;  // the (first) Opus payload type
  [[nodiscard]] bool contains(uint8_t pt) const { return pt < 128 && audio.test(pt); }
  [[nodiscard]] bool hasRed() const { return red != kNone; }
  [[nodiscard]] bool isRed(uint8_t pt) const { return red != kNone && pt == red; }
  void add(uint8_t pt, uint32_t rate) {
    if (pt < 128) {
      audio.set(pt);
      clockRate[pt] = rate;
    }
  }
};

// A DTLS fingerprint the endpoint signalled ("sha-256", "AB:CD:...").
struct FingerprintSpec {
  std::string hash;
  std::string value;
};

// One signalled audio source of an endpoint.
struct SourceSpec {
  uint32_t ssrc = 0;
  uint32_t index = 0;  // conference-wide, reused once freed
  bool synthetic = false;
  std::string name;  // the media-source name (AudioSourcesMap, logs)
};

// An in-place ICE restart in flight (control/conference.hpp IceRestart): a
// second ICE agent with `local` runs beside the established one, answering
// checks at once and sending its own once the endpoint's new credentials
// are known; the media thread cuts over when it connects, or drops it after
// the restart timeout. A higher generation supersedes the round in flight;
// a generation already seen is not started again.
struct IceRestartSpec {
  int generation = 0;
  ice::Credentials local;
  std::string remoteUfrag;  // empty until the endpoint answered
  std::string remotePwd;
  std::vector<ice::Candidate> remoteCandidates;
};

// videobridge.ice.restart: how long a restart may take to connect (counted
// from when the media thread started it), and how long the old agent still
// answers checks for its ufrag after the cut-over.
struct IceRestartConfig {
  std::chrono::milliseconds timeout{20000};
  std::chrono::milliseconds transitionWindow{3000};
};

struct EndpointSpec {
  ConferenceHandle conference = 0;
  EndpointHandle endpoint = 0;
  std::string meetingId;  // for events and logs
  std::string id;         // the Colibri2 endpoint id, for events and logs

  ice::Credentials localIce;
  bool iceControlling = false;
  std::string remoteUfrag;
  std::string remotePwd;
  std::vector<ice::Candidate> remoteCandidates;
  std::optional<IceRestartSpec> iceRestart;
  std::vector<FingerprintSpec> remoteFingerprints;
  bool dtlsClient = false;  // our DTLS side: client ("active"), else server
  bool sctp = false;        // Colibri2 <sctp/>: the bridge channel over SCTP

  PayloadTypes payloadTypes;
  bool acceptsAudio = false;
  uint32_t extProfile = 0;  // see ExtensionProfiles
  uint8_t levelId = 0;      // ssrc-audio-level ID, 0: not negotiated
  uint8_t midId = 0;        // sdes:mid ID, 0: not negotiated
  bool forceMuteAudio = false;
  bool ssrcRewriting = false;  // fixed at create (Colibri2 capability)
  bool rtpMidDemux = false;

  std::vector<SourceSpec> sources;
};

// Interned header-extension negotiations and, per (sender, receiver)
// profile pair, the ID map a forwarded packet goes through: the sender's IDs
// to the receiver's by URI, what the receiver did not negotiate stripped, and
// sdes:mid always stripped (the receiver's m-lines have their own mids).
struct ExtensionProfiles {
  uint32_t count = 0;
  std::vector<rtp::ExtensionIdMap> maps;  // [from * count + to]
  // Whether the pair's map is the identity (nothing to rewrite).
  std::vector<uint8_t> identity;
  [[nodiscard]] const rtp::ExtensionIdMap* map(uint32_t from, uint32_t to) const {
    if (from >= count || to >= count) {
      return nullptr;
    }
    const size_t i = size_t{from} * count + to;
    return identity[i] != 0 ? nullptr : &maps[i];
  }
};

// A receiver's ReceiverAudioSubscription over source indices (sorted).
struct SubscriptionSpec {
  AudioSubscription::Mode mode = AudioSubscription::Mode::kAll;
  std::vector<uint32_t> sources;    // kInclude: wanted; kExclude: unwanted
  std::vector<uint32_t> synthetic;  // synthetic sources named in `include`
  [[nodiscard]] bool allows(uint32_t index, bool isSynthetic) const {
    if (isSynthetic) {
      return std::binary_search(synthetic.begin(), synthetic.end(), index);
    }
    switch (mode) {
      case AudioSubscription::Mode::kAll:
        return true;
      case AudioSubscription::Mode::kNone:
        return false;
      case AudioSubscription::Mode::kInclude:
        return std::binary_search(sources.begin(), sources.end(), index);
      case AudioSubscription::Mode::kExclude:
        return !std::binary_search(sources.begin(), sources.end(), index);
    }
    return false;
  }
  // The sources it names in `include` (routed even when not loudest).
  [[nodiscard]] bool hasIncludes() const {
    return mode == AudioSubscription::Mode::kInclude || !synthetic.empty();
  }
};

// What the control thread tells the media thread: a small closed set.
namespace cmd {
struct UpsertEndpoint {
  EndpointSpec spec;
};
struct RemoveEndpoint {
  EndpointHandle endpoint = 0;
};
struct SetSubscription {
  EndpointHandle endpoint = 0;
  SubscriptionSpec subscription;
  std::vector<uint32_t> included;  // kInclude sources and synthetic ones: routed always
};
struct SetExtensionProfiles {
  ExtensionProfiles profiles;
};
struct SendChannelMessage {
  EndpointHandle endpoint = 0;
  std::string text;
};
// Whether the conference's forwarded audio goes to the export ring
// (media/export_ring.hpp): only while it has a Colibri2 <connect>.
struct SetConferenceExport {
  ConferenceHandle conference = 0;
  bool enabled = false;
};
// Public-address discovery (ice4j.harvest.mapping.stun.addresses): Binding
// requests to these STUN servers out of the media port, at once and then
// every timing.refresh; each round's outcome comes back as
// MediaEvents::stunMapping. An empty list stops it.
struct SetStunServers {
  std::vector<ice::UdpEndpoint> servers;
  ice::StunMappingTiming timing;
};
}  // namespace cmd

using Command = std::variant<cmd::UpsertEndpoint, cmd::RemoveEndpoint, cmd::SetSubscription,
                             cmd::SetExtensionProfiles, cmd::SendChannelMessage,
                             cmd::SetConferenceExport, cmd::SetStunServers>;

}  // namespace jvb::media
