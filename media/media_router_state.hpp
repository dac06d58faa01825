#pragma once
// Internal to the media router (media/media_router*.cpp): the per-endpoint
// and per-conference media state. media_router.cpp owns the endpoints'
// transports and the fan-out; media_router_audio.cpp the routing decisions
// and speech activity; media_router_rtcp.cpp RTCP termination;
// media_router_ssrc.cpp the conference's source table and SSRC rewriting.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dtls/session.hpp"
#include "ice/stun.hpp"
#include "media/audio_ssrc_cache.hpp"
#include "media/media_counters.hpp"
#include "media/media_router.hpp"
#include "media/reception_stats.hpp"
#include "sctp/association.hpp"

namespace jvb::media {

namespace media_detail {
inline void bump(std::atomic<uint64_t>& c) {
  c.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace media_detail

struct MediaRouter::ConferenceMedia {
  ConferenceMedia(ConferenceHandle h, std::string id, const SpeechActivityConfig& cfg)
      : handle(h), meetingId(std::move(id)), speech(cfg) {}
  ConferenceHandle handle;
  std::string meetingId;  // for events and logs
  SpeechActivity speech;
  std::vector<Media*> members;  // flat: the fan-out walks it per packet
  Clock::time_point nextDecision{};
  // Per source index: how many receivers named it in a subscription's
  // `include` (routed even when not among the loudest, as JVB does).
  std::vector<uint32_t> includeCount;
  bool exporting = false;  // has a Colibri2 <connect>: forwarded audio to the export ring
  // Every signalled audio source of the conference by its index (compiled
  // on the control thread); owner == nullptr: a free index.
  struct Source {
    Media* owner = nullptr;
    uint32_t ssrc = 0;
    std::string name;
  };
  std::vector<Source> sources;
};

// One audio SSRC an endpoint sends, with the reception figures for our
// receiver reports and the last decrypted sequence number
// (kRocRefreshDistance).
struct MediaRouter::SenderSource {
  uint32_t ssrc = 0;
  uint32_t index = 0;
  bool synthetic = false;
  bool decrypted = false;
  uint16_t lastDecrypted = 0;
  ReceptionStats reception;
};

struct MediaRouter::Media {
  EndpointSpec spec;                // compiled: no Colibri2 strings per packet
  ConferenceMedia* conf = nullptr;  // stable: unordered_map nodes do not move
  std::unique_ptr<ice::IceAgent> ice;
  std::unique_ptr<dtls::Session> dtls;
  bool dtlsReleased = false;  // released once no longer needed (releaseDtlsIfDone)
  std::optional<srtp::Session> rtpIn;
  std::optional<srtp::Session> rtpOut;
  std::vector<UdpEndpoint> tuples;      // 5-tuples bound to this endpoint
  std::optional<UdpEndpoint> dtlsPeer;  // where DTLS came from / goes to
  ice::IceState lastIceState = ice::IceState::kNew;
  bool everConnected = false;  // reported once (MediaEvents::iceChanged)
  // An in-place ICE restart (media_model.hpp IceRestartSpec): the new agent
  // while it runs beside `ice` (which keeps carrying media), the round it
  // belongs to, and its deadline; the agent cut over from, which only
  // answers checks for its ufrag until retireAt; the highest round seen.
  std::unique_ptr<ice::IceAgent> pendingIce;
  IceRestartSpec pendingSpec;
  bool pendingRemoteSet = false;
  Clock::time_point pendingDeadline{};
  enum class PendingEvent : uint8_t { kNone, kConnected, kFailed };
  PendingEvent pendingEvent = PendingEvent::kNone;  // set in its callback, acted on after
  std::unique_ptr<ice::IceAgent> retiringIce;
  Clock::time_point retireAt{};
  int lastRestartGeneration = 0;
  // The agent a STUN datagram is for: a request by the local ufrag its
  // USERNAME names, a response by its transaction; the established one
  // otherwise (it rejects what is not its own).
  ice::IceAgent& stunAgent(std::span<const uint8_t> datagram) {
    if (auto ufrag = ice::stun::peekLocalUfrag(datagram)) {
      if (pendingIce && *ufrag == pendingIce->localCredentials().ufrag) {
        return *pendingIce;
      }
      if (retiringIce && *ufrag == retiringIce->localCredentials().ufrag) {
        return *retiringIce;
      }
      return *ice;
    }
    if (pendingIce && pendingIce->expectsResponse(datagram)) {
      return *pendingIce;
    }
    return *ice;
  }
  // What it sends: one entry per signalled audio SSRC (a flat table, one or
  // two entries in practice).
  using Source = SenderSource;
  std::vector<Source> sources;
  Source* findSource(uint32_t ssrc) {
    for (auto& s : sources) {
      if (s.ssrc == ssrc) {
        return &s;
      }
    }
    return nullptr;
  }
  // Audio routing: its handle in the conference's SpeechActivity, silent
  // packets in a row, and what it wants to receive.
  SpeechActivity::Handle speaker{};
  uint32_t silentRun = 0;
  SubscriptionSpec subscription;
  std::vector<uint32_t> included;  // source indices its subscription names in `include`
  EndpointAudioStats stats;
  // As a receiver that asked for SSRC rewriting: its slots; null otherwise.
  std::unique_ptr<AudioSsrcCache> rewrite;
  // The bridge channel over SCTP (Colibri2 <sctp/>): the association, the
  // stream of the channel the client opened, and this channel's id for the
  // control thread (a new association gets a new one).
  std::unique_ptr<sctp::Association> sctp;
  std::optional<uint16_t> channelStream;
  uint64_t channelId = 0;
  Clock::time_point nextReport{};
  Clock::time_point created{};
  std::optional<Clock::time_point> lastIncoming;  // last authenticated packet
  // Misbehaviour (README "Misbehaving peers"): one bit per
  // MediaRouter::Misbehaviour kind logged already; the packet-rate cap's
  // and the data-channel message cap's theoretical arrival times (GCRA); the
  // SCTP association's refusals already counted, and DTLS renegotiations.
  uint32_t misbehaviourLogged = 0;
  Clock::time_point rateTat{};
  Clock::time_point messageTat{};
  uint64_t sctpDroppedSeen = 0;
  uint64_t sctpRefusedSeen = 0;
  uint64_t dtlsRefusedSeen = 0;
  std::string tag;  // "<meeting-id>/<endpoint-id>" for logs

  std::optional<UdpEndpoint> destination() const {
    if (ice &&
        (ice->state() == ice::IceState::kDisconnected || ice->state() == ice::IceState::kFailed)) {
      return std::nullopt;  // consent lost: nothing more is sent to it (RFC 7675)
    }
    if (ice) {
      if (auto r = ice->selectedRemote()) {
        return r;
      }
    }
    return dtlsPeer;
  }
};

}  // namespace jvb::media
