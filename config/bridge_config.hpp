#pragma once
// Typed configuration of the bridge, read from an operator's jvb.conf (HOCON)
// with JVB's defaults for every key that is not set. Plain data: no threads,
// no sockets. Every field's default is JVB's own (jvb/src/main/resources/
// reference.conf and jicoco), unless a comment says otherwise.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/log.hpp"

namespace jvb::config {

using Millis = std::chrono::milliseconds;

// Where a value came from, for error messages ("jvb.conf:12").
struct Origin {
  std::string file;  // empty for built-in defaults
  int line = 0;      // 0 when unknown
  std::string describe() const;
};

// One videobridge.apis.xmpp-client.configs.<id> block (jicoco MucClientConfiguration).
struct XmppClientConfig {
  std::string id;                               // the block's name, e.g. "tech"
  std::string hostname;                         // HOSTNAME (required)
  int port = 5222;                              // PORT
  std::string domain;                           // DOMAIN, defaults to HOSTNAME
  std::string username;                         // USERNAME (required)
  std::string password;                         // PASSWORD (required)
  std::vector<std::string> mucJids;             // MUC_JIDS, comma-separated in the file (required)
  std::string mucNickname;                      // MUC_NICKNAME (required)
  bool disableCertificateVerification = false;  // DISABLE_CERTIFICATE_VERIFICATION
  // SECURITY_MODE: "required" | "ifpossible" | "disabled". Default "required",
  // "ifpossible" when HOSTNAME is localhost / 127.0.0.1 / ::1 (as jicoco).
  std::string securityMode = "required";
  std::string iqHandlerMode = "sync";  // IQ_HANDLER_MODE
  Origin origin;                       // where the block starts
};

// ice4j.harvest.mapping.static-mappings entry.
struct StaticMapping {
  std::string localAddress;
  std::string publicAddress;
  std::optional<int> localPort;
  std::optional<int> publicPort;
  std::string name;
};

struct HttpServerConfig {
  std::string host;
  int port = -1;     // -1 disables the server
  int tlsPort = -1;  // parsed for compatibility; TLS is not served (a proxy terminates it)
};

struct BridgeConfig {
  // videobridge.apis.xmpp-client
  std::vector<XmppClientConfig> xmppClients;
  Millis presenceInterval{5000};  // presence-interval, defaults to stats.interval

  // videobridge.ice
  int iceUdpPort = 10000;  // videobridge.ice.udp.port
  // videobridge.ice.udp.bind-address (not in JVB:rc; the seed sets it)
  std::string iceBindAddress = "0.0.0.0";
  bool advertisePrivateCandidates = true;     // videobridge.ice.advertise-private-candidates
  std::vector<StaticMapping> staticMappings;  // ice4j.harvest.mapping.static-mappings
  std::vector<std::string> stunAddresses;     // ice4j.harvest.mapping.stun.addresses
  // Not a JVB key (jvb-audio.stun-mapping.refresh-interval): how often the
  // STUN servers are asked again (ice4j asks once, at start-up).
  Millis stunRefreshInterval{30000};
  // videobridge.ice.restart (JVB's in-place ICE restart, Colibri2
  // <transport ice-restart='true'/>): a timeout that is not positive
  // disables restarts, as in JVB.
  bool iceRestartEnabled = true;            // videobridge.ice.restart.enabled
  Millis iceRestartTimeout{20000};          // videobridge.ice.restart.timeout
  Millis iceRestartTransitionWindow{3000};  // videobridge.ice.restart.transition-window

  // videobridge.http-servers
  HttpServerConfig httpPrivate{"127.0.0.1", 8080, 8443};
  HttpServerConfig httpPublic{"0.0.0.0", -1, -1};

