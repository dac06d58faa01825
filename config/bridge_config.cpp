// Typed loading of jvb.conf: HOCON tree -> BridgeConfig, with validation and
// reporting of keys that jvb-audio does not use.
#include "config/bridge_config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "config/hocon.hpp"

namespace jvb::config {

std::string Origin::describe() const {
  if (file.empty())
    return "built-in default";
  if (line <= 0)
    return file;
  return fmt::format("{}:{}", file, line);
}

namespace {

std::string formatError(const std::string& file, int line, const std::string& key,
                        const std::string& message) {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0)
      out += fmt::format(":{}", line);
    out += ": ";
  }
  if (!key.empty())
    out += key + ": ";
  return out + message;
}

}  // namespace

ConfigError::ConfigError(std::string file, int line, std::string key, std::string message)
    : std::runtime_error(formatError(file, line, key, message)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)),
      message_(std::move(message)) {}

namespace {

using hocon::Kind;
using hocon::Node;

std::vector<std::string> splitDots(std::string_view dotted) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t dot = dotted.find('.', start);
    out.emplace_back(dotted.substr(start, dot - start));
    if (dot == std::string_view::npos)
      return out;
    start = dot + 1;
  }
}

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s)
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

std::string upper(std::string_view s) {
  std::string out;
  for (char c : s)
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

[[noreturn]] void fail(const Node& v, const std::string& key, const std::string& message) {
  throw ConfigError(v.origin.file, v.origin.line, key, message);
}

// --- conversions, with HOCON's leniency (strings convert to numbers/booleans) ----------------

bool toBool(const Node& v, const std::string& key) {
  if (v.kind == Kind::kBool)
    return v.boolean;
  if (v.kind == Kind::kString) {
    const std::string s = lower(trim(v.text));
    if (s == "true" || s == "yes" || s == "on")
      return true;
    if (s == "false" || s == "no" || s == "off")
      return false;
  }
  fail(v, key, "expected a boolean (true or false), got " + hocon::describeValue(v));
}

std::optional<std::int64_t> toInteger(const Node& v) {
  if (v.kind == Kind::kNumber)
    return v.integer;
  if (v.kind == Kind::kString) {
    const std::string_view s = trim(v.text);
    std::int64_t i = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), i);
    if (!s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size())
      return i;
  }
  return std::nullopt;
}

int toInt(const Node& v, const std::string& key, std::int64_t min, std::int64_t max,
          const std::string& expected) {
  const auto i = toInteger(v);
  if (!i || *i < min || *i > max)
    fail(v, key, "expected " + expected + ", got " + hocon::describeValue(v));
  return static_cast<int>(*i);
}

int toPort(const Node& v, const std::string& key, bool allowDisabled) {
  const auto i = toInteger(v);
  if (i && ((*i >= 1 && *i <= 65535) || (allowDisabled && *i == -1)))
    return static_cast<int>(*i);
  fail(v, key,
       std::string(allowDisabled ? "expected a port number (1-65535, or -1 to disable)"
                                 : "expected a port number (1-65535)") +
           ", got " + hocon::describeValue(v));
}

std::string toString(const Node& v, const std::string& key) {
  if (v.kind == Kind::kString || v.kind == Kind::kNumber || v.kind == Kind::kBool)
    return v.text;
  fail(v, key, "expected a string, got " + hocon::describeValue(v));
}

Millis toDuration(const Node& v, const std::string& key, bool positive) {
  const std::int64_t ms = hocon::durationMillis(v, key);
  if (ms < 0 || (positive && ms == 0)) {
    fail(v, key,
         std::string(positive ? "expected a positive duration"
                              : "expected a non-negative duration") +
             ", got " + hocon::describeValue(v));
  }
  return Millis(ms);
}

