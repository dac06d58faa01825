#include "common/time_format.hpp"

#include <fmt/format.h>

#include <array>
#include <ctime>

namespace jvb {

std::string utcTimestamp(TimestampStyle style, std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(when.time_since_epoch()).count() % 1000;
  const std::time_t t = system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  const bool iso = style == TimestampStyle::kIso8601Zulu;
  std::strftime(buf.data(), buf.size(), iso ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
  return fmt::format("{}.{:03}{}", buf.data(), ms, iso ? "Z" : "");
}

}  // namespace jvb
