#include "control/colibri_ws.hpp"

#include <openssl/crypto.h>

#include <vector>

namespace jvb::control {

namespace {

constexpr std::string_view kPrefix = "/colibri-ws/";

int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// RFC 3986 percent-decoding ('+' is not a space in a path); nullopt on a
// broken escape.
std::optional<std::string> percentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) {
      return std::nullopt;
    }
    const int hi = hexValue(in[i + 1]);
    const int lo = hexValue(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace

std::optional<ColibriWsTarget> parseColibriWsTarget(std::string_view target) {
  std::string_view path = target;
  std::string_view query;
  if (const auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  if (path.substr(0, kPrefix.size()) != kPrefix) {
    return std::nullopt;
  }
  path.remove_prefix(kPrefix.size());
  std::vector<std::string> parts;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const auto segment = path.substr(0, slash);
    auto decoded = percentDecode(segment);
    if (!decoded || decoded->empty()) {
      return std::nullopt;
    }
    parts.push_back(std::move(*decoded));
    if (slash == std::string_view::npos) {
      break;
    }
    path.remove_prefix(slash + 1);
    if (path.empty()) {
      return std::nullopt;  // a trailing '/'
    }
  }
  if (parts.size() != 3) {
    return std::nullopt;
  }
  ColibriWsTarget t{parts[0], parts[1], parts[2], {}};
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    if (pair.substr(0, 4) == "pwd=") {
      auto pwd = percentDecode(pair.substr(4));
      if (!pwd) {
        return std::nullopt;
      }
      t.password = std::move(*pwd);
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return t;
}

ColibriWsVerdict authorizeColibriWs(std::string_view target, std::string_view serverId,
                                    const ConferenceRegistry& conferences) {
  ColibriWsVerdict v;
  const auto t = parseColibriWsTarget(target);
  if (!t) {
    v.reason = "not a colibri-ws path";
    return v;
  }
  if (t->serverId != serverId) {
    v.reason = "server ID mismatch";
    return v;
  }
  v.status = 403;
  const Conference* conf = conferences.findByInternalId(t->conferenceId);
  if (conf == nullptr) {
    v.reason = "conference not found";
    return v;
  }
  const auto ep = conf->endpoints.find(t->endpointId);
  if (ep == conf->endpoints.end()) {
    v.reason = "endpoint not found";
    return v;
  }
  const auto& expected = ep->second.websocketPassword;
  // Constant time over the expected length: the password is the only secret.
  if (expected.empty() || t->password.size() != expected.size() ||
      CRYPTO_memcmp(t->password.data(), expected.data(), expected.size()) != 0) {
    v.reason = "bad password";
    return v;
  }
  v.status = 101;
  v.meetingId = conf->meetingId;
  v.endpointId = t->endpointId;
  return v;
}

}  // namespace jvb::control