  // videobridge.rest / apis.rest
  bool restApiEnabled = false;    // videobridge.apis.rest.enabled: gates /colibri/stats, /colibri/*
  bool restHealthEnabled = true;  // videobridge.rest.health.enabled
  bool restVersionEnabled = true;     // videobridge.rest.version.enabled
  bool restDrainEnabled = true;       // videobridge.rest.drain.enabled
  bool restShutdownEnabled = false;   // videobridge.rest.shutdown.enabled
  bool restPrometheusEnabled = true;  // videobridge.rest.prometheus.enabled: /metrics
  bool restDebugEnabled = true;       // videobridge.rest.debug.enabled: /debug

  // videobridge.websockets
  bool websocketsEnabled = false;                 // enabled
  std::string websocketsDomain;                   // domain, e.g. "meet.example.com:443"
  bool websocketsTls = true;                      // tls
  std::string websocketsServerId = "default-id";  // server-id

  // videobridge.loudest
  bool routeLoudestOnly = false;
  int numLoudest = 3;
  bool alwaysRouteDominant = true;
  Millis energyExpireTime{150};
  int energyAlphaPct = 50;

  // SSRC rewriting (receivers that asked for it in Colibri2):
  // videobridge.ssrc-limit.audio (JVB's key and default), and the bridge's
  // own rules on top of JVB's (README "SSRC rewriting"): how long a new
  // SSRC's first media waits after its AudioSourcesMap, and how long a slot
  // must be idle before it may change owner (0 ms for both: JVB's behaviour).
  int ssrcLimitAudio = 50;
  Millis newSsrcDelay{200};  // jvb-audio.ssrc-rewriting.new-ssrc-delay
  Millis remapMinIdle{500};  // jvb-audio.ssrc-rewriting.remap-min-idle

  // jvb-audio.endpoint-rate-limit (not JVB's; README "Misbehaving peers"):
  // per endpoint, RTP/RTCP/DTLS datagrams a second on average and the burst
  // above that; the excess is dropped before decryption. 0 packets a second:
  // no cap.
  int endpointRateLimitPps = 200;    // .packets-per-second
  int endpointRateLimitBurst = 200;  // .burst
  // jvb-audio.media.max-queue-delay (not JVB's; README "Process model"): RTP
  // that waited longer than this between the kernel and the media thread is
  // dropped unread. 0 ms: never.
  Millis maxQueueDelay{200};

  // videobridge.stats
  bool statsEnabled = true;
  Millis statsInterval{5000};

  // videobridge.health
  Millis healthInterval{60000};
  Millis healthTimeout{90000};
  // max-check-duration: the media loop counts as stuck when it has not run
  // for this long (JVB: a health check taking longer than this fails).
  Millis healthMaxCheckDuration{3000};

  // videobridge.entity-expiration (control/expiration.hpp). check-interval
  // defaults to the timeout, as in JVB's reference.conf. The other two are
  // constants in JVB, keys here so that an operator (or a test) can set them.
  Millis expirationTimeout{60000};        // videobridge.entity-expiration.timeout
  Millis expirationCheckInterval{60000};  // videobridge.entity-expiration.check-interval
  Millis neverConnectedTimeout{120000};   // jvb-audio.entity-expiration.never-connected-timeout
  Millis emptyConferenceGrace{20000};     // jvb-audio.entity-expiration.empty-conference-grace

  // videobridge.ep-connection-status (control/connectivity.hpp): JVB's
  // EndpointConnectionStatusMonitor, EndpointConnectivityStatusChangeEvent.
  Millis epFirstTransferTimeout{15000};  // first-transfer-timeout
  Millis epMaxInactivityLimit{8000};     // max-inactivity-limit
  Millis epCheckInterval{500};           // check-interval

  // videobridge.shutdown
  Millis gracefulShutdownMaxDuration{24 * 3600 * 1000};
  Millis shuttingDownDelay{60000};
  int gracefulShutdownMinParticipants = 0;

