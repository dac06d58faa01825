// HOCON text helpers: number and duration syntax, UTF-8, value and path
// rendering for messages, and reading configuration files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "config/hocon.hpp"
#include "config/hocon_internal.hpp"

namespace jvb::config::hocon {

const Node* Node::find(std::string_view fieldKey) const {
  for (const auto& f : fields) {
    if (f.key == fieldKey)
      return f.value.get();
  }
  return nullptr;
}

Node* Node::find(std::string_view fieldKey) {
  for (auto& f : fields) {
    if (f.key == fieldKey)
      return f.value.get();
  }
  return nullptr;
}

namespace detail {

void appendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A JSON-style number: -?digits(.digits)?([eE][+-]?digits)?
bool looksLikeNumber(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-')
    ++i;
  const size_t intStart = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9')
    ++i;
  if (i == intStart)
    return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const size_t fracStart = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      ++i;
    if (i == fracStart)
      return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-'))
      ++i;
    const size_t expStart = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      ++i;
    if (i == expStart)
      return false;
  }
  return i == s.size();
}

std::string readConfigFile(const std::string& path, const std::string& includedFrom,
                           int includeLine) {
  const std::string errFile = includedFrom.empty() ? path : includedFrom;
  const int errLine = includedFrom.empty() ? 0 : includeLine;
  // O_NONBLOCK: opening a FIFO must not block; it is rejected below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    throw ConfigError(errFile, errLine, "",
                      fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ConfigError(errFile, errLine, "", fmt::format("{} is not a regular file", path));
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw ConfigError(errFile, errLine, "",
                        fmt::format("cannot read {}: {}", path, std::strerror(err)));
    }
    if (n == 0)
      break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) {
      ::close(fd);
      throw ConfigError(errFile, errLine, "",
                        fmt::format("{} is too large (limit {} bytes)", path, kMaxFileBytes));
    }
  }
  ::close(fd);
  return text;
}

}  // namespace detail

std::optional<std::int64_t> parseDurationMillis(std::string_view text) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
      s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
      s.remove_suffix(1);
    return s;
  };
  text = trim(text);
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    negative = text[i] == '-';
    ++i;
  }
  long double value = 0;
  bool digits = false;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    value = value * 10 + (text[i] - '0');
    digits = true;
    ++i;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    long double scale = 0.1L;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      value += (text[i] - '0') * scale;
      scale /= 10;
      digits = true;
      ++i;
    }
  }
  if (!digits)
    return std::nullopt;
  std::string unit;
  for (char c : trim(text.substr(i))) {
    unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  struct Unit {
    const char* names[5];
    long double nanos;
  };
  static const Unit kUnits[] = {
      {{"ns", "nano", "nanos", "nanosecond", "nanoseconds"}, 1.0L},
      {{"us", "micro", "micros", "microsecond", "microseconds"}, 1e3L},
      {{"ms", "milli", "millis", "millisecond", "milliseconds"}, 1e6L},
      {{"s", "sec", "secs", "second", "seconds"}, 1e9L},
      {{"m", "min", "mins", "minute", "minutes"}, 60e9L},
      {{"h", "hr", "hrs", "hour", "hours"}, 3600e9L},
      {{"d", "day", "days", nullptr, nullptr}, 86400e9L},
  };
  long double nanos = unit.empty() ? 1e6L : 0;
  for (const auto& u : kUnits) {
    for (const char* name : u.names) {
      if (name != nullptr && unit == name)
        nanos = u.nanos;
    }
  }
  if (nanos == 0)
    return std::nullopt;
  const long double ms = std::round(value * nanos / 1e6L);
  if (!(ms <= 1e15L))
    return std::nullopt;  // ~31000 years; also rejects NaN
  const auto result = static_cast<std::int64_t>(ms);
  return negative ? -result : result;
}

std::int64_t durationMillis(const Node& value, const std::string& key) {
  if (value.kind == Kind::kNumber) {
    if (value.integer)
      return *value.integer;
    if (std::isfinite(value.number) && std::fabs(value.number) <= 1e15) {
      return static_cast<std::int64_t>(std::llround(value.number));
    }
  } else if (value.kind == Kind::kString) {
    if (auto ms = parseDurationMillis(value.text))
      return *ms;
  }
  throw ConfigError(
      value.origin.file, value.origin.line, key,
      "expected a duration (e.g. \"5 seconds\", \"150 ms\"), got " + describeValue(value));
}

std::string describeValue(const Node& value) {
  switch (value.kind) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
    case Kind::kNumber:
      return value.text.empty() ? fmt::format("{}", value.number) : value.text;
    case Kind::kString: {
      std::string out = "\"";
      size_t n = 0;
      for (char c : value.text) {
        if (++n > 80) {
          out += "...";
          break;
        }
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
          out += '\\';
          out += c;
        } else if (u < 0x20 || u == 0x7f) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(u));
        } else {
          out += c;
        }
      }
      return out + "\"";
    }
    case Kind::kList:
      return "a list";
    case Kind::kObject:
      return "an object";
    default:
      return "a substitution";
  }
}

std::string joinPath(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& e : path) {
    if (!out.empty())
      out += '.';
    bool plain = !e.empty();
    for (char c : e) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '.' || c == '"' || c == '\\' || u <= 0x20 || c == '$' || c == '{' || c == '}' ||
          c == '[' || c == ']' || c == ':' || c == '=' || c == ',' || c == '#' || c == '@') {
        plain = false;
      }
    }
    if (plain) {
      out += e;
      continue;
    }
    out += '"';
    for (char c : e) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (u < 0x20) {
        out += fmt::format("\\u{:04x}", static_cast<unsigned>(u));
      } else {
        out += c;
      }
    }
    out += '"';
  }
  return out;
}

}  // namespace jvb::config::hocon
