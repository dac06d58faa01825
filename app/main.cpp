// jvb-audio: the process. Reads the configuration, starts the media thread
// (UDP media port) and runs the control loop (HTTP, and XMPP with the control
// plane issue) on the main thread until SIGINT/SIGTERM.
#include <malloc.h>
#include <sys/resource.h>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include "app/module_options.hpp"
#include "app/public_address.hpp"
#include "app/systemd_notifier.hpp"
#include "common/log.hpp"
#include "common/version_info.hpp"
#include "config/bridge_config.hpp"
#include "config/legacy_properties.hpp"
#include "control/bridge_channels.hpp"
#include "control/bridge_state.hpp"
#include "control/conference.hpp"
#include "control/connectivity.hpp"
#include "control/control_loop.hpp"
#include "control/debug_state.hpp"
#include "control/expiration.hpp"
#include "control/exporters.hpp"
#include "control/media_compiler.hpp"
#include "control/metrics.hpp"
#include "control/shutdown.hpp"
#include "control/stats.hpp"
#include "dtls/certificate.hpp"
#include "http/http_server.hpp"
#include "http/websocket_client.hpp"
#include "ice/credentials.hpp"
#include "ice/host_addresses.hpp"
#include "media/media_loop.hpp"
#include "srtp/library.hpp"
#include "xmpp/colibri2.hpp"
#include "xmpp/strophe.hpp"
#include "xmpp/xmpp_service.hpp"

namespace {

// sysexits.h values, so supervisors can tell a bad config from a crash.
constexpr int kExitUsage = 64;
constexpr int kExitConfig = 78;
constexpr int kExitUnavailable = 69;
constexpr size_t kMaxColibriWebSockets = 16384;

using namespace jvb;

// The audio export's WebSocket (control/exporters.hpp) on http's client.
class ExportWebSocket final : public control::ExportSocket {
 public:
  explicit ExportWebSocket(std::unique_ptr<http::WebSocketClient> client)
      : client_(std::move(client)) {}
  bool send(std::string text) override { return client_->send(std::move(text)); }
  void close(uint16_t code, std::string reason) override {
    client_->close(code, std::move(reason));
  }

 private:
  std::unique_ptr<http::WebSocketClient> client_;
};

// colibri-ws: the public HTTP server's WebSocket side, handed to the bridge
// channels (control/ does not know http/).
class ColibriWebSockets : public http::WebSocketService {
 public:
  explicit ColibriWebSockets(control::BridgeChannels& channels) : channels_(channels) {}

  http::WebSocketVerdict authorize(std::string_view target) override {
    const auto v = channels_.authorize(target);
    return http::WebSocketVerdict{v.status, v.reason};
  }
  void opened(std::string_view target, std::shared_ptr<http::WebSocketPeer> peer) override {
    std::weak_ptr<http::WebSocketPeer> weak = peer;
    channels_.socketOpened(
        target, control::BridgeChannels::Socket{peer->id(),
                                                [weak](std::string text) {
                                                  if (auto p = weak.lock()) {
                                                    p->sendText(std::move(text));
                                                  }
                                                },
                                                [weak](uint16_t code, std::string reason) {
                                                  if (auto p = weak.lock()) {
                                                    p->close(code, std::move(reason));
                                                  }
                                                }});
    peers_[peer->id()] = std::move(peer);
  }
  void message(http::WebSocketPeer& peer, std::string_view text) override {
    channels_.socketMessage(peer.id(), text);
  }
  void closed(http::WebSocketPeer& peer) override {
    channels_.socketClosed(peer.id());
    peers_.erase(peer.id());
  }

