#include "control/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <chrono>
#include <map>

namespace jvb::control {
namespace {

constexpr const char* kJvb = "jitsi_jvb_";
constexpr const char* kOwn = "jvb_audio_";

std::string named(const char* ns, const char* name, const char* suffix = "") {
  std::string s(ns);
  s += name;
  s += suffix;
  return s;
}

// One scrape's families, built in a fresh registry (every value is read
// from the bridge when scraped; nothing is cached between scrapes).
class Builder {
 public:
  explicit Builder(MetricsSnapshot& out) : out_(out) {}

  void gauge(const char* ns, const char* name, const char* help, double value,
             const prometheus::Labels& labels = {}) {
    prometheus::BuildGauge()
        .Name(named(ns, name))
        .Help(help)
        .Register(registry_)
        .Add(labels)
        .Set(value);
  }
  void boolean(const char* name, const char* help, bool value) {
    gauge(kJvb, name, help, value ? 1.0 : 0.0);
    out_.booleans.insert(named(kJvb, name));
  }
  // `name` without _total; the family is NAME_total as the 0.0.4 text shows it.
  void counter(const char* ns, const char* name, const char* help, double value) {
    auto& family =
        prometheus::BuildCounter().Name(named(ns, name, "_total")).Help(help).Register(registry_);
    family.Add({}).Increment(value);
  }
  prometheus::Family<prometheus::Counter>& counterFamily(const char* ns, const char* name,
                                                         const char* help) {
    return prometheus::BuildCounter()
        .Name(named(ns, name, "_total"))
        .Help(help)
        .Register(registry_);
  }
  void info(const char* name, const char* help, const std::string& value) {
    // An Info metric: NAME_info{NAME="value"} 1 (the Java client's Info).
    const std::string family = named(kJvb, name, "_info");
    prometheus::BuildGauge()
        .Name(family)
        .Help(help)
        .Register(registry_)
        .Add({{name, value}})
        .Set(1.0);
    out_.infos.insert(family);
  }
  // A histogram over `values`, rebuilt per scrape (as JVB clears and
  // re-observes its periodic histograms).
  void histogram(const char* name, const char* help, const std::vector<double>& bounds,
                 const std::vector<double>& values) {
    auto& h = prometheus::BuildHistogram()
                  .Name(named(kJvb, name))
                  .Help(help)
                  .Register(registry_)
                  .Add({}, bounds);
    for (const double v : values) {
      h.Observe(v);
    }
  }
  prometheus::Registry& registry() { return registry_; }

 private:
  MetricsSnapshot& out_;
  prometheus::Registry registry_;
};

std::vector<double> zeroToTwenty() {
  std::vector<double> b;
  for (int i = 0; i <= 20; ++i) {
    b.push_back(i);
  }
  return b;
}

}  // namespace

const std::vector<double>& BridgeMetrics::healthCheckBuckets() {
  static const std::vector<double> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                              1.0,    2.5,     5.0,    10.0};
  return kBounds;
}

BridgeMetrics::BridgeMetrics(const config::BridgeConfig& cfg, const media::MediaLoop& media,
                             const BridgeState& state, const ConferenceRegistry* conferences,
                             const StatsCollector& stats)
    : cfg_(cfg),
      media_(media),
      state_(state),
      conferences_(conferences),
      stats_(stats),
      kept_(std::make_shared<prometheus::Registry>()),
      startupMs_(std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count()) {
  healthCheck_ = &prometheus::BuildHistogram()
                      .Name(named(kOwn, "health_check_duration_seconds"))
                      .Help(
                          "Time the bridge took to answer a health check (Jicofo's health-check "
                          "IQ or GET /about/health), in seconds.")
                      .Register(*kept_)
                      .Add({}, healthCheckBuckets());
}

void BridgeMetrics::observeHealthCheck(std::chrono::duration<double> d) {
  healthCheck_->Observe(d.count());
}

