// In-place ICE restart on the control thread, as Jicofo asks for it
// (Colibri2Session.restartIce: <endpoint id><transport ice-restart='true'/>)
// and as JVB answers (Colibri2ConferenceHandler.kt, IceTransport.kt): the
// reply's transport, the endpoint's tagged answer, repeats, superseded
// rounds, the media thread's verdict, refusals and bad requests; and what
// the compiler hands the media thread.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "control/conference.hpp"
#include "control/media_compiler.hpp"

namespace {

using namespace jvb::control;

constexpr const char* kMeeting = "0d1e2f3a-1111-2222-3333-444455556666";

struct Recorder : ConferenceListener {
  std::vector<Endpoint> changed;
  void endpointChanged(const std::string&, const Endpoint& e) override { changed.push_back(e); }
  void endpointExpired(const std::string&, const std::string&) override {}
  void conferenceExpired(const std::string&) override {}
};

EndpointRequest createEndpoint(const std::string& id) {
  EndpointRequest e;
  e.id = id;
  e.create = true;
  e.statsId = "Stats-" + id;
  TransportDesc t;
  t.iceControlling = true;
  t.sctpRequested = true;
  e.transport = t;
  e.capabilities = {"source-names"};
  return e;
}

ConferenceModify request(std::vector<EndpointRequest> endpoints, bool create = false) {
  ConferenceModify m;
  m.meetingId = kMeeting;
  if (create) {
    m.name = "room@conference.example.com";
    m.create = true;
  }
  m.endpoints = std::move(endpoints);
  return m;
}

// Exactly what Jicofo's Colibri2Session.restartIce sends for the endpoint.
EndpointRequest iceRestart(const std::string& id) {
  EndpointRequest e;
  e.id = id;
  e.statsId = "Stats-" + id;
  TransportDesc t;
  t.iceRestart = true;
  e.transport = t;
  return e;
}

// A transport-info forwarded by Jicofo (updateParticipant): the endpoint's
// ICE credentials, DTLS fingerprint and a candidate; `generation` tags the
// answer to an ICE restart (lib-jitsi-meet's _sendIceRestartTransportInfo).
EndpointRequest transportInfo(const std::string& id, const std::string& ufrag,
                              std::optional<int> generation) {
  EndpointRequest e;
  e.id = id;
  RemoteIce ice;
  ice.ufrag = ufrag;
  ice.pwd = ufrag + "-password-of-22-chars+";
  ice.rtcpMux = true;
  ice.fingerprints = {{"sha-256", "AB:CD:EF", "active"}};
  jvb::ice::Candidate c;
  c.foundation = "1";
  c.priority = 2122260223;
  c.ip = "192.0.2.7";
  c.port = 40000;
  c.type = "host";
  c.generation = generation.value_or(0);  // a browser numbers them per restart
  ice.candidates = {c};
  ice.iceGeneration = generation;
  TransportDesc t;
  t.ice = ice;
  e.transport = t;
  return e;
}

class IceRestartTest : public ::testing::Test {
 protected:
  ConferenceRegistry reg_;
  Recorder rec_;

  void SetUp() override {
    reg_.setListener(&rec_);
    ASSERT_TRUE(reg_.apply(request({createEndpoint("a")}, true), false).ok());
    ASSERT_TRUE(reg_.apply(request({transportInfo("a", "cli1", std::nullopt)}), false).ok());
    rec_.changed.clear();
  }
  const Endpoint& a() { return *reg_.findEndpoint(kMeeting, "a"); }
  EndpointReply restart() {
    const auto r = reg_.apply(request({iceRestart("a")}), false);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.reply.endpoints.size(), 1u);
    return r.ok() ? r.reply.endpoints.at(0) : EndpointReply{};
  }
};

TEST_F(IceRestartTest, BeforeIceConnectedTheCurrentTransportIsSignalledUntagged) {
  const auto before = a().localIce;
  const auto r = restart();
  EXPECT_EQ(r.iceRestart, IceRestartOutcome::kNotEstablished);
  ASSERT_TRUE(r.transport);
  EXPECT_EQ(r.transport->ice.ufrag, before.ufrag);
  EXPECT_EQ(r.transport->ice.pwd, before.pwd);
  EXPECT_FALSE(r.transport->iceGeneration);  // Jicofo: "the bridge kept its existing transport"
  EXPECT_FALSE(a().iceRestart);
  EXPECT_EQ(reg_.counts().iceRestarts.notEstablished, 1u);
  EXPECT_EQ(reg_.counts().iceRestarts.started, 0u);
}

TEST_F(IceRestartTest, ATaggedUpdateWithNoRoundIsOrdinaryUntilIceConnected) {
  // JVB (IceTransport.startConnectivityEstablishment): with no restart in
  // flight a tagged update goes to the established transport, which takes it
  // only while it has not connected.
  ASSERT_TRUE(reg_.apply(request({transportInfo("a", "cli5", 3)}), false).ok());
  EXPECT_EQ(a().remoteUfrag, "cli5");
  reg_.iceConnected(kMeeting, "a");
  ASSERT_TRUE(reg_.apply(request({transportInfo("a", "cli6", 3)}), false).ok());
  EXPECT_EQ(a().remoteUfrag, "cli5");
}

