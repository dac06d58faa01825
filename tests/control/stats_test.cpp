#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "control/stats.hpp"

namespace {

using jvb::control::BridgeState;
using jvb::control::ShutdownPhase;
using jvb::control::StatsCollector;
using jvb::media::MediaLoop;

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
