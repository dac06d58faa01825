// Unit tests of the typed jvb.conf loader (config/bridge_config.hpp).
#include "config/bridge_config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace jvb::config {
namespace {

std::string fixture(const std::string& name) {
  return std::string(JVB_SOURCE_DIR) + "/tests/data/config/" + name;
}

std::optional<ConfigError> errorOf(const std::string& text) {
  try {
    loadString(text, "jvb.conf");
  } catch (const ConfigError& e) {
    return e;
  }
  return std::nullopt;
}

// Captures log lines while alive.
std::vector<std::string>& captured() {
  static std::vector<std::string> lines;
  return lines;
}
void captureSink(std::string_view line) {
  captured().emplace_back(line);
}

class LogCapture {
 public:
  explicit LogCapture(log::Level level) : saved_(log::level()) {
    captured().clear();
    log::setLevel(level);
    log::setSink(&captureSink);
  }
  ~LogCapture() {
    log::setSink(nullptr);
    log::setLevel(saved_);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  int count(std::string_view needle) const {
    int n = 0;
    for (const auto& l : captured()) {
      if (l.find(needle) != std::string::npos)
        ++n;
    }
    return n;
  }

 private:
  log::Level saved_;
};

// Sets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  void set(const std::string& name, const std::optional<std::string>& value) {
    if (saved_.count(name) == 0) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
    }
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

// --- defaults and real-world files ----------------------------------------------------------

TEST(BridgeConfig, DefaultsWhenKeysAreAbsent) {
  const BridgeConfig c = loadString("", "empty.conf");
  EXPECT_TRUE(c.xmppClients.empty());
  EXPECT_EQ(c.presenceInterval, Millis(5000));
  EXPECT_EQ(c.iceUdpPort, 10000);
  EXPECT_EQ(c.iceBindAddress, "0.0.0.0");
  EXPECT_TRUE(c.advertisePrivateCandidates);
  EXPECT_TRUE(c.staticMappings.empty());
  EXPECT_TRUE(c.stunAddresses.empty());
  EXPECT_EQ(c.httpPrivate.host, "127.0.0.1");
  EXPECT_EQ(c.httpPrivate.port, 8080);
  EXPECT_EQ(c.httpPrivate.tlsPort, 8443);
  EXPECT_EQ(c.httpPublic.port, -1);
  EXPECT_EQ(c.httpPublic.tlsPort, -1);
  EXPECT_FALSE(c.restApiEnabled);
  EXPECT_TRUE(c.restHealthEnabled);
  EXPECT_TRUE(c.restVersionEnabled);
  EXPECT_TRUE(c.restDrainEnabled);
  EXPECT_FALSE(c.restShutdownEnabled);
  EXPECT_TRUE(c.restPrometheusEnabled);
  EXPECT_TRUE(c.restDebugEnabled);
  EXPECT_FALSE(c.websocketsEnabled);
  EXPECT_EQ(c.websocketsDomain, "");
  EXPECT_TRUE(c.websocketsTls);
  EXPECT_EQ(c.websocketsServerId, "default-id");
  EXPECT_FALSE(c.routeLoudestOnly);
  EXPECT_EQ(c.numLoudest, 3);
  EXPECT_TRUE(c.alwaysRouteDominant);
  EXPECT_EQ(c.energyExpireTime, Millis(150));
  EXPECT_EQ(c.energyAlphaPct, 50);
  EXPECT_EQ(c.ssrcLimitAudio, 50);  // JVB reference.conf videobridge.ssrc-limit.audio
  EXPECT_EQ(c.newSsrcDelay, Millis(200));
  EXPECT_EQ(c.remapMinIdle, Millis(500));
  EXPECT_EQ(c.endpointRateLimitPps, 200);
  EXPECT_EQ(c.endpointRateLimitBurst, 200);
  EXPECT_EQ(c.maxQueueDelay, Millis(200));
  EXPECT_TRUE(c.statsEnabled);
  EXPECT_EQ(c.statsInterval, Millis(5000));
  EXPECT_EQ(c.healthInterval, Millis(60000));
  EXPECT_EQ(c.healthTimeout, Millis(90000));
  EXPECT_EQ(c.healthMaxCheckDuration, Millis(3000));
  // JVB reference.conf videobridge.ep-connection-status
  EXPECT_EQ(c.epFirstTransferTimeout, Millis(15000));
  EXPECT_EQ(c.epMaxInactivityLimit, Millis(8000));
  EXPECT_EQ(c.epCheckInterval, Millis(500));
  EXPECT_EQ(c.gracefulShutdownMaxDuration, Millis(24 * 3600 * 1000));
  EXPECT_EQ(c.shuttingDownDelay, Millis(60000));
  EXPECT_EQ(c.gracefulShutdownMinParticipants, 0);
  EXPECT_FALSE(c.initialDrainMode);
  EXPECT_EQ(c.region, "");
  EXPECT_FALSE(c.relayEnabled);
  EXPECT_EQ(c.relayId, "");
  EXPECT_EQ(c.release, "");
  EXPECT_TRUE(c.videoEnabled);
  EXPECT_TRUE(c.sctpEnabled);
  // Under Jicofo's 45 s presence health-check timeout, with margin.
  EXPECT_EQ(c.presenceKeepalive, Millis(25000));
  EXPECT_EQ(c.xmppPingInterval, Millis(30000));
  EXPECT_EQ(c.xmppPingTimeout, Millis(15000));
  EXPECT_EQ(c.stunRefreshInterval, Millis(30000));
  EXPECT_EQ(c.logLevel, log::Level::kInfo);
  EXPECT_EQ(c.sourceFile, "empty.conf");
}

TEST(BridgeConfig, SeedDeploymentFile) {
  LogCapture logs(log::Level::kDebug);
  const BridgeConfig c = loadFile(fixture("seed-jvb.conf"));
  ASSERT_EQ(c.xmppClients.size(), 1u);
  const XmppClientConfig& x = c.xmppClients[0];
  EXPECT_EQ(x.id, "tech");
  EXPECT_EQ(x.hostname, "jitsi.example.com");
  EXPECT_EQ(x.port, 15222);
  EXPECT_EQ(x.domain, "tech.jitsi.example.com");
  EXPECT_EQ(x.username, "jvb");
  EXPECT_EQ(x.password, "k3Rz9QvXw2LmP7tYa1bC4dE6");
  EXPECT_EQ(x.mucJids, std::vector<std::string>{"jvbbrewery@muc.tech.jitsi.example.com"});
  EXPECT_EQ(x.mucNickname, "jvb1");
  EXPECT_TRUE(x.disableCertificateVerification);
  EXPECT_EQ(x.securityMode, "required");
  EXPECT_EQ(x.iqHandlerMode, "sync");
  EXPECT_EQ(x.origin.file, fixture("seed-jvb.conf"));
  EXPECT_EQ(x.origin.line, 50);

  EXPECT_TRUE(c.statsEnabled);
  EXPECT_EQ(c.httpPrivate.host, "0.0.0.0");
  EXPECT_EQ(c.httpPrivate.port, 8080);
  EXPECT_EQ(c.httpPublic.host, "0.0.0.0");
  EXPECT_EQ(c.httpPublic.port, 9090);
  EXPECT_TRUE(c.websocketsEnabled);
  EXPECT_EQ(c.websocketsDomain, "jitsi.example.com:443");
  EXPECT_TRUE(c.websocketsTls);
  EXPECT_EQ(c.websocketsServerId, "default-id");
  EXPECT_FALSE(c.videoEnabled);
  EXPECT_TRUE(c.restApiEnabled);
  EXPECT_TRUE(c.relayEnabled);
  EXPECT_EQ(c.region, "default");
  EXPECT_EQ(c.relayId, "jvb1");
  EXPECT_EQ(c.iceBindAddress, "0.0.0.0");
  EXPECT_EQ(c.iceUdpPort, 10000);
  EXPECT_EQ(c.presenceInterval, Millis(5000));

  // Nothing unknown; the video-only keys are known JVB keys, logged at debug.
  EXPECT_EQ(logs.count("WARN"), 0);
  EXPECT_EQ(logs.count("known JVB key videobridge.cc.trust-bwe, not used by jvb-audio"), 1);
  EXPECT_EQ(logs.count("known JVB key videobridge.stats.transports"), 1);
  EXPECT_EQ(logs.count("known JVB key"), 6);  // 5 cc keys + stats.transports
}

// JVB's REST muc-client/add body, as MucClientConfiguration reads it.
TEST(BridgeConfig, XmppClientFromRestProperties) {
  const XmppClientConfig x = xmppClientFromProperties(
      "new-client-connection",
      {{"domain", "xmpp.example.com"},
       {"hostname", "10.0.0.1"},
       {"username", "xmpp-username"},
       {"password", "pa\"ss\\word\n"},
       {"muc_jids", "JvbBrewery@conference.xmpp.example.com, second@conference.xmpp.example.com"},
       {"muc_nickname", "unique-resource"},
       {"disable_certificate_verification", "false"},
       {"PORT", "15222"},
       {"port", "15223"}},
      "muc-client request");
  EXPECT_EQ(x.id, "new-client-connection");
  EXPECT_EQ(x.hostname, "10.0.0.1");
  EXPECT_EQ(x.domain, "xmpp.example.com");
  EXPECT_EQ(x.username, "xmpp-username");
  EXPECT_EQ(x.password, "pa\"ss\\word\n");  // any text survives
  EXPECT_EQ(x.mucJids, (std::vector<std::string>{"JvbBrewery@conference.xmpp.example.com",
                                                 "second@conference.xmpp.example.com"}));
  EXPECT_EQ(x.mucNickname, "unique-resource");
  EXPECT_FALSE(x.disableCertificateVerification);
  EXPECT_EQ(x.port, 15223);  // a later spelling wins, as in jvb.conf
  EXPECT_EQ(x.securityMode, "required");
}

TEST(BridgeConfig, XmppClientFromRestPropertiesRefusesWhatTheFileWould) {
  const std::vector<std::pair<std::string, std::string>> base = {{"hostname", "localhost"},
                                                                 {"username", "jvb"},
                                                                 {"password", "p"},
                                                                 {"muc_jids", "b@muc.x"},
                                                                 {"muc_nickname", "n"}};
  EXPECT_EQ(xmppClientFromProperties("ok", base, "req").securityMode, "ifpossible");
  const auto refused = [&](std::vector<std::pair<std::string, std::string>> props,
                           const std::string& drop, const std::string& expect) {
    SCOPED_TRACE(expect);
    std::erase_if(props, [&](const auto& p) { return p.first == drop; });
    try {
      (void)xmppClientFromProperties("x\"y", props, "req");
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
      EXPECT_EQ(e.file(), "req");
    }
  };
  refused(base, "hostname", "missing required key HOSTNAME");
  refused(base, "muc_jids", "missing required key MUC_JIDS");
  auto bad = base;
  bad.emplace_back("port", "70000");
  refused(bad, "", ".port: expected a port number");
  bad = base;
  bad.emplace_back("muc_jids", "no-at-sign");
  refused(bad, "", "invalid MUC JID");
  bad = base;
  bad.emplace_back("security_mode", "sometimes");
  refused(bad, "", "expected required, ifpossible or disabled");
}

TEST(BridgeConfig, DebianPostinstStyleFile) {
  const BridgeConfig c = loadFile(fixture("debian-jvb.conf"));
  ASSERT_EQ(c.xmppClients.size(), 1u);
  const XmppClientConfig& x = c.xmppClients[0];
  EXPECT_EQ(x.id, "shard");
  EXPECT_EQ(x.hostname, "localhost");
  EXPECT_EQ(x.port, 5222);
  EXPECT_EQ(x.domain, "auth.example.com");
  EXPECT_EQ(x.password, "Tq8@xZ#1");
  EXPECT_EQ(x.mucJids, std::vector<std::string>{"jvbbrewery@internal.auth.example.com"});
  EXPECT_EQ(x.mucNickname, "3f0a9c5e-2b6d-4e1f-9a7c-8d2e4b6f1a3c");
  EXPECT_FALSE(x.disableCertificateVerification);
  EXPECT_EQ(x.securityMode, "ifpossible");  // localhost
  EXPECT_EQ(c.httpPublic.port, 9090);
  EXPECT_EQ(c.httpPrivate.host, "127.0.0.1");
  EXPECT_EQ(c.websocketsDomain, "example.com:443");
  EXPECT_EQ(c.stunAddresses, std::vector<std::string>{"meet-jit-si-turnrelay.jitsi.net:443"});
}

TEST(BridgeConfig, DockerStyleFileWithEnvironment) {
  ScopedEnv env;
  env.set("XMPP_SERVER", "xmpp.meet.jitsi");
  env.set("XMPP_AUTH_DOMAIN", "auth.meet.jitsi");
  env.set("JVB_AUTH_USER", std::nullopt);
  env.set("JVB_AUTH_PASSWORD", "passw0rd");
  env.set("JVB_BREWERY_MUC", "jvbbrewery");
  env.set("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi");
  env.set("HOSTNAME", "container-1");
  env.set("JVB_MUC_NICKNAME", std::nullopt);
  env.set("JVB_PORT", "10001");
  env.set("COLIBRI_REST_ENABLED", "true");
  env.set("SHUTDOWN_REST_ENABLED", std::nullopt);
  env.set("JVB_WS_DOMAIN", std::nullopt);
  env.set("JVB_WS_SERVER_ID", "172.20.0.5");
  env.set("LOCAL_ADDRESS", "172.20.0.5");
  env.set("DOCKER_HOST_ADDRESS", "198.51.100.10");

  const BridgeConfig c = loadFile(fixture("docker-jvb.conf"));
  ASSERT_EQ(c.xmppClients.size(), 1u);
  const XmppClientConfig& x = c.xmppClients[0];
  EXPECT_EQ(x.hostname, "xmpp.meet.jitsi");
  EXPECT_EQ(x.domain, "auth.meet.jitsi");
  EXPECT_EQ(x.username, "jvb");  // default kept: JVB_AUTH_USER unset
  EXPECT_EQ(x.password, "passw0rd");
  EXPECT_EQ(x.mucJids, std::vector<std::string>{"jvbbrewery@internal-muc.meet.jitsi"});
  EXPECT_EQ(x.mucNickname, "container-1");
  EXPECT_TRUE(x.disableCertificateVerification);
  EXPECT_EQ(c.iceUdpPort, 10001);  // from a string in the environment
  EXPECT_FALSE(c.advertisePrivateCandidates);
  EXPECT_TRUE(c.restApiEnabled);
  EXPECT_FALSE(c.restShutdownEnabled);
  EXPECT_EQ(c.websocketsDomain, "localhost:8443");
  EXPECT_EQ(c.websocketsServerId, "172.20.0.5");
  EXPECT_EQ(c.httpPublic.port, 9090);
  ASSERT_EQ(c.staticMappings.size(), 1u);
  EXPECT_EQ(c.staticMappings[0].localAddress, "172.20.0.5");
  EXPECT_EQ(c.staticMappings[0].publicAddress, "198.51.100.10");

  // A required variable missing: error at its line.
  env.set("JVB_AUTH_PASSWORD", std::nullopt);
  try {
    loadFile(fixture("docker-jvb.conf"));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 23);
    EXPECT_EQ(e.key(), "videobridge.apis.xmpp-client.configs.shard.PASSWORD");
    EXPECT_NE(e.message().find("${JVB_AUTH_PASSWORD}"), std::string::npos);
  }
}

