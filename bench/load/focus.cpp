#include "focus.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

namespace jvb::load {

namespace {

using Clock = std::chrono::steady_clock;

xmpp_stanza_t* firstChild(xmpp_stanza_t* parent, std::string_view name, const char* ns) {
  for (xmpp_stanza_t* c = parent == nullptr ? nullptr : xmpp_stanza_get_children(parent);
       c != nullptr; c = xmpp_stanza_get_next(c)) {
    const char* n = xmpp_stanza_get_name(c);
    const char* cns = xmpp_stanza_get_ns(c);
    if (xmpp_stanza_is_tag(c) && n != nullptr && name == n &&
        (ns == nullptr || (cns != nullptr && std::string_view(cns) == ns))) {
      return c;
    }
  }
  return nullptr;
}

bool hasStatus(xmpp_stanza_t* presence, std::string_view code) {
  xmpp_stanza_t* x = firstChild(presence, "x", xmpp::kNsMucUser);
  for (xmpp_stanza_t* c = x == nullptr ? nullptr : xmpp_stanza_get_children(x); c != nullptr;
       c = xmpp_stanza_get_next(c)) {
    const char* n = xmpp_stanza_get_name(c);
    if (n != nullptr && std::string_view(n) == "status" && xmpp::attr(c, "code") == code) {
      return true;
    }
  }
  return false;
}

void readError(xmpp_stanza_t* stanza, IqOutcome& out) {
  xmpp_stanza_t* err = firstChild(stanza, "error", nullptr);
  out.condition = "unknown";
  for (xmpp_stanza_t* c = err == nullptr ? nullptr : xmpp_stanza_get_children(err); c != nullptr;
       c = xmpp_stanza_get_next(c)) {
    const char* n = xmpp_stanza_get_name(c);
    const char* ns = xmpp_stanza_get_ns(c);
    if (!xmpp_stanza_is_tag(c) || n == nullptr) {
      continue;
    }
    const std::string_view name(n);
    if (ns != nullptr && std::string_view(ns) == xmpp::kNsStanzas) {
      if (name == "text") {
        out.text = xmpp::text(c);
      } else {
        out.condition = n;
      }
    } else if (ns != nullptr && std::string_view(ns) == xmpp::kNsColibri2 && name == "error") {
      out.reason = xmpp::attr(c, "reason");
    }
  }
}

std::string randomTag() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::array<unsigned char, 6> raw{};
  RAND_bytes(raw.data(), static_cast<int>(raw.size()));
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kAlphabet[c % (sizeof(kAlphabet) - 1)]);
  }
  return out;
}

// Our stanzas go out at once (no Nagle delay): round trips are measured here.
int noDelay(xmpp_conn_t*, void* sock) {
  const int fd = *static_cast<int*>(sock);
  const int one = 1;
  return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 ? 0 : -1;
}

// A plain TCP connect to host:port within `timeoutMs`: empty when it worked,
// else why not. Tells "unreachable" apart from "login refused".
std::string probeTcp(const std::string& host, int port, int timeoutMs) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return gai_strerror(rc);
  }
  std::string why = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int err = 0;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, timeoutMs) == 1) {
          socklen_t len = sizeof(err);
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        } else {
          err = ETIMEDOUT;
        }
      }
    }
    close(fd);
    if (err == 0) {
      freeaddrinfo(res);
      return {};
    }
    why = std::strerror(err);
  }
  freeaddrinfo(res);
  return why;
}

}  // namespace

std::string IqOutcome::describe() const {
  switch (kind) {
    case Kind::kResult:
      return "result";
    case Kind::kTimeout:
      return "no reply (timeout)";
    case Kind::kDisconnected:
      return "XMPP connection lost";
    case Kind::kError:
      break;
  }
  std::string out = condition;
  if (!reason.empty()) {
    out += " (" + reason + ")";
  }
  if (!text.empty()) {
    out += ": " + text;
  }
  return out;
}

