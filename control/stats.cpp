#include "control/stats.hpp"

#include <fmt/format.h>
#include <malloc.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include "common/time_format.hpp"
#include "common/version_info.hpp"

namespace jvb::control {

std::optional<double> CpuUsage::sample() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  std::array<uint64_t, 8> v{};  // user nice system idle iowait irq softirq steal
  if (!(in >> cpu) || cpu != "cpu") {
    return std::nullopt;
  }
  for (auto& x : v) {
    if (!(in >> x)) {
      return std::nullopt;
    }
  }
  const uint64_t idle = v[3] + v[4];
  uint64_t total = 0;
  for (auto x : v) {
    total += x;
  }
  const uint64_t busy = total - idle;
  std::optional<double> out;
  if (primed_ && total > lastTotal_) {
    out = static_cast<double>(busy - lastBusy_) / static_cast<double>(total - lastTotal_);
  }
  lastBusy_ = busy;
  lastTotal_ = total;
  primed_ = true;
  return out;
}

std::optional<uint64_t> threadBusyNs(int tid) {
  if (tid <= 0) {
    return std::nullopt;
  }
  {
    std::ifstream in(fmt::format("/proc/self/task/{}/schedstat", tid));
    uint64_t onCpu = 0;
    uint64_t waiting = 0;
    if (in >> onCpu >> waiting) {
      return onCpu + waiting;
    }
  }
  // No schedstat (a kernel without CONFIG_SCHED_INFO): the thread's CPU
  // time from /proc/self/task/<tid>/stat (utime + stime, fields 14 and 15).
  std::ifstream in(fmt::format("/proc/self/task/{}/stat", tid));
  std::string line;
  if (!std::getline(in, line)) {
    return std::nullopt;
  }
  const auto close = line.rfind(')');  // the name may hold spaces
  if (close == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream fields(line.substr(close + 2));
  std::string f;
  uint64_t utime = 0;
  uint64_t stime = 0;
  for (int i = 3; i <= 13 && (fields >> f); ++i) {
  }
  if (!(fields >> utime >> stime)) {
    return std::nullopt;
  }
  const long hz = ::sysconf(_SC_CLK_TCK);
  return (utime + stime) * (1'000'000'000ULL / static_cast<uint64_t>(hz > 0 ? hz : 100));
}

std::optional<double> ThreadBusy::sample(int tid) {
  const auto now = std::chrono::steady_clock::now();
  const auto busy = threadBusyNs(tid);
  if (!busy) {
    primed_ = false;
    return std::nullopt;
  }
  std::optional<double> out;
  if (primed_ && tid == tid_ && now > lastAt_ && *busy >= lastBusyNs_) {
    const double wallNs = std::chrono::duration<double, std::nano>(now - lastAt_).count();
    out = std::clamp(static_cast<double>(*busy - lastBusyNs_) / wallNs, 0.0, 1.0);
  }
  tid_ = tid;
  lastBusyNs_ = *busy;
  lastAt_ = now;
  primed_ = true;
  return out;
}

StatsCollector::StatsCollector(const config::BridgeConfig& cfg, const media::MediaLoop& media,
                               const BridgeState& state, const ConferenceRegistry* conferences)
    : cfg_(cfg),
      media_(media),
      state_(state),
      conferences_(conferences),
      lastSample_(std::chrono::steady_clock::now()) {
  cpu_.sample();  // prime, so the first real sample has a baseline
  mediaBusyMeter_.sample(media_.threadId());
}

void StatsCollector::sample() {
  const auto now = std::chrono::steady_clock::now();
  const double secs = std::chrono::duration<double>(now - lastSample_).count();
  const auto& c = media_.counters();
  const uint64_t bytesIn = c.bytesReceived.load(std::memory_order_relaxed);
  const uint64_t bytesOut = c.bytesSent.load(std::memory_order_relaxed);
  const uint64_t pktsIn = c.packetsReceived.load(std::memory_order_relaxed);
  const uint64_t pktsOut = c.packetsSent.load(std::memory_order_relaxed);
  if (secs > 0.0) {
    bitRateDownloadKbps_ = static_cast<double>(bytesIn - lastBytesIn_) * 8.0 / 1000.0 / secs;
    bitRateUploadKbps_ = static_cast<double>(bytesOut - lastBytesOut_) * 8.0 / 1000.0 / secs;
    packetRateDownload_ = static_cast<double>(pktsIn - lastPacketsIn_) / secs;
    packetRateUpload_ = static_cast<double>(pktsOut - lastPacketsOut_) / secs;
  }
  lastBytesIn_ = bytesIn;
  lastBytesOut_ = bytesOut;
  lastPacketsIn_ = pktsIn;
  lastPacketsOut_ = pktsOut;
  lastSample_ = now;
  if (auto usage = cpu_.sample()) {
    cpuUsage_ = *usage;
  }
  if (auto busy = mediaBusyMeter_.sample(media_.threadId())) {
    mediaBusy_ = *busy;
  }
  // JVB's figure (host CPU / 0.9, load_management), or the media thread's
  // over the same interval when it is higher: one saturated media thread on
  // a many-core host leaves the host's CPU usage low while the bridge cannot
  // take more.
  stress_ = std::max(cpuUsage_, mediaBusy_) / kCpuLoadThreshold;
}

void StatsCollector::setConferenceAudio(std::vector<media::ConferenceAudioStats> audio) {
  // Sending audio: packets that passed the routing filters since the last
  // update (silence, mute and unsignalled streams do not count).
  std::map<std::pair<std::string, std::string>, uint64_t> routed;
  std::map<std::pair<std::string, std::string>, std::pair<uint64_t, uint64_t>> reception;
  std::map<std::string, size_t> senders;
  std::map<std::pair<std::string, std::string>, RewritingTotals> rewriting;
  size_t sending = 0;
  uint64_t received = 0;
  uint64_t expected = 0;
  for (const auto& c : audio) {
    size_t& conferenceSenders = senders[c.meetingId];
    for (const auto& e : c.endpoints) {
      const auto key = std::make_pair(c.meetingId, e.id);
      const auto prev = lastRouted_.find(key);
      if (e.packetsRouted > (prev == lastRouted_.end() ? 0 : prev->second)) {
        ++sending;
        ++conferenceSenders;
      }
      routed.emplace(key, e.packetsRouted);
      // Loss over this interval: what arrived against what the sequence
      // numbers say was sent. A sender whose streams were replaced (fewer
      // cumulative packets than before) starts over.
      const auto last = lastReception_.find(key);
      uint64_t r0 = 0;
      uint64_t x0 = 0;
      if (last != lastReception_.end() && e.rtpReceived >= last->second.first &&
          e.rtpExpected >= last->second.second) {
        r0 = last->second.first;
        x0 = last->second.second;
      }
      received += e.rtpReceived - r0;
      expected += e.rtpExpected - x0;
      reception.emplace(key, std::make_pair(e.rtpReceived, e.rtpExpected));
      if (e.ssrcRewriting) {
        const RewritingTotals now{e.slotsCreated, e.remappings, e.delayedPackets, e.noSlotDropped};
        const auto lastRw = lastRewriting_.find(key);
        const RewritingTotals before =
            lastRw != lastRewriting_.end() ? lastRw->second : RewritingTotals{};
        const auto grow = [](uint64_t n, uint64_t b) { return n >= b ? n - b : n; };
        rewritingTotals_.slotsCreated += grow(now.slotsCreated, before.slotsCreated);
        rewritingTotals_.remappings += grow(now.remappings, before.remappings);
        rewritingTotals_.delayedPackets += grow(now.delayedPackets, before.delayedPackets);
        rewritingTotals_.noSlotDropped += grow(now.noSlotDropped, before.noSlotDropped);
        rewriting.emplace(key, now);
      }
    }
  }
  lastRouted_ = std::move(routed);
  lastReception_ = std::move(reception);
  lastRewriting_ = std::move(rewriting);
  audioSenders_ = std::move(senders);
  endpointsSendingAudio_ = sending;
  // Duplicates can make received exceed expected: no negative loss.
  incomingLoss_ = expected > received
                      ? static_cast<double>(expected - received) / static_cast<double>(expected)
                      : 0.0;
  audio_ = std::move(audio);
}

std::string currentTimestamp() {
  return utcTimestamp(TimestampStyle::kJvbStats);
}

int processThreadCount() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) {
      return std::stoi(line.substr(8));
    }
  }
  return 0;
}

