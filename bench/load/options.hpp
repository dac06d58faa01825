#pragma once
// Command line of jvb-audio-load.
#include <optional>
#include <string>
#include <vector>

#include "srtp/srtp_keys.hpp"

namespace jvb::load {

enum class Routing { kAll, kLoudest };

struct Options {
  // Load shape.
  int endpoints = 10;
  int speakers = 3;
  double durationS = 10.0;
  double joinRate = 100.0;  // endpoint allocations per second
  int maxInFlight = 50;     // Colibri2 requests awaiting a reply
  bool silence = false;     // non-speakers send silence-level packets instead of nothing
  int payloadBytes = 80;    // Opus-sized payload (send stamp, indices, filler)
  double rotateS = 3.0;     // the loudest speaker changes this often
  srtp::Profile profile = srtp::Profile::kAes128CmHmacSha1_80;
  Routing routing = Routing::kAll;  // what the bridge is expected to forward
  double connectTimeoutS = 20.0;    // ICE + DTLS bound after the last allocation
  double healthIntervalMs = 200.0;
  double healthTimeoutS = 5.0;
  double iqTimeoutS = 10.0;
  // SSRC rewriting: the ssrc-rewriting capability on every endpoint, colibri-ws
  // per endpoint, SSRCs learnt only from AudioSourcesMap.
  bool rewriting = false;
  double newSsrcDelayMs = 200.0;  // the bridge's jvb-audio.ssrc-rewriting.new-ssrc-delay

  // XMPP (the focus side).
  std::string xmppHost = "127.0.0.1";
  int xmppPort = 15222;
  std::string domain = "tech.example.test";
  std::string user = "focus";
  std::string password;    // --password, else $JVB_LOAD_PASSWORD
  std::string brewery;     // default jvbbrewery@muc.<domain>
  std::string bridgeNick;  // default: the first bridge seen in the brewery

  // Observation and output.
  int bridgePid = 0;
  std::string healthUrl;       // the bridge's /about/health, sampled every health interval
  std::string statsUrl;        // the bridge's /colibri/stats, read before and after the audio
  std::string allocCountFile;  // the bridge's JVB_ALLOC_COUNT_FILE (alloc_preload.cpp)
  std::string jsonPath;
  bool quiet = false;
  std::string logLevel = "warn";

  // Soak (--soak): the last `churners` endpoints are churn slots (muted; one
  // leaves and a new one joins `churnRate` times a second); stable endpoints
  // reconnect their colibri-ws `reconnectRate` times a second and muted stable
  // ones get a Colibri2 source update `sourceUpdateRate` times a second; the
  // bridge is sampled every `sampleIntervalS`, and growth after `warmupS` fails.
  bool soak = false;
  int churners = -1;  // default: a tenth of the endpoints
  double churnRate = 2.0;
  double reconnectRate = 1.0;  // with --rewriting only
  double sourceUpdateRate = 2.0;
  double sampleIntervalS = 1.0;
  double warmupS = -1;  // default: a quarter of the duration, 10..300 s
  std::string soakCsvPath = "soak.csv";
  double maxLeakPerChurnKiB = 4.0;  // RSS / heap slope per churned endpoint
  int maxFdGrowth = 8;

  // Sweep.
  std::vector<int> sweep;
  std::string csvPath = "load-sweep.csv";
  std::string svgPath = "load-sweep.svg";
  // Capacity thresholds ("held": no loss and both p99s under these).
  double maxLatencyP99Ms = 20.0;
  double maxHealthP99Ms = 100.0;
};

// Parses argv. On --help prints usage to stdout and exits 0; on a bad command
// line prints the error and exits 2.
Options parseOptions(int argc, char** argv);

// "50,100,200" or "50:1000:50" (start:stop:step); nullopt when malformed.
std::optional<std::vector<int>> parseSweep(const std::string& spec);

const char* profileName(srtp::Profile p);

}  // namespace jvb::load
