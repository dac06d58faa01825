// colibri-ws authorisation: the URL JVB's clients dial, checked against the
// Colibri2 state (server id, internal conference id, endpoint, password).
#include "control/colibri_ws.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace jvb::control;

ConferenceModify createWith(const std::string& endpointId) {
  ConferenceModify m;
  m.meetingId = "11111111-2222-3333-4444-555555555555";
  m.name = "room@conference.example.com";
  m.create = true;
  EndpointRequest e;
  e.id = endpointId;
  e.create = true;
  e.mediaBlocks = 1;
  MediaDesc audio;
  audio.payloadTypes = {PayloadType{111, "opus", 48000, 2, {}, {}}};
  e.audio = audio;
  e.transport = TransportDesc{};
  e.capabilities = {"source-names"};  // mandatory on create
  m.endpoints.push_back(e);
  return m;
}

class ColibriWsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto r = registry_.apply(createWith("ep1"), false);
    ASSERT_TRUE(r.ok()) << r.error->text;
    internalId_ = r.reply.internalId;
    password_ = registry_.findEndpoint(r.reply.meetingId, "ep1")->websocketPassword;
    ASSERT_EQ(password_.size(), 24u);
  }
  std::string url(const std::string& server, const std::string& conf, const std::string& ep,
                  const std::string& pwd) {
    return "/colibri-ws/" + server + "/" + conf + "/" + ep + "?pwd=" + pwd;
  }
  ConferenceRegistry registry_;
  std::string internalId_;
  std::string password_;
};

TEST(ColibriWsTarget, SplitsPathAndPassword) {
  const auto t = parseColibriWsTarget("/colibri-ws/default-id/abc123/ep%201?x=1&pwd=S3cr%65t");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->serverId, "default-id");
  EXPECT_EQ(t->conferenceId, "abc123");
  EXPECT_EQ(t->endpointId, "ep 1");
  EXPECT_EQ(t->password, "S3cret");
  const auto noPwd = parseColibriWsTarget("/colibri-ws/a/b/c");
  ASSERT_TRUE(noPwd);
  EXPECT_TRUE(noPwd->password.empty());
}

TEST(ColibriWsTarget, RefusesOtherShapes) {
  for (const char* bad : {"/", "/colibri-ws/", "/colibri-ws/a/b", "/colibri-ws/a/b/c/d",
                          "/colibri-ws/a//c", "/colibri-ws/a/b/c/", "/colibri-relay-ws/a/b/c",
                          "/about/health", "/colibri-ws/a/b/%zz", "/colibri-ws/a/b/c?pwd=%4", ""}) {
    EXPECT_FALSE(parseColibriWsTarget(bad)) << bad;
  }
}

TEST_F(ColibriWsTest, TheRightPasswordOpensTheEndpointsChannel) {
  const auto v =
      authorizeColibriWs(url("default-id", internalId_, "ep1", password_), "default-id", registry_);
  EXPECT_EQ(v.status, 101u) << v.reason;
  EXPECT_EQ(v.meetingId, "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(v.endpointId, "ep1");
}

TEST_F(ColibriWsTest, RefusalsAsJvbAnswersThem) {
  auto check = [&](const std::string& target, unsigned status, const std::string& reason) {
    const auto v = authorizeColibriWs(target, "default-id", registry_);
    EXPECT_EQ(v.status, status) << target;
    EXPECT_EQ(v.reason, reason) << target;
    EXPECT_TRUE(v.endpointId.empty());
  };
  check(url("other-id", internalId_, "ep1", password_), 404, "server ID mismatch");
  check("/colibri-ws/default-id/" + internalId_, 404, "not a colibri-ws path");
  // The meeting-id is not the conference id of the URL.
  check(url("default-id", "11111111-2222-3333-4444-555555555555", "ep1", password_), 403,
        "conference not found");
  check(url("default-id", internalId_, "ep2", password_), 403, "endpoint not found");
  check(url("default-id", internalId_, "ep1", "wrong"), 403, "bad password");
  std::string flipped = password_;
  flipped[23] = flipped[23] == 'a' ? 'b' : 'a';
  check(url("default-id", internalId_, "ep1", flipped), 403, "bad password");
  check("/colibri-ws/default-id/" + internalId_ + "/ep1", 403, "bad password");
}

}  // namespace
