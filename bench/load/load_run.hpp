#pragma once
// One load run: a fresh conference of N endpoints on the bridge, joined at
// the configured rate, then `duration` seconds of audio, with health checks
// and bridge process samples throughout; the conference is expired at the end.
#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bridge_stats.hpp"
#include "dtls/context.hpp"
#include "focus.hpp"
#include "histogram.hpp"
#include "media_engine.hpp"
#include "options.hpp"
#include "proc_stats.hpp"
#include "progress.hpp"

namespace jvb::load {

struct RunResult {
  int endpoints = 0;
  int speakers = 0;
  int senders = 0;
  bool completed = false;  // joined and ran the whole duration
  std::string failure;     // why not (a hard failure)
  std::string meetingId;

  // Join.
  int joined = 0;
  double joinTotalS = 0;  // first allocation -> last endpoint connected
  Histogram joinNs;       // per endpoint: allocation sent -> ICE + DTLS + SRTP up
  Histogram allocRttNs;   // Colibri2 endpoint create round trip
  Histogram updateRttNs;  // Colibri2 transport update round trip
  Histogram channelNs;    // rewriting: allocation sent -> colibri-ws ServerHello

  // Media (measured window).
  double measureS = 0;
  EngineResults media;
  uint64_t sentPackets = 0;
  uint64_t expectedDeliveries = 0;
  uint64_t deliveries = 0;
  uint64_t lost = 0;
  uint64_t notRoutedPackets = 0;
  uint64_t decryptFailures = 0;
  double lossPct = 0;
  double packetsInPerS = 0;   // sent by the endpoints to the bridge
  double packetsOutPerS = 0;  // received by the endpoints from the bridge

  // Health-check IQs.
  uint64_t healthSent = 0;
  uint64_t healthTimeouts = 0;
  uint64_t healthErrors = 0;
  Histogram healthJoinNs;  // while endpoints joined
  Histogram healthRunNs;   // while audio flowed
  // XEP-0199 pings to the server (Prosody answers): the part of an IQ round
  // trip that is Prosody's and the tool's, sent with every health check.
  uint64_t pingTimeouts = 0;
  Histogram pingJoinNs;
  Histogram pingRunNs;
  // GET /about/health (--health-url) from a thread of its own.
  bool httpHealthMeasured = false;
  HttpProbe::Results httpHealth;
  // The focus loop's turns (join and audio): a turn much longer than its
  // 1 ms wait is the tool's own thread held up (its CPU is shared).
  Histogram focusTurnNs;

  // Processes.
  bool bridgeSampled = false;
  double bridgeCpuPct = 0;      // of one core, measured window
  double bridgeCpuJoinPct = 0;  // of one core, join phase
  uint64_t rssBeforeKiB = 0;
  uint64_t rssJoinedKiB = 0;
  uint64_t rssEndKiB = 0;
  double rssPerEndpointKiB = 0;
  double toolCpuPct = 0;

  // The bridge's heap allocations (--alloc-count-file), over the same window as
  // its CPU figure (everyone joined -> the audio's end) and over the join.
  bool allocMeasured = false;
  std::string allocNotMeasured;  // why not
  int allocPid = 0;              // the process that counted
  double allocWindowS = 0;
  AllocSample allocAudio;  // differences
  AllocSample allocJoin;

  // The bridge's /colibri/stats "ssrc_rewriting" block (--stats-url):
  // {"at_end": {...}, "during_run": {key: change}}; null when not read.
  nlohmann::json bridgeRewriting;
  std::string statsError;  // why /colibri/stats could not be read

  std::vector<std::string> problems;  // verification failures
  bool held = false;                  // capacity criteria met
};

// Runs one step. Hard failures (Colibri2 error, ICE/DTLS not completing, XMPP
// lost, interrupted) come back as completed = false with `failure` set; the
// conference is expired in every case.
RunResult runLoad(const Options& o, int endpoints, Focus& focus, const dtls::Context& dtls,
                  Progress& progress, const std::atomic<bool>& interrupted);

}  // namespace jvb::load
