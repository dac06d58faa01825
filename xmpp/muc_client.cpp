#include "xmpp/muc_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "common/log.hpp"

namespace jvb::xmpp {

namespace {

// The same resource on every connection and across restarts, distinct per
// bridge (the MUC nickname must differ between bridges sharing an account
// anyway): a new login then replaces whatever session the server still holds
// for this bridge (Prosody's default conflict policy kicks the old one), instead
// of joining the brewery as a second session of the same occupant while MUC
// keeps routing IQs to the first, dead one (Prosody's occupant.lib.lua keeps
// the first session as the occupant's primary JID). CTest xmpp.faults.
std::string stableResource(const config::XmppClientConfig& cfg) {
  return fmt::format("jvb-audio-{}-{}", cfg.id, cfg.mucNickname);
}

std::string errorCondition(xmpp_stanza_t* stanza) {
  xmpp_stanza_t* err = xmpp_stanza_get_child_by_name(stanza, "error");
  if (err == nullptr) {
    return "unknown";
  }
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(err); c != nullptr;
       c = xmpp_stanza_get_next(c)) {
    const char* ns = xmpp_stanza_get_ns(c);
    const char* name = xmpp_stanza_get_name(c);
    if (xmpp_stanza_is_tag(c) && ns != nullptr && std::string_view(ns) == kNsStanzas &&
        name != nullptr && std::string_view(name) != "text") {
      return name;
    }
  }
  return "unknown";
}

bool hasStatusCode(xmpp_stanza_t* presence, std::string_view code) {
  xmpp_stanza_t* x = xmpp_stanza_get_child_by_name_and_ns(presence, "x", kNsMucUser);
  if (x == nullptr) {
    return false;
  }
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(x); c != nullptr; c = xmpp_stanza_get_next(c)) {
    const char* name = xmpp_stanza_get_name(c);
    if (name != nullptr && std::string_view(name) == "status" && attr(c, "code") == code) {
      return true;
    }
  }
  return false;
}

// Every MucClient alive (control thread only), for libstrophe's socket
// callback, which names only the connection.
std::vector<MucClient*>& liveClients() {
  static std::vector<MucClient*> clients;
  return clients;
}

}  // namespace

MucClient::MucClient(Context& ctx, config::XmppClientConfig cfg, const IqDispatcher& iqs,
                     StatsSource stats, Timing timing)
    : ctx_(ctx),
      cfg_(std::move(cfg)),
      iqs_(iqs),
      stats_(std::move(stats)),
      timing_(timing),
      resource_(stableResource(cfg_)),
      backoff_(timing.backoffMin) {
  for (const auto& jid : cfg_.mucJids) {
    rooms_.push_back(Room{jid});
  }
  liveClients().push_back(this);
}

MucClient::~MucClient() {
  auto& live = liveClients();
  live.erase(std::remove(live.begin(), live.end(), this), live.end());
  if (conn_ && !xmpp_conn_is_disconnected(conn_.get())) {
    xmpp_disconnect(conn_.get());
  }
}

long MucClient::connectionFlags() const {
  long flags = 0;
  if (cfg_.securityMode == "disabled") {
    flags |= XMPP_CONN_FLAG_DISABLE_TLS;
  } else if (cfg_.securityMode == "required") {
    flags |= XMPP_CONN_FLAG_MANDATORY_TLS;
  }
  if (cfg_.disableCertificateVerification) {
    flags |= XMPP_CONN_FLAG_TRUST_TLS;
  }
  // No XEP-0198. Every connection is a new xmpp_conn_t, so a stream is never
  // resumed; asking for resumption (libstrophe does when SM is on) only made
  // Prosody keep a bridge that died, or lost its TCP connection, as a
  // hibernating session (smacks_hibernation_time, 600 s) that stays in the
  // brewery and swallows Jicofo's IQs. Without SM the server ends the session
  // when the connection ends, and the bridge leaves the brewery at once.
  flags |= XMPP_CONN_FLAG_DISABLE_SM;
  return flags;
}