TEST(BridgeConfig, StaticMappingsFile) {
  const BridgeConfig c = loadFile(fixture("static-mappings-jvb.conf"));
  ASSERT_EQ(c.xmppClients.size(), 1u);
  EXPECT_EQ(c.xmppClients[0].id, "main");
  EXPECT_EQ(c.xmppClients[0].origin.line, 1);
  EXPECT_EQ(c.xmppClients[0].domain, "xmpp.example.com");  // defaults to HOSTNAME
  EXPECT_TRUE(c.stunAddresses.empty());
  ASSERT_EQ(c.staticMappings.size(), 2u);
  EXPECT_EQ(c.staticMappings[0].localAddress, "10.0.0.5");
  EXPECT_EQ(c.staticMappings[0].publicAddress, "203.0.113.7");
  EXPECT_FALSE(c.staticMappings[0].localPort.has_value());
  EXPECT_FALSE(c.staticMappings[0].publicPort.has_value());
  EXPECT_EQ(c.staticMappings[0].name, "nat");
  EXPECT_EQ(c.staticMappings[1].publicAddress, "203.0.113.8");
  EXPECT_EQ(c.staticMappings[1].localPort, 10000);
  EXPECT_EQ(c.staticMappings[1].publicPort, 20000);
  EXPECT_EQ(c.staticMappings[1].name, "port-forward");
}