 private:
  control::BridgeChannels& channels_;
  std::map<uint64_t, std::shared_ptr<http::WebSocketPeer>> peers_;
};

http::Handlers makeHandlers(const config::BridgeConfig& cfg, media::MediaLoop& media,
                            control::BridgeState& state, control::StatsCollector& stats,
                            control::ShutdownManager& shutdown, app::SystemdNotifier& notifier,
                            control::BridgeMetrics& metrics,
                            const control::ConferenceRegistry& conferences,
                            xmpp::XmppService& xmppService) {
  http::Handlers h;
  h.health = [&cfg, &media, &state, &metrics] {
    const auto started = std::chrono::steady_clock::now();
    const auto verdict = control::evaluateHealth(media, cfg.healthMaxCheckDuration);
    http::HealthReport r;
    r.healthy = verdict.healthy;
    r.reason = verdict.reason;
    r.details = {
        {"media_loop", {{"alive", verdict.healthy}, {"heartbeat_age_ms", verdict.heartbeatAgeMs}}},
        {"xmpp",
         {{"muc_clients_configured", state.mucClientsConfigured.load()},
          {"muc_clients_connected", state.mucClientsConnected.load()},
          {"mucs_configured", state.mucsConfigured.load()},
          {"mucs_joined", state.mucsJoined.load()}}},
    };
    metrics.observeHealthCheck(std::chrono::steady_clock::now() - started);
    return r;
  };
  h.metrics = [&cfg, &media, &metrics] {
    auto snapshot = metrics.collect(control::evaluateHealth(media, cfg.healthMaxCheckDuration));
    return http::MetricSet{std::move(snapshot.families), std::move(snapshot.booleans),
                           std::move(snapshot.infos)};
  };
  h.debug = [&cfg, &media, &state, &stats, &conferences](const std::string& conference,
                                                         const std::string& endpoint, bool full) {
    const control::DebugSources sources{&conferences, &stats, &state, cfg.ssrcLimitAudio};
    return control::debugState(sources, conference, endpoint, full,
                               control::evaluateHealth(media, cfg.healthMaxCheckDuration));
  };
  h.stats = [&cfg, &media, &stats] {
    return stats.snapshot(control::evaluateHealth(media, cfg.healthMaxCheckDuration));
  };
  h.drain = [&state] { return state.drain(); };
  h.setDrain = [&state, &notifier](bool on) {
    state.setDrain(on);
    LOG_INFO("bridge", "drain mode {}", on ? "enabled" : "disabled");
    notifier.refreshStatus();
  };
  // JVB's POST /colibri/shutdown {"graceful-shutdown": true|false}.
  h.shutdown = [&shutdown](bool graceful) {
    LOG_INFO("main", "REST shutdown request (graceful: {})", graceful);
    graceful ? shutdown.beginGraceful() : shutdown.beginShuttingDown();
    return true;
  };
  // JVB's POST /colibri/muc-client/add: {"id": ..., "hostname": ..., ...},
  // MucClientConfiguration's property names in any case. JVB passes textual
  // values only; numbers and booleans are taken as their text here too.
  h.mucClientAdd = [&xmppService](const nlohmann::json& body) -> http::Handlers::MucClientResult {
    const auto id = body.find("id");
    if (id == body.end() || !id->is_string() || id->get<std::string>().empty()) {
      return {false, "\"id\" must be a non-empty string"};
    }
    std::vector<std::pair<std::string, std::string>> props;
    for (const auto& [key, value] : body.items()) {
      if (key == "id") {
        continue;
      }
      if (value.is_string()) {
        props.emplace_back(key, value.get<std::string>());
      } else if (value.is_number() || value.is_boolean()) {
        props.emplace_back(key, value.dump());
      } else {
        return {false, fmt::format("\"{}\" must be a string", key)};
      }
    }
    try {
      auto client =
          config::xmppClientFromProperties(id->get<std::string>(), props, "muc-client request");
      xmppService.addClient(std::move(client));
      return {true, {}};
    } catch (const config::ConfigError& e) {
      auto reason = fmt::format("{}: {}", e.key(), e.message());
      LOG_WARN("main", "muc-client add refused: {}", reason);
      return {false, std::move(reason)};
    }
  };
  h.mucClientRemove = [&xmppService](const std::string& id) {
    return xmppService.removeClient(id);
  };
  h.mucClientList = [&xmppService] { return xmppService.clientIds(); };
  return h;
}

void scheduleStats(boost::asio::steady_timer& timer, std::chrono::milliseconds interval,
                   control::StatsCollector& stats, app::SystemdNotifier& notifier) {
  timer.expires_after(interval);
  timer.async_wait([&timer, interval, &stats, &notifier](const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    stats.sample();
    notifier.refreshStatus();
    // DTLS handshakes (hundreds when a big room joins) leave freed heap that
    // glibc keeps; hand it back so RSS follows the endpoints actually there.
    ::malloc_trim(0);
    scheduleStats(timer, interval, stats, notifier);
  });
}

// JVB's VideobridgeExpireThread: one expiry pass per check interval.
void scheduleExpiry(boost::asio::steady_timer& timer, std::chrono::milliseconds interval,
                    control::EntityExpiry& expiry) {
  timer.expires_after(interval);
  timer.async_wait([&timer, interval, &expiry](const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    expiry.check();
    scheduleExpiry(timer, interval, expiry);
  });
}

// JVB's EndpointConnectionStatusMonitor: one pass per check-interval.
void scheduleConnectivity(boost::asio::steady_timer& timer, std::chrono::milliseconds interval,
                          control::ConnectivityMonitor& monitor) {
  timer.expires_after(interval);
  timer.async_wait([&timer, interval, &monitor](const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    monitor.check();
    scheduleConnectivity(timer, interval, monitor);
  });
}

// One colibri-ws socket per endpoint: a 1000-person room needs more than the
// usual soft limit of 1024 descriptors. Raise it to the hard limit.
void raiseFileLimit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &r) != 0) {
      LOG_WARN("main", "cannot raise the file-descriptor limit");
    }
  }
}

