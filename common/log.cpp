#include "common/log.hpp"

#include "common/time_format.hpp"

#include <unistd.h>

#include <array>
#include <cctype>
#include <chrono>
#include <ctime>
#include <string>

namespace jvb::log {

std::atomic<int> gLevel{static_cast<int>(Level::kInfo)};

namespace {
std::atomic<Sink> gSink{nullptr};
}  // namespace

void setLevel(Level level) {
  gLevel.store(static_cast<int>(level), std::memory_order_relaxed);
}

Level level() {
  return static_cast<Level>(gLevel.load(std::memory_order_relaxed));
}

std::optional<Level> parseLevel(std::string_view name) {
  std::string lower;
  for (char c : name) {
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (lower == "trace" || lower == "all" || lower == "finest")
    return Level::kTrace;
  if (lower == "debug" || lower == "fine")
    return Level::kDebug;
  if (lower == "info")
    return Level::kInfo;
  if (lower == "warn" || lower == "warning")
    return Level::kWarn;
  if (lower == "error" || lower == "severe")
    return Level::kError;
  if (lower == "off")
    return Level::kOff;
  return std::nullopt;
}

std::string_view levelName(Level l) {
  switch (l) {
    case Level::kTrace:
      return "TRACE";
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarn:
      return "WARN";
    case Level::kError:
      return "ERROR";
    case Level::kOff:
      return "OFF";
  }
  return "?";
}

void setSink(Sink sink) {
  gSink.store(sink);
}

void write(Level level, std::string_view component, std::string_view message) {
  std::string line;
  line.reserve(64 + message.size());
  fmt::format_to(std::back_inserter(line), "{} {:<5} [{}] ",
                 utcTimestamp(TimestampStyle::kIso8601Zulu), levelName(level), component);
  for (char c : message) {
    if (c == '\n') {
      line += "\\n";
    } else if (c == '\r') {
      line += "\\r";
    } else {
      line.push_back(c);
    }
  }
  line.push_back('\n');

  if (Sink sink = gSink.load(); sink != nullptr) {
    sink(line);
    return;
  }
  // One write(2) per event keeps lines whole across threads.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0)
      break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace jvb::log
