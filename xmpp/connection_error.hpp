#pragma once
// Why an XMPP connection attempt failed, in words an operator can act on
// (DNS failure, connection refused, TLS failure, authentication failure,
// the server's stream error) instead of libstrophe's numbers.
//
// libstrophe 0.12 (conn.c, event.c, auth.c, sock.c) reports a failure as:
//  - xmpp_connect_client() returning XMPP_EINT at once when sock_connect()
//    got nothing: getaddrinfo() failed, or every address failed before
//    connect() could start;
//  - XMPP_CONN_DISCONNECT with `error` an errno (ECONNREFUSED, ETIMEDOUT for
//    its connect timeout, ECONNRESET, ...) once the socket fails;
//  - the same with `error` an OpenSSL SSL_ERROR_* code (not an errno) when
//    the TLS handshake failed, and only log lines to tell so ("Couldn't start
//    TLS!", "TLS is not supported, but set as mandatory ...", "No certfail
//    handler set ...");
//  - the same with error 0 and no stream error after a SASL <failure/>: only
//    log lines say so ("SASL ... auth failed", "Cannot authenticate with
//    known methods");
//  - `stream_error` when the server sent <stream:error/>.
// Context records those log lines (strophe.hpp); this turns the facts into
// one sentence.
#include <string>
#include <string_view>

namespace jvb::xmpp {

struct ConnectionFacts {
  std::string host;
  int port = 0;
  std::string jid;
  bool startFailed = false;  // xmpp_connect_client() failed at once
  std::string resolveError;  // startFailed: getaddrinfo's message ("" when it resolves)
  bool established = false;  // XMPP_CONN_CONNECT was seen for this attempt
  int error = 0;             // the conn handler's `error`
  bool streamError = false;
  std::string streamCondition;  // e.g. "host-unknown" (empty: unknown)
  std::string streamText;
  std::string tlsFailure;   // libstrophe's TLS log line, if any
  std::string authFailure;  // libstrophe's SASL log line, if any
};

// "DNS failure: cannot resolve example.invalid (Name or service not known)",
// "connection refused by 127.0.0.1:5222", "TLS failure (...)",
// "authentication failed for jvb@tech.example.com (...)", ...
std::string describeConnectionFailure(const ConnectionFacts& facts);

// A <stream:error/> condition's name for libstrophe's xmpp_error_type_t.
std::string_view streamErrorName(int type);

// getaddrinfo(host) for the message only: "" when it resolves.
std::string resolveError(const std::string& host);

}  // namespace jvb::xmpp