bool isValidMucJid(std::string_view jid) {
  const size_t at = jid.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == jid.size())
    return false;
  if (jid.find('@', at + 1) != std::string_view::npos)
    return false;
  for (char c : jid) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '"' || c == '\'' ||
        c == '<' || c == '>' || c == '&' || static_cast<unsigned char>(c) < 0x20) {
      return false;
    }
  }
  return true;
}

// Keys that JVB deployments set and that mean nothing to an audio-only
// bridge. "*" matches any one element.
constexpr std::string_view kKnownJvbKeys[] = {
    "videobridge.cc",
    "videobridge.sctp",
    "videobridge.multi-stream",
    "videobridge.octo",
    "videobridge.cryptex",
    "videobridge.ssrc-limit",
    "videobridge.speech-activity",
    "videobridge.load-management",
    "videobridge.transport",
    "videobridge.connection-stats",
    "videobridge.stats-filter-threshold",
    "videobridge.redact-remote-addresses",
    "videobridge.stats.transports",
    "videobridge.stats.transit-time",
    "videobridge.stats.jvm",
    "videobridge.stats.callstats",
    "videobridge.health.sticky-failures",
    "videobridge.health.require-valid-address",
    "videobridge.health.require-stun",
    "videobridge.apis.xmpp-client.stats-filter",
    "videobridge.apis.xmpp-client.jid-cache-size",
    "videobridge.rest.rtcstats",
    "videobridge.http-servers.*.key-store-path",
    "videobridge.http-servers.*.key-store-password",
    "videobridge.http-servers.*.send-server-version",
    "videobridge.http-servers.*.tls-protocols",
    "videobridge.http-servers.*.tls-cipher-suites",
    "videobridge.websockets.enable-compression",
    "videobridge.websockets.send-keepalive-pings",
    "videobridge.websockets.keepalive-ping-interval",
    "videobridge.websockets.idle-timeout",
    "videobridge.websockets.relay-domains",
    "videobridge.ice.tcp",
    "videobridge.ice.ufrag-prefix",
    "videobridge.ice.keep-alive-strategy",
    "videobridge.ice.resolve-remote-candidates",
    "videobridge.ice.nomination-strategy",
    "videobridge.version.announce",
    "jmt",
    "ice4j",
};

bool isKnownJvbKey(const std::vector<std::string>& path) {
  // Inside a static mapping jvb-audio reads every key ice4j defines.
  if (path.size() > 4 && path[0] == "ice4j" && path[1] == "harvest" && path[2] == "mapping" &&
      path[3] == "static-mappings") {
    return false;
  }
  for (std::string_view known : kKnownJvbKeys) {
    const std::vector<std::string> pattern = splitDots(known);
    if (pattern.size() > path.size())
      continue;
    bool match = true;
    for (size_t i = 0; i < pattern.size() && match; ++i) {
      match = pattern[i] == "*" || pattern[i] == path[i];
    }
    if (match)
      return true;
  }
  return false;
}

// Joins a key path for messages; "[i]" elements are list indices.
std::string displayPath(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& e : path) {
    if (!e.empty() && e.front() == '[') {
      out += e;
    } else {
      // Appended piecewise: `"." + string` trips GCC 12's false -Wrestrict
      // at -O3 (GCC bug 105651).
      if (!out.empty())
        out += '.';
      out += hocon::joinPath({e});
    }
  }
  return out;
}

class Loader {
 public:
  explicit Loader(const Node& root) : root_(root) {}