// TCP keepalive as libstrophe's own callback sets it, plus TCP_NODELAY: an
// IQ reply is one small TLS record, and with Nagle it can wait ~40 ms behind
// an unacknowledged one (a stream-management <a/>, a presence) under the
// peer's delayed ACK. Health-check round trips must not pay that.
int MucClient::socketOptions(xmpp_conn_t* conn, void* sock) {
  const int rc = xmpp_sockopt_cb_keepalive(conn, sock);
  const int fd = *static_cast<int*>(sock);
  for (MucClient* c : liveClients()) {
    if (c->conn_.get() == conn) {
      c->sockFd_ = fd;  // libstrophe closes it before the disconnect event, which forgets it
    }
  }
  // XmppService waits for this socket to be readable (xmpp_service.hpp).
  if (Context* c = Context::of(xmpp_conn_get_context(conn))) {
    c->noteSocket(fd);
  }
  const int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
    return -1;
  }
  return rc;
}

int MucClient::roomsJoined() const {
  if (state_ != State::kConnected) {
    return 0;
  }
  return static_cast<int>(
      std::count_if(rooms_.begin(), rooms_.end(), [](const Room& r) { return r.joined; }));
}

void MucClient::connect(Clock::time_point now) {
  ++connectEpoch_;
  conn_.reset(xmpp_conn_new(ctx_.get()));
  xmpp_conn_set_flags(conn_.get(), connectionFlags());
  xmpp_conn_set_sockopt_callback(conn_.get(), &MucClient::socketOptions);
  const std::string jid = cfg_.username + "@" + cfg_.domain + "/" + resource_;
  xmpp_conn_set_jid(conn_.get(), jid.c_str());
  xmpp_conn_set_pass(conn_.get(), cfg_.password.c_str());
  LOG_INFO("xmpp", "[{}] connecting to {}:{} as {}", cfg_.id, cfg_.hostname, cfg_.port, jid);
  state_ = State::kConnecting;
  established_ = false;
  aborted_ = false;
  ctx_.clearFailureHints();
  // libstrophe resolves the name inside xmpp_connect_client() and tells
  // nothing of a failure; ask first, once, so that a DNS failure is named
  // (and a slow failing resolver is paid once per attempt, not twice).
  if (const std::string dns = resolveError(cfg_.hostname); !dns.empty()) {
    discardConn_ = true;
    ConnectionFacts f = facts();
    f.startFailed = true;
    f.resolveError = dns;
    handleDisconnect(now, describeConnectionFailure(f));
    return;
  }
  const int rc = xmpp_connect_client(conn_.get(), cfg_.hostname.c_str(),
                                     static_cast<unsigned short>(cfg_.port), &onConnEvent, this);
  if (rc != XMPP_EOK) {
    sockFd_ = -1;
    discardConn_ = true;
    ConnectionFacts f = facts();
    f.startFailed = true;
    handleDisconnect(now, describeConnectionFailure(f));
  }
}

