#include "control/debug_state.hpp"

#include <chrono>

namespace jvb::control {
namespace {

using nlohmann::json;

const char* shutdownStateName(ShutdownPhase p) {
  switch (p) {
    case ShutdownPhase::kRunning:
      return "RUNNING";
    case ShutdownPhase::kGracefulShutdown:
      return "GRACEFUL_SHUTDOWN";
    case ShutdownPhase::kShuttingDown:
      return "SHUTTING_DOWN";
  }
  return "RUNNING";
}

const media::ConferenceAudioStats* audioOf(const StatsCollector* stats,
                                           const std::string& meetingId) {
  if (stats == nullptr) {
    return nullptr;
  }
  for (const auto& c : stats->conferenceAudio()) {
    if (c.meetingId == meetingId) {
      return &c;
    }
  }
  return nullptr;
}

json endpointState(const Endpoint& e, const media::EndpointAudioStats* a, int ssrcLimit) {
  json sources = json::array();
  for (const auto& [ssrc, src] : e.audioSources) {
    sources.push_back({{"ssrc", ssrc}, {"name", src.name}, {"synthetic", src.synthetic}});
  }
  json payloadTypes = json::array();
  for (const auto& pt : e.audioPayloadTypes) {
    payloadTypes.push_back({{"id", pt.id}, {"name", pt.name}, {"clockrate", pt.clockrate}});
  }
  json extensions = json::array();
  for (const auto& h : e.audioHeaderExtensions) {
    extensions.push_back({{"id", h.id}, {"uri", h.uri}});
  }
  json j = {
      {"expired", false},
      {"stats_id", e.statsId},
      {"visitor", e.visitor},
      {"accept_audio", e.acceptsAudio},
      {"accept_video", false},
      {"force_mute_audio", e.forceMuteAudio},
      {"force_mute_video", e.forceMuteVideo},
      {"capabilities", e.capabilities},
      {"ice_transport",
       {{"local_ufrag", e.localIce.ufrag},
        {"controlling", e.iceControlling},
        {"remote_ufrag", e.remoteUfrag},
        {"remote_candidates", e.remoteCandidates.size()},
        {"rtcp_mux", e.remoteRtcpMux}}},
      {"dtls_transport",
       {{"setup", e.dtlsSetup},
        {"remote_setup", e.remoteDtlsSetup},
        {"remote_fingerprints", e.remoteFingerprints.size()}}},
      {"sctp_requested", e.sctpRequested},
      {"audio_sources", std::move(sources)},
      {"audio_payload_types", std::move(payloadTypes)},
      {"audio_header_extensions", std::move(extensions)},
      {"ssrc_rewriting", e.ssrcRewriting()},
      {"rtp_mid_demux", e.rtpMidDemux()},
  };
  if (!e.mucRole.empty()) {
    j["muc_role"] = e.mucRole;
  }
  if (a != nullptr) {
    // The media thread's last report (at most a second old).
    j["audio"] = {{"dominant", a->dominant},
                  {"speaker_changes", a->speakerChanges},
                  {"packets_routed", a->packetsRouted},
                  {"packets_forwarded", a->forwarded},
                  {"dropped_not_loudest", a->droppedNotLoudest},
                  {"dropped_silence", a->droppedSilence},
                  {"dropped_muted", a->droppedMuted},
                  {"rtp_received", a->rtpReceived},
                  {"rtp_expected", a->rtpExpected},
                  {"ms_since_created", a->sinceCreatedMs},
                  {"ms_since_incoming", a->sinceIncomingMs},
                  {"ice_failed", a->iceFailed}};
    if (a->ssrcRewriting) {
      j["audio_ssrcs"] = {{"max", ssrcLimit},
                          {"used", a->slotsUsed},
                          {"created", a->slotsCreated},
                          {"remappings", a->remappings},
                          {"delayed_packets", a->delayedPackets},
                          {"no_slot_dropped", a->noSlotDropped}};
    }
  }
  return j;
}

json conferenceState(const Conference& conf, const std::string& endpointId, bool full,
                     const DebugSources& src) {
  json j = {{"id", conf.internalId},
            {"rtcstatsEnabled", conf.rtcstatsEnabled},
            {"meeting_id", conf.meetingId}};
  if (conf.name) {
    j["name"] = *conf.name;
  }
  const media::ConferenceAudioStats* audio = audioOf(src.stats, conf.meetingId);
  if (full) {
    j["expired"] = false;
    const auto age = std::chrono::steady_clock::now() - conf.createdAt;
    const auto created = std::chrono::system_clock::now() - age;
    j["creation_time"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(created.time_since_epoch()).count();
    j["speech_activity"] = {
        {"dominantEndpoint",
         audio != nullptr && !audio->dominantSpeaker.empty() ? audio->dominantSpeaker : "null"},
        {"speaker_changes", audio != nullptr ? audio->speakerChanges : 0}};
  }
  json endpoints = json::object();
  for (const auto& [id, e] : conf.endpoints) {
    if (!endpointId.empty() && id != endpointId) {
      continue;
    }
    if (!full) {
      endpoints[id] = e.statsId;
      continue;
    }
    const media::EndpointAudioStats* a = nullptr;
    if (audio != nullptr) {
      for (const auto& s : audio->endpoints) {
        if (s.id == id) {
          a = &s;
        }
      }
    }
    endpoints[id] = endpointState(e, a, src.ssrcLimitAudio);
  }
  j["endpoints"] = std::move(endpoints);
  j["relays"] = json::object();
  return j;
}

}  // namespace

std::optional<nlohmann::json> debugState(const DebugSources& src, const std::string& conferenceId,
                                         const std::string& endpointId, bool full,
                                         const Health& health) {
  const Conference* only = nullptr;
  if (!conferenceId.empty()) {
    only = src.conferences != nullptr ? src.conferences->findByInternalId(conferenceId) : nullptr;
    if (only == nullptr) {
      return std::nullopt;
    }
    if (!endpointId.empty() && only->endpoints.count(endpointId) == 0) {
      return std::nullopt;
    }
  }
  json j = json::object();
  if (src.state != nullptr) {
    j["shutdown_state"] = shutdownStateName(src.state->shutdownPhase());
    j["drain"] = src.state->drain();
  }
  j["time"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  if (src.stats != nullptr) {
    j["load_management"] = {{"stress", src.stats->stressLevel()},
                            {"cpu_usage", src.stats->cpuUsage()},
                            {"media_busy", src.stats->mediaBusy()}};
  }
  json conferences = json::object();
  if (only != nullptr) {
    conferences[only->internalId] = conferenceState(*only, endpointId, full, src);
  } else if (src.conferences != nullptr) {
    for (const auto& [meetingId, conf] : src.conferences->conferences()) {
      conferences[conf.internalId] = conferenceState(conf, {}, full, src);
    }
  }
  j["conferences"] = std::move(conferences);
  if (conferenceId.empty()) {
    // JVB appends its health-check result to the bridge's view.
    j["health"] = {{"success", health.healthy},
                   {"hardFailure", !health.healthy},
                   {"responseCode", health.healthy ? 200 : 500},
                   {"message", health.healthy ? json(nullptr) : json(health.reason)}};
  }
  return j;
}

}  // namespace jvb::control