  BridgeConfig load(const std::string& sourceFile) {
    BridgeConfig c;
    c.sourceFile = sourceFile;

    readBool("videobridge.stats.enabled", c.statsEnabled);
    readDuration("videobridge.stats.interval", c.statsInterval, true);
    c.presenceInterval = c.statsInterval;
    readDuration("videobridge.apis.xmpp-client.presence-interval", c.presenceInterval, true);
    if (const Node* v = get("jvb-audio.xmpp.presence-keepalive")) {
      const std::string key = "jvb-audio.xmpp.presence-keepalive";
      c.presenceKeepalive = toDuration(*v, key, true);
      if (c.presenceKeepalive > Millis{30000}) {
        fail(*v, key, "at most 30 s: Jicofo's presence health check times a bridge out after 45 s");
      }
    }
    readDuration("jvb-audio.xmpp.ping-interval", c.xmppPingInterval, true);
    readDuration("jvb-audio.xmpp.ping-timeout", c.xmppPingTimeout, true);
    readXmppClients(c);

    readPort("videobridge.ice.udp.port", c.iceUdpPort, false);
    readString("videobridge.ice.udp.bind-address", c.iceBindAddress);
    readBool("videobridge.ice.advertise-private-candidates", c.advertisePrivateCandidates);
    readBool("videobridge.ice.restart.enabled", c.iceRestartEnabled);
    readDuration("videobridge.ice.restart.timeout", c.iceRestartTimeout, false);
    readDuration("videobridge.ice.restart.transition-window", c.iceRestartTransitionWindow, false);
    readStaticMappings(c);
    readStringList("ice4j.harvest.mapping.stun.addresses", c.stunAddresses);
    if (const Node* v = get("jvb-audio.stun-mapping.refresh-interval")) {
      const std::string key = "jvb-audio.stun-mapping.refresh-interval";
      c.stunRefreshInterval = toDuration(*v, key, true);
      if (c.stunRefreshInterval < Millis{1000}) {
        fail(*v, key, "at least 1 s");
      }
    }

    readHttpServer("videobridge.http-servers.private", c.httpPrivate);
    readHttpServer("videobridge.http-servers.public", c.httpPublic);

    readBool("videobridge.apis.rest.enabled", c.restApiEnabled);
    readBool("videobridge.rest.health.enabled", c.restHealthEnabled);
    readBool("videobridge.rest.version.enabled", c.restVersionEnabled);
    readBool("videobridge.rest.drain.enabled", c.restDrainEnabled);
    readBool("videobridge.rest.shutdown.enabled", c.restShutdownEnabled);
    readBool("videobridge.rest.prometheus.enabled", c.restPrometheusEnabled);
    readBool("videobridge.rest.debug.enabled", c.restDebugEnabled);

    readBool("videobridge.websockets.enabled", c.websocketsEnabled);
    readString("videobridge.websockets.domain", c.websocketsDomain);
    std::vector<std::string> domains;
    if (readStringList("videobridge.websockets.domains", domains) && !domains.empty() &&
        c.websocketsDomain.empty()) {
      c.websocketsDomain = domains.front();
      if (domains.size() > 1) {
        LOG_WARN("config", "videobridge.websockets.domains: only the first domain ({}) is used",
                 domains.front());
      }
    }
    readBool("videobridge.websockets.tls", c.websocketsTls);
    readString("videobridge.websockets.server-id", c.websocketsServerId);

    readBool("videobridge.loudest.route-loudest-only", c.routeLoudestOnly);
    readInt("videobridge.loudest.num-loudest", c.numLoudest, 1, std::numeric_limits<int>::max(),
            "an integer >= 1");
    readBool("videobridge.loudest.always-route-dominant", c.alwaysRouteDominant);
    readDuration("videobridge.loudest.energy-expire-time", c.energyExpireTime, false);
    readInt("videobridge.loudest.energy-alpha-pct", c.energyAlphaPct, 0, 100,
            "an integer from 0 to 100");

    readInt("videobridge.ssrc-limit.audio", c.ssrcLimitAudio, 1, 1024, "an integer from 1 to 1024");
    readDuration("jvb-audio.ssrc-rewriting.new-ssrc-delay", c.newSsrcDelay, false);
    readDuration("jvb-audio.ssrc-rewriting.remap-min-idle", c.remapMinIdle, false);
    readInt("jvb-audio.endpoint-rate-limit.packets-per-second", c.endpointRateLimitPps, 0, 1000000,
            "an integer from 0 to 1000000");
    readInt("jvb-audio.endpoint-rate-limit.burst", c.endpointRateLimitBurst, 0, 1000000,
            "an integer from 0 to 1000000");
    readDuration("jvb-audio.media.max-queue-delay", c.maxQueueDelay, false);

    readDuration("videobridge.health.interval", c.healthInterval, true);
    readDuration("videobridge.health.timeout", c.healthTimeout, true);
    readDuration("videobridge.health.max-check-duration", c.healthMaxCheckDuration, false);

    readDuration("videobridge.entity-expiration.timeout", c.expirationTimeout, true);
    c.expirationCheckInterval = c.expirationTimeout;
    readDuration("videobridge.entity-expiration.check-interval", c.expirationCheckInterval, true);
    readDuration("jvb-audio.entity-expiration.never-connected-timeout", c.neverConnectedTimeout,
                 true);
    readDuration("jvb-audio.entity-expiration.empty-conference-grace", c.emptyConferenceGrace,
                 false);

    readDuration("videobridge.ep-connection-status.first-transfer-timeout",
                 c.epFirstTransferTimeout, false);
    readDuration("videobridge.ep-connection-status.max-inactivity-limit", c.epMaxInactivityLimit,
                 false);
    readDuration("videobridge.ep-connection-status.check-interval", c.epCheckInterval, true);

    readDuration("videobridge.shutdown.graceful-shutdown-max-duration",
                 c.gracefulShutdownMaxDuration, false);
    readDuration("videobridge.shutdown.shutting-down-delay", c.shuttingDownDelay, false);
    readInt("videobridge.shutdown.graceful-shutdown-min-participants",
            c.gracefulShutdownMinParticipants, 0, std::numeric_limits<int>::max(),
            "an integer >= 0");

    readInt("videobridge.exporter.max-reconnect-attempts", c.exporterMaxReconnectAttempts, 0,
            std::numeric_limits<int>::max(), "an integer >= 0");
    readDuration("videobridge.exporter.base-delay", c.exporterBaseDelay, false);
    readDuration("videobridge.exporter.max-delay", c.exporterMaxDelay, false);
    readDuration("videobridge.exporter.stable-connection-threshold", c.exporterStableThreshold,
                 false);

    readBool("videobridge.initial-drain-mode", c.initialDrainMode);
    readBool("videobridge.relay.enabled", c.relayEnabled);
    readString("videobridge.relay.relay-id", c.relayId);
    std::string relayRegion;
    readString("videobridge.relay.region", relayRegion);
    readString("videobridge.region", c.region);
    if (!relayRegion.empty())
      c.region = relayRegion;
    readString("videobridge.version.release", c.release);
    readBool("videobridge.video.enabled", c.videoEnabled);
    readBool("videobridge.sctp.enabled", c.sctpEnabled);

    if (const Node* v = get("jvb-audio.log-level")) {
      const std::string key = "jvb-audio.log-level";
      const auto level = log::parseLevel(toString(*v, key));
      if (!level) {
        fail(*v, key,
             "expected a log level (trace, debug, info, warn, error or off), got " +
                 hocon::describeValue(*v));
      }
      c.logLevel = *level;
    }

    std::vector<std::string> path;
    reportUnused(root_, path);
    return c;
  }