void MucClient::onConnEvent(xmpp_conn_t* conn, xmpp_conn_event_t event, int error,
                            xmpp_stream_error_t* streamError, void* selfPtr) {
  auto* self = static_cast<MucClient*>(selfPtr);
  const auto now = Clock::now();
  if (event == XMPP_CONN_CONNECT) {
    self->established_ = true;
    self->state_ = State::kConnected;
    self->connectedAt_ = now;
    self->backoff_ = self->timing_.backoffMin;
    self->pendingPingId_.clear();
    self->lastPingSent_ = now;
    LOG_INFO("xmpp", "[{}] connected as {} ({})", self->cfg_.id,
             xmpp_conn_get_bound_jid(conn) != nullptr ? xmpp_conn_get_bound_jid(conn) : "?",
             xmpp_conn_is_secured(conn) != 0 ? "TLS" : "no TLS");
    xmpp_handler_add(conn, &onAnyStanza, nullptr, nullptr, nullptr, self);
    xmpp_handler_add(conn, &onIq, nullptr, "iq", nullptr, self);
    xmpp_handler_add(conn, &onPresence, nullptr, "presence", nullptr, self);
    if (self->stopRequested_) {
      xmpp_disconnect(conn);
      return;
    }
    self->joinRooms(now);
    return;
  }
  if (event == XMPP_CONN_RAW_CONNECT) {
    return;
  }
  self->sockFd_ = -1;  // closed by libstrophe by now
  ConnectionFacts f = self->facts();
  const auto hints = self->ctx_.takeFailureHints();
  f.established = self->established_;
  f.error = error;
  if (streamError != nullptr) {
    f.streamError = true;
    f.streamCondition = streamErrorName(streamError->type);
    f.streamText = streamError->text != nullptr ? streamError->text : "";
  }
  if (!self->established_) {  // after login, a TLS/SASL line is no longer ours
    f.tlsFailure = hints.tls;
    f.authFailure = hints.auth;
    if (f.error == 0) {
      f.error = hints.connectError;  // the connect() errno, only logged by libstrophe
    }
  }
  const std::string why = self->aborted_
                              ? std::string("stream dropped: the server stopped answering")
                              : describeConnectionFailure(f);
  self->aborted_ = false;
  // libstrophe must not release the connection from inside its own callback.
  self->discardConn_ = true;
  self->handleDisconnect(now, why);
}

int MucClient::onAnyStanza(xmpp_conn_t*, xmpp_stanza_t*, void* selfPtr) {
  ++static_cast<MucClient*>(selfPtr)->stanzasIn_;
  return 1;  // keep counting
}

void MucClient::send(xmpp_conn_t* conn, xmpp_stanza_t* stanza) {
  ++stanzasOut_;
  xmpp_send(conn, stanza);
}

ConnectionFacts MucClient::facts() const {
  ConnectionFacts f;
  f.host = cfg_.hostname;
  f.port = cfg_.port;
  f.jid = cfg_.username + "@" + cfg_.domain;
  return f;
}

void MucClient::handleDisconnect(Clock::time_point now, const std::string& why) {
  if (state_ == State::kConnected && !stopRequested_) {
    ++disconnects_;  // JVB's xmpp_disconnects: a connection that was up went down
  }
  state_ = State::kIdle;
  for (auto& r : rooms_) {
    r.joined = false;
    r.retryAt = {};
  }
  pendingPingId_.clear();
  if (stopRequested_) {
    LOG_INFO("xmpp", "[{}] {}", cfg_.id, why);
    return;
  }
  nextConnectAt_ = now + backoff_;
  LOG_WARN("xmpp", "[{}] {} from {}:{}; reconnecting in {} ms", cfg_.id, why, cfg_.hostname,
           cfg_.port, backoff_.count());
  backoff_ = std::min(backoff_ * 2, timing_.backoffMax);
}

void MucClient::joinRooms(Clock::time_point now) {
  for (auto& r : rooms_) {
    if (!r.joined && now >= r.retryAt) {
      sendPresence(r, true);
      // The seed's firewall drops the join self-presence: the join counts
      // as done unless an error presence comes back.
      r.joined = true;
      lastPresenceSent_ = now;
      lastPresenceCheck_ = now;
      LOG_INFO("xmpp", "[{}] joined {} as {}", cfg_.id, r.jid, cfg_.mucNickname);
    }
  }
}

void MucClient::sendPresence(Room& room, bool join) {
  if (!conn_ || state_ != State::kConnected) {
    return;
  }
  xmpp_ctx_t* ctx = ctx_.get();
  StanzaPtr presence(xmpp_presence_new(ctx));
  const std::string to = room.jid + "/" + cfg_.mucNickname;
  xmpp_stanza_set_to(presence.get(), to.c_str());
  if (join) {
    adopt(presence.get(), element(ctx, "x", kNsMuc));
  }
  auto stats = stats_(ctx);
  lastSignature_ = stats.signature;
  lastStress_ = stats.stress;
  adopt(presence.get(), std::move(stats.element));
  send(conn_.get(), presence.get());
}

