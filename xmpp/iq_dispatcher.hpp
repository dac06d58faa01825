#pragma once
// Routes IQ requests to handlers by the (element, namespace) of their child
// and builds the reply, addressed to whatever `from` the request came with
// (the occupant JID through the brewery, or the focus's real JID).
//
// Per RFC 6120 section 8.2.3 every get/set gets exactly one reply: a handler's
// payload (result) or an error; a request nobody handles gets
// service-unavailable, as JVB answers "Unsupported IQ request".
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

class IqDispatcher {
 public:
  void add(const std::string& element, const std::string& ns, IqHandler handler);

  // The reply to `iq`, or null when `iq` needs none (type result or error).
  // Never throws: a handler that throws yields internal-server-error.
  StanzaPtr handle(xmpp_ctx_t* ctx, xmpp_stanza_t* iq) const;

 private:
  std::map<std::pair<std::string, std::string>, IqHandler> handlers_;
};

StanzaPtr buildErrorReply(xmpp_ctx_t* ctx, xmpp_stanza_t* iq, IqError error);
StanzaPtr buildResultReply(xmpp_ctx_t* ctx, xmpp_stanza_t* iq, StanzaPtr payload);

}  // namespace jvb::xmpp
