#pragma once
// CPU time and resident memory of a process, from /proc (Linux), and its heap
// allocation counters when it runs with alloc_preload.cpp.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "alloc_counts.hpp"

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

// Heap allocation calls of the bridge, as libjvb_alloc_preload.so counts them
// (alloc_counts.hpp), in total and on its media thread.
struct AllocSample {
  std::chrono::steady_clock::time_point at;
  uint64_t allocs = 0;
  uint64_t bytes = 0;
  uint64_t frees = 0;
  uint64_t mediaAllocs = 0;
  uint64_t mediaBytes = 0;
  uint64_t mediaFrees = 0;
};

// `b - a`, counter by counter (`at` is b's).
AllocSample allocDelta(const AllocSample& a, const AllocSample& b);

// The counter file (JVB_ALLOC_COUNT_FILE of the preloaded process), mapped
// read-only: read without stopping or signalling the process.
class AllocCounterFile {
 public:
  AllocCounterFile() = default;
  AllocCounterFile(const AllocCounterFile&) = delete;
  AllocCounterFile& operator=(const AllocCounterFile&) = delete;
  ~AllocCounterFile();

  // False with `why` set when the file is missing, too short or holds no
  // published counters (the preload did not reach the bridge).
  bool open(const std::string& path, std::string& why);
  // nullopt when not open.
  std::optional<AllocSample> sample() const;
  // The process that publishes the counters.
  int pid() const;

 private:
  const AllocCounts* map_ = nullptr;
};

}  // namespace jvb::load
