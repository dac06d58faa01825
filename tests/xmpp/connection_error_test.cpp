#include "xmpp/connection_error.hpp"

#include <gtest/gtest.h>
#include <strophe.h>

#include <cerrno>

namespace {

using jvb::xmpp::ConnectionFacts;
using jvb::xmpp::describeConnectionFailure;

ConnectionFacts base() {
  ConnectionFacts f;
  f.host = "xmpp.example.com";
  f.port = 5222;
  f.jid = "jvb@tech.example.com";
  return f;
}

bool has(const std::string& text, const char* needle) {
  return text.find(needle) != std::string::npos;
}

TEST(ConnectionError, NamesTheCause) {
  auto f = base();
  f.startFailed = true;
  f.resolveError = "Name or service not known";
  EXPECT_TRUE(has(describeConnectionFailure(f),
                  "DNS failure: cannot resolve xmpp.example.com (Name or service not known)"));
  f.resolveError.clear();
  EXPECT_TRUE(has(describeConnectionFailure(f), "cannot connect to xmpp.example.com:5222"));

  f = base();
  f.error = ECONNREFUSED;
  EXPECT_TRUE(has(describeConnectionFailure(f), "connection refused by xmpp.example.com:5222"));
  f.error = ETIMEDOUT;
  EXPECT_TRUE(has(describeConnectionFailure(f), "connecting to xmpp.example.com:5222 timed out"));

  // A TLS failure's `error` is an SSL_ERROR_* code, not an errno: never strerror'd.
  f = base();
  f.error = 1;
  f.tlsFailure = "Couldn't start TLS! error -2 tls_error 1";
  const auto tls = describeConnectionFailure(f);
  EXPECT_TRUE(has(tls, "TLS failure with xmpp.example.com:5222")) << tls;
  EXPECT_FALSE(has(tls, "Operation not permitted")) << tls;

  f = base();
  f.authFailure = "SASL SCRAM-SHA-1 auth failed";
  EXPECT_TRUE(has(describeConnectionFailure(f), "authentication failed for jvb@tech.example.com"));

  f = base();
  f.streamError = true;
  f.streamCondition = jvb::xmpp::streamErrorName(XMPP_SE_HOST_UNKNOWN);
  EXPECT_TRUE(has(describeConnectionFailure(f), "stream with error host-unknown"));
  EXPECT_TRUE(has(describeConnectionFailure(f), "check DOMAIN"));

  f = base();
  f.established = true;
  EXPECT_EQ(describeConnectionFailure(f), "disconnected by the server");
  f.error = ECONNRESET;
  EXPECT_TRUE(has(describeConnectionFailure(f), "connection reset by"));
}

TEST(ConnectionError, ResolvesLiterals) {
  EXPECT_EQ(jvb::xmpp::resolveError("127.0.0.1"), "");
}

}  // namespace