MetricsSnapshot BridgeMetrics::collect(const Health& health) const {
  MetricsSnapshot out;
  Builder b(out);
  const auto& c = media_.counters();
  const auto load = [](const std::atomic<uint64_t>& a) {
    return static_cast<double>(a.load(std::memory_order_relaxed));
  };
  const ConferenceCounts counts =
      conferences_ != nullptr ? conferences_->counts() : ConferenceCounts{};

  // Conference and endpoint figures, JVB's VideobridgePeriodicMetrics: a
  // conference is active while one of its endpoints sends audio (routed
  // audio in the media thread's last report).
  std::vector<double> sizes;
  std::vector<double> senders;
  double inactiveConferences = 0;
  double inactiveEndpoints = 0;
  double activeEndpoints = 0;
  double recvOnly = 0;
  if (conferences_ != nullptr) {
    const auto& bySender = stats_.audioSendersByConference();
    for (const auto& [meetingId, conf] : conferences_->conferences()) {
      const auto size = static_cast<double>(conf.endpoints.size());
      const auto it = bySender.find(meetingId);
      const double sending = it == bySender.end() ? 0.0 : static_cast<double>(it->second);
      sizes.push_back(size);
      senders.push_back(sending);
      if (sending == 0) {
        ++inactiveConferences;
        inactiveEndpoints += size;
      } else {
        activeEndpoints += size;
        recvOnly += size - sending;
      }
    }
  }
  b.gauge(kJvb, "conferences", "Conferences on the bridge now.",
          static_cast<double>(counts.conferences));
  b.gauge(kJvb, "current_endpoints", "Endpoints on the bridge now (all local: no relays).",
          static_cast<double>(counts.endpoints));
  b.gauge(kJvb, "local_endpoints", "Local endpoints on the bridge now.",
          static_cast<double>(counts.endpoints));
  b.gauge(kJvb, "largest_conference", "Endpoints in the largest conference.",
          static_cast<double>(counts.largestConference));
  b.gauge(kJvb, "endpoints_sending_audio",
          "Endpoints whose audio passed the routing filters in the last report interval.",
          static_cast<double>(stats_.endpointsSendingAudio()));
  b.gauge(kJvb, "active_endpoints", "Endpoints in conferences where someone sends audio.",
          activeEndpoints);
  b.gauge(kJvb, "endpoints_recvonly",
          "Endpoints of active conferences that send no audio (they only receive).", recvOnly);
  b.gauge(kJvb, "endpoints_inactive", "Endpoints in conferences where nobody sends audio.",
          inactiveEndpoints);
  b.gauge(kJvb, "conferences_inactive", "Conferences where nobody sends audio.",
          inactiveConferences);
  b.histogram("conferences_by_size", "Conferences by number of endpoints.", zeroToTwenty(), sizes);
  b.histogram("conferences_by_audio_sender", "Conferences by number of endpoints sending audio.",
              zeroToTwenty(), senders);
  b.counter(kJvb, "conferences_created", "Conferences created since start.",
            static_cast<double>(counts.totalConferencesCreated));
  b.counter(kJvb, "conferences_completed", "Conferences expired since start.",
            static_cast<double>(counts.totalConferencesCompleted));
  b.counter(kJvb, "conference_seconds", "Summed duration of the completed conferences, seconds.",
            counts.totalConferenceSeconds);
  b.counter(kJvb, "endpoints", "Endpoints created since start.",
            static_cast<double>(counts.totalParticipants));
  b.counter(kJvb, "relays", "Relays created since start (the bridge has no relays: always 0).",
            0.0);

  // Load, state and health.
  b.gauge(kJvb, "stress",
          "Stress level published to Jicofo: max(host CPU usage, media thread busy) / 0.9.",
          stats_.stressLevel());
  b.boolean("graceful_shutdown", "1 while in graceful shutdown (no new conferences).",
            state_.shutdownPhase() == ShutdownPhase::kGracefulShutdown);
  b.boolean("shutting_down", "1 while shutting down.",
            state_.shutdownPhase() == ShutdownPhase::kShuttingDown);
  b.boolean("drain_mode", "1 while in drain mode.", state_.drain());
  b.boolean("healthy", "1 while the bridge's health check passes.", health.healthy);
  b.gauge(kJvb, "startup_time", "When the bridge started, milliseconds since the Unix epoch.",
          static_cast<double>(startupMs_));
  if (!cfg_.region.empty()) {
    b.info("region", "The configured region (videobridge.relay.region).", cfg_.region);
  }

  // Media totals and rates (all datagrams on the media port, as
  // /colibri/stats' total_packets_* and bit/packet rates).
  b.counter(kJvb, "packets_received", "Datagrams received on the media port.",
            load(c.packetsReceived));
  b.counter(kJvb, "packets_sent", "Datagrams sent from the media port.", load(c.packetsSent));
  b.counter(kJvb, "bytes_received", "Bytes received on the media port.", load(c.bytesReceived));
  b.counter(kJvb, "bytes_sent", "Bytes sent from the media port.", load(c.bytesSent));
  b.gauge(kJvb, "incoming_bitrate", "Incoming bit rate over the last stats interval, bits/s.",
          stats_.bitRateDownloadKbps() * 1000.0);
  b.gauge(kJvb, "outgoing_bitrate", "Outgoing bit rate over the last stats interval, bits/s.",
          stats_.bitRateUploadKbps() * 1000.0);
  b.gauge(kJvb, "incoming_packet_rate",
          "Incoming packet rate over the last stats interval, packets/s.",
          stats_.packetRateDownload());
  b.gauge(kJvb, "outgoing_packet_rate",
          "Outgoing packet rate over the last stats interval, packets/s.",
          stats_.packetRateUpload());
  b.gauge(kJvb, "incoming_loss_fraction",
          "Fraction of the senders' audio packets (by sequence number) that did not reach the "
          "bridge, over the last report interval.",
          stats_.incomingLoss());
  b.counter(kJvb, "dominant_speaker_changes", "Dominant speaker changes, all conferences.",
            load(c.dominantSpeakerChanges));
  b.counter(kJvb, "ice_succeeded", "ICE connectivity established.", load(c.iceSucceeded));
  b.counter(kJvb, "ice_failed", "ICE failed or lost consent.", load(c.iceFailed));
  b.counter(kJvb, "endpoints_dtls_failed", "DTLS handshakes that failed.", load(c.dtlsFailed));

  // Bridge channel (JVB's names) and XMPP.
  const BridgeChannelTotals channel = stats_.channelTotals();
  b.counter(kJvb, "data_channel_messages_received", "Bridge-channel messages from SCTP.",
            static_cast<double>(channel.dataChannelMessagesReceived));
  b.counter(kJvb, "data_channel_messages_sent", "Bridge-channel messages sent over SCTP.",
            static_cast<double>(channel.dataChannelMessagesSent));
  b.counter(kJvb, "colibri_web_socket_messages_received",
            "Bridge-channel messages from colibri-ws.",
            static_cast<double>(channel.webSocketMessagesReceived));
  b.counter(kJvb, "colibri_web_socket_messages_sent", "Bridge-channel messages sent on colibri-ws.",
            static_cast<double>(channel.webSocketMessagesSent));
  b.gauge(kJvb, "muc_clients_configured", "Configured xmpp-client connections.",
          state_.mucClientsConfigured.load());
  b.gauge(kJvb, "muc_clients_connected", "Connected xmpp-client connections.",
          state_.mucClientsConnected.load());
  // JVB registers the configured-MUC count under this name (XmppConnection.kt).
  b.gauge(kJvb, "mucs_connected", "Configured MUCs (JVB's name for this figure).",
          state_.mucsConfigured.load());
  b.gauge(kJvb, "mucs_joined", "Joined MUCs.", state_.mucsJoined.load());
  b.counter(kJvb, "xmpp_disconnects", "XMPP connections lost.",
            static_cast<double>(state_.xmppDisconnects.load()));

  // The bridge's own.
  b.gauge(kOwn, "media_busy_ratio",
          "Share of the last stats interval the media thread was on a CPU or waiting for one.",
          stats_.mediaBusy(), {{"worker", "0"}});
  b.gauge(kOwn, "cpu_usage_ratio", "Host CPU usage over the last stats interval (/proc/stat).",
          stats_.cpuUsage());
  b.counter(kOwn, "packets_dropped_not_loudest",
            "Audio packets dropped as not among the loudest (route-loudest-only).",
            load(c.audioNotLoudestDropped));
  b.counter(kOwn, "packets_dropped_silence", "Audio packets dropped as silence.",
            load(c.audioSilenceDropped));
  b.counter(kOwn, "packets_dropped_muted", "Audio packets dropped as force-muted.",
            load(c.audioMutedDropped));
  b.counter(kOwn, "rtp_packets_forwarded", "RTP copies sent to receivers.", load(c.rtpForwarded));
  b.counter(kOwn, "rtp_packets_dropped", "RTP packets dropped (unsignalled, not ready, malformed).",
            load(c.rtpDropped));
  b.counter(kOwn, "video_packets_dropped", "Video packets dropped (never forwarded).",
            load(c.videoDropped));
  b.counter(kOwn, "rtp_packets_dropped_stale",
            "RTP packets dropped unread after waiting longer than max-queue-delay (overload).",
            load(c.rtpStaleDropped));
  b.counter(kOwn, "srtp_failures", "SRTP/SRTCP authentication or replay failures.",
            load(c.srtpFailed));
  // RFC 2198 RED (Opus RED): the figures of /colibri/stats' "red" object.
  b.counter(kOwn, "red_packets_received", "RED packets received from senders.",
            load(c.redReceived));
  b.counter(kOwn, "red_packets_malformed", "RED packets whose block headers did not parse.",
            load(c.redMalformed));
  b.counter(kOwn, "red_packets_decapsulated",
            "RED packets stripped to their primary Opus block for a receiver without RED.",
            load(c.redDecapsulated));
  b.counter(kOwn, "red_packets_forwarded", "RED packets forwarded as RED.", load(c.redForwarded));
  b.counter(kOwn, "red_packets_invalid_dropped", "RED packets dropped as invalid.",
            load(c.redInvalidDropped));
  b.counter(kOwn, "red_padding_only_packets",
            "Packets under the RED payload type that carried only padding (bandwidth probes).",
            load(c.redPaddingOnly));
  double unknown = 0;
  for (const auto& d : c.droppedUnknownSource) {
    unknown += load(d);
  }
  b.counter(kOwn, "packets_dropped_unknown_source", "Datagrams from addresses no endpoint owns.",
            unknown);
  // Authenticated peers that misbehave (README "Misbehaving peers").
  b.counter(kOwn, "misbehaving_endpoints", "Endpoints that misbehaved at least once.",
            load(c.misbehavingEndpoints));
  b.counter(kOwn, "rtp_packets_dropped_ssrc_spoofed",
            "RTP packets dropped for carrying another endpoint's signalled SSRC.",
            load(c.rtpSsrcSpoofed));
  b.counter(kOwn, "rtp_packets_dropped_malformed",
            "RTP packets dropped as malformed (version, CSRC count, padding, size).",
            load(c.rtpMalformed));
  b.counter(kOwn, "rtp_packets_dropped_bad_header_extension",
            "RTP packets dropped for a header-extension block or element past its end.",
            load(c.rtpBadExtension));
  b.counter(kOwn, "rtcp_packets_dropped_malformed",
            "SRTCP packets that authenticated and held no valid RTCP compound.",
            load(c.rtcpMalformed));
  b.counter(kOwn, "packets_dropped_rate_limited",
            "Datagrams dropped over the per-endpoint packet-rate cap.", load(c.rateLimited));
  b.counter(kOwn, "dtls_renegotiations_refused",
            "DTLS renegotiations and new ClientHellos after the handshake, refused.",
            load(c.dtlsRenegotiationRefused));
  b.counter(kOwn, "sctp_channels_refused", "Data channels refused past the per-endpoint cap.",
            load(c.sctpChannelsRefused));
  b.counter(kOwn, "sctp_messages_dropped",
            "Data-channel messages dropped over the size or message-rate cap.",
            load(c.sctpMessagesDropped));
  uint64_t rwEndpoints = 0;
  uint64_t slotsUsed = 0;
  for (const auto& conf : stats_.conferenceAudio()) {
    for (const auto& e : conf.endpoints) {
      if (e.ssrcRewriting) {
        ++rwEndpoints;
        slotsUsed += e.slotsUsed;
      }
    }
  }
  const auto& rw = stats_.rewritingTotals();
  b.gauge(kOwn, "ssrc_rewriting_endpoints", "Receivers with SSRC rewriting.",
          static_cast<double>(rwEndpoints));
  b.gauge(kOwn, "ssrc_slots_used", "SSRC slots with an owner, over all rewriting receivers.",
          static_cast<double>(slotsUsed));
  b.counter(kOwn, "ssrc_slots_created", "SSRC slots created.",
            static_cast<double>(rw.slotsCreated));
  b.counter(kOwn, "ssrc_remappings", "SSRC slots that changed owner.",
            static_cast<double>(rw.remappings));
  b.counter(kOwn, "ssrc_new_ssrc_delayed_packets",
            "Packets held back while a new SSRC was announced.",
            static_cast<double>(rw.delayedPackets));
  b.counter(kOwn, "ssrc_no_slot_dropped", "Packets not sent for want of a free slot.",
            static_cast<double>(rw.noSlotDropped));
  const auto detail = [&channel](const char* key) {
    return static_cast<double>(channel.details.value(key, uint64_t{0}));
  };
  b.counter(kOwn, "audio_sources_maps_sent", "AudioSourcesMap messages sent.",
            detail("audio_sources_maps_sent"));
  b.counter(kOwn, "audio_sources_maps_dropped",
            "AudioSourcesMap messages dropped (no channel open).",
            detail("audio_sources_maps_dropped"));
  b.counter(kOwn, "bridge_channel_messages_received", "Bridge-channel messages received.",
            detail("messages_in"));
  b.counter(kOwn, "bridge_channel_messages_sent", "Bridge-channel messages sent.",
            detail("messages_out"));
  b.counter(kOwn, "bridge_channel_messages_dropped",
            "Bridge-channel messages not sent: the endpoint had no open channel.",
            detail("send_failures"));
  b.counter(kOwn, "bridge_channel_malformed", "Malformed bridge-channel messages.",
            detail("malformed"));
  b.gauge(kOwn, "bridge_channel_websockets_open", "colibri-ws sockets open.",
          detail("websockets_open"));
  b.counter(kOwn, "bridge_channel_websocket_messages_rate_limited",
            "colibri-ws messages dropped over the per-socket message-rate cap.",
            detail("websocket_messages_rate_limited"));
  b.counter(kOwn, "bridge_channel_websocket_slow_consumers_closed",
            "colibri-ws sockets closed because their outgoing queue was full.",
            detail("websocket_slow_consumers_closed"));
  auto& stanzas = b.counterFamily(kOwn, "xmpp_stanzas", "XMPP stanzas, by direction.");
  stanzas.Add({{"direction", "received"}})
      .Increment(static_cast<double>(state_.xmppStanzasReceived.load()));
  stanzas.Add({{"direction", "sent"}})
      .Increment(static_cast<double>(state_.xmppStanzasSent.load()));

  out.families = b.registry().Collect();
  auto kept = kept_->Collect();
  out.families.insert(out.families.end(), std::make_move_iterator(kept.begin()),
                      std::make_move_iterator(kept.end()));
  return out;
}

}  // namespace jvb::control