Focus::Focus(Config cfg) : cfg_(std::move(cfg)), nick_("load-focus-" + randomTag()) {}

Focus::~Focus() {
  failPending(IqOutcome::Kind::kDisconnected);
  if (conn_ && connected_) {
    xmpp_disconnect(conn_.get());
    for (int i = 0; i < 50 && connected_; ++i) {
      xmpp_run_once(ctx_.get(), 10);
    }
  }
}

void Focus::connect(std::chrono::milliseconds timeout) {
  if (const auto why = probeTcp(cfg_.host, cfg_.port, 3000); !why.empty()) {
    throw LoadError(fmt::format("cannot reach Prosody at {}:{}: {}", cfg_.host, cfg_.port, why));
  }
  conn_.reset(xmpp_conn_new(ctx_.get()));
  // No XEP-0198 here: Prosody's small <a/> per stanza of ours, left unacknowledged
  // by our delayed ACK, holds its next write (the reply) in Nagle's buffer for
  // about 40 ms, which would be measured as bridge latency.
  xmpp_conn_set_flags(conn_.get(), XMPP_CONN_FLAG_TRUST_TLS | XMPP_CONN_FLAG_DISABLE_SM);
  xmpp_conn_set_sockopt_callback(conn_.get(), &noDelay);
  const std::string jid = cfg_.user + "@" + cfg_.domain + "/" + nick_;
  xmpp_conn_set_jid(conn_.get(), jid.c_str());
  xmpp_conn_set_pass(conn_.get(), cfg_.password.c_str());
  const int rc = xmpp_connect_client(conn_.get(), cfg_.host.c_str(),
                                     static_cast<unsigned short>(cfg_.port), &onConnEvent, this);
  if (rc != XMPP_EOK) {
    throw LoadError(fmt::format("cannot start an XMPP connection to {}:{} (libstrophe error {})",
                                cfg_.host, cfg_.port, rc));
  }
  const auto deadline = Clock::now() + timeout;
  while (!connected_ && !ended_ && Clock::now() < deadline) {
    xmpp_run_once(ctx_.get(), 10);
  }
  if (connected_) {
    return;
  }
  if (ended_) {
    throw LoadError(fmt::format(
        "XMPP session to {}:{} as {}@{} failed: {} (login refused? check --domain, --user "
        "and --password)",
        cfg_.host, cfg_.port, cfg_.user, cfg_.domain, endReason_));
  }
  throw LoadError(fmt::format("XMPP session to {}:{} as {}@{} not established within {} s",
                              cfg_.host, cfg_.port, cfg_.user, cfg_.domain,
                              static_cast<double>(timeout.count()) / 1000.0));
}

void Focus::onConnEvent(xmpp_conn_t* conn, xmpp_conn_event_t event, int error,
                        xmpp_stream_error_t* streamError, void* selfPtr) {
  auto* self = static_cast<Focus*>(selfPtr);
  if (event == XMPP_CONN_CONNECT) {
    self->connected_ = true;
    xmpp_handler_add(conn, &onIq, nullptr, "iq", nullptr, self);
    xmpp_handler_add(conn, &onPresence, nullptr, "presence", nullptr, self);
    return;
  }
  if (event == XMPP_CONN_RAW_CONNECT) {
    return;
  }
  std::string why = event == XMPP_CONN_FAIL ? "connection failed" : "disconnected";
  if (error != 0) {
    why += std::string(": ") + std::strerror(error);
  }
  if (streamError != nullptr && streamError->text != nullptr) {
    why += std::string(" (stream error: ") + streamError->text + ")";
  }
  self->connected_ = false;
  self->ended_ = true;
  self->endReason_ = why;
}

