#pragma once
// The soak's verdict and report (soak_run.hpp): what the run gathered
// (SoakOutcome), judged (judgeSoak) and printed with the CSV on stdout and the
// --json summary written (reportSoak).
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bridge_stats.hpp"
#include "histogram.hpp"
#include "media_engine.hpp"
#include "options.hpp"
#include "soak_run.hpp"

namespace jvb::load {

// After the conference expired: the fds the bridge may keep beyond its idle
// count (none expected).
constexpr int64_t kIdleFdSlack = 2;

// The CSV of the samples (--soak-csv, and on stdout with the report): the
// header line and one row per sample, each ending in a newline.
extern const char* const kSoakCsvHeader;
std::string soakCsvRow(const SoakSample& s);

// Everything the verdict and the report read, filled at the end of the run.
struct SoakOutcome {
  int endpoints = 0;  // N
  int stable = 0;     // N - churn slots
  int speakers = 0;
  double joinS = 0;  // the join phase (every endpoint once)
  // Why the run stopped before its end (interrupted, a lost connection, a
  // failed join...); none when it completed.
  std::optional<std::string> failure;
  std::vector<SoakSample> samples;
  SoakSample idle;         // the bridge before the conference
  SoakSample after;        // after it expired and the bridge settled (or the wait ended)
  std::string statsError;  // why the first /colibri/stats fetch that failed did
  std::string expireNote;  // why expiring the conference failed; empty when it did not
  // The media engine's, after the drain.
  EngineResults media;
  StableTotals totals;  // the stable receivers over the finalized frames
  uint64_t reconnectsStarted = 0;
  uint64_t reconnectsDone = 0;
  // Churn and control plane.
  uint64_t churned = 0;      // churn slots replaced
  uint64_t churnJoined = 0;  // new endpoints up
  Histogram churnJoinNs;
  uint64_t endpointsExpired = 0;
  bool sourceUpdatable = false;  // muted stable endpoints were there to take source updates
  uint64_t sourceUpdatesAcked = 0;
  Histogram health;  // health IQ round trips, the whole run
  uint64_t healthTimeouts = 0;
  uint64_t healthErrors = 0;
  // While the media flowed and endpoints churned: Colibri2 and health IQ round
  // trips, and GET /about/health.
  Histogram churnColibri;
  Histogram churnHealth;
  HttpProbe::Results httpHealth;
};

// The verdict, and the figures it judged that the report prints.
struct SoakVerdict {
  std::vector<std::string> problems;  // none: passed
  double judgedS = 0;                 // seconds from the first judged sample to the last
  double rssSlope = 0;                // KiB/s
  double heapSlope = 0;               // KiB/s
  double liveSlope = 0;               // allocations/s
  double fdsFirst = 0;  // open fds, median over the first quarter of the judged samples
  double fdsLast = 0;   // and over the last quarter
  // The most endpoints the bridge reported (all, on its media thread) in a
  // judged sample; -1 when none.
  int64_t maxEndpoints = -1;
  int64_t maxMediaEndpoints = -1;
  // Deliveries between stable endpoints (the senders' final counts).
  uint64_t lost = 0;
  uint64_t expected = 0;  // delivered + lost
};

// Judges the run against the options' limits (soak_run.hpp).
SoakVerdict judgeSoak(const Options& o, const SoakOutcome& r);

// Prints the CSV, the summary and the verdict on stdout; writes --json. Exit
// status: 0 pass, 1 failure (or --json not written), 130 interrupted.
int reportSoak(const Options& o, const SoakOutcome& r, const SoakVerdict& v,
               const std::atomic<bool>& interrupted);

}  // namespace jvb::load