TEST_F(IceRestartTest, ARestartRoundFromRequestToCutOver) {
  reg_.iceConnected(kMeeting, "a");
  const Endpoint before = a();

  // 1. The request: fresh credentials tagged with generation 1; the same
  //    DTLS role, colibri-ws password; no <sctp> (the request had none).
  const auto r = restart();
  EXPECT_EQ(r.iceRestart, IceRestartOutcome::kStarted);
  ASSERT_TRUE(r.transport);
  ASSERT_TRUE(r.transport->iceGeneration);
  EXPECT_EQ(*r.transport->iceGeneration, 1);
  EXPECT_NE(r.transport->ice.ufrag, before.localIce.ufrag);
  EXPECT_NE(r.transport->ice.pwd, before.localIce.pwd);
  EXPECT_GE(r.transport->ice.ufrag.size(), 4u);  // RFC 8445 section 5.3
  EXPECT_GE(r.transport->ice.pwd.size(), 22u);
  EXPECT_EQ(r.transport->dtlsSetup, before.dtlsSetup);
  EXPECT_EQ(r.transport->websocketPassword, before.websocketPassword);
  EXPECT_FALSE(r.transport->sctp);
  // The established transport is untouched; the round is the endpoint's.
  EXPECT_EQ(a().localIce.ufrag, before.localIce.ufrag);
  EXPECT_EQ(a().remoteUfrag, "cli1");
  ASSERT_TRUE(a().iceRestart);
  EXPECT_EQ(a().iceRestart->generation, 1);
  EXPECT_EQ(a().iceRestart->local.ufrag, r.transport->ice.ufrag);
  EXPECT_FALSE(a().iceRestart->remoteKnown);
  ASSERT_EQ(rec_.changed.size(), 1u);  // the media thread gets the round
  ASSERT_TRUE(rec_.changed.back().iceRestart);

  // 2. A duplicate request before the endpoint answered: the same round.
  const auto again = restart();
  EXPECT_EQ(again.iceRestart, IceRestartOutcome::kRepeated);
  ASSERT_TRUE(again.transport && again.transport->iceGeneration);
  EXPECT_EQ(*again.transport->iceGeneration, 1);
  EXPECT_EQ(again.transport->ice.ufrag, r.transport->ice.ufrag);
  EXPECT_EQ(again.transport->ice.pwd, r.transport->ice.pwd);

  // 3. The endpoint's answer tagged with another generation changes nothing;
  //    an untagged update still belongs to the established transport.
  ASSERT_TRUE(reg_.apply(request({transportInfo("a", "stale", 7)}), false).ok());
  EXPECT_FALSE(a().iceRestart->remoteKnown);
  EXPECT_EQ(a().remoteUfrag, "cli1");

  // 4. Its answer for generation 1: the round's remote credentials (every
  //    candidate, whatever its own generation attribute), not the current ones.
  ASSERT_TRUE(reg_.apply(request({transportInfo("a", "cli2", 1)}), false).ok());
  ASSERT_TRUE(a().iceRestart->remoteKnown);
  EXPECT_EQ(a().iceRestart->remoteUfrag, "cli2");
  EXPECT_EQ(a().iceRestart->remotePwd, "cli2-password-of-22-chars+");
  ASSERT_EQ(a().iceRestart->remoteCandidates.size(), 1u);
  EXPECT_EQ(a().iceRestart->remoteCandidates[0].generation, 1);
  EXPECT_EQ(a().remoteUfrag, "cli1");
  // A repeat of the answer does not replace it.
  ASSERT_TRUE(reg_.apply(request({transportInfo("a", "cli3", 1)}), false).ok());
  EXPECT_EQ(a().iceRestart->remoteUfrag, "cli2");

  const auto compiled = MediaCompiler::compile(a());
  ASSERT_TRUE(compiled.iceRestart);
  EXPECT_EQ(compiled.iceRestart->generation, 1);
  EXPECT_EQ(compiled.iceRestart->local.ufrag, r.transport->ice.ufrag);
  EXPECT_EQ(compiled.iceRestart->remoteUfrag, "cli2");
  EXPECT_EQ(compiled.localIce.ufrag, before.localIce.ufrag);

  // 5. The media thread connected the new agent and cut over.
  reg_.iceRestartEnded(kMeeting, "a",
                       IceRestartEnd{1, true, a().iceRestart->local, "cli2", "cli2pwd"});
  EXPECT_FALSE(a().iceRestart);
  EXPECT_EQ(a().localIce.ufrag, r.transport->ice.ufrag);
  EXPECT_EQ(a().remoteUfrag, "cli2");
  EXPECT_EQ(a().remoteCandidates.size(), 1u);
  EXPECT_FALSE(MediaCompiler::compile(a()).iceRestart);
  // A late tagged answer is ignored: the transport keeps its credentials.
  ASSERT_TRUE(reg_.apply(request({transportInfo("a", "late", 1)}), false).ok());
  EXPECT_EQ(a().remoteUfrag, "cli2");

  const auto n = reg_.counts().iceRestarts;
  EXPECT_EQ(n.started, 1u);
  EXPECT_EQ(n.repeated, 1u);
  EXPECT_EQ(n.succeeded, 1u);
  EXPECT_EQ(n.failed, 0u);

  // The next restart is generation 2.
  const auto next = restart();
  ASSERT_TRUE(next.transport && next.transport->iceGeneration);
  EXPECT_EQ(*next.transport->iceGeneration, 2);
}

