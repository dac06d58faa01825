#pragma once
// Levelled, timestamped logging: one line per event on stderr, so journald
// (or any supervisor) gets one record per event.
//
//   2026-11-24T16:40:01.123Z INFO  [http] listening on 127.0.0.1:8080
//
// Thread-safe; each event is written with a single write(2). Never log per
// packet on the media path: count instead (see the media/ counters).
#include <fmt/format.h>

#include <atomic>
#include <optional>
#include <string_view>

namespace jvb::log {

enum class Level : int { kTrace = 0, kDebug = 1, kInfo = 2, kWarn = 3, kError = 4, kOff = 5 };

void setLevel(Level level);
Level level();
inline bool enabled(Level l) {
  extern std::atomic<int> gLevel;
  return static_cast<int>(l) >= gLevel.load(std::memory_order_relaxed);
}
// "trace", "debug", "info", "warn"/"warning", "error", "off" (case-insensitive).
std::optional<Level> parseLevel(std::string_view name);
std::string_view levelName(Level l);

// Writes one line. Newlines inside `message` are escaped so that an event
// never spans two lines.
void write(Level level, std::string_view component, std::string_view message);

// Tests can capture output; nullptr restores stderr. The sink is called with
// the complete line, including the trailing newline.
using Sink = void (*)(std::string_view line);
void setSink(Sink sink);

}  // namespace jvb::log

#define JVB_LOG(lvl, component, ...)                                 \
  do {                                                               \
    if (::jvb::log::enabled(lvl)) {                                  \
      ::jvb::log::write(lvl, component, ::fmt::format(__VA_ARGS__)); \
    }                                                                \
  } while (0)
#define LOG_TRACE(component, ...) JVB_LOG(::jvb::log::Level::kTrace, component, __VA_ARGS__)
#define LOG_DEBUG(component, ...) JVB_LOG(::jvb::log::Level::kDebug, component, __VA_ARGS__)
#define LOG_INFO(component, ...) JVB_LOG(::jvb::log::Level::kInfo, component, __VA_ARGS__)
#define LOG_WARN(component, ...) JVB_LOG(::jvb::log::Level::kWarn, component, __VA_ARGS__)
#define LOG_ERROR(component, ...) JVB_LOG(::jvb::log::Level::kError, component, __VA_ARGS__)
