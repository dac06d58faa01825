#pragma once
// CPU time and resident memory of a process, from /proc (Linux).
#include <chrono>
#include <cstdint>
#include <optional>

namespace jvb::load {

struct ProcSample {
  std::chrono::steady_clock::time_point at;
  uint64_t cpuTicks = 0;  // utime + stime, in clock ticks (all threads)
  uint64_t rssKiB = 0;    // VmRSS
};

// nullopt when the process is gone or /proc cannot be read.
std::optional<ProcSample> sampleProcess(int pid);

// CPU used between two samples as a percentage of one core.
double cpuPercent(const ProcSample& a, const ProcSample& b);

// This process's own CPU time (user + system), in seconds.
double selfCpuSeconds();

}  // namespace jvb::load