// --- individual keys ------------------------------------------------------------------------

constexpr const char* kXmpp = R"(
videobridge.apis.xmpp-client.configs {
  b-first {
    HOSTNAME = "127.0.0.1"
    USERNAME = jvb
    PASSWORD = pw
    MUC_JIDS = "a@muc.example.com, b@muc.example.com,"
    MUC_NICKNAME = nick
    PORT = "15222"
    DISABLE_CERTIFICATE_VERIFICATION = "true"
    IQ_HANDLER_MODE = async
  }
  a-second {
    hostname = "xmpp.example.com"
    username = jvb
    Password = pw
    muc_jids = ["x@muc.example.com", "y@muc.example.com"]
    muc_nickname = nick2
    security_mode = disabled
    domain = "example.com"
  }
}
)";

TEST(BridgeConfig, XmppClientKeysAndOrder) {
  const BridgeConfig c = loadString(kXmpp, "jvb.conf");
  ASSERT_EQ(c.xmppClients.size(), 2u);
  const XmppClientConfig& b = c.xmppClients[0];  // file order, not sorted
  EXPECT_EQ(b.id, "b-first");
  EXPECT_EQ(b.origin.line, 3);
  EXPECT_EQ(b.port, 15222);
  EXPECT_TRUE(b.disableCertificateVerification);
  EXPECT_EQ(b.securityMode, "ifpossible");  // 127.0.0.1
  EXPECT_EQ(b.iqHandlerMode, "async");
  EXPECT_EQ(b.domain, "127.0.0.1");
  EXPECT_EQ(b.mucJids, (std::vector<std::string>{"a@muc.example.com", "b@muc.example.com"}));
  const XmppClientConfig& a = c.xmppClients[1];
  EXPECT_EQ(a.id, "a-second");
  EXPECT_EQ(a.hostname, "xmpp.example.com");  // lower-case keys accepted
  EXPECT_EQ(a.password, "pw");
  EXPECT_EQ(a.domain, "example.com");
  EXPECT_EQ(a.securityMode, "disabled");
  EXPECT_EQ(a.mucJids, (std::vector<std::string>{"x@muc.example.com", "y@muc.example.com"}));
}