int Focus::onPresence(xmpp_conn_t*, xmpp_stanza_t* stanza, void* selfPtr) {
  auto* self = static_cast<Focus*>(selfPtr);
  const std::string from = xmpp::attr(stanza, "from");
  if (xmpp::bareJid(from) != self->cfg_.brewery) {
    return 1;
  }
  const std::string nick = xmpp::resourceOf(from);
  const std::string type = xmpp::attr(stanza, "type");
  if (nick == self->nick_) {
    if (type == "error") {
      IqOutcome e;
      readError(stanza, e);
      self->joinError_ = e.describe();
    } else if (type != "unavailable" && hasStatus(stanza, "110")) {
      self->joined_ = true;
    }
    return 1;
  }
  if (type == "unavailable") {
    self->bridges_.erase(nick);
    if (nick == self->bridgeNick_) {
      self->bridgeGone_ = true;
    }
    return 1;
  }
  if (type.empty() && firstChild(stanza, "stats", xmpp::kNsColibri) != nullptr) {
    self->bridges_.emplace(nick, Clock::now());
  }
  return 1;
}

int Focus::onIq(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* selfPtr) {
  auto* self = static_cast<Focus*>(selfPtr);
  const std::string type = xmpp::attr(stanza, "type");
  const std::string id = xmpp::attr(stanza, "id");
  if (type == "get" || type == "set") {
    // Nothing is served here: answer as an entity without that feature.
    xmpp::StanzaPtr reply(xmpp_iq_new(self->ctx_.get(), "error", id.c_str()));
    xmpp_stanza_set_to(reply.get(), xmpp::attr(stanza, "from").c_str());
    auto err = xmpp::element(self->ctx_.get(), "error");
    xmpp_stanza_set_attribute(err.get(), "type", "cancel");
    xmpp::adopt(err.get(),
                xmpp::element(self->ctx_.get(), "service-unavailable", xmpp::kNsStanzas));
    xmpp::adopt(reply.get(), std::move(err));
    xmpp_send(conn, reply.get());
    return 1;
  }
  const auto it = self->pending_.find(id);
  if (it == self->pending_.end()) {
    return 1;  // late reply to a request that timed out
  }
  Pending p = std::move(it->second);
  self->pending_.erase(it);
  IqOutcome out;
  out.rtt = Clock::now() - p.sent;
  out.stanza = stanza;
  if (type == "result") {
    out.kind = IqOutcome::Kind::kResult;
  } else {
    out.kind = IqOutcome::Kind::kError;
    readError(stanza, out);
  }
  p.fn(out);
  return 1;
}

void Focus::joinBrewery(std::chrono::milliseconds timeout) {
  xmpp::StanzaPtr presence(xmpp_presence_new(ctx_.get()));
  const std::string to = cfg_.brewery + "/" + nick_;
  xmpp_stanza_set_to(presence.get(), to.c_str());
  xmpp::adopt(presence.get(), xmpp::element(ctx_.get(), "x", xmpp::kNsMuc));
  xmpp_send(conn_.get(), presence.get());
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    xmpp_run_once(ctx_.get(), 10);
    if (!joinError_.empty()) {
      throw LoadError(fmt::format("joining the brewery {} failed: {}", cfg_.brewery, joinError_));
    }
    if (ended_) {
      throw LoadError(
          fmt::format("XMPP connection lost while joining {}: {}", cfg_.brewery, endReason_));
    }
    if (!joined_) {
      continue;
    }
    if (!cfg_.bridgeNick.empty()) {
      if (bridges_.count(cfg_.bridgeNick) != 0) {
        bridgeNick_ = cfg_.bridgeNick;
        return;
      }
    } else if (!bridges_.empty()) {
      auto first = bridges_.begin();
      for (auto it = bridges_.begin(); it != bridges_.end(); ++it) {
        if (it->second < first->second) {
          first = it;
        }
      }
      bridgeNick_ = first->first;
      return;
    }
  }
  if (!joined_) {
    throw LoadError(fmt::format("no answer to the join of the brewery {} within {} s", cfg_.brewery,
                                static_cast<double>(timeout.count()) / 1000.0));
  }
  std::string seen;
  for (const auto& [n, at] : bridges_) {
    seen += (seen.empty() ? "" : ", ") + n;
  }
  if (!cfg_.bridgeNick.empty()) {
    throw LoadError(fmt::format("bridge '{}' is not in the brewery {} (bridges seen: {})",
                                cfg_.bridgeNick, cfg_.brewery, seen.empty() ? "none" : seen));
  }
  throw LoadError(fmt::format(
      "no bridge in the brewery {} within {} s (no occupant sent presence with colibri stats: "
      "is jvb-audio running and logged in to this Prosody?)",
      cfg_.brewery, static_cast<double>(timeout.count()) / 1000.0));
}

