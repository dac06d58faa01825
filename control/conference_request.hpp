#pragma once
// A Colibri2 <conference-modify> as typed data: what xmpp/colibri2 parses out
// of the XML and what ConferenceRegistry::apply() acts on. Plain values, no
// XML and no libstrophe here. Field comments name the element or attribute
// each value comes from (jitsi-xmpp-extensions' colibri2 and Jingle classes).
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ice/credentials.hpp"

namespace jvb::control {

// <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type subtype/>
struct RtcpFeedback {
  std::string type;
  std::string subtype;  // empty when absent
  bool operator==(const RtcpFeedback&) const = default;
};

// <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id name clockrate channels>
struct PayloadType {
  int id = 0;  // 0..127
  std::string name;
  uint32_t clockrate = 0;                         // 0 when absent
  int channels = 1;                               // Jingle default
  std::map<std::string, std::string> parameters;  // <parameter name value/> (nameless ones dropped)
  std::vector<RtcpFeedback> rtcpFb;
  bool operator==(const PayloadType&) const = default;
};

// <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id uri/>
struct HeaderExtension {
  int id = 0;  // 1..255
  std::string uri;
  bool operator==(const HeaderExtension&) const = default;
};

// The audio <media type='audio'> blocks of one endpoint, merged in order.
struct MediaDesc {
  std::vector<PayloadType> payloadTypes;
  std::vector<HeaderExtension> headerExtensions;
  bool extmapAllowMixed = false;  // <extmap-allow-mixed/> present
};

// <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash setup>VALUE</fingerprint>
struct Fingerprint {
  std::string hash;   // lower-cased, e.g. "sha-256"
  std::string value;  // "AB:CD:..." as sent
  std::string setup;  // "active" | "passive" | "actpass" | "" (as sent, lower-cased)
  bool operator==(const Fingerprint&) const = default;
};

// The Jingle <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'> inside
// the colibri2 <transport>: the endpoint's ICE parameters and DTLS identity.
struct RemoteIce {
  std::optional<std::string> ufrag;
  std::optional<std::string> pwd;
  // Every <fingerprint>, in order: the first one's setup sets the DTLS role;
  // only those with a hash and a value become allowed remote fingerprints.
  std::vector<Fingerprint> fingerprints;
  std::vector<ice::Candidate> candidates;  // <candidate/>*, in document order
  bool rtcpMux = false;                    // <rtcp-mux/> present
  // ice-generation: the round of an in-place ICE restart these credentials
  // answer (lib-jitsi-meet tags its transport-info with the generation the
  // bridge advertised; Jicofo forwards it unmodified). Absent: an ordinary
  // update of the established transport.
  std::optional<int> iceGeneration;
};

// The colibri2 <transport ice-controlling ice-restart> and its <sctp port role/>.
struct TransportDesc {
  bool iceControlling = false;  // Jicofo sends true on create
  bool iceRestart = false;      // Jicofo's Colibri2Session.restartIce
  bool sctpRequested = false;   // <sctp> present
  std::optional<int> sctpPort;  // <sctp port>
  std::string sctpRole;         // <sctp role>, lower-cased; empty when absent
  std::optional<RemoteIce> ice;
};

// <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc name/>
struct SourceDesc {
  uint32_t ssrc = 0;
  std::string name;  // empty when absent
  bool operator==(const SourceDesc&) const = default;
};

// <ssrc-group semantics='FID|SIM|FEC-FR'><source ssrc/>*</ssrc-group>
struct SsrcGroup {
  std::string semantics;
  std::vector<uint32_t> ssrcs;
  bool operator==(const SsrcGroup&) const = default;
};

// <media-source type='audio' id='<source name>' synthetic>
struct AudioMediaSource {
  std::string id;  // the source name, e.g. "9a8b7c6d-a0"
  bool synthetic = false;
  std::vector<SourceDesc> sources;
  std::vector<SsrcGroup> groups;
};

// <sources>: audio media-sources kept; video ones only counted (audio-only bridge).
struct Sources {
  std::vector<AudioMediaSource> audio;
  size_t videoMediaSources = 0;
  size_t mediaSourceCount() const { return audio.size() + videoMediaSources; }
};

// <force-mute audio video/>
struct ForceMute {
  bool audio = false;
  bool video = false;
};

// <endpoint id create expire stats-id muc-role>
struct EndpointRequest {
  std::string id;
  bool create = false;
  bool expire = false;
  std::optional<std::string> statsId;
  std::optional<std::string> mucRole;  // lower-cased: moderator|participant|visitor|none
  size_t mediaBlocks = 0;              // every <media> child, whatever its type
  std::optional<MediaDesc> audio;      // the audio <media> blocks, merged
  bool videoMediaSeen = false;         // a video <media> was present (ignored)
  std::optional<TransportDesc> transport;
  std::optional<Sources> sources;
  std::optional<ForceMute> forceMute;
  std::set<std::string> capabilities;  // <capability name/>*
  std::optional<int> initialLastN;     // <initial-last-n value/>

  bool hasCapability(const std::string& name) const { return capabilities.count(name) != 0; }
  // What JVB counts as more than an expire / force-mute / stats update: such
  // requests may not batch endpoints and do not ignore unknown ones.
  bool touchesMedia() const {
    return create || mediaBlocks > 0 || transport.has_value() || sources.has_value();
  }
};

// <conference-modify xmlns='jitsi:colibri2' meeting-id name create expire rtcstats-enabled>
struct ConferenceModify {
  std::string meetingId;
  std::optional<std::string> name;  // the MUC room JID
  bool create = false;
  bool expire = false;
  bool rtcstatsEnabled = true;
  std::vector<EndpointRequest> endpoints;
  size_t relays = 0;         // <relay> children (Octo): not supported
  bool hasConnects = false;  // <connects> (media export): not supported

  bool hasRelays() const { return relays > 0; }
};

}  // namespace jvb::control