TEST(BridgeConfig, AllScalarKeys) {
  const BridgeConfig c = loadString(R"(
videobridge {
  stats { enabled = false, interval = 2 seconds }
  ice { udp { port = 10500, bind-address = "10.0.0.1" }, advertise-private-candidates = no }
  http-servers {
    private { host = "127.0.0.2", port = 8081, tls-port = -1 }
    public { host = "::", port = 9090, tls-port = 9443 }
  }
  apis.rest.enabled = true
  rest { health.enabled = false, version.enabled = false, drain.enabled = false, shutdown.enabled = true,
         prometheus.enabled = false, debug.enabled = false }
  websockets { enabled = true, domain = "meet.example.com:443", tls = false, server-id = "10.0.0.1" }
  loudest {
    route-loudest-only = true
    num-loudest = 5
    always-route-dominant = false
    energy-expire-time = 300 milliseconds
    energy-alpha-pct = 70
  }
  ssrc-limit { audio = 7, video = 20 }
  health { interval = 30 seconds, timeout = 1 minute, max-check-duration = 5s }
  ep-connection-status {
    first-transfer-timeout = 3 seconds
    max-inactivity-limit = 0 ms
    check-interval = 100 milliseconds
  }
  shutdown {
    graceful-shutdown-max-duration = 2 hours
    shutting-down-delay = 10 seconds
    graceful-shutdown-min-participants = 2
  }
  initial-drain-mode = true
  region = "eu"
  relay { enabled = true, relay-id = "r1" }
  version.release = 123
  video.enabled = true
}
jvb-audio.log-level = debug
jvb-audio.ssrc-rewriting { new-ssrc-delay = 0 ms, remap-min-idle = 2 seconds }
jvb-audio.endpoint-rate-limit { packets-per-second = 0, burst = 50 }
jvb-audio.media.max-queue-delay = 80 ms
)",
                                    "jvb.conf");
  EXPECT_FALSE(c.statsEnabled);
  EXPECT_EQ(c.statsInterval, Millis(2000));
  EXPECT_EQ(c.presenceInterval, Millis(2000));  // follows stats.interval
  EXPECT_EQ(c.iceUdpPort, 10500);
  EXPECT_EQ(c.iceBindAddress, "10.0.0.1");
  EXPECT_FALSE(c.advertisePrivateCandidates);
  EXPECT_EQ(c.httpPrivate.host, "127.0.0.2");
  EXPECT_EQ(c.httpPrivate.port, 8081);
  EXPECT_EQ(c.httpPrivate.tlsPort, -1);
  EXPECT_EQ(c.httpPublic.host, "::");
  EXPECT_EQ(c.httpPublic.port, 9090);
  EXPECT_EQ(c.httpPublic.tlsPort, 9443);
  EXPECT_TRUE(c.restApiEnabled);
  EXPECT_FALSE(c.restHealthEnabled);
  EXPECT_FALSE(c.restVersionEnabled);
  EXPECT_FALSE(c.restDrainEnabled);
  EXPECT_TRUE(c.restShutdownEnabled);
  EXPECT_FALSE(c.restPrometheusEnabled);
  EXPECT_FALSE(c.restDebugEnabled);
  EXPECT_TRUE(c.websocketsEnabled);
  EXPECT_EQ(c.websocketsDomain, "meet.example.com:443");
  EXPECT_FALSE(c.websocketsTls);
  EXPECT_EQ(c.websocketsServerId, "10.0.0.1");
  EXPECT_TRUE(c.routeLoudestOnly);
  EXPECT_EQ(c.numLoudest, 5);
  EXPECT_FALSE(c.alwaysRouteDominant);
  EXPECT_EQ(c.energyExpireTime, Millis(300));
  EXPECT_EQ(c.energyAlphaPct, 70);
  EXPECT_EQ(c.ssrcLimitAudio, 7);
  EXPECT_EQ(c.newSsrcDelay, Millis(0));
  EXPECT_EQ(c.remapMinIdle, Millis(2000));
  EXPECT_EQ(c.endpointRateLimitPps, 0);
  EXPECT_EQ(c.endpointRateLimitBurst, 50);
  EXPECT_EQ(c.maxQueueDelay, Millis(80));
  EXPECT_EQ(c.healthInterval, Millis(30000));
  EXPECT_EQ(c.healthTimeout, Millis(60000));
  EXPECT_EQ(c.healthMaxCheckDuration, Millis(5000));
  EXPECT_EQ(c.epFirstTransferTimeout, Millis(3000));
  EXPECT_EQ(c.epMaxInactivityLimit, Millis(0));
  EXPECT_EQ(c.epCheckInterval, Millis(100));
  EXPECT_EQ(c.gracefulShutdownMaxDuration, Millis(7200000));
  EXPECT_EQ(c.shuttingDownDelay, Millis(10000));
  EXPECT_EQ(c.gracefulShutdownMinParticipants, 2);
  EXPECT_TRUE(c.initialDrainMode);
  EXPECT_EQ(c.region, "eu");  // relay.region unset: videobridge.region
  EXPECT_TRUE(c.relayEnabled);
  EXPECT_EQ(c.relayId, "r1");
  EXPECT_EQ(c.release, "123");
  EXPECT_TRUE(c.videoEnabled);
  EXPECT_EQ(c.logLevel, log::Level::kDebug);
}

