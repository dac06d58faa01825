#pragma once
// The colibri stats map, with JVB's field names (VideobridgeStatisticsShim),
// served at /colibri/stats and (with the XMPP issue) published in brewery
// presence. Values are computed, not invented: rates come from the media
// counters between two samples, stress_level from the host's CPU usage
// divided by JVB's load threshold (0.9), as JVB's CPU load measurement does.
//
// Threading: sample() and snapshot() run on the control thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/bridge_config.hpp"
#include "control/bridge_state.hpp"
#include "control/conference.hpp"
#include "media/media_events.hpp"
#include "media/media_loop.hpp"

namespace jvb::control {

// Aggregate CPU usage of the host, from /proc/stat, between two reads.
class CpuUsage {
 public:
  // Returns usage in [0,1] since the previous call; nullopt on the first
  // call or when /proc/stat cannot be read.
  std::optional<double> sample();

 private:
  uint64_t lastBusy_ = 0;
  uint64_t lastTotal_ = 0;
  bool primed_ = false;
};

// The bridge channel's totals (both transports), for JVB's fields and ours.
struct BridgeChannelTotals {
  uint64_t dataChannelMessagesReceived = 0;
  uint64_t dataChannelMessagesSent = 0;
  uint64_t webSocketMessagesReceived = 0;
  uint64_t webSocketMessagesSent = 0;
  nlohmann::json details = nlohmann::json::object();  // under "bridge_channel"
};

// The connectivity monitor's figures (control/connectivity.hpp).
struct ConnectivityTotals {
  uint64_t disconnected = 0;    // JVB endpoints_disconnected
  uint64_t reconnected = 0;     // JVB endpoints_reconnected
  uint64_t neverConnected = 0;  // inactive after first-transfer-timeout
  uint64_t inactiveNow = 0;     // endpoints currently reported inactive
};

class StatsCollector {
 public:
  static constexpr double kCpuLoadThreshold = 0.9;  // JVB load-management default

  // `conferences` may be null (no Colibri2: every conference count is 0).
  StatsCollector(const config::BridgeConfig& cfg, const media::MediaLoop& media,
                 const BridgeState& state, const ConferenceRegistry* conferences = nullptr);

  // Updates rates and stress; call every stats interval.
  void sample();
  // The full stats map, JVB's names. `health` is the current verdict.
  [[nodiscard]] nlohmann::json snapshot(const Health& health) const;

  [[nodiscard]] double stressLevel() const { return stress_; }

  // The media thread's routing figures, as MediaEvents::audioStats delivers
  // them (every second, posted to the control thread).
  void setConferenceAudio(std::vector<media::ConferenceAudioStats> audio);
  // Where the bridge channel's totals come from (control thread).
  void setChannelTotals(std::function<BridgeChannelTotals()> source) {
    channelTotals_ = std::move(source);
  }
  // Where the connectivity monitor's figures come from (control thread).
  void setConnectivityTotals(std::function<ConnectivityTotals()> source) {
    connectivityTotals_ = std::move(source);
  }

 private:
  std::vector<media::ConferenceAudioStats> audio_;
  std::map<std::pair<std::string, std::string>, uint64_t> lastRouted_;
  size_t endpointsSendingAudio_ = 0;
  std::function<BridgeChannelTotals()> channelTotals_;
  std::function<ConnectivityTotals()> connectivityTotals_;

  const config::BridgeConfig& cfg_;
  const media::MediaLoop& media_;
  const BridgeState& state_;
  const ConferenceRegistry* conferences_;
  CpuUsage cpu_;
  double stress_ = 0.0;
  double bitRateDownloadKbps_ = 0.0;
  double bitRateUploadKbps_ = 0.0;
  double packetRateDownload_ = 0.0;
  double packetRateUpload_ = 0.0;
  uint64_t lastBytesIn_ = 0, lastBytesOut_ = 0, lastPacketsIn_ = 0, lastPacketsOut_ = 0;
  std::chrono::steady_clock::time_point lastSample_;
};

// "yyyy-MM-dd HH:mm:ss.SSS" in UTC, as JVB's current_timestamp.
std::string currentTimestamp();
// Threads of this process (/proc/self/status), 0 if unknown.
int processThreadCount();

}  // namespace jvb::control