int run(const config::BridgeConfig& cfg) {
  raiseFileLimit();
  const auto& v = versionInfo();
  LOG_INFO("main", "{} {} starting (config: {})", v.name, v.version,
           cfg.sourceFile.empty() ? "built-in defaults" : cfg.sourceFile);
  if (cfg.relayEnabled) {
    // Jicofo only splits a conference across bridges that publish relay_id;
    // without it Jicofo keeps every participant of a room on one bridge.
    LOG_WARN("main",
             "videobridge.relay.enabled = true, but jvb-audio has no relay (Octo) support: "
             "relay_id is not published, so Jicofo will not split conferences onto this bridge");
  }

  control::BridgeState state(cfg.initialDrainMode);

  // The DTLS identity: signalled in every Colibri2 transport, used by every
  // DTLS session.
  const auto certificate = std::make_shared<const dtls::Certificate>(dtls::Certificate::generate());
  media::MediaLoop media(app::mediaOptions(cfg), certificate);
  // Forwarded audio of conferences with a Colibri2 <connect>, to the control
  // thread's exporters (2048 slots of 1.3 KiB: 40 ms of 1000 speakers).
  auto exportRing = std::make_shared<media::ExportRing>(2048);
  media.setExportRing(exportRing);
  try {
    media.start();
  } catch (const std::exception& e) {
    LOG_ERROR("main", "cannot open the media port: {}", e.what());
    return kExitUnavailable;
  }

  control::ControlLoop control;
  // Colibri2's state lives on the control thread; the compiler turns it into
  // the media thread's model and sends it as typed commands.
  control::ConferenceRegistry conferences;
  control::MediaCompiler compiler([&media](media::Command c) { return media.send(std::move(c)); });
  control::BridgeChannelOptions channelOptions;
  channelOptions.routeLoudestOnly = cfg.routeLoudestOnly;  // JVB's EndpointStats filter
  control::BridgeChannels channels(conferences, cfg.websocketsServerId, &compiler, channelOptions);
  // Endpoint connectivity status: changes go out on the bridge channels,
  // which ask it what to tell an endpoint whose channel opens.
  control::ConnectivityMonitor connectivity(
      conferences,
      control::ConnectivityOptions{cfg.epFirstTransferTimeout, cfg.epMaxInactivityLimit},
      [&channels](const std::string& meetingId, const std::string& endpointId, bool active) {
        channels.connectivityChanged(meetingId, endpointId, active);
      });
  channels.setInactiveEndpoints([&connectivity](const std::string& meetingId) {
    return connectivity.inactiveEndpoints(meetingId);
  });
  control::ConferenceListeners listeners;
  listeners.add(&compiler);
  listeners.add(&channels);
  control::ExporterOptions exporterOptions;
  if (cfg.exporterMaxReconnectAttempts >= 0) {
    exporterOptions.maxReconnectAttempts = cfg.exporterMaxReconnectAttempts;
  }
  exporterOptions.baseDelay = cfg.exporterBaseDelay;
  exporterOptions.maxDelay = cfg.exporterMaxDelay;
  exporterOptions.stableConnectionThreshold = cfg.exporterStableThreshold;
  exporterOptions.version = versionInfo().version;
  exporterOptions.region = cfg.region;
  control::Exporters exporters(
      control.context(), exportRing, compiler, conferences,
      [&control](const std::string& url,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 control::ExportSocketCallbacks cb) -> std::unique_ptr<control::ExportSocket> {
        http::WebSocketClient::Options o;
        o.headers = headers;
        http::WebSocketClient::Callbacks c{std::move(cb.opened), std::move(cb.text),
                                           std::move(cb.closed)};
        return std::make_unique<ExportWebSocket>(
            http::WebSocketClient::connect(control.context(), url, std::move(o), std::move(c)));
      },
      exporterOptions);
  listeners.add(&exporters);
  exporters.setTranscriptionSink([&channels](const std::string& meetingId, const std::string& m) {
    return channels.broadcast(meetingId, m);
  });
  listeners.add(&connectivity);
  conferences.setListener(&listeners);
  conferences.setSctpEnabled(cfg.sctpEnabled);
  // JVB (IceTransport.requestIceRestart): a timeout that is not positive
  // disables restarts too.
  conferences.setIceRestartEnabled(cfg.iceRestartEnabled && cfg.iceRestartTimeout.count() > 0);
  control::StatsCollector stats(cfg, media, state, &conferences);
  control::BridgeMetrics metrics(cfg, media, state, &conferences, stats);
  control::EntityExpiry expiry(
      conferences, control::ExpirationOptions{cfg.expirationTimeout, cfg.neverConnectedTimeout,
                                              cfg.emptyConferenceGrace});
  stats.setConnectivityTotals([&connectivity] {
    return control::ConnectivityTotals{connectivity.endpointsDisconnected(),
                                       connectivity.endpointsReconnected(),
                                       connectivity.neverConnected(), connectivity.inactiveCount()};
  });
  std::unique_ptr<http::HttpServer> publicHttp;
  stats.setExporterStats([&exporters] {
    const auto k = exporters.counters();
    nlohmann::json j;
    j["exporters"] = k.exporters;
    j["connected"] = k.connected;
    j["starts"] = k.starts;
    j["packets_sent"] = k.packetsSent;
    j["websocket_failures"] = k.websocketFailures;
    j["websocket_internal_errors"] = k.websocketInternalErrors;
    j["reconnects"] = k.reconnects;
    j["ping_timeouts"] = k.pingTimeouts;
    j["transcripts_received"] = k.transcriptsReceived;
    j["transcripts_relayed"] = k.transcriptsRelayed;
    j["media_events_received"] = k.mediaEventsReceived;
    j["info_received"] = k.infoReceived;
    j["other_messages_received"] = k.otherMessagesReceived;
    j["parse_failures"] = k.parseFailures;
    j["send_dropped"] = k.sendDropped;
    j["unknown_source_dropped"] = k.unknownSource;
    j["queue_packets"] = k.ringPushed;
    j["queue_dropped"] = k.ringDropped;
    j["queue_oversize_dropped"] = k.ringOversize;
    return j;
  });
  stats.setChannelTotals([&channels, &publicHttp] {
    auto t = channels.totals();
    if (publicHttp) {
      const auto w = publicHttp->webSocketCounters();
      t.details["websocket_handshakes_failed"] = w.handshakeFailed;
      t.details["websocket_oversized_closed"] = w.oversized;
      t.details["websocket_binary_ignored"] = w.binaryIgnored;
      t.details["websocket_slow_consumers_closed"] = w.closedSlowConsumer;
      t.details["websocket_idle_timeouts"] = w.idleTimeouts;
    }
    return t;
  });
  // Public address through STUN (ice4j.harvest.mapping.stun.addresses): the
  // servers resolved now, asked from the media thread out of the media port;
  // each answer that changes a mapping rebuilds the candidates signalled in
  // Colibri2 (onStunMappings, set below once they exist).
  app::StunMappings stunMappings(app::resolveStunServers(cfg.stunAddresses, cfg.iceBindAddress));
  std::function<void()> onStunMappings = [] {};
  // The media thread's events, handled on the control thread.
  {
    auto& io = control.context();
    media::MediaEvents events;
    events.dominantSpeakerChanged = [&io, &channels](
                                        const std::string& meetingId, const std::string& dominant,
                                        const std::vector<std::string>& previous, bool silence) {
      boost::asio::post(io, [&channels, meetingId, dominant, previous, silence] {
        channels.dominantSpeakerChanged(meetingId, dominant, previous, silence);
      });
    };
    events.channelOpened = [&io, &channels](const std::string& meetingId,
                                            const std::string& endpointId, uint64_t id) {
      boost::asio::post(io, [&channels, meetingId, endpointId, id] {
        channels.channelOpened(meetingId, endpointId, id);
      });
    };
    events.channelMessage = [&io, &channels](const std::string& meetingId,
                                             const std::string& endpointId, std::string text) {
      boost::asio::post(io, [&channels, meetingId, endpointId, text = std::move(text)] {
        channels.channelMessage(meetingId, endpointId, text);
      });
    };
    events.channelClosed = [&io, &channels](const std::string& meetingId,
                                            const std::string& endpointId, uint64_t id) {
      boost::asio::post(io, [&channels, meetingId, endpointId, id] {
        channels.channelClosed(meetingId, endpointId, id);
      });
    };
    events.audioSlotsChanged = [&io, &channels](const std::string& meetingId,
                                                std::vector<media::AudioSlotMapping> changes) {
      boost::asio::post(io, [&channels, meetingId, changes = std::move(changes)] {
        channels.audioSlotsChanged(meetingId, changes);
      });
    };
    events.stunMapping = [&io, &stunMappings, &onStunMappings](media::StunMappingResult r) {
      boost::asio::post(io, [&stunMappings, &onStunMappings, r] {
        if (stunMappings.update(r)) {
          onStunMappings();
        }
      });
    };
    events.iceChanged = [&io, &conferences](const std::string& meetingId,
                                            const std::string& endpointId, media::IceEvent e) {
      boost::asio::post(io, [&conferences, meetingId, endpointId, e = std::move(e)] {
        if (e.kind == media::IceEvent::Kind::kConnected) {
          conferences.iceConnected(meetingId, endpointId);
        } else {
          conferences.iceRestartEnded(
              meetingId, endpointId,
              control::IceRestartEnd{e.generation,
                                     e.kind == media::IceEvent::Kind::kRestartSucceeded, e.local,
                                     e.remoteUfrag, e.remotePwd});
        }
      });
    };
    events.audioStats = [&io, &stats, &expiry,
                         &connectivity](std::vector<media::ConferenceAudioStats> audio) {
      boost::asio::post(io, [&stats, &expiry, &connectivity, audio = std::move(audio)]() mutable {
        expiry.setActivity(audio);
        connectivity.setActivity(audio);
        stats.setConferenceAudio(std::move(audio));
      });
    };
    media.setEvents(std::move(events));
  }
  const auto health = [&cfg, &media] {
    return control::evaluateHealth(media, cfg.healthMaxCheckDuration);
  };
  // Jicofo's health-check IQ, timed for jvb_audio_health_check_duration_seconds.
  const auto timedHealth = [&health, &metrics] {
    const auto started = std::chrono::steady_clock::now();
    auto verdict = health();
    metrics.observeHealthCheck(std::chrono::steady_clock::now() - started);
    return verdict;
  };

  // systemd: READY=1, STATUS= (counts, drain, shutdown), watchdog pings
  // while the media loop is healthy.
  app::SystemdNotifier notifier(control.context(), health, [&conferences, &state] {
    const auto counts = conferences.counts();
    app::ServiceStatus s;
    s.conferences = counts.conferences;
    s.endpoints = counts.endpoints;
    s.drain = state.drain();
    s.phase = state.shutdownPhase();
    return s;
  });

  xmpp::XmppService xmppService(
      control.context(), cfg, state, [&stats, &health] { return stats.snapshot(health()); },
      timedHealth);

  std::unique_ptr<http::HttpServer> privateHttp;
  boost::asio::steady_timer statsTimer(control.context());
  boost::asio::steady_timer expiryTimer(control.context());
  boost::asio::steady_timer connectivityTimer(control.context());
  control::ShutdownManager shutdown(
      control.context(), cfg, state,
      control::ShutdownManager::Hooks{
          [&conferences] { return static_cast<int>(conferences.counts().endpoints); },
          [&xmppService, &notifier] {
            xmppService.publishPresenceNow();
            notifier.refreshStatus();
          },
          [&] {
            notifier.stopping();
            exporters.stopAll();
            statsTimer.cancel();
            expiryTimer.cancel();
            connectivityTimer.cancel();
            if (privateHttp) {
              privateHttp->stop();
            }
            if (publicHttp) {
              publicHttp->stop();
            }
            // Leave the brewery (so Jicofo drops the bridge at once),
            // then stop.
            xmppService.stop(std::chrono::seconds(2), [&] {
              media.stop();
              control.stop();
            });
          }});

  const http::RestOptions rest = http::restOptionsFrom(cfg);
  auto router = std::make_shared<const http::Router>(
      rest, makeHandlers(cfg, media, state, stats, shutdown, notifier, metrics, conferences,
                         xmppService));
  if (cfg.httpPrivate.port > 0) {
    privateHttp =
        std::make_unique<http::HttpServer>(control.context(), cfg.httpPrivate.host,
                                           static_cast<uint16_t>(cfg.httpPrivate.port), router);
    try {
      privateHttp->start();
    } catch (const std::exception& e) {
      LOG_ERROR("main", "cannot open the private HTTP server: {}", e.what());
      media.stop();
      return kExitUnavailable;
    }
  }

  // The public server: colibri-ws only (JVB serves the bridge channel there;
  // every plain request gets 404).
  if (cfg.httpPublic.port > 0 && cfg.websocketsEnabled) {
    http::RestOptions none;
    none.healthEnabled = false;
    none.versionEnabled = false;
    none.drainEnabled = false;
    none.prometheusEnabled = false;
    none.debugEnabled = false;
    // One socket per endpoint: room for the largest rooms (JVB sets no limit;
    // the process's file-descriptor limit is the real one).
    http::ServerLimits limits;
    limits.maxConnections = kMaxColibriWebSockets + 256;
    http::WebSocketLimits wsLimits;
    wsLimits.maxSockets = kMaxColibriWebSockets;
    publicHttp = std::make_unique<http::HttpServer>(
        control.context(), cfg.httpPublic.host, static_cast<uint16_t>(cfg.httpPublic.port),
        std::make_shared<const http::Router>(none, http::Handlers{}), limits);
    publicHttp->setWebSocketService(std::make_shared<ColibriWebSockets>(channels), wsLimits);
    try {
      publicHttp->start();
    } catch (const std::exception& e) {
      LOG_ERROR("main", "cannot open the public HTTP server (colibri-ws): {}", e.what());
      media.stop();
      return kExitUnavailable;
    }
    LOG_INFO("main", "colibri-ws on {}:{} (server id {})", cfg.httpPublic.host, publicHttp->port(),
             cfg.websocketsServerId);
  } else if (cfg.websocketsEnabled) {
    LOG_WARN("main",
             "videobridge.websockets.enabled but http-servers.public.port is not set: no "
             "colibri-ws");
  }

  scheduleStats(statsTimer, cfg.statsInterval, stats, notifier);
  scheduleExpiry(expiryTimer, cfg.expirationCheckInterval, expiry);
  scheduleConnectivity(connectivityTimer, cfg.epCheckInterval, connectivity);
  // What the bridge signals about itself in every Colibri2 transport (the
  // candidates change when a STUN server reports a new public address).
  auto local = std::make_shared<xmpp::Colibri2Local>();
  local->fingerprint = certificate->fingerprintSha256();
  local->candidates = ice::buildCandidates(ice::bridgeAddresses(cfg, media.udpPort()));
  local->websocket = xmpp::websocketSettings(cfg);
  const auto logCandidates = [&local] {
    for (const auto& c : local->candidates) {
      const bool v6 = c.ip.find(':') != std::string::npos;
      LOG_INFO("main", "ICE candidate {} {}{}{}:{}", c.type, v6 ? "[" : "", c.ip, v6 ? "]" : "",
               c.port);
    }
  };
  logCandidates();
  onStunMappings = [&cfg, &media, &local, &stunMappings, &logCandidates] {
    local->candidates = ice::buildCandidates(
        ice::bridgeAddresses(cfg, media.udpPort(), stunMappings.discovered(), true));
    logCandidates();
  };
  if (!stunMappings.servers().empty()) {
    media::cmd::SetStunServers stun;
    stun.servers = stunMappings.addresses();
    stun.timing.refresh = cfg.stunRefreshInterval;
    media.send(std::move(stun));
  } else if (!cfg.stunAddresses.empty()) {
    LOG_WARN("ice", "ice4j.harvest.mapping.stun.addresses: no usable STUN server");
  }
  xmpp::registerColibri2(xmppService.iqs(), conferences, local, [&state] {
    return state.shutdownPhase() != control::ShutdownPhase::kRunning;
  });
  xmppService.start();

  // SIGTERM: graceful shutdown (a second one: shutting down now). SIGINT:
  // shutting down now (a second one: exit at once).
  boost::asio::signal_set signals(control.context(), SIGINT, SIGTERM);
  std::function<void(const boost::system::error_code&, int)> onSignal;
  int sigints = 0;
  int sigterms = 0;
  onSignal = [&](const boost::system::error_code& ec, int signo) {
    if (ec) {
      return;
    }
    if (signo == SIGTERM) {
      LOG_INFO("main", "signal SIGTERM received: shutting down");
      ++sigterms == 1 ? shutdown.beginGraceful() : shutdown.beginShuttingDown();
    } else {
      LOG_INFO("main", "signal SIGINT received: shutting down");
      ++sigints == 1 ? shutdown.beginShuttingDown() : shutdown.exitNow();
    }
    signals.async_wait(onSignal);
  };
  signals.async_wait(onSignal);

  notifier.ready();
  notifier.startWatchdog(app::SystemdNotifier::watchdogPeriodFromEnvironment());
  LOG_INFO("main", "ready: media udp port {}, private http {}", media.udpPort(),
           privateHttp ? fmt::format("{}:{}", cfg.httpPrivate.host, privateHttp->port())
                       : std::string("disabled"));
  control.runHere();
  media.stop();
  LOG_INFO("main", "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace jvb;
  // A peer that goes away mid-write (Prosody restarting under a TLS stream,
  // an HTTP client hanging up) must cost an EPIPE, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  const xmpp::Library strophe;      // libstrophe's global state, for the process lifetime
  const srtp::Library srtpLibrary;  // srtp_init(), once, before any SRTP session
  config::CommandLine cli;
  try {
    cli = config::parseCommandLine(argc, argv);
  } catch (const config::UsageError& e) {
    std::cerr << "jvb-audio: " << e.what() << "\n\n" << config::usageText(argv[0]);
    return kExitUsage;
  }
  if (cli.help) {
    std::cout << config::usageText(argv[0]);
    return 0;
  }
  if (cli.version) {
    const auto& v = versionInfo();
    std::cout << v.name << " " << v.version << " (" << v.os << ")\n";
    return 0;
  }
  if (cli.logLevel) {
    log::setLevel(*cli.logLevel);  // early, so config warnings obey it
  }

  config::BridgeConfig cfg;
  try {
    if (cli.configFile) {
      cfg = config::loadFile(*cli.configFile);
      // sip-communicator.properties beside jvb.conf, as JVB reads it.
      config::applyLegacyProperties(cfg, config::legacyPropertiesPath(*cli.configFile));
    }
  } catch (const config::ConfigError& e) {
    LOG_ERROR("config", "configuration error: {}", e.what());
    return kExitConfig;
  }
  log::setLevel(cli.logLevel ? *cli.logLevel : cfg.logLevel);
  return run(cfg);
}
