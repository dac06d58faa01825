#include "common/redact.hpp"

#include <gtest/gtest.h>

namespace jvb {
namespace {

TEST(Redact, IcePasswordAttributesInXml) {
  EXPECT_EQ(redactSecrets("<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Hk3q' "
                          "pwd='zq9aaaaaaaaaaaaaaaaaaaaa'><rtcp-mux/></transport>"),
            "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Hk3q' "
            "pwd='***'><rtcp-mux/></transport>");
  EXPECT_EQ(redactSecrets(R"(<transport pwd="abc" ufrag="x"/>)"),
            R"(<transport pwd="***" ufrag="x"/>)");
}

TEST(Redact, WebsocketQueryPassword) {
  EXPECT_EQ(redactSecrets("GET /colibri-ws/default-id/c1/ep1?pwd=s3cr3tS3cr3tS3cr3tS3cr3t -> 101"),
            "GET /colibri-ws/default-id/c1/ep1?pwd=*** -> 101");
  EXPECT_EQ(redactSecrets("<web-socket url='wss://h/colibri-ws/id/c/e?pwd=abc&x=1'/>"),
            "<web-socket url='wss://h/colibri-ws/id/c/e?pwd=***&x=1'/>");
  EXPECT_EQ(redactSecrets("a?pwd=&b"), "a?pwd=&b");
}

TEST(Redact, OnlyWholeKeys) {
  EXPECT_EQ(redactSecrets("xpwd=keep mypassword=keep"), "xpwd=keep mypassword=keep");
  EXPECT_EQ(redactSecrets("password=hunter2 ok"), "password=*** ok");
}

TEST(Redact, SaslPayloads) {
  EXPECT_EQ(redactSecrets("SENT: <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                          "mechanism='PLAIN'>AGp2YgBodW50ZXIy</auth>"),
            "SENT: <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>***</auth>");
  EXPECT_EQ(redactSecrets("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1iaXdz</response>"),
            "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>***</response>");
  // An empty element and look-alike names stay as they are.
  EXPECT_EQ(redactSecrets("<auth/><authority>x</authority><response/>"),
            "<auth/><authority>x</authority><response/>");
}

TEST(Redact, UnterminatedInputIsMaskedToTheEnd) {
  EXPECT_EQ(redactSecrets("pwd='abc"), "pwd='***");
  EXPECT_EQ(redactSecrets("<auth>abc"), "<auth>***");
  EXPECT_EQ(redactSecrets("<auth"), "<auth");
  EXPECT_EQ(redactSecrets(""), "");
}

TEST(Redact, TextWithoutSecretsUnchanged) {
  const std::string s = "conference-modify meeting-id=m1 endpoint=ep1(create)";
  EXPECT_EQ(redactSecrets(s), s);
}

}  // namespace
}  // namespace jvb