nlohmann::json StatsCollector::snapshot(const Health& health) const {
  const auto& c = media_.counters();
  const auto load = [](const std::atomic<uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
  };
  const ConferenceCounts counts =
      conferences_ != nullptr ? conferences_->counts() : ConferenceCounts{};
  const ConnectivityTotals connectivity =
      connectivityTotals_ ? connectivityTotals_() : ConnectivityTotals{};
  const auto conferences = counts.conferences;
  const auto endpoints = counts.endpoints;
  nlohmann::json j = {
      {"stress_level", stress_},
      {"average_participant_stress", 0.01},
      {"conferences", conferences},
      {"participants", endpoints},
      {"endpoints", endpoints},
      {"local_endpoints", endpoints},
      {"local_active_endpoints", 0},
      {"inactive_conferences", 0},
      {"inactive_endpoints", 0},
      // Endpoints that signalled no audio source only receive.
      {"receive_only_endpoints", endpoints - counts.endpointsWithAudioSources},
      {"endpoints_sending_audio", endpointsSendingAudio_},
      {"endpoints_sending_video", 0},
      {"largest_conference", counts.largestConference},
      {"p2p_conferences", 0},
      {"octo_conferences", 0},
      {"octo_endpoints", 0},
      {"visitors", 0},
      {"total_visitors", 0},
      {"bit_rate_download", bitRateDownloadKbps_},
      {"bit_rate_upload", bitRateUploadKbps_},
      {"packet_rate_download", packetRateDownload_},
      {"packet_rate_upload", packetRateUpload_},
      {"incoming_loss", incomingLoss_},
      {"outgoing_loss", 0.0},
      {"overall_loss", 0.0},
      {"rtt_aggregate", 0.0},
      {"total_bytes_received", load(c.bytesReceived)},
      {"total_bytes_sent", load(c.bytesSent)},
      {"total_packets_received", load(c.packetsReceived)},
      {"total_packets_sent", load(c.packetsSent)},
      {"total_bytes_received_octo", 0},
      {"total_bytes_sent_octo", 0},
      {"total_packets_received_octo", 0},
      {"total_packets_sent_octo", 0},
      {"total_conferences_created", counts.totalConferencesCreated},
      {"total_conferences_completed", counts.totalConferencesCompleted},
      {"total_conference_seconds", static_cast<uint64_t>(counts.totalConferenceSeconds)},
      {"total_participants", counts.totalParticipants},
      {"total_dominant_speaker_changes", load(c.dominantSpeakerChanges)},
      {"total_ice_failed", load(c.iceFailed)},
      {"total_ice_succeeded", load(c.iceSucceeded)},
      {"total_ice_peer_moves", load(c.icePeerMoves)},
      {"total_ice_succeeded_relayed", 0},
      {"endpoints_ice_failed", 0},
      {"dtls_failed_endpoints", load(c.dtlsFailed)},
      {"endpoints_disconnected", connectivity.disconnected},
      {"endpoints_reconnected", connectivity.reconnected},
      {"threads", processThreadCount()},
      {"graceful_shutdown", state_.shutdownPhase() == ShutdownPhase::kGracefulShutdown},
      {"shutting_down", state_.shutdownPhase() == ShutdownPhase::kShuttingDown},
      {"drain", state_.drain()},
      {"healthy", health.healthy},
      {"current_timestamp", currentTimestamp()},
      {"muc_clients_configured", state_.mucClientsConfigured.load()},
      {"muc_clients_connected", state_.mucClientsConnected.load()},
      {"mucs_configured", state_.mucsConfigured.load()},
      {"mucs_joined", state_.mucsJoined.load()},
      {"version", versionInfo().version},
  };
  // Our own counters, beside JVB's: datagrams from sources no endpoint owns.
  uint64_t unknown = 0;
  for (const auto& d : c.droppedUnknownSource) {
    unknown += load(d);
  }
  j["packets_dropped_unknown_source"] = unknown;
  // Heap in use (all malloc arenas) next to what the process holds: RSS
  // minus this is mostly freed-but-kept heap and code.
  const struct mallinfo2 heap = ::mallinfo2();
  j["heap_bytes_in_use"] = static_cast<uint64_t>(heap.uordblks);
  j["heap_bytes_free_kept"] = static_cast<uint64_t>(heap.fordblks);
  // What the media thread holds (an expired endpoint leaves nothing there).
  j["media"] = {{"endpoints", load(c.liveEndpoints)},
                {"conferences", load(c.liveConferences)},
                {"speakers", load(c.liveSpeakers)}};
  // What stress_level is made of (see sample()).
  j["cpu_usage"] = cpuUsage_;
  j["media_busy"] = mediaBusy_;
  j["rtp_packets_forwarded"] = load(c.rtpForwarded);
  j["rtp_packets_dropped"] = load(c.rtpDropped);
  j["video_packets_dropped"] = load(c.videoDropped);
  j["stale_rtp_packets_dropped"] = load(c.rtpStaleDropped);
  j["srtp_failures"] = load(c.srtpFailed);
  j["stun_rejected"] = load(c.stunRejected);
  j["dtls_handshakes_succeeded"] = load(c.dtlsSucceeded);
  // ICE restarts (JVB's ice_restarts_* metrics; `repeated` is ours: a round
  // not answered yet, described again).
  j["ice_restarts"] = {{"started", counts.iceRestarts.started},
                       {"superseded", counts.iceRestarts.superseded},
                       {"repeated", counts.iceRestarts.repeated},
                       {"not_established", counts.iceRestarts.notEstablished},
                       {"rejected", counts.iceRestarts.rejected},
                       {"succeeded", counts.iceRestarts.succeeded},
                       {"failed", counts.iceRestarts.failed}};
  j["dtls_sessions_released"] = load(c.dtlsReleased);
  j["dtls_packets_after_release"] = load(c.dtlsAfterRelease);
  j["audio_packets_dropped_not_loudest"] = load(c.audioNotLoudestDropped);
  j["audio_packets_dropped_silence"] = load(c.audioSilenceDropped);
  j["audio_packets_dropped_muted"] = load(c.audioMutedDropped);
  // RFC 2198 RED (Opus RED), JVB's AudioRedHandler names where it has them.
  j["red"] = {{"packets_received", load(c.redReceived)},
              {"packets_malformed", load(c.redMalformed)},
              {"red_packets_decapsulated", load(c.redDecapsulated)},
              {"red_packets_forwarded", load(c.redForwarded)},
              {"invalid_red_packets_dropped", load(c.redInvalidDropped)},
              {"padding_only_packets", load(c.redPaddingOnly)}};
  // Authenticated peers that misbehave (README "Misbehaving peers").
  j["misbehaving_peers"] = {{"endpoints", load(c.misbehavingEndpoints)},
                            {"rtp_ssrc_spoofed", load(c.rtpSsrcSpoofed)},
                            {"rtp_malformed", load(c.rtpMalformed)},
                            {"rtp_bad_header_extension", load(c.rtpBadExtension)},
                            {"rtcp_malformed", load(c.rtcpMalformed)},
                            {"rate_limited_packets", load(c.rateLimited)},
                            {"dtls_renegotiations_refused", load(c.dtlsRenegotiationRefused)},
                            {"sctp_channels_refused", load(c.sctpChannelsRefused)},
                            {"sctp_messages_dropped", load(c.sctpMessagesDropped)}};
  const BridgeChannelTotals channel = channelTotals_ ? channelTotals_() : BridgeChannelTotals{};
  j["total_data_channel_messages_received"] = channel.dataChannelMessagesReceived;
  j["total_data_channel_messages_sent"] = channel.dataChannelMessagesSent;
  j["total_colibri_web_socket_messages_received"] = channel.webSocketMessagesReceived;
  j["total_colibri_web_socket_messages_sent"] = channel.webSocketMessagesSent;
  j["bridge_channel"] = channel.details;
  if (exporterStats_) {
    j["exporter"] = exporterStats_();
  }
  // EndpointConnectivityStatusChangeEvent, beside JVB's two counters above.
  j["endpoint_connectivity"] = {{"inactive", connectivity.inactiveNow},
                                {"never_connected", connectivity.neverConnected}};
  // Per conference and endpoint: speaker changes and what routing did with
  // each sender's packets (as of the media thread's last report, <= 1 s old).
  auto confs = nlohmann::json::object();
  // SSRC rewriting, over every rewriting receiver (and the maps the bridge
  // channels sent).
  uint64_t rwEndpoints = 0, rwSlots = 0, rwCreated = 0, rwRemaps = 0, rwDelayed = 0, rwNoSlot = 0;
  for (const auto& a : audio_) {
    auto eps = nlohmann::json::object();
    for (const auto& e : a.endpoints) {
      auto& ej = eps[e.id];
      ej = {{"dominant", e.dominant},
            {"speaker_changes", e.speakerChanges},
            {"packets_routed", e.packetsRouted},
            {"packets_forwarded", e.forwarded},
            {"dropped_not_loudest", e.droppedNotLoudest},
            {"dropped_silence", e.droppedSilence},
            {"dropped_muted", e.droppedMuted}};
      if (e.ssrcRewriting) {
        ej["audio_ssrcs"] = {
            {"max", cfg_.ssrcLimitAudio},          {"used", e.slotsUsed},
            {"created", e.slotsCreated},           {"remappings", e.remappings},
            {"delayed_packets", e.delayedPackets}, {"no_slot_dropped", e.noSlotDropped}};
        ++rwEndpoints;
        rwSlots += e.slotsUsed;
        rwCreated += e.slotsCreated;
        rwRemaps += e.remappings;
        rwDelayed += e.delayedPackets;
        rwNoSlot += e.noSlotDropped;
      }
    }
    confs[a.meetingId] = {{"dominant_speaker", a.dominantSpeaker},
                          {"speaker_changes", a.speakerChanges},
                          {"endpoints", std::move(eps)}};
  }
  j["conference_audio"] = std::move(confs);
  j["ssrc_rewriting"] = {
      {"endpoints", rwEndpoints},
      {"slots_used", rwSlots},
      {"slots_created", rwCreated},
      {"remappings", rwRemaps},
      {"new_ssrc_delayed_packets", rwDelayed},
      {"no_slot_dropped", rwNoSlot},
      {"maps_sent", channel.details.value("audio_sources_maps_sent", uint64_t{0})},
      {"maps_dropped", channel.details.value("audio_sources_maps_dropped", uint64_t{0})}};
  if (!cfg_.release.empty()) {
    j["release"] = cfg_.release;
  }
  if (!cfg_.region.empty()) {
    j["region"] = cfg_.region;
  }
  // No relay_id: Jicofo reads it as "this bridge can relay" and would split
  // a large conference onto it (BridgeSelectionStrategy.kt), then fail the
  // session when the <relay> is refused. jvb-audio has no relays.
  return j;
}

}  // namespace jvb::control