 private:
  // The value at a dotted path, marked as used; nullptr when absent or null.
  const Node* get(std::string_view dotted) {
    const Node* cur = &root_;
    for (const auto& element : splitDots(dotted)) {
      if (!cur->isObject())
        return nullptr;
      cur = cur->find(element);
      if (cur == nullptr)
        return nullptr;
    }
    used_.insert(cur);
    return cur->kind == Kind::kNull ? nullptr : cur;
  }

  // An object at a dotted path (nullptr when absent or null); error when set
  // to something else.
  const Node* getObject(std::string_view dotted) {
    const Node* v = get(dotted);
    if (v == nullptr)
      return nullptr;
    if (!v->isObject())
      fail(*v, std::string(dotted), "expected an object, got " + hocon::describeValue(*v));
    used_.erase(v);  // its fields are reported one by one
    return v;
  }

  void readBool(std::string_view path, bool& out) {
    if (const Node* v = get(path))
      out = toBool(*v, std::string(path));
  }
  void readString(std::string_view path, std::string& out) {
    if (const Node* v = get(path))
      out = toString(*v, std::string(path));
  }
  void readPort(std::string_view path, int& out, bool allowDisabled) {
    if (const Node* v = get(path))
      out = toPort(*v, std::string(path), allowDisabled);
  }
  void readInt(std::string_view path, int& out, std::int64_t min, std::int64_t max,
               const std::string& expected) {
    if (const Node* v = get(path))
      out = toInt(*v, std::string(path), min, max, expected);
  }
  void readDuration(std::string_view path, Millis& out, bool positive) {
    if (const Node* v = get(path))
      out = toDuration(*v, std::string(path), positive);
  }
  // A list of strings; a single string is split at commas.
  bool readStringList(std::string_view path, std::vector<std::string>& out) {
    const Node* v = get(path);
    if (v == nullptr)
      return false;
    out = toStringList(*v, std::string(path));
    return true;
  }