void Focus::sendToBridge(const char* type, const std::string& body,
                         std::chrono::milliseconds timeout, ReplyFn fn) {
  sendTo(bridgeJid(), type, body, timeout, std::move(fn));
}

void Focus::sendTo(const std::string& to, const char* type, const std::string& body,
                   std::chrono::milliseconds timeout, ReplyFn fn) {
  const std::string id = fmt::format("load-{}", ++nextId_);
  if (!connected_) {
    IqOutcome out;
    out.kind = IqOutcome::Kind::kDisconnected;
    fn(out);
    return;
  }
  const std::string xml = fmt::format("<iq type='{}' id='{}' to='{}'>{}</iq>", type, id, to, body);
  xmpp::StanzaPtr iq = xmpp::parse(ctx_.get(), xml);
  if (!iq) {
    throw LoadError("internal error: could not build the IQ " + xml.substr(0, 200));
  }
  const auto now = Clock::now();
  pending_[id] = Pending{std::move(fn), now, now + timeout};
  xmpp_send(conn_.get(), iq.get());
}

void Focus::runOnce(unsigned long timeoutMs) {
  xmpp_run_once(ctx_.get(), timeoutMs);
  if (ended_ && connected_) {
    connected_ = false;
  }
  if (!connected_) {
    failPending(IqOutcome::Kind::kDisconnected);
    return;
  }
  const auto now = Clock::now();
  std::vector<std::string> expired;
  for (const auto& [id, p] : pending_) {
    if (now >= p.deadline) {
      expired.push_back(id);
    }
  }
  for (const auto& id : expired) {
    auto it = pending_.find(id);
    if (it == pending_.end()) {
      continue;
    }
    Pending p = std::move(it->second);
    pending_.erase(it);
    IqOutcome out;
    out.kind = IqOutcome::Kind::kTimeout;
    out.rtt = now - p.sent;
    p.fn(out);
  }
}

void Focus::failPending(IqOutcome::Kind kind) {
  // Callbacks may send more requests (which then fail at once): bounded.
  for (int round = 0; round < 4 && !pending_.empty(); ++round) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, p] : pending) {
      IqOutcome out;
      out.kind = kind;
      p.fn(out);
    }
  }
}

void Focus::disconnect(std::chrono::milliseconds limit) {
  if (!conn_ || !connected_) {
    failPending(IqOutcome::Kind::kDisconnected);
    return;
  }
  xmpp::StanzaPtr presence(xmpp_presence_new(ctx_.get()));
  const std::string to = cfg_.brewery + "/" + nick_;
  xmpp_stanza_set_to(presence.get(), to.c_str());
  xmpp_stanza_set_type(presence.get(), "unavailable");
  xmpp_send(conn_.get(), presence.get());
  xmpp_disconnect(conn_.get());
  const auto deadline = Clock::now() + limit;
  while (connected_ && !ended_ && Clock::now() < deadline) {
    xmpp_run_once(ctx_.get(), 10);
  }
  connected_ = false;
  failPending(IqOutcome::Kind::kDisconnected);
}

}  // namespace jvb::load
