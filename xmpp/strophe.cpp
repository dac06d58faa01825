#include "xmpp/strophe.hpp"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "common/log.hpp"
#include "common/redact.hpp"

namespace jvb::xmpp {

namespace {

void logBridge(void* self, xmpp_log_level_t level, const char* area, const char* msg) {
  if (self != nullptr && area != nullptr && msg != nullptr) {
    static_cast<Context*>(self)->noteLog(level, area, msg);
  }
  // libstrophe logs every stanza at debug: keep that at our trace level. Stanzas carry ICE and
  // colibri-ws passwords and the SASL exchange: masked (the macros format only when enabled).
  switch (level) {
    case XMPP_LEVEL_ERROR:
      LOG_ERROR("strophe", "{}: {}", area, redactSecrets(msg));
      break;
    case XMPP_LEVEL_WARN:
      LOG_WARN("strophe", "{}: {}", area, redactSecrets(msg));
      break;
    case XMPP_LEVEL_INFO:
      LOG_DEBUG("strophe", "{}: {}", area, redactSecrets(msg));
      break;
    case XMPP_LEVEL_DEBUG:
      LOG_TRACE("strophe", "{}: {}", area, redactSecrets(msg));
      break;
  }
}

// Every live Context, for Context::of (a handful per process).
std::mutex& registryMutex() {
  static std::mutex m;
  return m;
}
std::vector<Context*>& registry() {
  static std::vector<Context*> r;
  return r;
}

}  // namespace

Context* Context::of(xmpp_ctx_t* ctx) {
  const std::lock_guard<std::mutex> lock(registryMutex());
  for (Context* c : registry()) {
    if (c->get() == ctx) {
      return c;
    }
  }
  return nullptr;
}

void Context::noteLog(xmpp_log_level_t, const char* /*area*/, const char* msg) {
  const std::string_view m(msg);
  // libstrophe 0.12's words (auth.c, conn.c, tls_openssl.c).
  constexpr std::string_view kConnectFailed = "connection failed, error ";
  if (m.rfind(kConnectFailed, 0) == 0) {
    hints_.connectError = std::atoi(std::string(m.substr(kConnectFailed.size())).c_str());
    return;
  }
  // ("Certificate verification FAILED" is logged under TRUST_TLS too, where
  // the connection goes on: not a failure by itself.)
  if (m.find("Couldn't start TLS") != std::string_view::npos ||
      m.find("TLS is not supported") != std::string_view::npos ||
      m.find("No certfail handler") != std::string_view::npos) {
    if (hints_.tls.empty()) {
      hints_.tls.assign(m.substr(0, 200));
    }
  } else if ((m.find("SASL") != std::string_view::npos &&
              m.find("auth failed") != std::string_view::npos) ||
             m.find("Cannot authenticate") != std::string_view::npos) {
    if (hints_.auth.empty()) {  // the first mechanism's failure says most
      hints_.auth.assign(m.substr(0, 200));
    }
  }
}

Context::Context() {
  log_.handler = &logBridge;
  log_.userdata = this;
  ctx_ = xmpp_ctx_new(nullptr, &log_);
  if (ctx_ == nullptr) {
    throw std::bad_alloc();
  }
  const std::lock_guard<std::mutex> lock(registryMutex());
  registry().push_back(this);
}

Context::~Context() {
  {
    const std::lock_guard<std::mutex> lock(registryMutex());
    auto& r = registry();
    r.erase(std::remove(r.begin(), r.end(), this), r.end());
  }
  xmpp_ctx_free(ctx_);
}

std::string attr(xmpp_stanza_t* s, const char* name) {
  const char* v = s != nullptr ? xmpp_stanza_get_attribute(s, name) : nullptr;
  return v != nullptr ? std::string(v) : std::string();
}

std::optional<std::string> optionalAttr(xmpp_stanza_t* s, const char* name) {
  const char* v = s != nullptr ? xmpp_stanza_get_attribute(s, name) : nullptr;
  if (v == nullptr) {
    return std::nullopt;
  }
  return std::string(v);
}

std::string text(xmpp_stanza_t* s) {
  if (s == nullptr) {
    return {};
  }
  char* t = xmpp_stanza_get_text(s);
  if (t == nullptr) {
    return {};
  }
  std::string out(t);
  xmpp_free(xmpp_stanza_get_context(s), t);
  return out;
}

std::string toText(xmpp_stanza_t* s) {
  char* buf = nullptr;
  size_t len = 0;
  if (s == nullptr || xmpp_stanza_to_text(s, &buf, &len) != XMPP_EOK) {
    return {};
  }
  std::string out(buf, len);
  xmpp_free(xmpp_stanza_get_context(s), buf);
  return out;
}

StanzaPtr element(xmpp_ctx_t* ctx, const char* name, const char* ns) {
  StanzaPtr s(xmpp_stanza_new(ctx));
  xmpp_stanza_set_name(s.get(), name);
  if (ns != nullptr) {
    xmpp_stanza_set_ns(s.get(), ns);
  }
  return s;
}

void adopt(xmpp_stanza_t* parent, StanzaPtr child) {
  xmpp_stanza_add_child_ex(parent, child.release(), 0);
}

void addText(xmpp_ctx_t* ctx, xmpp_stanza_t* parent, std::string_view value) {
  StanzaPtr t(xmpp_stanza_new(ctx));
  xmpp_stanza_set_text_with_size(t.get(), value.data(), value.size());
  adopt(parent, std::move(t));
}

StanzaPtr parse(xmpp_ctx_t* ctx, const std::string& xml) {
  return StanzaPtr(xmpp_stanza_new_from_string(ctx, xml.c_str()));
}

std::string bareJid(std::string_view jid) {
  const auto slash = jid.find('/');
  return std::string(jid.substr(0, slash));
}

std::string resourceOf(std::string_view jid) {
  const auto slash = jid.find('/');
  return slash == std::string_view::npos ? std::string() : std::string(jid.substr(slash + 1));
}

}  // namespace jvb::xmpp