void MucClient::publishPresenceNow() {
  const auto now = Clock::now();
  for (auto& r : rooms_) {
    if (r.joined) {
      sendPresence(r, false);
    }
  }
  lastPresenceSent_ = now;
  lastPresenceCheck_ = now;
}

void MucClient::maybePublishPresence(Clock::time_point now) {
  // The keep-alive does not wait for the next check: an operator's long
  // presence-interval must not stretch it past Jicofo's presence timeout.
  const bool keepaliveDue = now - lastPresenceSent_ >= timing_.presenceRefresh;
  if (now - lastPresenceCheck_ < timing_.presenceInterval && !keepaliveDue) {
    return;
  }
  lastPresenceCheck_ = now;
  const auto stats = stats_(ctx_.get());
  const bool changed =
      stats.signature != lastSignature_ || std::abs(stats.stress - lastStress_) >= kStressStep;
  if (!changed && !keepaliveDue) {
    return;
  }
  for (auto& r : rooms_) {
    if (r.joined) {
      sendPresence(r, false);
    }
  }
  lastPresenceSent_ = now;
}

void MucClient::maybePing(Clock::time_point now) {
  if (!pendingPingId_.empty()) {
    if (now - lastPingSent_ > timing_.pingTimeout) {
      LOG_WARN("xmpp", "[{}] no answer to XEP-0199 ping for {} ms: reconnecting", cfg_.id,
               timing_.pingTimeout.count());
      pendingPingId_.clear();
      abortStream();
    }
    return;
  }
  if (now - lastPingSent_ < timing_.pingInterval) {
    return;
  }
  xmpp_ctx_t* ctx = ctx_.get();
  pendingPingId_ = "ping-" + resource_ + "-" + std::to_string(++pingCounter_);
  StanzaPtr iq(xmpp_iq_new(ctx, "get", pendingPingId_.c_str()));
  xmpp_stanza_set_to(iq.get(), cfg_.domain.c_str());
  adopt(iq.get(), element(ctx, "ping", kNsPing));
  xmpp_id_handler_add(conn_.get(), &onPingReply, pendingPingId_.c_str(), this);
  send(conn_.get(), iq.get());
  lastPingSent_ = now;
}

int MucClient::onPingReply(xmpp_conn_t*, xmpp_stanza_t* stanza, void* selfPtr) {
  auto* self = static_cast<MucClient*>(selfPtr);
  if (attr(stanza, "id") == self->pendingPingId_) {
    self->pendingPingId_.clear();
  }
  return 0;  // one reply per ping: remove the handler
}

int MucClient::onIq(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* selfPtr) {
  auto* self = static_cast<MucClient*>(selfPtr);
  if (!self->iqs_.deferrable(stanza)) {
    if (StanzaPtr reply = self->iqs_.handle(self->ctx_.get(), stanza)) {
      self->send(conn, reply.get());
    }
    return 1;
  }
  // Answered later (Colibri2, see IqDispatcher::addDeferred): on this
  // connection only if it is still the one the request came on.
  const uint64_t epoch = self->connectEpoch_;
  self->iqs_.dispatch(
      self->ctx_.get(), stanza,
      [self, epoch](StanzaPtr reply) {
        if (self->connectEpoch_ == epoch && self->conn_ && self->state_ == State::kConnected) {
          self->send(self->conn_.get(), reply.get());
        }
      },
      Clock::now());
  return 1;
}