  // videobridge.exporter (the audio export of Colibri2 <connects>,
  // control/exporters.hpp): reconnect backoff.
  int exporterMaxReconnectAttempts = -1;  // max-reconnect-attempts; -1: unset (no limit)
  Millis exporterBaseDelay{1000};         // base-delay
  Millis exporterMaxDelay{30000};         // max-delay
  Millis exporterStableThreshold{30000};  // stable-connection-threshold

  // misc
  bool initialDrainMode = false;  // videobridge.initial-drain-mode
  std::string region;             // videobridge.relay.region, or videobridge.region
  bool relayEnabled = false;      // videobridge.relay.enabled
  std::string relayId;            // videobridge.relay.relay-id
  std::string release;            // videobridge.version.release
  bool videoEnabled = true;       // videobridge.video.enabled (audio-only bridge: informational)
  // videobridge.sctp.enabled: with false, an endpoint create that asks for
  // SCTP is refused as JVB refuses it (Colibri2ConferenceHandler.kt).
  bool sctpEnabled = true;
  // Not a JVB key (jvb-audio.xmpp.presence-keepalive): brewery presence is
  // re-sent at least this often when nothing changed, so that Jicofo's
  // presence-based health check (health-checks.use-presence, 45 s) never
  // times out a healthy bridge. At most 30 s.
  Millis presenceKeepalive{25000};
  // Not JVB keys (jvb-audio.xmpp.ping-interval / ping-timeout): the XEP-0199
  // ping to the server and how long its answer may take before the stream is
  // dropped and opened again. 30 s is jicoco's DEFAULT_PING_INTERVAL_SECONDS
  // (MucClient.java); a stopped or wedged Prosody is noticed after
  // interval + timeout at worst.
  Millis xmppPingInterval{30000};
  Millis xmppPingTimeout{15000};

  // Not a JVB key: set by --log-level, or jvb-audio.log-level in the file.
  log::Level logLevel = log::Level::kInfo;

  // The file this configuration was read from (empty: built-in defaults).
  std::string sourceFile;
};

// A configuration problem that stops start-up. what() reads
// "<file>:<line>: <key>: <message>" (line omitted when unknown).
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, std::string key, std::string message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  const std::string& key() const { return key_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  int line_;
  std::string key_;
  std::string message_;
};

// What a configuration text may reach outside itself.
struct LoadOptions {
  bool allowIncludes = true;   // include "file" statements (relative to the including file)
  bool useEnvironment = true;  // ${X} / ${?X} fall back to environment variables
};

// Reads a jvb.conf. Throws ConfigError on unreadable files, syntax errors,
// wrong types and invalid values. Unknown keys are logged once each (warn)
// and otherwise ignored.
BridgeConfig loadFile(const std::string& path);
BridgeConfig loadFile(const std::string& path, const LoadOptions& options);
// Same, from text in memory; `name` is used as the file name in messages.
BridgeConfig loadString(const std::string& text, const std::string& name);
BridgeConfig loadString(const std::string& text, const std::string& name,
                        const LoadOptions& options);

// One xmpp-client connection from MucClientConfiguration-style properties,
// as JVB's POST /colibri/muc-client/add sends them ("hostname", "muc_jids",
// ...; names are case-insensitive, a later one wins). Validated exactly as the
// block of that id in jvb.conf would be: throws ConfigError naming the
// property. `source` names the request in the error.
XmppClientConfig xmppClientFromProperties(
    const std::string& id, const std::vector<std::pair<std::string, std::string>>& properties,
    const std::string& source);

// Command line ------------------------------------------------------------------
struct CommandLine {
  std::optional<std::string> configFile;  // --config FILE (or --config=FILE)
  std::optional<log::Level> logLevel;     // --log-level LEVEL
  bool help = false;                      // --help / -h
  bool version = false;                   // --version / -V
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws UsageError for unknown flags, missing arguments and bad levels.
CommandLine parseCommandLine(int argc, const char* const* argv);
std::string usageText(const std::string& program);

}  // namespace jvb::config