TEST(BridgeConfig, RelayRegionWinsAndPresenceIntervalCanBeSet) {
  const BridgeConfig c = loadString(
      "videobridge { region = a, relay.region = b, apis.xmpp-client.presence-interval = 10 s }",
      "jvb.conf");
  EXPECT_EQ(c.region, "b");
  EXPECT_EQ(c.presenceInterval, Millis(10000));
  EXPECT_EQ(c.statsInterval, Millis(5000));
}

TEST(BridgeConfig, SctpSwitchAndPresenceKeepalive) {
  const BridgeConfig c = loadString(
      "videobridge.sctp.enabled = false\njvb-audio.xmpp.presence-keepalive = 30 s\n", "jvb.conf");
  EXPECT_FALSE(c.sctpEnabled);
  EXPECT_EQ(c.presenceKeepalive, Millis(30000));
}

TEST(BridgeConfig, XmppPingTiming) {
  const BridgeConfig c =
      loadString("jvb-audio.xmpp { ping-interval = 4 s, ping-timeout = 3 s }\n", "jvb.conf");
  EXPECT_EQ(c.xmppPingInterval, Millis(4000));
  EXPECT_EQ(c.xmppPingTimeout, Millis(3000));
}

TEST(BridgeConfig, StunServersAndRefresh) {
  const BridgeConfig c = loadString(
      "ice4j.harvest.mapping.stun.addresses = [\"stun.example.com:3478\", \"192.0.2.1:443\"]\n"
      "jvb-audio.stun-mapping.refresh-interval = 5 s\n",
      "jvb.conf");
  EXPECT_EQ(c.stunAddresses, (std::vector<std::string>{"stun.example.com:3478", "192.0.2.1:443"}));
  EXPECT_EQ(c.stunRefreshInterval, Millis(5000));
}

TEST(BridgeConfig, ReferenceConfPresenceIntervalSubstitution) {
  const BridgeConfig c = loadString(
      "videobridge.apis.xmpp-client.presence-interval = ${videobridge.stats.interval}\n"
      "videobridge.stats.interval = 7 seconds\n",
      "jvb.conf");
  EXPECT_EQ(c.presenceInterval, Millis(7000));
}