int MucClient::onPresence(xmpp_conn_t*, xmpp_stanza_t* stanza, void* selfPtr) {
  auto* self = static_cast<MucClient*>(selfPtr);
  const std::string from = attr(stanza, "from");
  const std::string room = bareJid(from);
  const std::string nick = resourceOf(from);
  auto it = std::find_if(self->rooms_.begin(), self->rooms_.end(),
                         [&](const Room& r) { return r.jid == room; });
  if (it == self->rooms_.end() || nick != self->cfg_.mucNickname) {
    return 1;  // other occupants: the firewall drops them in the seed; ignore
  }
  const auto now = Clock::now();
  const std::string type = attr(stanza, "type");
  if (type == "error") {
    const std::string condition = errorCondition(stanza);
    it->joined = false;
    if (condition == "conflict") {
      ++it->conflicts;
      const auto delay = std::min(std::chrono::milliseconds(5000) * it->conflicts,
                                  std::chrono::milliseconds(60000));
      it->retryAt = now + delay;
      LOG_ERROR("xmpp",
                "[{}] nickname '{}' is already in use in {} (409 conflict: another bridge with "
                "the same MUC_NICKNAME?); retrying in {} ms",
                self->cfg_.id, self->cfg_.mucNickname, room, delay.count());
    } else {
      it->retryAt = now + self->timing_.backoffMax;
      LOG_ERROR("xmpp", "[{}] joining {} failed: {}; retrying in {} ms", self->cfg_.id, room,
                condition, self->timing_.backoffMax.count());
    }
    return 1;
  }
  if (type == "unavailable") {
    if (!self->stopRequested_) {
      it->joined = false;
      it->retryAt = now + self->timing_.backoffMin;
      LOG_WARN("xmpp", "[{}] left {} (unavailable self-presence); re-joining", self->cfg_.id, room);
    }
    return 1;
  }
  if (hasStatusCode(stanza, "110")) {
    it->conflicts = 0;
    LOG_DEBUG("xmpp", "[{}] self-presence echo from {}", self->cfg_.id, room);
  }
  return 1;
}

void MucClient::tick(Clock::time_point now) {
  if (discardConn_ && state_ == State::kIdle) {
    conn_.reset();
    discardConn_ = false;
  }
  if (stopRequested_) {
    return;
  }
  if (state_ == State::kIdle && now >= nextConnectAt_) {
    connect(now);
    return;
  }
  // No login timeout: libstrophe times out the TCP connect (5 s); a server
  // that accepted the connection (or its kernel did: a stopped Prosody's
  // backlog) and says nothing is wedged, and a new attempt would reach the
  // same server. The pending login goes on the moment it answers again
  // (CTest xmpp.faults: right after SIGCONT), and a server killed meanwhile
  // resets the connection, which ends the attempt.
  if (state_ == State::kConnected) {
    joinRooms(now);
    maybePing(now);
    maybePublishPresence(now);
  }
}

// For a server that stopped answering (ping timeout). xmpp_disconnect() would send the
// stream close, wait 2 s for the server's, and then libstrophe's tls_stop()
// would block the control thread for up to 1 s (SSL_shutdown retried ten times,
// 100 ms select() each, for a close_notify that never comes: health-check IQs
// and /about/health wait behind it; CTest xmpp.faults measured 0.7 s). Shutting
// the socket down makes the next xmpp_run_once() see the end at once, and TLS
// is not shut down over a dead socket.
void MucClient::abortStream() {
  if (sockFd_ >= 0) {
    aborted_ = true;
    ::shutdown(sockFd_, SHUT_RDWR);
    return;
  }
  xmpp_disconnect(conn_.get());
}

void MucClient::stop() {
  if (stopRequested_) {
    return;
  }
  stopRequested_ = true;
  if (conn_ && state_ == State::kConnected) {
    for (auto& r : rooms_) {
      if (r.joined) {
        StanzaPtr presence(xmpp_presence_new(ctx_.get()));
        const std::string to = r.jid + "/" + cfg_.mucNickname;
        xmpp_stanza_set_to(presence.get(), to.c_str());
        xmpp_stanza_set_type(presence.get(), "unavailable");
        send(conn_.get(), presence.get());
      }
    }
  }
  if (conn_ && state_ != State::kIdle) {
    xmpp_disconnect(conn_.get());
  }
}

}  // namespace jvb::xmpp
