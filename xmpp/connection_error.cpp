#include "xmpp/connection_error.hpp"

#include <netdb.h>
#include <strophe.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/log.hpp"

namespace jvb::xmpp {

namespace {

std::string endpoint(const ConnectionFacts& f) {
  return f.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", f.host, f.port)
                                               : fmt::format("{}:{}", f.host, f.port);
}

}  // namespace

std::string_view streamErrorName(int type) {
  switch (static_cast<xmpp_error_type_t>(type)) {
    case XMPP_SE_BAD_FORMAT:
      return "bad-format";
    case XMPP_SE_BAD_NS_PREFIX:
      return "bad-namespace-prefix";
    case XMPP_SE_CONFLICT:
      return "conflict";
    case XMPP_SE_CONN_TIMEOUT:
      return "connection-timeout";
    case XMPP_SE_HOST_GONE:
      return "host-gone";
    case XMPP_SE_HOST_UNKNOWN:
      return "host-unknown";
    case XMPP_SE_IMPROPER_ADDR:
      return "improper-addressing";
    case XMPP_SE_INTERNAL_SERVER_ERROR:
      return "internal-server-error";
    case XMPP_SE_INVALID_FROM:
      return "invalid-from";
    case XMPP_SE_INVALID_ID:
      return "invalid-id";
    case XMPP_SE_INVALID_NS:
      return "invalid-namespace";
    case XMPP_SE_INVALID_XML:
      return "invalid-xml";
    case XMPP_SE_NOT_AUTHORIZED:
      return "not-authorized";
    case XMPP_SE_POLICY_VIOLATION:
      return "policy-violation";
    case XMPP_SE_REMOTE_CONN_FAILED:
      return "remote-connection-failed";
    case XMPP_SE_RESOURCE_CONSTRAINT:
      return "resource-constraint";
    case XMPP_SE_RESTRICTED_XML:
      return "restricted-xml";
    case XMPP_SE_SEE_OTHER_HOST:
      return "see-other-host";
    case XMPP_SE_SYSTEM_SHUTDOWN:
      return "system-shutdown";
    case XMPP_SE_UNDEFINED_CONDITION:
      return "undefined-condition";
    case XMPP_SE_UNSUPPORTED_ENCODING:
      return "unsupported-encoding";
    case XMPP_SE_UNSUPPORTED_STANZA_TYPE:
      return "unsupported-stanza-type";
    case XMPP_SE_UNSUPPORTED_VERSION:
      return "unsupported-version";
    case XMPP_SE_XML_NOT_WELL_FORMED:
      return "xml-not-well-formed";
  }
  return "";
}

std::string resolveError(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (res != nullptr) {
    ::freeaddrinfo(res);
  }
  return rc == 0 ? std::string() : std::string(::gai_strerror(rc));
}

std::string describeConnectionFailure(const ConnectionFacts& f) {
  if (f.startFailed) {
    if (!f.resolveError.empty()) {
      return fmt::format("DNS failure: cannot resolve {} ({})", f.host, f.resolveError);
    }
    return fmt::format("cannot connect to {}: no address of it could be reached", endpoint(f));
  }
  if (f.streamError) {
    std::string out = fmt::format("the server closed the stream with error {}",
                                  f.streamCondition.empty() ? "?" : f.streamCondition);
    if (f.streamCondition == "host-unknown") {
      out += fmt::format(" (it does not serve the domain of {}: check DOMAIN)", f.jid);
    } else if (f.streamCondition == "not-authorized") {
      out += fmt::format(" (authentication failed for {}: check USERNAME and PASSWORD)", f.jid);
    } else if (f.streamCondition == "conflict") {
      out +=
          " (another session took this resource: a second bridge with the same USERNAME, "
          "config id and MUC_NICKNAME?)";
    }
    if (!f.streamText.empty()) {
      out += fmt::format(": {}", f.streamText);
    }
    return out;
  }
  if (!f.tlsFailure.empty()) {
    return fmt::format(
        "TLS failure with {} ({}; see SECURITY_MODE and DISABLE_CERTIFICATE_VERIFICATION)",
        endpoint(f), f.tlsFailure);
  }
  if (!f.authFailure.empty()) {
    return fmt::format("authentication failed for {} ({}; check USERNAME and PASSWORD)", f.jid,
                       f.authFailure);
  }
  switch (f.error) {
    case 0:
      return f.established
                 ? std::string("disconnected by the server")
                 : fmt::format("{} closed the connection before login completed", endpoint(f));
    case ECONNREFUSED:
      return fmt::format("connection refused by {} (nothing listens there?)", endpoint(f));
    case ETIMEDOUT:
      return f.established ? fmt::format("connection to {} timed out", endpoint(f))
                           : fmt::format("connecting to {} timed out", endpoint(f));
    case EHOSTUNREACH:
    case ENETUNREACH:
      return fmt::format("{} is unreachable ({})", endpoint(f), std::strerror(f.error));
    case ECONNRESET:
      return fmt::format("connection reset by {}", endpoint(f));
    default:
      return fmt::format("connection to {} failed: {}", endpoint(f), std::strerror(f.error));
  }
}

}  // namespace jvb::xmpp