TEST(BridgeConfig, WebsocketDomainsList) {
  const BridgeConfig c = loadString("videobridge.websockets.domains = [\"a.example:443\"]", "x");
  EXPECT_EQ(c.websocketsDomain, "a.example:443");
}

TEST(BridgeConfig, NullMeansUnset) {
  const BridgeConfig c =
      loadString("videobridge.ice.udp.port = null\nvideobridge.region = null", "jvb.conf");
  EXPECT_EQ(c.iceUdpPort, 10000);
  EXPECT_EQ(c.region, "");
}

// --- errors ---------------------------------------------------------------------------------

TEST(BridgeConfig, ConnectionStatusCheckIntervalMustBePositive) {
  auto err = errorOf("videobridge.ep-connection-status.check-interval = 0 ms\n");
  ASSERT_TRUE(err);
  EXPECT_NE(std::string(err->what()).find("videobridge.ep-connection-status.check-interval"),
            std::string::npos);
  EXPECT_TRUE(errorOf("videobridge.ep-connection-status.max-inactivity-limit = -1 s\n"));
}

TEST(BridgeConfig, ErrorMessageFormat) {
  const std::string text =
      "videobridge {\n"
      "  ice {\n"
      "    udp {\n"
      "      port = abc\n"
      "    }\n"
      "  }\n"
      "}\n";
  auto err = errorOf(text);
  ASSERT_TRUE(err);
  EXPECT_STREQ(
      err->what(),
      "jvb.conf:4: videobridge.ice.udp.port: expected a port number (1-65535), got \"abc\"");
  EXPECT_EQ(err->file(), "jvb.conf");
  EXPECT_EQ(err->line(), 4);
  EXPECT_EQ(err->key(), "videobridge.ice.udp.port");
  EXPECT_EQ(err->message(), "expected a port number (1-65535), got \"abc\"");

  EXPECT_STREQ(ConfigError("f.conf", 0, "a.b", "m").what(), "f.conf: a.b: m");
  EXPECT_STREQ(ConfigError("f.conf", 3, "", "m").what(), "f.conf:3: m");
  EXPECT_STREQ(ConfigError("f.conf", 0, "", "m").what(), "f.conf: m");
}

TEST(BridgeConfig, OriginDescribe) {
  EXPECT_EQ((Origin{"jvb.conf", 12}).describe(), "jvb.conf:12");
  EXPECT_EQ((Origin{"jvb.conf", 0}).describe(), "jvb.conf");
  EXPECT_EQ(Origin{}.describe(), "built-in default");
}

struct ErrorCase {
  const char* name;
  const char* text;
  int line;
  const char* key;
  const char* messagePart;
};

class BridgeConfigErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(BridgeConfigErrors, ReportLineAndKey) {
  const ErrorCase& c = GetParam();
  auto err = errorOf(c.text);
  ASSERT_TRUE(err) << c.text;
  EXPECT_EQ(err->file(), "jvb.conf");
  EXPECT_EQ(err->line(), c.line) << err->what();
  EXPECT_EQ(err->key(), c.key) << err->what();
  EXPECT_NE(err->message().find(c.messagePart), std::string::npos) << err->what();
}

#define XMPP_BLOCK(extra)                            \
  "videobridge.apis.xmpp-client.configs {\n" /* 1 */ \
  "  tech {\n"                               /* 2 */ \
  "    HOSTNAME = \"xmpp.example.com\"\n"    /* 3 */ \
  "    USERNAME = jvb\n"                     /* 4 */ \
  "    PASSWORD = secret\n"                  /* 5 */ \
  "    MUC_NICKNAME = jvb1\n"                /* 6 */ \
      extra                                  /* 7 */ \
  "  }\n"                                            \
  "}\n"

