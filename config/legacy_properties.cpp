#include "config/legacy_properties.hpp"

#include <fstream>
#include <map>
#include <sstream>
#include <string_view>
#include <vector>

#include "common/log.hpp"

namespace jvb::config {

namespace {

constexpr std::string_view kNatLocal = "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS";
constexpr std::string_view kNatPublic = "org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS";
constexpr std::string_view kStun = "org.ice4j.ice.harvest.STUN_MAPPING_HARVESTER_ADDRESSES";

// Where each property that JVB, ice4j or jicoco reads (or used to) lives in
// jvb.conf now (docs/migration.md, "sip-communicator.properties").
struct Moved {
  std::string_view property;
  std::string_view key;
};
constexpr Moved kMoved[] = {
    {"org.ice4j.ice.harvest.DISABLE_AWS_HARVESTER", "ice4j.harvest.mapping.aws.enabled"},
    {"org.jitsi.videobridge.ENABLE_STATISTICS", "videobridge.stats.enabled"},
    {"org.jitsi.videobridge.STATISTICS_TRANSPORT", "videobridge.stats.transports"},
    {"org.jitsi.videobridge.STATISTICS_INTERVAL", "videobridge.stats.interval"},
    {"org.jitsi.videobridge.DISABLE_VIDEO_SUPPORT", ""},
    {"org.jitsi.videobridge.ENABLE_SVC", ""},
    {"org.jitsi.videobridge.ENABLE_RED", ""},
    {"org.jitsi.videobridge.rest.COLIBRI_WS_DISABLE", "videobridge.websockets.enabled"},
    {"org.jitsi.videobridge.rest.COLIBRI_WS_DOMAIN", "videobridge.websockets.domain"},
    {"org.jitsi.videobridge.rest.COLIBRI_WS_TLS", "videobridge.websockets.tls"},
    {"org.jitsi.videobridge.rest.COLIBRI_WS_SERVER_ID", "videobridge.websockets.server-id"},
    {"org.jitsi.videobridge.REGION", "videobridge.relay.region"},
    {"org.jitsi.videobridge.ENABLE_REST_COLIBRI", "videobridge.apis.rest.enabled"},
    {"org.jitsi.videobridge.ENABLE_REST_SHUTDOWN", "videobridge.rest.shutdown.enabled"},
    {"org.jitsi.videobridge.SINGLE_PORT_HARVESTER_PORT", "videobridge.ice.udp.port"},
    {"org.jitsi.videobridge.rest.private.jetty.port", "videobridge.http-servers.private.port"},
    {"org.jitsi.videobridge.rest.private.jetty.host", "videobridge.http-servers.private.host"},
    {"org.jitsi.videobridge.rest.jetty.port", "videobridge.http-servers.public.port"},
    {"org.jitsi.videobridge.health.INTERVAL", "videobridge.health.interval"},
    {"org.jitsi.videobridge.health.TIMEOUT", "videobridge.health.timeout"},
    {"org.jitsi.videobridge.health.STICKY_FAILURES", "videobridge.health.sticky-failures"},
};

std::string_view trimLeft(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\f')) {
    s.remove_prefix(1);
  }
  return s;
}

std::string_view trim(std::string_view s) {
  s = trimLeft(s);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Java's Properties.load escapes, minus \uXXXX beyond ASCII (kept as is).
std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    switch (c) {
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 'f':
        out += '\f';
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Property {
  std::string key;
  std::string value;
  int line = 0;
};

std::vector<Property> parse(const std::string& text) {
  std::vector<Property> out;
  std::istringstream in(text);
  std::string raw;
  int lineNo = 0;
  while (std::getline(in, raw)) {
    ++lineNo;
    const int first = lineNo;
    std::string logical(trimLeft(raw));
    if (logical.empty() || logical[0] == '#' || logical[0] == '!') {
      continue;
    }
    // A line ending in an odd number of backslashes continues.
    auto continues = [](const std::string& l) {
      size_t n = 0;
      for (size_t i = l.size(); i > 0 && l[i - 1] == '\\'; --i) {
        ++n;
      }
      return n % 2 == 1;
    };
    while (!logical.empty() && logical.back() == '\r') {
      logical.pop_back();
    }
    while (continues(logical) && std::getline(in, raw)) {
      ++lineNo;
      logical.pop_back();
      std::string_view next = trimLeft(raw);
      while (!next.empty() && next.back() == '\r') {
        next.remove_suffix(1);
      }
      logical += next;
    }
    // The key ends at the first unescaped '=', ':' or blank.
    size_t i = 0;
    for (; i < logical.size(); ++i) {
      const char c = logical[i];
      if (c == '\\') {
        ++i;
        continue;
      }
      if (c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f') {
        break;
      }
    }
    std::string key = unescape(std::string_view(logical).substr(0, i));
    std::string_view rest = trimLeft(std::string_view(logical).substr(std::min(i, logical.size())));
    if (!rest.empty() && (rest.front() == '=' || rest.front() == ':')) {
      rest = trimLeft(rest.substr(1));
    }
    out.push_back(Property{std::move(key), unescape(rest), first});
  }
  return out;
}

}  // namespace

std::string legacyPropertiesPath(const std::string& configFile) {
  const size_t slash = configFile.rfind('/');
  const std::string dir =
      slash == std::string::npos ? std::string(".") : configFile.substr(0, slash);
  return fmt::format("{}/sip-communicator.properties", dir);
}

void applyLegacyPropertiesText(BridgeConfig& cfg, const std::string& text,
                               const std::string& name) {
  const std::vector<Property> props = parse(text);
  const Property* natLocal = nullptr;
  const Property* natPublic = nullptr;
  const Property* stun = nullptr;
  for (const auto& p : props) {
    if (p.key == kNatLocal) {
      natLocal = &p;
    } else if (p.key == kNatPublic) {
      natPublic = &p;
    } else if (p.key == kStun) {
      stun = &p;
    } else {
      std::string_view moved;
      bool known = false;
      for (const auto& m : kMoved) {
        if (p.key == m.property) {
          moved = m.key;
          known = true;
        }
      }
      constexpr std::string_view kXmppUser = "org.jitsi.videobridge.xmpp.user.";
      if (!known && p.key.rfind(kXmppUser, 0) == 0) {
        const std::string_view rest = std::string_view(p.key).substr(kXmppUser.size());
        const size_t dot = rest.find('.');
        if (dot != std::string_view::npos) {
          LOG_WARN("config",
                   "{}:{}: {} ignored: jvb-audio reads the XMPP login from jvb.conf "
                   "(videobridge.apis.xmpp-client.configs.{}.{})",
                   name, p.line, p.key, rest.substr(0, dot), rest.substr(dot + 1));
          continue;
        }
      }
      if (!moved.empty()) {
        LOG_WARN("config", "{}:{}: {} ignored: jvb-audio reads only jvb.conf for it ({})", name,
                 p.line, p.key, moved);
      } else if (known) {
        LOG_WARN("config", "{}:{}: {} ignored: it means nothing to jvb-audio", name, p.line, p.key);
      } else {
        LOG_WARN("config", "{}:{}: {} ignored: not a property jvb-audio reads", name, p.line,
                 p.key);
      }
    }
  }
  // ice4j HarvestConfig.staticMappings: the legacy pair first, only with both.
  if (natLocal != nullptr && natPublic != nullptr) {
    const std::string local(trim(natLocal->value));
    const std::string pub(trim(natPublic->value));
    if (local.empty() || pub.empty()) {
      LOG_WARN("config", "{}:{}: NAT_HARVESTER_LOCAL_ADDRESS/PUBLIC_ADDRESS ignored: empty", name,
               natLocal->line);
    } else {
      StaticMapping m;
      m.localAddress = local;
      m.publicAddress = pub;
      cfg.staticMappings.insert(cfg.staticMappings.begin(), m);
      LOG_INFO("config", "{}:{}: static mapping {} -> {} (NAT_HARVESTER_*_ADDRESS)", name,
               natLocal->line, local, pub);
    }
  } else if (natLocal != nullptr || natPublic != nullptr) {
    const Property* p = natLocal != nullptr ? natLocal : natPublic;
    LOG_WARN("config",
             "{}:{}: {} ignored: NAT_HARVESTER_LOCAL_ADDRESS and "
             "NAT_HARVESTER_PUBLIC_ADDRESS only work together",
             name, p->line, p->key);
  }
  // ice4j HarvestConfig.stunMappingCandidateHarvesterAddresses: the legacy
  // property first, split at commas.
  if (stun != nullptr) {
    std::vector<std::string> servers;
    std::string_view v = stun->value;
    while (!v.empty()) {
      const size_t comma = v.find(',');
      const std::string_view item = trim(v.substr(0, comma));
      if (!item.empty()) {
        servers.emplace_back(item);
      }
      v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    }
    if (!cfg.stunAddresses.empty()) {
      LOG_WARN("config", "{}:{}: {} replaces ice4j.harvest.mapping.stun.addresses (as in ice4j)",
               name, stun->line, stun->key);
    }
    cfg.stunAddresses = std::move(servers);
  }
}

bool applyLegacyProperties(BridgeConfig& cfg, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    LOG_WARN("config", "{}: cannot read it; ignored", path);
    return false;
  }
  LOG_INFO("config", "reading legacy properties from {}", path);
  applyLegacyPropertiesText(cfg, text.str(), path);
  return true;
}

}  // namespace jvb::config
