#pragma once
// The bridge's Prometheus metrics (GET /metrics): JVB's families under its
// namespace jitsi_jvb, with JVB's names, types and help (jitsi-videobridge
// metrics/VideobridgeMetrics.kt, metrics/VideobridgePeriodicMetrics.kt,
// health/JvbHealthChecker.kt, xmpp/XmppConnection.kt,
// transport/ice/IceTransport.kt; jicoco-metrics' MetricsContainer adds
// _total to a counter), for every figure this bridge really has; and the
// bridge's own under jvb_audio_. Values come from the same sources as
// /colibri/stats (StatsCollector, the media counters, the registry), read
// when scraped; only the health-check histogram is kept between scrapes.
//
// Threading: control thread only.
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "config/bridge_config.hpp"
#include "control/bridge_state.hpp"
#include "control/conference.hpp"
#include "control/stats.hpp"
#include "media/media_loop.hpp"

namespace jvb::control {

struct MetricsSnapshot {
  std::vector<prometheus::MetricFamily> families;
  std::set<std::string> booleans;  // gauges that are JVB BooleanMetrics
  std::set<std::string> infos;     // gauges NAME_info that are Info metrics
};

class BridgeMetrics {
 public:
  // Bounds of jvb_audio_health_check_duration_seconds.
  static const std::vector<double>& healthCheckBuckets();

  BridgeMetrics(const config::BridgeConfig& cfg, const media::MediaLoop& media,
                const BridgeState& state, const ConferenceRegistry* conferences,
                const StatsCollector& stats);

  // A health check was answered (Jicofo's IQ or /about/health) in `d`.
  void observeHealthCheck(std::chrono::duration<double> d);

  [[nodiscard]] MetricsSnapshot collect(const Health& health) const;

 private:
  const config::BridgeConfig& cfg_;
  const media::MediaLoop& media_;
  const BridgeState& state_;
  const ConferenceRegistry* conferences_;
  const StatsCollector& stats_;
  std::shared_ptr<prometheus::Registry> kept_;  // what lives across scrapes
  prometheus::Histogram* healthCheck_ = nullptr;
  int64_t startupMs_ = 0;
};

}  // namespace jvb::control
