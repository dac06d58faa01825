#include "xmpp/xmpp_service.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "common/log.hpp"
#include "common/version_info.hpp"

namespace jvb::xmpp {

namespace {

constexpr std::chrono::milliseconds kTick{10};
constexpr int kPassesPerTick = 8;
// How long a connection removed at run time may take to leave its rooms.
constexpr std::chrono::milliseconds kRemoveLimit{2000};

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

std::unique_ptr<MucClient> XmppService::makeClient(Context& ctx, config::XmppClientConfig cfg) {
  MucClient::Timing timing;
  timing.presenceInterval = cfg_.presenceInterval;
  timing.presenceRefresh = cfg_.presenceKeepalive;
  timing.pingInterval = cfg_.xmppPingInterval;
  timing.pingTimeout = cfg_.xmppPingTimeout;
  return std::make_unique<MucClient>(
      ctx, std::move(cfg), iqs_, [this](xmpp_ctx_t* c) { return buildStatsElement(c, stats_()); },
      timing);
}

void XmppService::start() {
  for (const auto& c : cfg_.xmppClients) {
    // A context per connection: libstrophe tells TLS and SASL failures only
    // in its log, which is per context (connection_error.hpp).
    contexts_.push_back(std::make_unique<Context>());
    clients_.push_back(makeClient(*contexts_.back(), c));
  }
  publishConfiguredCounts();
  if (clients_.empty()) {
    LOG_INFO("xmpp", "no xmpp-client configured: the bridge will not join a brewery");
    return;
  }
  ticking_ = true;
  tick();
}

void XmppService::publishConfiguredCounts() {
  int mucs = 0;
  for (const auto& c : clients_) {
    mucs += c->mucCount();
  }
  state_.mucClientsConfigured.store(static_cast<int>(clients_.size()));
  state_.mucsConfigured.store(mucs);
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
    for (auto& r : retiring_) {
      xmpp_run_once(r.context->get(), 0);
    }
  }
  int connected = 0;
  int joined = 0;
  bool allStopped = true;
  uint64_t in = retiredIn_;
  uint64_t out = retiredOut_;
  uint64_t lost = retiredLost_;
  for (auto& c : clients_) {
    c->tick(now);
    connected += c->connected() ? 1 : 0;
    joined += c->roomsJoined();
    allStopped = allStopped && c->stopped();
    in += c->stanzasReceived();
    out += c->stanzasSent();
    lost += c->disconnects();
  }
  // A removed connection is dropped once its stream is closed (or its time
  // is up); its counts stay in the totals.
  for (auto it = retiring_.begin(); it != retiring_.end();) {
    it->client->tick(now);
    if (it->client->stopped() || now >= it->deadline) {
      retiredIn_ += it->client->stanzasReceived();
      retiredOut_ += it->client->stanzasSent();
      retiredLost_ += it->client->disconnects();
      LOG_INFO("xmpp", "connection {} removed", it->client->id());
      it->client.reset();
      it = retiring_.erase(it);
    } else {
      in += it->client->stanzasReceived();
      out += it->client->stanzasSent();
      lost += it->client->disconnects();
      ++it;
    }
  }
  state_.mucClientsConnected.store(connected);
  state_.mucsJoined.store(joined);
  state_.xmppStanzasReceived.store(in);
  state_.xmppStanzasSent.store(out);
  state_.xmppDisconnects.store(lost);
  if (stopping_ && (allStopped || now >= stopDeadline_)) {
    stopping_ = false;
    ticking_ = false;
    if (onStopped_) {
      auto done = std::move(onStopped_);
      done();
    }
    return;
  }
  scheduleTick();
}

void XmppService::scheduleTick() {
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

XmppService::AddOutcome XmppService::addClient(config::XmppClientConfig cfg) {
  AddOutcome outcome = AddOutcome::kAdded;
  for (const auto& c : clients_) {
    if (c->id() != cfg.id) {
      continue;
    }
    // XmppConnection.kt's matches(): hostname, port, domain and username.
    const auto& old = c->config();
    if (old.hostname == cfg.hostname && old.port == cfg.port && old.domain == cfg.domain &&
        old.username == cfg.username) {
      LOG_INFO("xmpp", "muc-client add: connection {} exists with the same server and user, kept",
               cfg.id);
      return AddOutcome::kUnchanged;
    }
    LOG_WARN("xmpp", "muc-client add: connection {} changed server or user, replacing it", cfg.id);
    removeClient(cfg.id);
    outcome = AddOutcome::kReplaced;
    break;
  }
  LOG_INFO("xmpp", "muc-client add: connection {} to {}:{} as {}@{}, rooms {}", cfg.id,
           cfg.hostname, cfg.port, cfg.username, cfg.domain, fmt::join(cfg.mucJids, ","));
  contexts_.push_back(std::make_unique<Context>());
  clients_.push_back(makeClient(*contexts_.back(), std::move(cfg)));
  publishConfiguredCounts();
  if (stopping_) {
    clients_.back()->stop();
  }
  if (!ticking_) {
    ticking_ = true;
    scheduleTick();
  }
  return outcome;
}

bool XmppService::removeClient(const std::string& id) {
  for (size_t i = 0; i < clients_.size(); ++i) {
    if (clients_[i]->id() != id) {
      continue;
    }
    clients_[i]->stop();
    retiring_.push_back(Retiring{std::move(contexts_[i]), std::move(clients_[i]),
                                 std::chrono::steady_clock::now() + kRemoveLimit});
    clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(i));
    contexts_.erase(contexts_.begin() + static_cast<std::ptrdiff_t>(i));
    publishConfiguredCounts();
    LOG_INFO("xmpp", "muc-client remove: connection {} leaving its rooms", id);
    return true;
  }
  return false;
}

std::vector<std::string> XmppService::clientIds() const {
  std::vector<std::string> ids;
  ids.reserve(clients_.size());
  for (const auto& c : clients_) {
    ids.push_back(c->id());
  }
  return ids;
}

}  // namespace jvb::xmpp