INSTANTIATE_TEST_SUITE_P(
    Values, BridgeConfigErrors,
    ::testing::Values(
        ErrorCase{"PortNotANumber", "videobridge.ice.udp.port = abc", 1, "videobridge.ice.udp.port",
                  "expected a port number (1-65535), got \"abc\""},
        ErrorCase{"PortOutOfRange", "\n\nvideobridge.ice.udp.port = 70000", 3,
                  "videobridge.ice.udp.port", "got 70000"},
        ErrorCase{"IcePortCannotBeDisabled", "videobridge.ice.udp.port = -1", 1,
                  "videobridge.ice.udp.port", "(1-65535)"},
        ErrorCase{"PortIsFractional", "videobridge.ice.udp.port = 1.5", 1,
                  "videobridge.ice.udp.port", "got 1.5"},
        ErrorCase{"HttpPortBad", "videobridge.http-servers {\n  public {\n    port = -2\n  }\n}", 3,
                  "videobridge.http-servers.public.port", "or -1 to disable"},
        ErrorCase{"BadDuration", "videobridge {\n  stats {\n    interval = 5 parsecs\n  }\n}", 3,
                  "videobridge.stats.interval", "expected a duration"},
        ErrorCase{"NegativeDuration", "videobridge.shutdown.shutting-down-delay = -5 seconds", 1,
                  "videobridge.shutdown.shutting-down-delay", "non-negative"},
        ErrorCase{"ZeroInterval", "videobridge.stats.interval = 0", 1, "videobridge.stats.interval",
                  "positive"},
        ErrorCase{"WrongTypeBool", "videobridge {\n  websockets.enabled = [true]\n}", 2,
                  "videobridge.websockets.enabled", "expected a boolean"},
        ErrorCase{"WrongTypeBoolString", "videobridge.apis.rest.enabled = maybe", 1,
                  "videobridge.apis.rest.enabled", "got \"maybe\""},
        ErrorCase{"WrongTypeString", "videobridge.region { a = 1 }", 1, "videobridge.region",
                  "expected a string, got an object"},
        ErrorCase{"NumLoudestZero", "videobridge.loudest.num-loudest = 0", 1,
                  "videobridge.loudest.num-loudest", ">= 1"},
        ErrorCase{"AlphaTooBig", "videobridge.loudest.energy-alpha-pct = 101", 1,
                  "videobridge.loudest.energy-alpha-pct", "0 to 100"},
        ErrorCase{"SsrcLimitZero", "videobridge.ssrc-limit.audio = 0", 1,
                  "videobridge.ssrc-limit.audio", "1 to 1024"},
        ErrorCase{"NegativeNewSsrcDelay", "jvb-audio.ssrc-rewriting.new-ssrc-delay = -1 ms", 1,
                  "jvb-audio.ssrc-rewriting.new-ssrc-delay", "non-negative"},
        ErrorCase{"NegativeRateLimit", "jvb-audio.endpoint-rate-limit.packets-per-second = -1", 1,
                  "jvb-audio.endpoint-rate-limit.packets-per-second", "0 to 1000000"},
        ErrorCase{"BadLogLevel", "jvb-audio.log-level = loud", 1, "jvb-audio.log-level",
                  "expected a log level"},
        ErrorCase{"MissingMucJids", XMPP_BLOCK(""), 2, "videobridge.apis.xmpp-client.configs.tech",
                  "missing required key MUC_JIDS"},
        ErrorCase{"MissingHostname",
                  "videobridge.apis.xmpp-client.configs.x.USERNAME = a\n"
                  "videobridge.apis.xmpp-client.configs.x.PASSWORD = b\n",
                  1, "videobridge.apis.xmpp-client.configs.x", "missing required key HOSTNAME"},
        ErrorCase{"BadMucJid", XMPP_BLOCK("    MUC_JIDS = \"a@b.example, jvbbrewery\"\n"), 7,
                  "videobridge.apis.xmpp-client.configs.tech.MUC_JIDS",
                  "invalid MUC JID \"jvbbrewery\""},
        ErrorCase{"MucJidWithSpace", XMPP_BLOCK("    MUC_JIDS = \"a b@c\"\n"), 7,
                  "videobridge.apis.xmpp-client.configs.tech.MUC_JIDS", "invalid MUC JID"},
        ErrorCase{"EmptyMucJids", XMPP_BLOCK("    MUC_JIDS = \"\"\n"), 7,
                  "videobridge.apis.xmpp-client.configs.tech.MUC_JIDS", "at least one"},
        ErrorCase{"XmppPortBad", XMPP_BLOCK("    MUC_JIDS = \"a@b\", PORT = \"x5222\"\n"), 7,
                  "videobridge.apis.xmpp-client.configs.tech.PORT", "got \"x5222\""},
        ErrorCase{"XmppSecurityMode", XMPP_BLOCK("    MUC_JIDS = \"a@b\", SECURITY_MODE = tls\n"),
                  7, "videobridge.apis.xmpp-client.configs.tech.SECURITY_MODE",
                  "required, ifpossible or disabled"},
        ErrorCase{"XmppBlockNotObject", "videobridge.apis.xmpp-client.configs.tech = 5", 1,
                  "videobridge.apis.xmpp-client.configs.tech", "expected an object"},
        ErrorCase{"UnresolvedSubstitution",
                  "videobridge {\n  apis.xmpp-client.configs.tech {\n    PASSWORD = "
                  "${JVB_AUTH_PASSWORD_THAT_IS_NOT_SET}\n  }\n}",
                  3, "videobridge.apis.xmpp-client.configs.tech.PASSWORD",
                  "could not resolve substitution"},
        ErrorCase{"AtOutsideQuotes", XMPP_BLOCK("    MUC_JIDS = jvbbrewery@internal.example\n"), 7,
                  "videobridge.apis.xmpp-client.configs.tech.MUC_JIDS", "reserved character '@'"},
        ErrorCase{"UnterminatedBlock", "videobridge {\n  ice {\n    udp.port = 1\n  }\n\n", 1,
                  "videobridge", "never closed"},
        ErrorCase{"UnterminatedString", "videobridge {\n  region = \"eu\n}\n", 2,
                  "videobridge.region", "unterminated quoted string"},
        ErrorCase{"UnterminatedList",
                  "ice4j.harvest.mapping {\n  stun.addresses = [\n    \"a:3478\"\n", 2,
                  "ice4j.harvest.mapping.stun.addresses", "never closed"},
        ErrorCase{
            "StaticMappingMissingAddress",
            "ice4j.harvest.mapping.static-mappings = [\n  { local-address = \"10.0.0.1\" }\n]", 2,
            "ice4j.harvest.mapping.static-mappings[0]", "public-address"},
        ErrorCase{"StaticMappingBadPort",
                  "ice4j.harvest.mapping.static-mappings = [\n  { local-address = a, "
                  "public-address = b,\n    public-port = 0 }\n]",
                  3, "ice4j.harvest.mapping.static-mappings[0].public-port", "port number"},
        ErrorCase{"KeepaliveTooLong", "jvb-audio {\n  xmpp.presence-keepalive = 31 s\n}\n", 2,
                  "jvb-audio.xmpp.presence-keepalive", "at most 30 s"},
        ErrorCase{"StunRefreshTooShort", "jvb-audio.stun-mapping.refresh-interval = 10 ms", 1,
                  "jvb-audio.stun-mapping.refresh-interval", "at least 1 s"},
        ErrorCase{"StaticMappingsNotList", "ice4j.harvest.mapping.static-mappings = 5", 1,
                  "ice4j.harvest.mapping.static-mappings", "list of objects"}),
    [](const ::testing::TestParamInfo<ErrorCase>& p) { return std::string(p.param.name); });