  static std::vector<std::string> toStringList(const Node& v, const std::string& key) {
    std::vector<std::string> out;
    if (v.isList()) {
      for (const auto& item : v.items) {
        const std::string s(trim(toString(*item, key)));
        if (!s.empty())
          out.push_back(s);
      }
    } else {
      const std::string s = toString(v, key);
      size_t start = 0;
      for (;;) {
        const size_t comma = s.find(',', start);
        const std::string_view part = trim(std::string_view(s).substr(start, comma - start));
        if (!part.empty())
          out.emplace_back(part);
        if (comma == std::string::npos)
          break;
        start = comma + 1;
      }
    }
    return out;
  }

  void readHttpServer(const std::string& prefix, HttpServerConfig& out) {
    readString(prefix + ".host", out.host);
    readPort(prefix + ".port", out.port, true);
    readPort(prefix + ".tls-port", out.tlsPort, true);
  }

  void readXmppClients(BridgeConfig& c) {
    const std::string prefix = "videobridge.apis.xmpp-client.configs";
    const Node* configs = getObject(prefix);
    if (configs == nullptr)
      return;
    for (const auto& field : configs->fields) {
      const Node& block = *field.value;
      const std::string blockKey = prefix + "." + hocon::joinPath({field.key});
      if (block.kind == Kind::kNull) {
        used_.insert(&block);
        continue;
      }
      if (!block.isObject()) {
        fail(block, blockKey,
             "expected an object (one block per XMPP connection), got " +
                 hocon::describeValue(block));
      }
      c.xmppClients.push_back(readXmppClient(field.key, block, blockKey));
    }
  }

