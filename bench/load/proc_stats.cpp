#include "proc_stats.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace jvb::load {

std::optional<ProcSample> sampleProcess(int pid) {
  ProcSample s;
  s.at = std::chrono::steady_clock::now();
  const std::string base = "/proc/" + std::to_string(pid);
  {
    std::ifstream f(base + "/stat");
    std::string line;
    if (!std::getline(f, line)) {
      return std::nullopt;
    }
    // The command name (field 2) may hold spaces and parentheses: fields are
    // counted after the last ')'. utime and stime are fields 14 and 15.
    const auto close = line.rfind(')');
    if (close == std::string::npos) {
      return std::nullopt;
    }
    std::istringstream in(line.substr(close + 1));
    std::string field;
    uint64_t utime = 0;
    uint64_t stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14) {
        utime = std::stoull(field);
      } else if (i == 15) {
        stime = std::stoull(field);
      }
    }
    s.cpuTicks = utime + stime;
  }
  {
    std::ifstream f(base + "/status");
    std::string line;
    bool found = false;
    while (std::getline(f, line)) {
      if (line.rfind("VmRSS:", 0) == 0) {
        s.rssKiB = std::stoull(line.substr(6));
        found = true;
        break;
      }
    }
    if (!found) {
      return std::nullopt;
    }
  }
  return s;
}

double cpuPercent(const ProcSample& a, const ProcSample& b) {
  const double wall = std::chrono::duration<double>(b.at - a.at).count();
  const long hz = sysconf(_SC_CLK_TCK);
  if (wall <= 0 || hz <= 0 || b.cpuTicks < a.cpuTicks) {
    return 0.0;
  }
  return 100.0 * static_cast<double>(b.cpuTicks - a.cpuTicks) / static_cast<double>(hz) / wall;
}

double selfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

AllocSample allocDelta(const AllocSample& a, const AllocSample& b) {
  const auto d = [](uint64_t x, uint64_t y) { return y >= x ? y - x : 0; };
  AllocSample out;
  out.at = b.at;
  out.allocs = d(a.allocs, b.allocs);
  out.bytes = d(a.bytes, b.bytes);
  out.frees = d(a.frees, b.frees);
  out.mediaAllocs = d(a.mediaAllocs, b.mediaAllocs);
  out.mediaBytes = d(a.mediaBytes, b.mediaBytes);
  out.mediaFrees = d(a.mediaFrees, b.mediaFrees);
  return out;
}

AllocCounterFile::~AllocCounterFile() {
  if (map_ != nullptr) {
    ::munmap(const_cast<AllocCounts*>(map_), sizeof(AllocCounts));
  }
}

bool AllocCounterFile::open(const std::string& path, std::string& why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why = path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  void* m = MAP_FAILED;
  if (::fstat(fd, &st) != 0) {
    why = path + ": " + std::strerror(errno);
  } else if (st.st_size < static_cast<off_t>(sizeof(AllocCounts))) {
    why = path + ": too short for the counters";
  } else {
    m = ::mmap(nullptr, sizeof(AllocCounts), PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
      why = path + ": mmap: " + std::strerror(errno);
    }
  }
  ::close(fd);
  if (m == MAP_FAILED) {
    return false;
  }
  const auto* c = static_cast<const AllocCounts*>(m);
  char magic[sizeof c->magic];
  std::memcpy(magic, c->magic, sizeof magic);
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  if (std::memcmp(magic, kAllocCountsMagic, sizeof magic) != 0 ||
      c->version != kAllocCountsVersion) {
    ::munmap(m, sizeof(AllocCounts));
    why = path + ": no counters published in it";
    return false;
  }
  map_ = c;
  return true;
}

std::optional<AllocSample> AllocCounterFile::sample() const {
  if (map_ == nullptr) {
    return std::nullopt;
  }
  const auto get = [](const uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); };
  AllocSample s;
  s.at = std::chrono::steady_clock::now();
  s.allocs = get(map_->allocs);
  s.bytes = get(map_->bytes);
  s.frees = get(map_->frees);
  s.mediaAllocs = get(map_->mediaAllocs);
  s.mediaBytes = get(map_->mediaBytes);
  s.mediaFrees = get(map_->mediaFrees);
  return s;
}

int AllocCounterFile::pid() const {
  return map_ == nullptr ? 0 : static_cast<int>(map_->pid);
}

}  // namespace jvb::load
