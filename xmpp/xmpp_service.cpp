#include "xmpp/xmpp_service.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cmath>

#include "common/log.hpp"
#include "common/version_info.hpp"

namespace jvb::xmpp {

namespace {

constexpr std::chrono::milliseconds kTick{10};
// One pass reads at most 4 KiB (libstrophe's buffer, event.c): 64 passes are
// 256 KiB, a few hundred Colibri2 requests, before other handlers run.
constexpr int kMaxPassesPerTurn = 64;
// Passes with nothing new before a socket counts as drained: TLS can hold up
// to one record (16 KiB, 4 passes) already read from the socket, and the
// replies of the last pass go out at the start of the next one.
constexpr int kIdlePasses = 4;
constexpr std::chrono::seconds kReportEvery{10};

// Bytes waiting in the socket's receive queue (0 when unknown).
int bytesWaiting(int fd) {
  int n = 0;
  if (fd < 0 || ::ioctl(fd, FIONREAD, &n) != 0) {
    return 0;
  }
  return n;
}

double percentileMs(std::vector<uint32_t>& v, double q) {
  if (v.empty()) {
    return 0.0;
  }
  const auto k = static_cast<size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1000.0;
}

uint32_t micros(std::chrono::steady_clock::duration d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return static_cast<uint32_t>(std::clamp<int64_t>(us, 0, UINT32_MAX));
}
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
    : io_(control), cfg_(cfg), state_(state), stats_(std::move(stats)), timer_(control) {
  registerBaseHandlers(iqs_, std::move(health));
  iqs_.setDeferralSink([this](IqDispatcher::Deferred& d) { return acceptDeferred(d); });
}

XmppService::~XmppService() {
  timer_.cancel();
  for (auto& [client, w] : watches_) {
    closeWatch(w);
  }
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
  report_.since = std::chrono::steady_clock::now();
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

void XmppService::drainAll() {
  for (size_t i = 0; i < clients_.size(); ++i) {
    drain(*contexts_[i], *clients_[i], kMaxPassesPerTurn);
  }
  for (auto& r : retiring_) {
    drain(*r.context, *r.client, kMaxPassesPerTurn);
  }
}

void XmppService::tick() {
  const auto now = std::chrono::steady_clock::now();
  // libstrophe's timers, a connection being set up (not watched yet), and
  // whatever the readiness path left; then the watches follow the sockets.
  drainAll();
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
      dropDeferred(*it->context);
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
  syncWatches();
  report(now);
  if (stopping_ && (allStopped || now >= stopDeadline_)) {
    stopping_ = false;
    ticking_ = false;
    deferred_.clear();  // their connections are closed
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

bool XmppService::drain(Context& ctx, const MucClient& client, int maxPasses) {
  uint64_t seen = client.stanzasReceived();
  int idle = 0;
  for (int pass = 0; pass < maxPasses; ++pass) {
    // Non-blocking: sends what is queued (the replies of the pass before),
    // reads at most 4 KiB, dispatches the stanzas completed, runs timers.
    const bool bytes = bytesWaiting(ctx.socketFd()) > 0;
    xmpp_run_once(ctx.get(), 0);
    const uint64_t now = client.stanzasReceived();
    if (bytes || now != seen) {
      idle = 0;
    } else if (++idle >= kIdlePasses) {
      return true;
    }
    seen = now;
  }
  return false;
}

void XmppService::syncWatches() {
  for (auto it = watches_.begin(); it != watches_.end();) {
    const bool live = std::any_of(clients_.begin(), clients_.end(),
                                  [&](const auto& c) { return c.get() == it->first; });
    if (live) {
      ++it;
    } else {
      closeWatch(it->second);  // removed at run time: retiring, driven by the tick
      it = watches_.erase(it);
    }
  }
  for (size_t i = 0; i < clients_.size(); ++i) {
    syncWatch(clients_[i].get(), *contexts_[i]);
  }
}

// The watch follows the client: attached while it is connected, to the
// socket libstrophe made last; detached (and the dup closed) otherwise.
void XmppService::syncWatch(const MucClient* client, Context& ctx) {
  Watch& w = watches_[client];
  w.context = &ctx;
  const bool want = client->connected() && ctx.socketFd() >= 0;
  if (w.fd && (!want || w.generation != ctx.socketGeneration())) {
    closeWatch(w);
  }
  if (!want || w.fd) {
    return;
  }
  const int dup = ::fcntl(ctx.socketFd(), F_DUPFD_CLOEXEC, 0);
  if (dup < 0) {
    return;  // the 10 ms tick still drives it; try again next tick
  }
  boost::system::error_code ec;
  w.fd = std::make_unique<boost::asio::posix::stream_descriptor>(io_);
  w.fd->assign(dup, ec);
  if (ec) {
    ::close(dup);
    w.fd.reset();
    return;
  }
  w.generation = ctx.socketGeneration();
  w.serial = ++serials_;
  armWatch(client, w);
}

void XmppService::closeWatch(Watch& w) {
  if (w.fd) {
    boost::system::error_code ec;
    w.fd->close(ec);  // our dup only: libstrophe's descriptor stays open
    w.fd.reset();
  }
  w.serial = ++serials_;
}

void XmppService::armWatch(const MucClient* client, Watch& w) {
  if (!w.fd) {
    return;
  }
  std::weak_ptr<int> life = life_;
  w.fd->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [this, life, client, serial = w.serial](const boost::system::error_code& ec) {
                     if (!ec && !life.expired()) {
                       pump(client, serial);
                     }
                   });
}

void XmppService::pump(const MucClient* client, uint64_t serial) {
  const auto it = watches_.find(client);
  if (it == watches_.end() || it->second.serial != serial) {
    return;  // a completion for a watch since closed or replaced
  }
  Watch& w = it->second;
  Context& ctx = *w.context;
  if (!w.fd || !client->connected() || w.generation != ctx.socketGeneration()) {
    closeWatch(w);  // the tick attaches it again to the new socket
    return;
  }
  if (drain(ctx, *client, kMaxPassesPerTurn)) {
    // Drained in this handler: whatever arrives from now on is a new edge
    // the reactor reports to this wait.
    armWatch(client, w);
    return;
  }
  // More than a turn's worth: let the other handlers run, then go on.
  std::weak_ptr<int> life = life_;
  boost::asio::post(io_, [this, life, client, serial = w.serial] {
    if (!life.expired()) {
      pump(client, serial);
    }
  });
}

bool XmppService::acceptDeferred(IqDispatcher::Deferred& d) {
  if (deferred_.size() >= kMaxDeferred || stopping_) {
    return false;
  }
  deferred_.push_back(std::move(d));
  report_.maxDepth = std::max(report_.maxDepth, deferred_.size());
  scheduleDeferred();
  return true;
}

void XmppService::dropDeferred(const Context& ctx) {
  deferred_.erase(
      std::remove_if(deferred_.begin(), deferred_.end(),
                     [&ctx](const IqDispatcher::Deferred& d) { return d.ctx == ctx.get(); }),
      deferred_.end());
}

void XmppService::scheduleDeferred() {
  if (deferredPosted_ || deferred_.empty()) {
    return;
  }
  deferredPosted_ = true;
  std::weak_ptr<int> life = life_;
  boost::asio::post(io_, [this, life] {
    if (!life.expired()) {
      runDeferred();
    }
  });
}

void XmppService::runDeferred() {
  deferredPosted_ = false;
  const auto start = std::chrono::steady_clock::now();
  int done = 0;
  while (!deferred_.empty() && done < kDeferredBatch &&
         std::chrono::steady_clock::now() - start < kDeferredBudget) {
    IqDispatcher::Deferred d = std::move(deferred_.front());
    deferred_.pop_front();
    const auto began = std::chrono::steady_clock::now();
    if (StanzaPtr reply = iqs_.handle(d.ctx, d.iq.get())) {
      d.reply(std::move(reply));
    }
    const auto ended = std::chrono::steady_clock::now();
    if (report_.waitUs.size() < 100000) {
      report_.waitUs.push_back(micros(began - d.arrived));
      report_.handleUs.push_back(micros(ended - began));
    }
    ++done;
  }
  // The replies go out now (a pass writes first), not at the next tick.
  drainAll();
  scheduleDeferred();
}

void XmppService::report(std::chrono::steady_clock::time_point now) {
  if (now - report_.since < kReportEvery) {
    return;
  }
  if (!report_.waitUs.empty()) {
    LOG_INFO("xmpp",
             "colibri2: {} requests in {} s, queue wait p50 {:.1f} / p99 {:.1f} / max {:.1f} ms, "
             "handling p50 {:.2f} / p99 {:.2f} / max {:.2f} ms, queue depth max {}, {} refused "
             "so far",
             report_.waitUs.size(),
             std::chrono::duration_cast<std::chrono::seconds>(now - report_.since).count(),
             percentileMs(report_.waitUs, 0.5), percentileMs(report_.waitUs, 0.99),
             percentileMs(report_.waitUs, 1.0), percentileMs(report_.handleUs, 0.5),
             percentileMs(report_.handleUs, 0.99), percentileMs(report_.handleUs, 1.0),
             report_.maxDepth, iqs_.refused());
  }
  report_.waitUs.clear();
  report_.handleUs.clear();
  report_.maxDepth = deferred_.size();
  report_.since = now;
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
    if (const auto w = watches_.find(clients_[i].get()); w != watches_.end()) {
      closeWatch(w->second);  // the tick drives it while it leaves
      watches_.erase(w);
    }
    dropDeferred(*contexts_[i]);  // its requests are not answered: it is going away
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
