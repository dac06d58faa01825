#pragma once
// RAII over libstrophe's handles, and the few stanza helpers the control
// plane needs. libstrophe is not thread-safe: every object here belongs to
// the control thread.
#include <strophe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace jvb::xmpp {

inline constexpr const char* kNsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";
inline constexpr const char* kNsMuc = "http://jabber.org/protocol/muc";
inline constexpr const char* kNsMucUser = "http://jabber.org/protocol/muc#user";
inline constexpr const char* kNsColibri = "http://jitsi.org/protocol/colibri";
inline constexpr const char* kNsColibri2 = "jitsi:colibri2";
inline constexpr const char* kNsHealth = "http://jitsi.org/protocol/healthcheck";
inline constexpr const char* kNsVersion = "jabber:iq:version";
inline constexpr const char* kNsPing = "urn:xmpp:ping";

// xmpp_initialize()/xmpp_shutdown(), once per process, built in main() (or a
// test) before any Context.
class Library {
 public:
  Library() { xmpp_initialize(); }
  ~Library() { xmpp_shutdown(); }
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
};

struct StanzaRelease {
  void operator()(xmpp_stanza_t* s) const { xmpp_stanza_release(s); }
};
// Owns one reference to a stanza.
using StanzaPtr = std::unique_ptr<xmpp_stanza_t, StanzaRelease>;

// An xmpp_ctx_t whose log goes to our logger (component "strophe"): errors
// and warnings as such, libstrophe's chatty info/debug at debug/trace.
class Context {
 public:
  Context();
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  xmpp_ctx_t* get() const { return ctx_; }

  // libstrophe tells a TLS or SASL failure only in its log (see
  // connection_error.hpp): the last such line since clearFailureHints().
  // XmppService gives each connection its own context, so a line is the
  // connection's own.
  struct FailureHints {
    std::string tls;
    std::string auth;
    int connectError = 0;  // "connection failed, error N": event.c sets no conn->error
  };
  void clearFailureHints() { hints_ = {}; }
  FailureHints takeFailureHints() { return std::exchange(hints_, {}); }
  void noteLog(xmpp_log_level_t level, const char* area, const char* msg);

  // The socket libstrophe created last for this context's connection (noted
  // by MucClient's socket-options callback), so that XmppService can wait
  // for it to be readable; the generation changes with every new socket.
  void noteSocket(int fd) {
    socketFd_ = fd;
    ++socketGeneration_;
  }
  [[nodiscard]] int socketFd() const { return socketFd_; }
  [[nodiscard]] uint64_t socketGeneration() const { return socketGeneration_; }
  // The Context that wraps `ctx` (null if none): libstrophe's callbacks get
  // only the xmpp_ctx_t.
  static Context* of(xmpp_ctx_t* ctx);

 private:
  int socketFd_ = -1;
  uint64_t socketGeneration_ = 0;
  FailureHints hints_;
  xmpp_log_t log_{};
  xmpp_ctx_t* ctx_ = nullptr;
};

// Attribute / text accessors that never return null.
std::string attr(xmpp_stanza_t* s, const char* name);
std::optional<std::string> optionalAttr(xmpp_stanza_t* s, const char* name);
std::string text(xmpp_stanza_t* s);
std::string toText(xmpp_stanza_t* s);

// A new element <name xmlns=ns/> (ns may be null).
StanzaPtr element(xmpp_ctx_t* ctx, const char* name, const char* ns = nullptr);
// Adds `child` to `parent`, handing over the reference.
void adopt(xmpp_stanza_t* parent, StanzaPtr child);
// Adds a text node.
void addText(xmpp_ctx_t* ctx, xmpp_stanza_t* parent, std::string_view value);
// Parses one XML element (tests, canned stanzas). Null on malformed input.
StanzaPtr parse(xmpp_ctx_t* ctx, const std::string& xml);

// "room@service/nick" -> "room@service"; "a@b" stays.
std::string bareJid(std::string_view jid);
std::string resourceOf(std::string_view jid);

}  // namespace jvb::xmpp