  XmppClientConfig readXmppClient(const std::string& id, const Node& block,
                                  const std::string& blockKey) {
    static const std::set<std::string> kKeys = {
        "HOSTNAME",      "PORT",           "DOMAIN",       "USERNAME",
        "PASSWORD",      "MUC_JIDS",       "MUC_NICKNAME", "DISABLE_CERTIFICATE_VERIFICATION",
        "SECURITY_MODE", "IQ_HANDLER_MODE"};
    // jicoco upper-cases the keys; a later spelling wins.
    std::map<std::string, std::pair<const Node*, std::string>> props;
    for (const auto& f : block.fields) {
      const std::string name = upper(f.key);
      if (kKeys.count(name) == 0)
        continue;
      used_.insert(f.value.get());
      if (f.value->kind == Kind::kNull) {
        props.erase(name);
      } else {
        props[name] = {f.value.get(), blockKey + "." + hocon::joinPath({f.key})};
      }
    }
    for (const char* required : {"HOSTNAME", "USERNAME", "PASSWORD", "MUC_JIDS", "MUC_NICKNAME"}) {
      if (props.count(required) == 0) {
        fail(block, blockKey, std::string("missing required key ") + required);
      }
    }
    auto str = [&](const char* name) {
      const auto& [node, key] = props.at(name);
      return std::string(trim(toString(*node, key)));
    };
    auto nonEmpty = [&](const char* name) {
      std::string s = str(name);
      if (s.empty())
        fail(*props.at(name).first, props.at(name).second, "must not be empty");
      return s;
    };

    XmppClientConfig x;
    x.id = id;
    x.origin = block.origin;
    x.hostname = nonEmpty("HOSTNAME");
    x.username = nonEmpty("USERNAME");
    x.password = toString(*props.at("PASSWORD").first, props.at("PASSWORD").second);
    x.mucNickname = nonEmpty("MUC_NICKNAME");
    x.domain = props.count("DOMAIN") != 0 ? str("DOMAIN") : "";
    if (x.domain.empty())
      x.domain = x.hostname;
    if (props.count("PORT") != 0) {
      x.port = toPort(*props.at("PORT").first, props.at("PORT").second, false);
    }

    const auto& [jidsNode, jidsKey] = props.at("MUC_JIDS");
    x.mucJids = toStringList(*jidsNode, jidsKey);
    if (x.mucJids.empty())
      fail(*jidsNode, jidsKey, "must name at least one MUC (room@domain)");
    for (const auto& jid : x.mucJids) {
      if (!isValidMucJid(jid)) {
        fail(*jidsNode, jidsKey, fmt::format("invalid MUC JID \"{}\": expected room@domain", jid));
      }
    }

    if (props.count("DISABLE_CERTIFICATE_VERIFICATION") != 0) {
      const auto& [node, key] = props.at("DISABLE_CERTIFICATE_VERIFICATION");
      x.disableCertificateVerification = toBool(*node, key);
    }
    const std::string host = lower(x.hostname);
    if (host == "localhost" || host == "127.0.0.1" || host == "::1") {
      x.securityMode = "ifpossible";
    }
    if (props.count("SECURITY_MODE") != 0) {
      const auto& [node, key] = props.at("SECURITY_MODE");
      const std::string mode = lower(trim(toString(*node, key)));
      if (mode != "required" && mode != "ifpossible" && mode != "disabled") {
        fail(*node, key,
             "expected required, ifpossible or disabled, got " + hocon::describeValue(*node));
      }
      x.securityMode = mode;
    }
    if (props.count("IQ_HANDLER_MODE") != 0) {
      const auto& [node, key] = props.at("IQ_HANDLER_MODE");
      const std::string mode = lower(trim(toString(*node, key)));
      if (mode != "sync" && mode != "async") {
        fail(*node, key, "expected sync or async, got " + hocon::describeValue(*node));
      }
      x.iqHandlerMode = mode;
    }
    return x;
  }

  void readStaticMappings(BridgeConfig& c) {
    const std::string key = "ice4j.harvest.mapping.static-mappings";
    const Node* list = get(key);
    if (list == nullptr)
      return;
    if (!list->isList())
      fail(*list, key, "expected a list of objects, got " + hocon::describeValue(*list));
    for (size_t i = 0; i < list->items.size(); ++i) {
      const Node& m = *list->items[i];
      const std::string itemKey = fmt::format("{}[{}]", key, i);
      if (!m.isObject())
        fail(m, itemKey, "expected an object, got " + hocon::describeValue(m));
      auto field = [&](const char* name) -> const Node* {
        const Node* v = m.find(name);
        if (v == nullptr)
          return nullptr;
        used_.insert(v);
        return v->kind == Kind::kNull ? nullptr : v;
      };
      StaticMapping s;
      for (const char* required : {"local-address", "public-address"}) {
        const Node* v = field(required);
        if (v == nullptr)
          fail(m, itemKey, std::string("missing required key ") + required);
        const std::string text(trim(toString(*v, itemKey + "." + required)));
        if (text.empty())
          fail(*v, itemKey + "." + required, "must not be empty");
        (required[0] == 'l' ? s.localAddress : s.publicAddress) = text;
      }
      if (const Node* v = field("local-port"))
        s.localPort = toPort(*v, itemKey + ".local-port", false);
      if (const Node* v = field("public-port")) {
        s.publicPort = toPort(*v, itemKey + ".public-port", false);
      }
      if (const Node* v = field("name"))
        s.name = toString(*v, itemKey + ".name");
      c.staticMappings.push_back(std::move(s));
    }
  }