TEST_F(IceRestartTest, ARoundAlreadyAnsweredIsSupersededAndAnAbandonedOneKeepsTheOldTransport) {
  reg_.iceConnected(kMeeting, "a");
  const auto first = restart();
  ASSERT_TRUE(reg_.apply(request({transportInfo("a", "cli2", 1)}), false).ok());
  const auto second = restart();
  EXPECT_EQ(second.iceRestart, IceRestartOutcome::kSuperseded);
  ASSERT_TRUE(second.transport && second.transport->iceGeneration);
  EXPECT_EQ(*second.transport->iceGeneration, 2);
  EXPECT_NE(second.transport->ice.ufrag, first.transport->ice.ufrag);
  EXPECT_FALSE(a().iceRestart->remoteKnown);

  // The media thread abandons generation 2 (timeout): the old transport stays.
  const auto current = a().localIce;
  reg_.iceRestartEnded(kMeeting, "a", IceRestartEnd{2, false, {}, {}, {}});
  EXPECT_FALSE(a().iceRestart);
  EXPECT_EQ(a().localIce.ufrag, current.ufrag);
  EXPECT_EQ(a().remoteUfrag, "cli1");
  const auto n = reg_.counts().iceRestarts;
  EXPECT_EQ(n.started, 2u);
  EXPECT_EQ(n.superseded, 1u);
  EXPECT_EQ(n.failed, 1u);
  // Events for endpoints that are gone are ignored.
  reg_.iceRestartEnded(kMeeting, "nobody", IceRestartEnd{1, true, {}, {}, {}});
  reg_.iceConnected("no-such-meeting", "a");
}

TEST_F(IceRestartTest, DisabledRestartsAreAnsweredWithoutTransport) {
  reg_.setIceRestartEnabled(false);
  reg_.iceConnected(kMeeting, "a");
  const auto r = restart();
  EXPECT_EQ(r.iceRestart, IceRestartOutcome::kRejected);
  EXPECT_FALSE(r.transport);  // Jicofo: endpointIceRestartFailed -> re-invite
  EXPECT_FALSE(a().iceRestart);
  EXPECT_EQ(reg_.counts().iceRestarts.rejected, 1u);
}

TEST_F(IceRestartTest, BadRequestsGetJvbsErrorsAndChangeNothing) {
  reg_.iceConnected(kMeeting, "a");
  // An unknown endpoint: a transport is media, so it is not ignored
  // (Colibri2ConferenceHandler: UnknownEndpointException).
  const auto r = reg_.apply(request({iceRestart("ghost")}), false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->condition, ErrorCondition::kItemNotFound);
  EXPECT_EQ(r.error->reason, ErrorReason::kUnknownEndpoint);
  EXPECT_EQ(r.error->endpointId, "ghost");
  // An unknown conference.
  ConferenceModify other = request({iceRestart("a")});
  other.meetingId = "not-a-meeting";
  const auto r2 = reg_.apply(other, false);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error->reason, ErrorReason::kConferenceNotFound);
  // With a second endpoint in the request (JVB: one endpoint per media
  // request), and all-or-nothing: no round is armed by a failed request.
  const auto r3 = reg_.apply(request({iceRestart("a"), iceRestart("ghost")}), false);
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.error->condition, ErrorCondition::kFeatureNotImplemented);
  EXPECT_FALSE(a().iceRestart);
  EXPECT_EQ(a().iceGeneration, 0);
  EXPECT_EQ(reg_.counts().iceRestarts.started, 0u);
  // A create carrying ice-restart is an ordinary create (nothing to restart).
  EndpointRequest c = createEndpoint("b");
  c.transport->iceRestart = true;
  const auto r4 = reg_.apply(request({c}), false);
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(r4.reply.endpoints.at(0).iceRestart, IceRestartOutcome::kNone);
  ASSERT_TRUE(r4.reply.endpoints.at(0).transport);
  EXPECT_FALSE(r4.reply.endpoints.at(0).transport->iceGeneration);
}

}  // namespace
