#include "xmpp/iq_dispatcher.hpp"

#include "common/log.hpp"

namespace jvb::xmpp {

void IqDispatcher::add(const std::string& element, const std::string& ns, IqHandler handler) {
  handlers_[{element, ns}] = Entry{std::move(handler), false};
}

void IqDispatcher::addDeferred(const std::string& element, const std::string& ns,
                               IqHandler handler) {
  handlers_[{element, ns}] = Entry{std::move(handler), true};
}

namespace {

StanzaPtr replySkeleton(xmpp_ctx_t* ctx, xmpp_stanza_t* iq, const char* type) {
  StanzaPtr reply(xmpp_iq_new(ctx, type, nullptr));
  const auto id = optionalAttr(iq, "id");
  if (id) {
    xmpp_stanza_set_id(reply.get(), id->c_str());
  }
  if (const auto from = optionalAttr(iq, "from")) {
    xmpp_stanza_set_to(reply.get(), from->c_str());
  }
  if (const auto to = optionalAttr(iq, "to")) {
    xmpp_stanza_set_from(reply.get(), to->c_str());
  }
  return reply;
}

}  // namespace

StanzaPtr buildResultReply(xmpp_ctx_t* ctx, xmpp_stanza_t* iq, StanzaPtr payload) {
  auto reply = replySkeleton(ctx, iq, "result");
  if (payload) {
    adopt(reply.get(), std::move(payload));
  }
  return reply;
}

StanzaPtr buildErrorReply(xmpp_ctx_t* ctx, xmpp_stanza_t* iq, IqError error) {
  auto reply = replySkeleton(ctx, iq, "error");
  auto err = element(ctx, "error");
  xmpp_stanza_set_type(err.get(), error.type.c_str());
  adopt(err.get(), element(ctx, error.condition.c_str(), kNsStanzas));
  if (!error.text.empty()) {
    auto t = element(ctx, "text", kNsStanzas);
    addText(ctx, t.get(), error.text);
    adopt(err.get(), std::move(t));
  }
  for (auto& ext : error.extensions) {
    adopt(err.get(), std::move(ext));
  }
  adopt(reply.get(), std::move(err));
  return reply;
}

StanzaPtr IqDispatcher::handle(xmpp_ctx_t* ctx, xmpp_stanza_t* iq) const {
  const std::string type = attr(iq, "type");
  if (type == "result" || type == "error") {
    return nullptr;
  }
  if (type != "get" && type != "set") {
    return buildErrorReply(ctx, iq,
                           {"modify", "bad-request", "unknown iq type '" + type + "'", {}});
  }
  if (!optionalAttr(iq, "id")) {
    return buildErrorReply(ctx, iq, {"modify", "bad-request", "iq without id", {}});
  }
  // RFC 6120 section 8.2.3: a get/set carries exactly one payload element.
  xmpp_stanza_t* payload = nullptr;
  int elements = 0;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(iq); c != nullptr; c = xmpp_stanza_get_next(c)) {
    if (xmpp_stanza_is_tag(c)) {
      payload = payload == nullptr ? c : payload;
      ++elements;
    }
  }
  if (elements != 1) {
    return buildErrorReply(ctx, iq,
                           {"modify", "bad-request", "iq get/set needs exactly one child", {}});
  }
  const char* name = xmpp_stanza_get_name(payload);
  const char* ns = xmpp_stanza_get_ns(payload);
  const auto it = handlers_.find({name != nullptr ? name : "", ns != nullptr ? ns : ""});
  if (it == handlers_.end()) {
    LOG_DEBUG("xmpp", "unsupported iq {} {{{}}}{} from {}", type, ns != nullptr ? ns : "",
              name != nullptr ? name : "", attr(iq, "from"));
    return buildErrorReply(ctx, iq,
                           {"cancel", "service-unavailable", "Unsupported IQ request", {}});
  }
  try {
    IqOutcome outcome = it->second.fn(ctx, iq, payload);
    if (auto* err = std::get_if<IqError>(&outcome)) {
      return buildErrorReply(ctx, iq, std::move(*err));
    }
    return buildResultReply(ctx, iq, std::move(std::get<StanzaPtr>(outcome)));
  } catch (const std::exception& e) {
    LOG_ERROR("xmpp", "iq handler for {{{}}}{} failed: {}", ns, name, e.what());
    return buildErrorReply(ctx, iq, {"wait", "internal-server-error", e.what(), {}});
  }
}

bool IqDispatcher::isDeferred(xmpp_stanza_t* iq) const {
  const std::string type = attr(iq, "type");
  if ((type != "get" && type != "set") || !optionalAttr(iq, "id")) {
    return false;  // answered (or ignored) inline, as handle() does
  }
  xmpp_stanza_t* payload = nullptr;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(iq); c != nullptr; c = xmpp_stanza_get_next(c)) {
    if (xmpp_stanza_is_tag(c)) {
      if (payload != nullptr) {
        return false;  // two payloads: handle()'s bad-request, inline
      }
      payload = c;
    }
  }
  if (payload == nullptr) {
    return false;
  }
  const char* name = xmpp_stanza_get_name(payload);
  const char* ns = xmpp_stanza_get_ns(payload);
  const auto it = handlers_.find({name != nullptr ? name : "", ns != nullptr ? ns : ""});
  return it != handlers_.end() && it->second.deferred;
}

bool IqDispatcher::dispatch(xmpp_ctx_t* ctx, xmpp_stanza_t* iq, const IqReplyFn& reply,
                            std::chrono::steady_clock::time_point arrived) const {
  if (deferrable(iq)) {
    Deferred d;
    d.ctx = ctx;
    d.iq = StanzaPtr(xmpp_stanza_clone(iq));  // one more reference: outlives the parser's
    d.reply = reply;
    d.arrived = arrived;
    if (sink_(d)) {
      return true;
    }
    if (refused_++ % 1000 == 0) {  // the first, then one line per thousand
      LOG_WARN("xmpp",
               "too many requests queued: refusing {} from {} (resource-constraint; {} so far)",
               attr(iq, "id"), attr(iq, "from"), refused_);
    }
    reply(buildErrorReply(ctx, iq,
                          {"wait", "resource-constraint", "too many requests queued; retry", {}}));
    return false;
  }
  if (StanzaPtr r = handle(ctx, iq)) {
    reply(std::move(r));
  }
  return false;
}

}  // namespace jvb::xmpp