TEST(BridgeConfig, UnreadableFile) {
  try {
    loadFile("/nonexistent/jvb.conf");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), "/nonexistent/jvb.conf");
    EXPECT_EQ(e.line(), 0);
    EXPECT_NE(e.message().find("No such file"), std::string::npos);
  }
  EXPECT_THROW(loadFile("/"), ConfigError);
}

// --- unknown keys ---------------------------------------------------------------------------

TEST(BridgeConfig, UnknownKeysAreLoggedOnce) {
  LogCapture logs(log::Level::kDebug);
  const BridgeConfig c = loadString(
      "videobridge.foo = 1\n"                                        // 1
      "videobridge.foo = 2\n"                                        // 2
      "videobridge { cc.trust-bwe = false }\n"                       // 3
      "videobridge.stats.transports = [{type = muc}]\n"              // 4
      "ice4j.harvest.mapping.aws.enabled = false\n"                  // 5
      "ice4j.harvest.mapping.static-mappings = [\n"                  // 6
      "  { local-address = a, public-address = b, colour = red }\n"  // 7
      "]\n"                                                          // 8
      "videobridge.apis.xmpp-client.configs.t {\n"                   // 9
      "  HOSTNAME = h, USERNAME = u, PASSWORD = p, MUC_JIDS = \"r@d\", MUC_NICKNAME = n\n"
      "  FAVOURITE_COLOUR = blue\n"  // 11
      "}\n"
      "jvb-audio.colour = green\n"  // 13
      "videobridge.ice.udp.port = 10000\n",
      "test.conf");
  EXPECT_EQ(c.xmppClients.size(), 1u);
  EXPECT_EQ(logs.count("test.conf:2: unknown key videobridge.foo ignored"), 1);
  EXPECT_EQ(logs.count("unknown key videobridge.foo"), 1);
  EXPECT_EQ(
      logs.count("test.conf:3: known JVB key videobridge.cc.trust-bwe, not used by jvb-audio"), 1);
  EXPECT_EQ(logs.count("test.conf:4: known JVB key videobridge.stats.transports,"), 1);
  EXPECT_EQ(logs.count("test.conf:5: known JVB key ice4j.harvest.mapping.aws.enabled,"), 1);
  EXPECT_EQ(logs.count(
                "test.conf:7: unknown key ice4j.harvest.mapping.static-mappings[0].colour ignored"),
            1);
  EXPECT_EQ(logs.count("test.conf:11: unknown key "
                       "videobridge.apis.xmpp-client.configs.t.FAVOURITE_COLOUR ignored"),
            1);
  EXPECT_EQ(logs.count("test.conf:13: unknown key jvb-audio.colour ignored"), 1);
  EXPECT_EQ(logs.count("WARN"), 4);
  EXPECT_EQ(logs.count("DEBUG"), 3);
  EXPECT_EQ(logs.count("udp.port"), 0);
  EXPECT_EQ(logs.count("HOSTNAME"), 0);
  EXPECT_EQ(logs.count("[config]"), 7);

  // Each load logs again (once per load).
  captured().clear();
  loadString("videobridge.foo = 1", "test.conf");
  EXPECT_EQ(logs.count("unknown key videobridge.foo"), 1);
}

TEST(BridgeConfig, UnknownKeyWarningsNeedNoDebugLevel) {
  LogCapture logs(log::Level::kInfo);
  loadString("videobridge.cc.trust-bwe = false\nvideobridge.bogus = 1", "test.conf");
  EXPECT_EQ(logs.count("unknown key videobridge.bogus"), 1);
  EXPECT_EQ(logs.count("known JVB key"), 0);
}

TEST(BridgeConfig, LoadOptionsDisableIncludesAndEnvironment) {
  ScopedEnv env;
  env.set("JVB_TEST_REGION", "from-env");
  LoadOptions options;
  options.useEnvironment = false;
  options.allowIncludes = false;
  const BridgeConfig c =
      loadString("videobridge.region = x\nvideobridge.region = ${?JVB_TEST_REGION}", "t", options);
  EXPECT_EQ(c.region, "x");
  EXPECT_EQ(loadString("videobridge.region = ${?JVB_TEST_REGION}", "t").region, "from-env");
  EXPECT_THROW(loadString("include \"x.conf\"", "t", options), ConfigError);
}

}  // namespace
}  // namespace jvb::config
