#pragma once
// Routes IQ requests to handlers by the (element, namespace) of their child
// and builds the reply, addressed to whatever `from` the request came with
// (the occupant JID through the brewery, or the focus's real JID).
//
// Per RFC 6120 section 8.2.3 every get/set gets exactly one reply: a handler's
// payload (result) or an error; a request nobody handles gets
// service-unavailable, as JVB answers "Unsupported IQ request".
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "xmpp/strophe.hpp"

namespace jvb::xmpp {

struct IqError {
  std::string type = "cancel";  // cancel | modify | wait | auth | continue
  std::string condition;        // e.g. "bad-request", "item-not-found"
  std::string text;             // optional human-readable text
  // Application elements in <error>, in order (colibri2 <error reason/>, and
  // for an unknown endpoint also <endpoint id/>, as JVB sends them).
  std::vector<StanzaPtr> extensions;
};

// A handler returns the result's child element (null for an empty result) or
// an error. It runs on the control thread and must not block.
using IqOutcome = std::variant<StanzaPtr, IqError>;
using IqHandler =
    std::function<IqOutcome(xmpp_ctx_t* ctx, xmpp_stanza_t* iq, xmpp_stanza_t* payload)>;

// Sends a reply on the connection the request came from (it may be gone by
// then: the function checks).
using IqReplyFn = std::function<void(StanzaPtr reply)>;

class IqDispatcher {
 public:
  // A request handled later, off the read path (see addDeferred).
  struct Deferred {
    xmpp_ctx_t* ctx = nullptr;
    StanzaPtr iq;  // our own reference to the request
    IqReplyFn reply;
    std::chrono::steady_clock::time_point arrived{};
  };
  // Takes the request (moving from it) and returns true, or returns false
  // when its queue is full.
  using DeferralSink = std::function<bool(Deferred&)>;

  void add(const std::string& element, const std::string& ns, IqHandler handler);
  // A handler whose requests go to the deferral sink instead of running on
  // the read path (Colibri2: heavy, and many at once when a room joins), so
  // that cheap requests read behind them (health checks) are answered first.
  // Without a sink it runs inline like any other.
  void addDeferred(const std::string& element, const std::string& ns, IqHandler handler);
  void setDeferralSink(DeferralSink sink) { sink_ = std::move(sink); }

  // The reply to `iq`, or null when `iq` needs none (type result or error).
  // Never throws: a handler that throws yields internal-server-error.
  // Deferred handlers run inline here.
  StanzaPtr handle(xmpp_ctx_t* ctx, xmpp_stanza_t* iq) const;

  // The read path: answers `iq` through `reply` now, or queues it on the
  // sink when its handler is deferred (a full queue: an error reply now,
  // resource-constraint, type wait). `arrived` is when its bytes were read.
  // Returns true when it was queued.
  bool dispatch(xmpp_ctx_t* ctx, xmpp_stanza_t* iq, const IqReplyFn& reply,
                std::chrono::steady_clock::time_point arrived) const;
  // Whether dispatch() would queue `iq` (a deferred handler and a sink).
  [[nodiscard]] bool deferrable(xmpp_stanza_t* iq) const { return sink_ && isDeferred(iq); }
  // Requests refused because the deferral queue was full.
  [[nodiscard]] uint64_t refused() const { return refused_; }

 private:
  struct Entry {
    IqHandler fn;
    bool deferred = false;
  };
  [[nodiscard]] bool isDeferred(xmpp_stanza_t* iq) const;

  std::map<std::pair<std::string, std::string>, Entry> handlers_;
  DeferralSink sink_;
  mutable uint64_t refused_ = 0;
};

StanzaPtr buildErrorReply(xmpp_ctx_t* ctx, xmpp_stanza_t* iq, IqError error);
StanzaPtr buildResultReply(xmpp_ctx_t* ctx, xmpp_stanza_t* iq, StanzaPtr payload);

}  // namespace jvb::xmpp
