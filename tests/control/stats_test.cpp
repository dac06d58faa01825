#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "control/metrics.hpp"
#include "control/stats.hpp"

namespace {

using jvb::control::BridgeState;
using jvb::control::ShutdownPhase;
using jvb::control::StatsCollector;
using jvb::media::MediaLoop;

// A media loop's options on an ephemeral loopback port.
jvb::media::MediaOptions loopbackMedia() {
  jvb::media::MediaOptions options;
  options.bindAddress = "127.0.0.1";
  options.port = 0;
  return options;
}

TEST(Stats, CarriesJvbFieldNamesThatJicofoAndMonitoringRead) {
  jvb::config::BridgeConfig cfg;
  cfg.iceBindAddress = "127.0.0.1";
  cfg.iceUdpPort = 0;
  cfg.region = "default";
  cfg.relayEnabled = true;
  cfg.relayId = "jvb1";
  jvb::media::MediaOptions options;
  options.bindAddress = cfg.iceBindAddress;
  options.port = static_cast<uint16_t>(cfg.iceUdpPort);
  MediaLoop media(options);
  BridgeState state(false);
  StatsCollector stats(cfg, media, state);
  stats.sample();
  jvb::control::Health h;
  h.healthy = true;
  const auto j = stats.snapshot(h);
  for (const char* key : {"stress_level",
                          "average_participant_stress",
                          "conferences",
                          "participants",
                          "endpoints",
                          "largest_conference",
                          "bit_rate_download",
                          "bit_rate_upload",
                          "packet_rate_download",
                          "packet_rate_upload",
                          "total_conferences_created",
                          "total_participants",
                          "total_bytes_received",
                          "total_packets_received",
                          "graceful_shutdown",
                          "shutting_down",
                          "drain",
                          "healthy",
                          "version",
                          "current_timestamp",
                          "threads",
                          "muc_clients_configured",
                          "mucs_joined",
                          "region"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["drain"], false);
  EXPECT_EQ(j["healthy"], true);
  EXPECT_EQ(j["region"], "default");
  // relay.enabled with a relay-id, but no relay support: never published
  // (Jicofo would split conferences onto this bridge).
  EXPECT_FALSE(j.contains("relay_id"));
  EXPECT_GE(j["threads"].get<int>(), 1);
  EXPECT_TRUE(std::regex_match(j["current_timestamp"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})")));
  EXPECT_GE(j["stress_level"].get<double>(), 0.0);
}

TEST(Stats, ReflectsDrainAndShutdownPhase) {
  jvb::config::BridgeConfig cfg;
  MediaLoop media(jvb::media::MediaOptions{});
  BridgeState state(true);
  StatsCollector stats(cfg, media, state);
  jvb::control::Health h;
  EXPECT_EQ(stats.snapshot(h)["drain"], true);
  EXPECT_FALSE(stats.snapshot(h).contains("relay_id"));  // relay disabled
  state.setShutdownPhase(ShutdownPhase::kGracefulShutdown);
  EXPECT_EQ(stats.snapshot(h)["graceful_shutdown"], true);
  EXPECT_EQ(stats.snapshot(h)["shutting_down"], false);
  state.setShutdownPhase(ShutdownPhase::kShuttingDown);
  EXPECT_EQ(stats.snapshot(h)["shutting_down"], true);
}

TEST(Stats, ConnectivityCountersComeFromTheMonitor) {
  jvb::config::BridgeConfig cfg;
  MediaLoop media(jvb::media::MediaOptions{});
  BridgeState state(false);
  StatsCollector stats(cfg, media, state);
  jvb::control::Health h;
  EXPECT_EQ(stats.snapshot(h)["endpoints_disconnected"], 0);
  stats.setConnectivityTotals([] { return jvb::control::ConnectivityTotals{3, 2, 4, 1}; });
  const auto j = stats.snapshot(h);
  EXPECT_EQ(j["endpoints_disconnected"], 3);
  EXPECT_EQ(j["endpoints_reconnected"], 2);
  EXPECT_EQ(j["endpoint_connectivity"]["never_connected"], 4);
  EXPECT_EQ(j["endpoint_connectivity"]["inactive"], 1);
}

TEST(CpuUsage, SecondSampleIsAFraction) {
  jvb::control::CpuUsage cpu;
  EXPECT_FALSE(cpu.sample().has_value());
  volatile double sink = 0;
  for (int i = 0; i < 2000000; ++i)
    sink = sink + i;  // make the jiffies move
  std::optional<double> u;
  for (int i = 0; i < 50 && !u; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    u = cpu.sample();
  }
  ASSERT_TRUE(u.has_value());
  EXPECT_GE(*u, 0.0);
  EXPECT_LE(*u, 1.0);
}

}  // namespace

namespace {

jvb::media::EndpointAudioStats sender(const std::string& id, uint64_t received, uint64_t expected) {
  jvb::media::EndpointAudioStats e;
  e.id = id;
  e.rtpReceived = received;
  e.rtpExpected = expected;
  return e;
}

TEST(Stats, IncomingLossIsPerIntervalOverAllSenders) {
  jvb::config::BridgeConfig cfg;
  jvb::media::MediaOptions options = loopbackMedia();
  MediaLoop media(options);
  BridgeState state(false);
  StatsCollector stats(cfg, media, state);
  jvb::media::ConferenceAudioStats c;
  c.meetingId = "m";
  c.endpoints = {sender("a", 90, 100), sender("b", 100, 100)};
  stats.setConferenceAudio({c});
  EXPECT_DOUBLE_EQ(stats.incomingLoss(), 10.0 / 200.0);
  // Next interval: a lost nothing more, b lost 50 of 100.
  c.endpoints = {sender("a", 190, 200), sender("b", 150, 200)};
  stats.setConferenceAudio({c});
  EXPECT_DOUBLE_EQ(stats.incomingLoss(), 50.0 / 200.0);
  // Duplicates (more received than expected) are no negative loss; a sender
  // whose counts went down (streams replaced) starts over.
  c.endpoints = {sender("a", 300, 290), sender("b", 10, 10)};
  stats.setConferenceAudio({c});
  EXPECT_DOUBLE_EQ(stats.incomingLoss(), 0.0);
  stats.setConferenceAudio({});
  EXPECT_DOUBLE_EQ(stats.incomingLoss(), 0.0);
}

TEST(Stats, RewritingTotalsOnlyGrow) {
  jvb::config::BridgeConfig cfg;
  jvb::media::MediaOptions options = loopbackMedia();
  MediaLoop media(options);
  BridgeState state(false);
  StatsCollector stats(cfg, media, state);
  jvb::media::ConferenceAudioStats c;
  c.meetingId = "m";
  auto rx = sender("r", 0, 0);
  rx.ssrcRewriting = true;
  rx.remappings = 4;
  c.endpoints = {rx};
  stats.setConferenceAudio({c});
  rx.remappings = 6;
  c.endpoints = {rx};
  stats.setConferenceAudio({c});
  EXPECT_EQ(stats.rewritingTotals().remappings, 6U);
  stats.setConferenceAudio({});  // the receiver left: its remappings stay counted
  EXPECT_EQ(stats.rewritingTotals().remappings, 6U);
}

TEST(ThreadBusy, ReadsTheKernelsFiguresOfAThread) {
  EXPECT_FALSE(jvb::control::threadBusyNs(0).has_value());
  const auto self = jvb::control::threadBusyNs(static_cast<int>(::gettid()));
  ASSERT_TRUE(self.has_value());
  jvb::control::ThreadBusy busy;
  EXPECT_FALSE(busy.sample(static_cast<int>(::gettid())).has_value());  // primes
  const auto second = busy.sample(static_cast<int>(::gettid()));
  ASSERT_TRUE(second.has_value());
  EXPECT_GE(*second, 0.0);
  EXPECT_LE(*second, 1.0);
  EXPECT_FALSE(busy.sample(0).has_value());
}

}  // namespace

namespace {

// README "Misbehaving peers": every counter of a misbehaving peer is in
// /colibri/stats (misbehaving_peers) and in /metrics (jvb_audio_*_total).
TEST(Stats, MisbehavingPeerCountersArePublished) {
  jvb::config::BridgeConfig cfg;
  jvb::media::MediaOptions options = loopbackMedia();
  MediaLoop media(options);
  BridgeState state(false);
  StatsCollector stats(cfg, media, state);
  jvb::control::BridgeMetrics metrics(cfg, media, state, nullptr, stats);
  jvb::control::Health h;
  const auto j = stats.snapshot(h);
  ASSERT_TRUE(j.contains("misbehaving_peers"));
  const auto& m = j["misbehaving_peers"];
  for (const char* key :
       {"endpoints", "rtp_ssrc_spoofed", "rtp_malformed", "rtp_bad_header_extension",
        "rtcp_malformed", "rate_limited_packets", "dtls_renegotiations_refused",
        "sctp_channels_refused", "sctp_messages_dropped"}) {
    EXPECT_TRUE(m.contains(key)) << key;
    EXPECT_EQ(m.value(key, uint64_t{99}), 0u) << key;
  }
  std::set<std::string> names;
  for (const auto& f : metrics.collect(h).families) {
    names.insert(f.name);
  }
  for (const char* name :
       {"jvb_audio_misbehaving_endpoints", "jvb_audio_rtp_packets_dropped_ssrc_spoofed",
        "jvb_audio_rtp_packets_dropped_malformed",
        "jvb_audio_rtp_packets_dropped_bad_header_extension",
        "jvb_audio_rtcp_packets_dropped_malformed", "jvb_audio_packets_dropped_rate_limited",
        "jvb_audio_dtls_renegotiations_refused", "jvb_audio_sctp_channels_refused",
        "jvb_audio_sctp_messages_dropped",
        "jvb_audio_bridge_channel_websocket_messages_rate_limited",
        "jvb_audio_bridge_channel_websocket_slow_consumers_closed"}) {
    EXPECT_TRUE(names.count(name) == 1 || names.count(std::string(name) + "_total") == 1) << name;
  }
}

}  // namespace

namespace {

// README "Process model", Load shedding: RTP the media thread reached too
// late is counted in /colibri/stats and /metrics.
TEST(Stats, StaleRtpDropsArePublished) {
  jvb::config::BridgeConfig cfg;
  jvb::media::MediaOptions options = loopbackMedia();
  options.maxQueueDelay = std::chrono::milliseconds(50);
  MediaLoop media(options);
  media.start();
  BridgeState state(false);
  StatsCollector stats(cfg, media, state);
  jvb::control::BridgeMetrics metrics(cfg, media, state, nullptr, stats);

  std::atomic<bool> blocked{false};
  ASSERT_TRUE(media.post([&blocked] {
    blocked.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }));
  for (int i = 0; i < 500 && !blocked.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  boost::asio::io_context io;
  boost::asio::ip::udp::socket client(io, {boost::asio::ip::udp::v4(), 0});
  std::array<uint8_t, 40> rtp{0x80, 111};
  client.send_to(boost::asio::buffer(rtp),
                 {boost::asio::ip::make_address("127.0.0.1"), media.udpPort()});
  for (int i = 0; i < 500 && media.counters().rtpStaleDropped.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  jvb::control::Health h;
  EXPECT_EQ(stats.snapshot(h).value("stale_rtp_packets_dropped", uint64_t{0}), 1u);
  double published = -1;
  for (const auto& f : metrics.collect(h).families) {
    if (f.name.rfind("jvb_audio_rtp_packets_dropped_stale", 0) == 0 && !f.metric.empty()) {
      published = f.metric.front().counter.value;
    }
  }
  EXPECT_EQ(published, 1.0);
  media.stop();
}

}  // namespace
