#pragma once
// UTC wall-clock timestamps with milliseconds, for log lines
// ("2026-11-24T16:40:01.123Z") and JVB's current_timestamp stat
// ("2026-11-24 16:40:01.123").
#include <chrono>
#include <string>

namespace jvb {

enum class TimestampStyle { kIso8601Zulu, kJvbStats };

std::string utcTimestamp(TimestampStyle style, std::chrono::system_clock::time_point when =
                                                   std::chrono::system_clock::now());

}  // namespace jvb
