#pragma once
// The focus side of the load tool over libstrophe: one XMPP client session
// on the tech Prosody, joined to the brewery like Jicofo, that finds the
// bridge occupant (presence with colibri stats) and sends it IQs
// (Colibri2, health checks) with a reply callback and a bounded wait.
// Single-threaded: every call and callback happens on the owner's thread,
// driven by runOnce().
#include <strophe.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "xmpp/strophe.hpp"

namespace jvb::load {

// A failure that ends the run, with the message to print.
class LoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct IqOutcome {
  enum class Kind { kResult, kError, kTimeout, kDisconnected };
  Kind kind = Kind::kTimeout;
  xmpp_stanza_t* stanza = nullptr;  // the reply; valid only during the callback
  std::string condition;            // error condition (e.g. item-not-found)
  std::string reason;               // colibri2 reason, when present
  std::string text;
  std::chrono::nanoseconds rtt{0};
  // "item-not-found (conference_not_found): Conference not found for ID: x"
  [[nodiscard]] std::string describe() const;
};

class Focus {
 public:
  struct Config {
    std::string host;
    int port = 15222;
    std::string domain;
    std::string user;
    std::string password;
    std::string brewery;
    std::string bridgeNick;  // empty: the first bridge seen
  };
  using ReplyFn = std::function<void(const IqOutcome&)>;

  explicit Focus(Config cfg);
  ~Focus();
  Focus(const Focus&) = delete;
  Focus& operator=(const Focus&) = delete;

  // Session on the Prosody (TLS when offered, its certificate not checked:
  // the tech Prosody's is self-signed). Throws LoadError.
  void connect(std::chrono::milliseconds timeout);
  // Joins the brewery and waits for a bridge's presence. Throws LoadError.
  void joinBrewery(std::chrono::milliseconds timeout);
  // Leaves the brewery and closes the stream (bounded).
  void disconnect(std::chrono::milliseconds limit);

  // <iq type=`type` to=bridge>`body`</iq>; `fn` is called exactly once
  // (reply, timeout or disconnect), from runOnce() or disconnect().
  void sendToBridge(const char* type, const std::string& body, std::chrono::milliseconds timeout,
                    ReplyFn fn);
  // The same to any JID (the server's domain: a XEP-0199 ping Prosody answers
  // itself, the share of a round trip that is Prosody's and the tool's).
  void sendTo(const std::string& to, const char* type, const std::string& body,
              std::chrono::milliseconds timeout, ReplyFn fn);
  [[nodiscard]] const std::string& domain() const { return cfg_.domain; }
  // Runs libstrophe for up to `timeoutMs` and fires IQ timeouts.
  void runOnce(unsigned long timeoutMs);

  [[nodiscard]] bool connected() const { return connected_; }
  [[nodiscard]] bool bridgeGone() const { return bridgeGone_; }
  [[nodiscard]] size_t inFlight() const { return pending_.size(); }
  [[nodiscard]] const std::string& bridgeNick() const { return bridgeNick_; }
  [[nodiscard]] std::string bridgeJid() const { return cfg_.brewery + "/" + bridgeNick_; }
  [[nodiscard]] const std::string& nick() const { return nick_; }
  [[nodiscard]] int bridgesSeen() const { return static_cast<int>(bridges_.size()); }

 private:
  struct Pending {
    ReplyFn fn;
    std::chrono::steady_clock::time_point sent;
    std::chrono::steady_clock::time_point deadline;
  };
  struct ConnRelease {
    void operator()(xmpp_conn_t* c) const { xmpp_conn_release(c); }
  };
  static void onConnEvent(xmpp_conn_t* conn, xmpp_conn_event_t event, int error,
                          xmpp_stream_error_t* streamError, void* self);
  static int onIq(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* self);
  static int onPresence(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* self);
  void failPending(IqOutcome::Kind kind);

  Config cfg_;
  xmpp::Context ctx_;
  std::unique_ptr<xmpp_conn_t, ConnRelease> conn_;
  std::string nick_;
  bool connected_ = false;
  bool ended_ = false;  // the stream ended (or never started)
  std::string endReason_;
  bool joined_ = false;
  std::string joinError_;
  std::map<std::string, std::chrono::steady_clock::time_point> bridges_;  // nick -> first seen
  std::string bridgeNick_;
  bool bridgeGone_ = false;
  std::map<std::string, Pending> pending_;
  uint64_t nextId_ = 0;
};

}  // namespace jvb::load