  // Logs every leaf the loader did not read: warn for unknown keys, debug for
  // JVB keys that mean nothing to jvb-audio.
  void reportUnused(const Node& n, std::vector<std::string>& path) {
    if (n.isObject()) {
      for (const auto& f : n.fields) {
        path.push_back(f.key);
        reportUnused(*f.value, path);
        path.pop_back();
      }
      return;
    }
    if (used_.count(&n) != 0) {
      if (n.isList()) {  // a list the loader read: report unknown keys inside its objects
        for (size_t i = 0; i < n.items.size(); ++i) {
          if (!n.items[i]->isObject())
            continue;
          path.push_back(fmt::format("[{}]", i));
          reportUnused(*n.items[i], path);
          path.pop_back();
        }
      }
      return;
    }
    const std::string name = displayPath(path);
    if (!logged_.insert(name).second)
      return;
    if (isKnownJvbKey(path)) {
      LOG_DEBUG("config", "{}: known JVB key {}, not used by jvb-audio", n.origin.describe(), name);
    } else {
      LOG_WARN("config", "{}: unknown key {} ignored", n.origin.describe(), name);
    }
  }

  const Node& root_;
  std::unordered_set<const Node*> used_;
  std::set<std::string> logged_;
};

BridgeConfig loadTree(const Node& root, const std::string& name) {
  return Loader(root).load(name);
}

hocon::ParseOptions parseOptions(const LoadOptions& options) {
  hocon::ParseOptions p;
  p.allowIncludes = options.allowIncludes;
  p.useEnvironment = options.useEnvironment;
  return p;
}

}  // namespace

BridgeConfig loadFile(const std::string& path) {
  return loadFile(path, LoadOptions{});
}

BridgeConfig loadFile(const std::string& path, const LoadOptions& options) {
  const hocon::NodePtr root = hocon::parseFile(path, parseOptions(options));
  return loadTree(*root, path);
}

BridgeConfig loadString(const std::string& text, const std::string& name) {
  return loadString(text, name, LoadOptions{});
}

BridgeConfig loadString(const std::string& text, const std::string& name,
                        const LoadOptions& options) {
  const hocon::NodePtr root = hocon::parse(text, name, parseOptions(options));
  return loadTree(*root, name);
}

XmppClientConfig xmppClientFromProperties(
    const std::string& id, const std::vector<std::pair<std::string, std::string>>& properties,
    const std::string& source) {
  // The properties become the jvb.conf block they stand for, read by the same
  // code as the file: one set of rules and messages for both.
  const auto quoted = [](std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
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
    out += '"';
    return out;
  };
  std::string text = "videobridge.apis.xmpp-client.configs {\n  ";
  text += quoted(id);
  text += " {\n";
  for (const auto& [name, value] : properties) {
    text += "    ";
    text += quoted(name);
    text += " = ";
    text += quoted(value);
    text += "\n";
  }
  text += "  }\n}\n";
  LoadOptions options;
  options.useEnvironment = false;
  BridgeConfig cfg = loadString(text, source, options);
  if (cfg.xmppClients.size() != 1) {
    throw ConfigError(source, 1, "id", "expected one connection");
  }
  return std::move(cfg.xmppClients.front());
}

}  // namespace jvb::config
