#include "xmpp/xmpp_service.hpp"

#include <fmt/format.h>

#include <cmath>

#include "common/log.hpp"
#include "common/version_info.hpp"

namespace jvb::xmpp {

namespace {

constexpr std::chrono::milliseconds kTick{10};
constexpr int kPassesPerTick = 8;

// Java's toString for the values JVB puts in presence.
std::string javaString(const nlohmann::json& v) {
  if (v.is_boolean()) {
    return v.get<bool>() ? "true" : "false";
  }
  if (v.is_number_integer() || v.is_number_unsigned()) {
    return v.dump();
  }
  if (v.is_number_float()) {
    // Two decimals are all Jicofo's selection uses; fewer distinct values
    // also mean fewer presence updates.
    const double d = std::round(v.get<double>() * 100.0) / 100.0;
    std::string s = fmt::format("{}", d);
    if (s.find('.') == std::string::npos && s.find('e') == std::string::npos) {
      s += ".0";
    }
    return s;
  }
  if (v.is_string()) {
    return v.get<std::string>();
  }
  return v.dump();
}

}  // namespace

MucClient::PresenceStats buildStatsElement(xmpp_ctx_t* ctx, const nlohmann::json& stats) {
  auto el = element(ctx, "stats", kNsColibri);
  std::string signature;
  double stress = 0.0;
  for (const char* name : kPresenceStats) {
    const auto it = stats.find(name);
    if (it == stats.end()) {
      continue;
    }
    const std::string value = javaString(*it);
    auto stat = element(ctx, "stat");
    xmpp_stanza_set_attribute(stat.get(), "name", name);
    xmpp_stanza_set_attribute(stat.get(), "value", value.c_str());
    adopt(el.get(), std::move(stat));
    const std::string_view n(name);
    if (n == "stress_level") {
      stress = it->is_number() ? it->get<double>() : 0.0;
      continue;
    }
    if (n == "average_participant_stress") {
      continue;
    }
    signature += name;
    signature += '=';
    signature += value;
    signature += ';';
  }
  return {std::move(el), signature, stress};
}

void registerBaseHandlers(IqDispatcher& iqs, std::function<control::Health()> health) {
  // Jicofo's JvbDoctor: a result when healthy, internal-server-error with the
  // reason when not. Answered from the cached verdict: no media work waited on.
  iqs.add("healthcheck", kNsHealth,
          [health](xmpp_ctx_t*, xmpp_stanza_t*, xmpp_stanza_t*) -> IqOutcome {
            const auto h = health();
            if (h.healthy) {
              return StanzaPtr{};
            }
            return IqError{"wait", "internal-server-error", h.reason, {}};
          });
  iqs.add("query", kNsVersion, [](xmpp_ctx_t* ctx, xmpp_stanza_t*, xmpp_stanza_t*) -> IqOutcome {
    const auto& v = versionInfo();
    auto q = element(ctx, "query", kNsVersion);
    for (const auto& [name, value] :
         {std::pair{"name", v.name}, std::pair{"version", v.version}, std::pair{"os", v.os}}) {
      auto e = element(ctx, name);
      addText(ctx, e.get(), value);
      adopt(q.get(), std::move(e));
    }
    return q;
  });
  iqs.add("ping", kNsPing,
          [](xmpp_ctx_t*, xmpp_stanza_t*, xmpp_stanza_t*) -> IqOutcome { return StanzaPtr{}; });
}

XmppService::XmppService(boost::asio::io_context& control, const config::BridgeConfig& cfg,
                         control::BridgeState& state, StatsFn stats, HealthFn health)
    : cfg_(cfg), state_(state), stats_(std::move(stats)), timer_(control) {
  registerBaseHandlers(iqs_, std::move(health));
}

XmppService::~XmppService() {
  timer_.cancel();
}

void XmppService::start() {
  MucClient::Timing timing;
  timing.presenceInterval = cfg_.presenceInterval;
  timing.presenceRefresh = cfg_.presenceKeepalive;
  timing.pingInterval = cfg_.xmppPingInterval;
  timing.pingTimeout = cfg_.xmppPingTimeout;
  for (const auto& c : cfg_.xmppClients) {
    // A context per connection: libstrophe tells TLS and SASL failures only
    // in its log, which is per context (connection_error.hpp).
    contexts_.push_back(std::make_unique<Context>());
    clients_.push_back(std::make_unique<MucClient>(
        *contexts_.back(), c, iqs_,
        [this](xmpp_ctx_t* ctx) { return buildStatsElement(ctx, stats_()); }, timing));
  }
  if (clients_.empty()) {
    LOG_INFO("xmpp", "no xmpp-client configured: the bridge will not join a brewery");
    return;
  }
  tick();
}

void XmppService::tick() {
  const auto now = std::chrono::steady_clock::now();
  // Non-blocking: each pass reads what arrived (one read per connection),
  // sends what is queued (the replies of the pass before) and runs
  // libstrophe's timers. Several passes per tick, so that a burst of IQs
  // (Colibri2 joins, health checks) is answered in this tick rather than at
  // one TLS record per 10 ms.
  for (int pass = 0; pass < kPassesPerTick; ++pass) {
    for (auto& ctx : contexts_) {
      xmpp_run_once(ctx->get(), 0);
    }
  }
  int connected = 0;
  int joined = 0;
  bool allStopped = true;
  uint64_t in = 0;
  uint64_t out = 0;
  uint64_t lost = 0;
  for (auto& c : clients_) {
    c->tick(now);
    connected += c->connected() ? 1 : 0;
    joined += c->roomsJoined();
    allStopped = allStopped && c->stopped();
    in += c->stanzasReceived();
    out += c->stanzasSent();
    lost += c->disconnects();
  }
  state_.mucClientsConnected.store(connected);
  state_.mucsJoined.store(joined);
  state_.xmppStanzasReceived.store(in);
  state_.xmppStanzasSent.store(out);
  state_.xmppDisconnects.store(lost);
  if (stopping_ && (allStopped || now >= stopDeadline_)) {
    stopping_ = false;
    if (onStopped_) {
      auto done = std::move(onStopped_);
      done();
    }
    return;
  }
  timer_.expires_after(kTick);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      tick();
    }
  });
}

void XmppService::stop(std::chrono::milliseconds limit, std::function<void()> done) {
  if (clients_.empty()) {
    done();
    return;
  }
  for (auto& c : clients_) {
    c->stop();
  }
  stopping_ = true;
  stopDeadline_ = std::chrono::steady_clock::now() + limit;
  onStopped_ = std::move(done);
}

void XmppService::publishPresenceNow() {
  for (auto& c : clients_) {
    c->publishPresenceNow();
  }
}

}  // namespace jvb::xmpp
