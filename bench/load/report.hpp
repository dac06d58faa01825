#pragma once
// Output of jvb-audio-load: the text summary, the JSON summary, and for a
// sweep the CSV table and a hand-written SVG plot.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "load_run.hpp"
#include "options.hpp"

namespace jvb::load {

// A histogram of nanoseconds as "p50 .. ms, p99 .. ms, max .. ms" ("none" when empty),
// and as {count, p50_ms, p99_ms, max_ms, mean_ms}.
std::string histText(const Histogram& h);
nlohmann::json histJson(const Histogram& h);

void printSummary(std::FILE* out, const Options& o, const RunResult& r);
nlohmann::json toJson(const Options& o, const RunResult& r);

void printSweepTable(std::FILE* out, const Options& o, const std::vector<RunResult>& runs);
std::string sweepCsv(const std::vector<RunResult>& runs);
// Two panels against participants: bridge CPU (% of one core) and forwarding
// latency (p50, p99; the p99 threshold dashed).
std::string sweepSvg(const Options& o, const std::vector<RunResult>& runs,
                     const std::string& title);

// Largest N of a completed run that held; 0 when none.
int capacity(const std::vector<RunResult>& runs);

}  // namespace jvb::load
