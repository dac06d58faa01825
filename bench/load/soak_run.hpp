#pragma once
// The soak of jvb-audio-load (--soak; scripts/soak.sh): one conference of N
// endpoints for --duration seconds with churn, and the bridge sampled over
// time. The first N - C endpoints stay (K of them speak, the loudest rotating);
// the last C are churn slots: muted endpoints of which one leaves (its
// colibri-ws and socket closed, Colibri2 expire) and a new one joins (a new
// id, SSRC, socket, ICE, DTLS, SRTP, colibri-ws) --churn-rate times a second.
// Stable endpoints reconnect their colibri-ws, and muted stable ones get
// Colibri2 source updates (an extra SSRC added, then removed), at their rates.
// Every --sample-interval: the bridge's RSS and CPU (/proc/<pid>), open file
// descriptors (/proc/<pid>/fd), heap in use and conference/endpoint counts
// (/colibri/stats), its live heap allocations (the preload), and delivery to
// the stable endpoints over the frames that became final. Judged after the
// warm-up: RSS and heap slopes against --max-leak-per-churn, the fd count
// against --max-fd-growth, no loss between stable endpoints, endpoint counts
// bounded by N, and after the conference expired nothing left (conferences,
// endpoints, media thread state, fds back to the idle count).
#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dtls/context.hpp"
#include "focus.hpp"
#include "options.hpp"
#include "progress.hpp"

namespace jvb::load {

struct SoakSample {
  double t = 0;         // seconds since the audio started
  bool judged = false;  // after the warm-up
  int64_t rssKiB = -1;
  int64_t fds = -1;
  double cpuPct = 0;        // of one core, since the previous sample
  int64_t heapKiB = -1;     // heap_bytes_in_use / 1024
  int64_t liveAllocs = -1;  // preload: allocations - frees
  int64_t conferences = -1;
  int64_t endpoints = -1;
  int64_t mediaEndpoints = -1;
  int64_t slotsUsed = -1;
  int64_t channelSockets = -1;  // rewriting endpoints the bridge counts
  uint64_t churned = 0;         // cumulative: churn slots replaced
  uint64_t churnJoined = 0;     // cumulative: new endpoints up
  uint64_t reconnects = 0;      // cumulative: colibri-ws reconnects done
  uint64_t sourceUpdates = 0;   // cumulative: acknowledged
  uint64_t expected = 0;        // this interval, stable receivers
  uint64_t lost = 0;
  double healthP99Ms = 0;  // this interval
};

// Runs the soak; prints the CSV on stdout and the verdict; writes --soak-csv
// and --json (the verdict and the report: soak_report.hpp). Exit status: 0
// pass, 1 failure, 130 interrupted.
int runSoak(const Options& o, Focus& focus, const dtls::Context& dtls, Progress& progress,
            const std::atomic<bool>& interrupted);

// Least-squares slope of y over x (0 with fewer than 2 points).
double slope(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace jvb::load
