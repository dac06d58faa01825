#pragma once
// Internal to the media router (bridge/media_router*.cpp): the per-endpoint
// and per-conference media state. media_router.cpp owns the endpoints'
// transports and the fan-out; media_router_audio.cpp the routing decisions
// and speech activity; media_router_rtcp.cpp RTCP termination.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bridge/audio_ssrc_cache.hpp"
#include "bridge/media_router.hpp"
#include "sctp/association.hpp"

namespace jvb::bridge {

namespace media_detail {
inline void bump(std::atomic<uint64_t>& c) {
  c.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace media_detail

struct MediaRouter::ConferenceMedia {
  explicit ConferenceMedia(const SpeechActivityConfig& cfg) : speech(cfg) {}
  SpeechActivity speech;
  std::map<SpeechActivity::Handle, Media*> bySpeaker;
  Clock::time_point nextDecision{};
  // Sources some receiver asked for by name (ReceiverAudioSubscription
  // include): routed even when not among the loudest, as JVB does.
  std::set<std::string> explicitIncludes;
  // Every signalled audio source of the conference under a small index
  // (what rewriting receivers' slot caches key on); freed indices are
  // reused. owner == nullptr: a free index.
  struct Source {
    Media* owner = nullptr;
    uint32_t ssrc = 0;
    std::string name;
  };
  std::vector<Source> sources;
  std::vector<uint32_t> freeSources;
};

struct MediaRouter::Media {
  std::string meetingId;
  Endpoint cfg;
  std::unique_ptr<ice::IceAgent> ice;
  std::unique_ptr<dtls::Session> dtls;
  bool dtlsReleased = false;  // released once no longer needed (releaseDtlsIfDone)
  std::optional<srtp::Session> rtpIn;
  std::optional<srtp::Session> rtpOut;
  std::vector<UdpEndpoint> tuples;      // 5-tuples bound to this endpoint
  std::optional<UdpEndpoint> dtlsPeer;  // where DTLS came from / goes to
  ice::IceState lastIceState = ice::IceState::kNew;
  // Header extensions as negotiated with this endpoint: the interned id of
  // its (id, uri) pairs other than sdes:mid (endpoints with equal ids
  // negotiated the same IDs), its sdes:mid id (0: none), and the map that
  // strips sdes:mid from packets it sends (the receiver's m-lines have their
  // own mids; without it a receiver demuxes by SSRC).
  uint32_t extProfile = 0;
  uint8_t midId = 0;
  rtp::ExtensionIdMap stripMid;
  // Per signalled audio SSRC the endpoint sends (bounded by its sources).
  std::map<uint32_t, ReceptionStats> reception;
  std::map<uint32_t, uint16_t> lastDecrypted;  // sequence number, see kRocRefreshDistance
  // Audio routing: its handle in the conference's SpeechActivity, the
  // audio-level extension id (0: not negotiated), silent packets in a row,
  // and what it wants to receive.
  SpeechActivity::Handle speaker{};
  uint8_t levelId = 0;
  uint32_t silentRun = 0;
  AudioSubscription subscription;
  EndpointAudioStats stats;
  // Its signalled audio SSRCs -> the conference's source indices.
  std::map<uint32_t, uint32_t> sourceIndex;
  // As a receiver that asked for SSRC rewriting (Colibri2 capability):
  // its slots; null otherwise.
  std::unique_ptr<AudioSsrcCache> rewrite;
  // The bridge channel over SCTP (Colibri2 <sctp/>): the association, the
  // stream of the channel the client opened, and this channel's id for the
  // control thread (a new association gets a new one).
  std::unique_ptr<sctp::Association> sctp;
  std::optional<uint16_t> channelStream;
  uint64_t channelId = 0;
  Clock::time_point nextReport{};
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

}  // namespace jvb::bridge
