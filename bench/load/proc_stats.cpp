#include "proc_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

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

}  // namespace jvb::load
