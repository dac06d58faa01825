// ConferenceRegistry: JVB's Colibri2 rules on typed requests (no XML here).
#include "control/conference.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace {

using namespace jvb::control;
using Clock = ConferenceRegistry::Clock;

constexpr const char* kMeeting = "6f1c2d3e-aaaa-bbbb-cccc-0123456789ab";

struct Recorder : ConferenceListener {
  std::vector<std::string> events;
  std::vector<Endpoint> changed;
  void endpointChanged(const std::string& m, const Endpoint& e) override {
    events.push_back("changed " + m + " " + e.id);
    changed.push_back(e);
  }
  void endpointExpired(const std::string& m, const std::string& id) override {
    events.push_back("expired " + m + " " + id);
  }
  void conferenceExpired(const std::string& m) override { events.push_back("conference " + m); }
};

MediaDesc opusAudio() {
  MediaDesc m;
  PayloadType opus{
      111, "opus", 48000, 2, {{"minptime", "10"}, {"useinbandfec", "1"}}, {{"transport-cc", ""}}};
  PayloadType dtmf{126, "telephone-event", 8000, 1, {}, {}};
  m.payloadTypes = {opus, dtmf};
  m.headerExtensions = {{1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"},
                        {10, "urn:ietf:params:rtp-hdrext:sdes:mid"},
                        {7, "urn:example:unknown-extension"}};
  m.extmapAllowMixed = true;
  return m;
}

Sources audioSources(const std::string& name, std::vector<uint32_t> ssrcs) {
  Sources s;
  AudioMediaSource ms{name, false, {}, {}};
  for (uint32_t ssrc : ssrcs) {
    ms.sources.push_back({ssrc, name});
  }
  s.audio.push_back(ms);
  return s;
}

// The allocation request Jicofo sends for one participant.
EndpointRequest createEndpoint(const std::string& id, bool sctp = true) {
  EndpointRequest e;
  e.id = id;
  e.create = true;
  e.statsId = "Stats-" + id;
  e.mediaBlocks = 2;
  e.audio = opusAudio();
  e.videoMediaSeen = true;
  TransportDesc t;
  t.iceControlling = true;
  t.sctpRequested = sctp;
  e.transport = t;
  e.sources = audioSources(id + "-a0", {1234567890u});
  e.capabilities = {"source-names", "ssrc-rewriting"};
  return e;
}

ConferenceModify createConference(std::vector<EndpointRequest> endpoints = {}) {
  ConferenceModify m;
  m.meetingId = kMeeting;
  m.name = "room1@conference.example.com";
  m.create = true;
  m.endpoints = std::move(endpoints);
  return m;
}

ConferenceModify update(std::vector<EndpointRequest> endpoints) {
  ConferenceModify m;
  m.meetingId = kMeeting;
  m.endpoints = std::move(endpoints);
  return m;
}

EndpointRequest plain(const std::string& id) {
  EndpointRequest e;
  e.id = id;
  return e;
}

EndpointRequest forceMute(const std::string& id) {
  EndpointRequest e = plain(id);
  e.forceMute = ForceMute{true, false};
  return e;
}

EndpointRequest expire(const std::string& id) {
  EndpointRequest e = plain(id);
  e.expire = true;
  return e;
}

EndpointRequest transportUpdate(const std::string& id, const std::string& setup) {
  EndpointRequest e = plain(id);
  RemoteIce ice;
  ice.ufrag = "Hk3q";
  ice.pwd = "zq9remotepasswordzq9remote";
  ice.rtcpMux = true;
  ice.fingerprints = {{"sha-256", "12:34:56", setup}};
  jvb::ice::Candidate c;
  c.foundation = "842";
  c.priority = 2122260223;
  c.ip = "192.0.2.10";
  c.port = 53211;
  c.type = "host";
  c.network = 1;
  c.id = "c0";
  ice.candidates = {c};
  TransportDesc t;
  t.ice = ice;
  e.transport = t;
  return e;
}

class RegistryTest : public ::testing::Test {
 protected:
  Clock::time_point now_ = Clock::time_point{} + std::chrono::hours(1);
  ConferenceRegistry reg_{[this] { return now_; }};
  Recorder rec_;

  void SetUp() override { reg_.setListener(&rec_); }

  // A conference with endpoints "a" and "b", listener events cleared.
  void twoEndpoints() {
    ASSERT_TRUE(reg_.apply(createConference({createEndpoint("a")}), false).ok());
    ASSERT_TRUE(reg_.apply(update({createEndpoint("b")}), false).ok());
    rec_.events.clear();
    rec_.changed.clear();
  }

  void expectError(const ModifyResult& r, ErrorCondition c, ErrorReason reason,
                   const std::string& text) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error->condition, c);
    EXPECT_EQ(r.error->reason, reason);
    EXPECT_EQ(r.error->text, text);
  }
};

// A printable snapshot of everything the registry holds (all-or-nothing checks).
std::string snapshot(const ConferenceRegistry& reg) {
  std::string s;
  for (const auto& [mid, c] : reg.conferences()) {
    s += mid + "|" + c.internalId + "|" + std::to_string(c.feedbackAudioSsrc) + "\n";
    for (const auto& [id, e] : c.endpoints) {
      s += " " + id + " " + e.statsId + " " + e.localIce.ufrag + " " + e.dtlsSetup +
           " pts=" + std::to_string(e.audioPayloadTypes.size()) +
           " exts=" + std::to_string(e.audioHeaderExtensions.size()) +
           " src=" + std::to_string(e.audioSources.size()) +
           " fp=" + std::to_string(e.remoteFingerprints.size()) +
           " cand=" + std::to_string(e.remoteCandidates.size()) +
           " mute=" + std::to_string(e.forceMuteAudio) + " ufrag=" + e.remoteUfrag + "\n";
    }
  }
  const auto n = reg.counts();
  s += std::to_string(n.totalConferencesCreated) + "/" +
       std::to_string(n.totalConferencesCompleted) + "/" + std::to_string(n.totalParticipants);
  return s;
}

TEST_F(RegistryTest, ConferenceAndEndpointCreateAsJicofoSendsIt) {
  const auto r = reg_.apply(createConference({createEndpoint("9a8b7c6d")}), false);
  ASSERT_TRUE(r.ok());
  const ModifyReply& reply = r.reply;
  EXPECT_TRUE(reply.conferenceCreated);
  EXPECT_FALSE(reply.conferenceExpired);
  EXPECT_TRUE(reply.feedbackSources);
  ASSERT_EQ(reply.endpoints.size(), 1u);
  const EndpointReply& er = reply.endpoints[0];
  EXPECT_EQ(er.id, "9a8b7c6d");
  EXPECT_FALSE(er.expired);
  ASSERT_TRUE(er.transport);
  EXPECT_EQ(er.transport->ice.ufrag.size(), 8u);
  EXPECT_EQ(er.transport->ice.pwd.size(), 24u);
  EXPECT_EQ(er.transport->dtlsSetup, "actpass");
  EXPECT_TRUE(er.transport->sctp);
  ASSERT_EQ(er.transport->websocketPassword.size(), 24u);
  EXPECT_TRUE(std::all_of(er.transport->websocketPassword.begin(),
                          er.transport->websocketPassword.end(),
                          [](unsigned char c) { return std::isalnum(c) != 0; }));

  const Conference* c = reg_.findByMeetingId(kMeeting);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name, "room1@conference.example.com");
  ASSERT_EQ(c->internalId.size(), 16u);
  EXPECT_TRUE(std::all_of(c->internalId.begin(), c->internalId.end(),
                          [](char ch) { return std::isxdigit(ch) && !std::isupper(ch); }));
  EXPECT_EQ(reply.internalId, c->internalId);
  EXPECT_EQ(reply.meetingId, kMeeting);
  EXPECT_EQ(reply.feedbackAudioSsrc, c->feedbackAudioSsrc);
  EXPECT_EQ(reply.feedbackVideoSsrc, c->feedbackVideoSsrc);
  EXPECT_NE(c->feedbackAudioSsrc, c->feedbackVideoSsrc);
  EXPECT_EQ(c->createdAt, now_);
  EXPECT_EQ(reg_.findByInternalId(c->internalId), c);

  const Endpoint* e = reg_.findEndpoint(kMeeting, "9a8b7c6d");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->statsId, "Stats-9a8b7c6d");
  EXPECT_TRUE(e->iceControlling);
  EXPECT_TRUE(e->sctpRequested);
  EXPECT_EQ(e->localIce.ufrag, er.transport->ice.ufrag);
  EXPECT_EQ(e->localIce.pwd, er.transport->ice.pwd);
  EXPECT_EQ(e->websocketPassword, er.transport->websocketPassword);
  ASSERT_EQ(e->audioPayloadTypes.size(), 2u);
  EXPECT_EQ(e->audioPayloadTypes[0].name, "opus");
  EXPECT_EQ(e->audioPayloadTypes[0].parameters.at("useinbandfec"), "1");
  ASSERT_EQ(e->audioHeaderExtensions.size(), 2u);  // the unknown URI is dropped
  EXPECT_EQ(e->audioHeaderExtensions[0].uri, "urn:ietf:params:rtp-hdrext:ssrc-audio-level");
  EXPECT_TRUE(e->extmapAllowMixed);
  EXPECT_TRUE(e->acceptsAudio);
  EXPECT_TRUE(e->ssrcRewriting());
  ASSERT_EQ(e->audioSources.size(), 1u);
  EXPECT_EQ(e->audioSources.at(1234567890u).name, "9a8b7c6d-a0");
  EXPECT_FALSE(e->visitor);
  EXPECT_TRUE(e->remoteFingerprints.empty());

  ASSERT_EQ(rec_.events,
            std::vector<std::string>{std::string("changed ") + kMeeting + " 9a8b7c6d"});
  EXPECT_EQ(rec_.changed[0].localIce.ufrag, e->localIce.ufrag);

  const auto n = reg_.counts();
  EXPECT_EQ(n.conferences, 1u);
  EXPECT_EQ(n.endpoints, 1u);
  EXPECT_EQ(n.largestConference, 1u);
  EXPECT_EQ(n.endpointsWithAudioSources, 1u);
  EXPECT_EQ(n.totalConferencesCreated, 1u);
  EXPECT_EQ(n.totalParticipants, 1u);
}

TEST_F(RegistryTest, ConferenceLevelErrors) {
  expectError(reg_.apply(update({forceMute("a")}), false), ErrorCondition::kItemNotFound,
              ErrorReason::kConferenceNotFound,
              std::string("Conference not found for ID: ") + kMeeting);
  expectError(reg_.apply(createConference(), true), ErrorCondition::kServiceUnavailable,
              ErrorReason::kGracefulShutdown, "In graceful shutdown");
  auto badName = createConference();
  badName.name = "not a jid";
  expectError(reg_.apply(badName, false), ErrorCondition::kBadRequest, ErrorReason::kNone,
              "Invalid conference name (not a JID)");
  EXPECT_TRUE(reg_.conferences().empty());

  ASSERT_TRUE(reg_.apply(createConference(), false).ok());
  // Graceful shutdown still lets existing conferences take endpoints...
  EXPECT_TRUE(reg_.apply(update({createEndpoint("a")}), true).ok());
  // ...and a second create of the same meeting-id is a conflict, shutdown or not.
  expectError(reg_.apply(createConference(), false), ErrorCondition::kConflict,
              ErrorReason::kConferenceAlreadyExists,
              std::string("Conference already exists for ID: ") + kMeeting);
  expectError(reg_.apply(createConference(), true), ErrorCondition::kConflict,
              ErrorReason::kConferenceAlreadyExists,
              std::string("Conference already exists for ID: ") + kMeeting);
}

TEST(ConferenceName, ParsesAsJvbsEntityBareJid) {
  EXPECT_EQ(entityBareJid("room1@conference.example.com"), "room1@conference.example.com");
  // jxmpp's entityBareFrom drops a resource.
  EXPECT_EQ(entityBareJid("room1@conference.example.com/focus"), "room1@conference.example.com");
  for (const char* bad :
       {"", "conference.example.com", "@conference.example.com", "room1@", "room1@/x", "a/b@c",
        "with space@example.com", "a:b@example.com", "a@b@c", "a<b@example.com"}) {
    EXPECT_FALSE(entityBareJid(bad)) << bad;
  }
}

TEST_F(RegistryTest, RequestShapesJvbRefuses) {
  ASSERT_TRUE(reg_.apply(createConference({createEndpoint("a")}), false).ok());
  auto mixed = update({forceMute("a")});
  mixed.relays = 1;
  expectError(reg_.apply(mixed, false), ErrorCondition::kFeatureNotImplemented,
              ErrorReason::kFeatureNotImplemented,
              "Using both 'relay' and 'endpoint' in a request");
  expectError(reg_.apply(update({createEndpoint("b"), forceMute("a")}), false),
              ErrorCondition::kFeatureNotImplemented, ErrorReason::kFeatureNotImplemented,
              "Creating or updating media, sources or transport for more than one endpoint in a "
              "request.");
  expectError(reg_.apply(update({transportUpdate("a", "active"), forceMute("a")}), false),
              ErrorCondition::kFeatureNotImplemented, ErrorReason::kFeatureNotImplemented,
              "Creating or updating media, sources or transport for more than one endpoint in a "
              "request.");
  auto twoRelays = update({});
  twoRelays.relays = 2;
  expectError(reg_.apply(twoRelays, false), ErrorCondition::kFeatureNotImplemented,
              ErrorReason::kFeatureNotImplemented, "Updating more than one 'relay' in a request.");
  auto oneRelay = update({});
  oneRelay.relays = 1;
  expectError(reg_.apply(oneRelay, false), ErrorCondition::kFeatureNotImplemented,
              ErrorReason::kNone, "Octo is disabled in configuration.");
  auto connects = update({forceMute("a")});
  connects.hasConnects = true;
  expectError(reg_.apply(connects, false), ErrorCondition::kFeatureNotImplemented,
              ErrorReason::kNone, "Media export (<connects>) is not supported.");
  // Nothing was applied by any of them.
  EXPECT_FALSE(reg_.findEndpoint(kMeeting, "a")->forceMuteAudio);
  EXPECT_EQ(reg_.findEndpoint(kMeeting, "b"), nullptr);
}

TEST_F(RegistryTest, EndpointCreateErrors) {
  ASSERT_TRUE(reg_.apply(createConference({createEndpoint("a")}), false).ok());
  expectError(reg_.apply(update({createEndpoint("a")}), false), ErrorCondition::kConflict,
              ErrorReason::kNone, "Endpoint with ID a already exists");
  auto noTransport = createEndpoint("b");
  noTransport.transport.reset();
  expectError(reg_.apply(update({noTransport}), false), ErrorCondition::kBadRequest,
              ErrorReason::kNone, "Attempt to create endpoint b with no <transport>");
  auto noNames = createEndpoint("b");
  noNames.capabilities = {"ssrc-rewriting"};
  expectError(reg_.apply(update({noNames}), false), ErrorCondition::kBadRequest, ErrorReason::kNone,
              "Source name support is mandatory.");
  auto port = createEndpoint("b");
  port.transport->sctpPort = 5001;
  expectError(reg_.apply(update({port}), false), ErrorCondition::kBadRequest, ErrorReason::kNone,
              "Specific SCTP port requested, not supported.");
  auto role = createEndpoint("b");
  role.transport->sctpRole = "client";
  expectError(reg_.apply(update({role}), false), ErrorCondition::kFeatureNotImplemented,
              ErrorReason::kNone, "Unsupported SCTP role: CLIENT");
  auto visitor = createEndpoint("b");
  visitor.mucRole = "visitor";
  expectError(reg_.apply(update({visitor}), false), ErrorCondition::kBadRequest, ErrorReason::kNone,
              "Attempt to set sources for visitor endpoint b");
  // Video sources count too.
  visitor.sources = Sources{};
  visitor.sources->videoMediaSources = 1;
  expectError(reg_.apply(update({visitor}), false), ErrorCondition::kBadRequest, ErrorReason::kNone,
              "Attempt to set sources for visitor endpoint b");
  EXPECT_EQ(reg_.findEndpoint(kMeeting, "b"), nullptr);

  // videobridge.sctp.enabled = false: SCTP asked for is refused as JVB does;
  // the same endpoint without SCTP is fine.
  reg_.setSctpEnabled(false);
  expectError(reg_.apply(update({createEndpoint("b")}), false),
              ErrorCondition::kFeatureNotImplemented, ErrorReason::kNone,
              "SCTP support is not configured");
  EXPECT_EQ(reg_.findEndpoint(kMeeting, "b"), nullptr);
  ASSERT_TRUE(reg_.apply(update({createEndpoint("n", false)}), false).ok());
  EXPECT_FALSE(reg_.findEndpoint(kMeeting, "n")->sctpRequested);
  reg_.setSctpEnabled(true);

  // Explicit port 5000 and role server are fine; so is a visitor with empty <sources>.
  auto ok = createEndpoint("b");
  ok.transport->sctpPort = 5000;
  ok.transport->sctpRole = "server";
  ASSERT_TRUE(reg_.apply(update({ok}), false).ok());
  visitor.sources = Sources{};
  visitor.id = "v";
  const auto r = reg_.apply(update({visitor}), false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(reg_.findEndpoint(kMeeting, "v")->visitor);
  EXPECT_TRUE(r.reply.feedbackSources);  // any endpoint create
  EXPECT_FALSE(r.reply.conferenceCreated);
}

TEST_F(RegistryTest, UnknownEndpoints) {
  twoEndpoints();
  // Media/transport/sources for an unknown endpoint: unknown_endpoint error.
  auto r = reg_.apply(update({transportUpdate("zz", "active")}), false);
  expectError(r, ErrorCondition::kItemNotFound, ErrorReason::kUnknownEndpoint,
              "Endpoint not found for ID: zz");
  EXPECT_EQ(r.error->endpointId, "zz");
  auto sourcesOnly = plain("zz");
  sourcesOnly.sources = Sources{};
  expectError(reg_.apply(update({sourcesOnly}), false), ErrorCondition::kItemNotFound,
              ErrorReason::kUnknownEndpoint, "Endpoint not found for ID: zz");

  // A force-mute batch with unknown ids: those are echoed, the others applied.
  r = reg_.apply(update({forceMute("a"), forceMute("zz"), forceMute("b")}), false);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.reply.endpoints.size(), 3u);
  EXPECT_EQ(r.reply.endpoints[1].id, "zz");
  EXPECT_FALSE(r.reply.endpoints[1].expired);
  EXPECT_FALSE(r.reply.endpoints[1].transport);
  EXPECT_FALSE(r.reply.feedbackSources);
  EXPECT_TRUE(reg_.findEndpoint(kMeeting, "a")->forceMuteAudio);
  EXPECT_TRUE(reg_.findEndpoint(kMeeting, "b")->forceMuteAudio);
  EXPECT_FALSE(reg_.findEndpoint(kMeeting, "b")->forceMuteVideo);
  EXPECT_EQ(rec_.events.size(), 2u);

  // Expiring an unknown endpoint is no error either.
  r = reg_.apply(update({expire("zz")}), false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.reply.endpoints[0].expired);
  // JVB ignores unknown ids in any request without create/media/transport/sources.
  auto lastN = plain("zz");
  lastN.initialLastN = 5;
  EXPECT_TRUE(reg_.apply(update({lastN}), false).ok());
}

TEST_F(RegistryTest, AnErrorChangesNothing) {
  twoEndpoints();
  const std::string before = snapshot(reg_);

  // The single endpoint's media, transport and force-mute would apply before
  // its sources fail (visitor check): none of it may stick.
  auto visitorCreate = createEndpoint("v");
  visitorCreate.mucRole = "visitor";
  EXPECT_FALSE(reg_.apply(update({visitorCreate}), false).ok());
  auto partial = transportUpdate("a", "active");
  partial.audio = opusAudio();
  partial.audio->payloadTypes[0].id = 100;
  partial.forceMute = ForceMute{true, true};
  partial.sources = audioSources("a-a0", {1, 2});
  auto withConnects = update({partial});
  withConnects.hasConnects = true;  // fails after the endpoint was applied to the stage
  EXPECT_FALSE(reg_.apply(withConnects, false).ok());
  auto unknownAfterKnown = update({forceMute("a"), forceMute("b")});
  unknownAfterKnown.relays = 1;
  EXPECT_FALSE(reg_.apply(unknownAfterKnown, false).ok());
  EXPECT_FALSE(reg_.apply(update({createEndpoint("a")}), false).ok());
  EXPECT_EQ(snapshot(reg_), before);
  EXPECT_TRUE(rec_.events.empty());

  // A conference create whose endpoint fails leaves no conference behind.
  reg_.expireConference(kMeeting);
  rec_.events.clear();
  const std::string empty = snapshot(reg_);
  auto bad = createEndpoint("x");
  bad.capabilities.clear();
  EXPECT_FALSE(reg_.apply(createConference({bad}), false).ok());
  EXPECT_EQ(snapshot(reg_), empty);
  EXPECT_TRUE(reg_.conferences().empty());
  EXPECT_TRUE(rec_.events.empty());
}

TEST_F(RegistryTest, ExpireEndpointsThenTheEmptyConference) {
  twoEndpoints();
  now_ += std::chrono::seconds(90);
  auto r = reg_.apply(update({expire("a")}), false);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.reply.endpoints.size(), 1u);
  EXPECT_TRUE(r.reply.endpoints[0].expired);
  EXPECT_FALSE(r.reply.endpoints[0].transport);
  EXPECT_FALSE(r.reply.conferenceExpired);
  EXPECT_EQ(rec_.events, std::vector<std::string>{std::string("expired ") + kMeeting + " a"});
  rec_.events.clear();

  // The last endpoint gone by a non-create request: the conference expires.
  r = reg_.apply(update({expire("b")}), false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.reply.conferenceExpired);
  EXPECT_EQ(reg_.findByMeetingId(kMeeting), nullptr);
  EXPECT_EQ(rec_.events, (std::vector<std::string>{std::string("expired ") + kMeeting + " b",
                                                   std::string("conference ") + kMeeting}));
  const auto n = reg_.counts();
  EXPECT_EQ(n.conferences, 0u);
  EXPECT_EQ(n.endpoints, 0u);
  EXPECT_EQ(n.totalConferencesCreated, 1u);
  EXPECT_EQ(n.totalConferencesCompleted, 1u);
  EXPECT_EQ(n.totalParticipants, 2u);
  EXPECT_DOUBLE_EQ(n.totalConferenceSeconds, 90.0);
}

TEST_F(RegistryTest, ConferenceCreateWithoutEndpointsStaysButAnEmptyUpdateExpiresIt) {
  auto r = reg_.apply(createConference(), false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.reply.feedbackSources);
  EXPECT_TRUE(r.reply.endpoints.empty());
  EXPECT_FALSE(r.reply.conferenceExpired);
  ASSERT_NE(reg_.findByMeetingId(kMeeting), nullptr);
  r = reg_.apply(update({}), false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.reply.conferenceExpired);
  EXPECT_FALSE(r.reply.feedbackSources);
  EXPECT_EQ(reg_.findByMeetingId(kMeeting), nullptr);
}

TEST_F(RegistryTest, ConferenceExpireRemovesItWithAllEndpoints) {
  twoEndpoints();
  const std::string internalId = reg_.findByMeetingId(kMeeting)->internalId;
  now_ += std::chrono::milliseconds(2500);
  auto req = update({});
  req.expire = true;
  const auto r = reg_.apply(req, false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.reply.conferenceExpired);
  EXPECT_TRUE(r.reply.endpoints.empty());
  EXPECT_EQ(reg_.findByMeetingId(kMeeting), nullptr);
  EXPECT_EQ(reg_.findByInternalId(internalId), nullptr);
  EXPECT_EQ(rec_.events, (std::vector<std::string>{std::string("expired ") + kMeeting + " a",
                                                   std::string("expired ") + kMeeting + " b",
                                                   std::string("conference ") + kMeeting}));
  EXPECT_DOUBLE_EQ(reg_.counts().totalConferenceSeconds, 2.5);
  // The meeting-id is free again.
  EXPECT_TRUE(reg_.apply(createConference(), false).ok());
  EXPECT_EQ(reg_.counts().totalConferencesCreated, 2u);
}

TEST(DtlsSetup, OurRoleFollowsTheRemoteOne) {
  EXPECT_EQ(localDtlsSetup("actpass", "active"), "passive");
  EXPECT_EQ(localDtlsSetup("actpass", "ACTIVE"), "passive");
  EXPECT_EQ(localDtlsSetup("actpass", "passive"), "active");
  EXPECT_EQ(localDtlsSetup("actpass", "actpass"), "active");
  EXPECT_EQ(localDtlsSetup("actpass", ""), "actpass");
  EXPECT_EQ(localDtlsSetup("passive", "holdconn"), "passive");
  EXPECT_EQ(localDtlsSetup("passive", "passive"), "active");
}

TEST_F(RegistryTest, TransportUpdateSetsRemoteIceAndDtlsRole) {
  twoEndpoints();
  auto r = reg_.apply(update({transportUpdate("a", "active")}), false);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.reply.endpoints.size(), 1u);
  EXPECT_FALSE(r.reply.endpoints[0].transport);  // not a create: bare <endpoint id/>
  EXPECT_FALSE(r.reply.feedbackSources);
  const Endpoint* a = reg_.findEndpoint(kMeeting, "a");
  EXPECT_EQ(a->remoteUfrag, "Hk3q");
  EXPECT_EQ(a->remotePwd, "zq9remotepasswordzq9remote");
  EXPECT_TRUE(a->remoteRtcpMux);
  ASSERT_EQ(a->remoteFingerprints.size(), 1u);
  EXPECT_EQ(a->remoteFingerprints[0].value, "12:34:56");
  EXPECT_EQ(a->remoteDtlsSetup, "active");
  EXPECT_EQ(a->dtlsSetup, "passive");
  ASSERT_EQ(a->remoteCandidates.size(), 1u);
  EXPECT_EQ(a->remoteCandidates[0].ip, "192.0.2.10");
  EXPECT_EQ(a->remoteCandidates[0].port, 53211);
  ASSERT_EQ(rec_.changed.size(), 1u);
  EXPECT_EQ(rec_.changed[0].dtlsSetup, "passive");

  // A trickled update: same candidate again (dropped), another generation
  // (ignored), a new one (added); a fingerprint without value neither
  // replaces the allowed ones nor stops its setup from counting.
  auto trickle = transportUpdate("a", "passive");
  trickle.transport->ice->ufrag.reset();
  trickle.transport->ice->pwd.reset();
  trickle.transport->ice->fingerprints = {{"sha-256", "", "passive"}};
  auto other = trickle.transport->ice->candidates[0];
  other.generation = 1;
  other.port = 1;
  auto added = trickle.transport->ice->candidates[0];
  added.port = 2;
  trickle.transport->ice->candidates.push_back(other);
  trickle.transport->ice->candidates.push_back(added);
  ASSERT_TRUE(reg_.apply(update({trickle}), false).ok());
  a = reg_.findEndpoint(kMeeting, "a");
  EXPECT_EQ(a->remoteUfrag, "Hk3q");
  ASSERT_EQ(a->remoteFingerprints.size(), 1u);
  EXPECT_EQ(a->remoteFingerprints[0].value, "12:34:56");
  EXPECT_EQ(a->dtlsSetup, "active");
  ASSERT_EQ(a->remoteCandidates.size(), 2u);
  EXPECT_EQ(a->remoteCandidates[1].port, 2);

  // An ICE restart before ICE connected keeps the current transport, sent
  // back untagged (the rest: ice_restart_test.cpp).
  auto restart = plain("b");
  restart.transport = TransportDesc{};
  restart.transport->iceRestart = true;
  r = reg_.apply(update({restart}), false);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r.reply.endpoints[0].transport);
  EXPECT_EQ(r.reply.endpoints[0].transport->ice.ufrag,
            reg_.findEndpoint(kMeeting, "b")->localIce.ufrag);
  EXPECT_FALSE(r.reply.endpoints[0].transport->iceGeneration);
}

TEST_F(RegistryTest, SourcesAreReplacedAndMediaOnlyAdded) {
  twoEndpoints();
  auto src = plain("a");
  src.sources = audioSources("a-a0", {11, 12});
  src.sources->audio[0].groups = {{"FID", {11, 12}}};
  src.sources->videoMediaSources = 1;
  ASSERT_TRUE(reg_.apply(update({src}), false).ok());
  const Endpoint* a = reg_.findEndpoint(kMeeting, "a");
  ASSERT_EQ(a->audioSources.size(), 2u);
  EXPECT_EQ(a->audioSources.count(1234567890u), 0u);  // the create's source is gone
  EXPECT_EQ(a->audioSources.at(12).name, "a-a0");
  ASSERT_EQ(a->ssrcGroups.size(), 1u);
  EXPECT_EQ(a->ssrcGroups[0].semantics, "FID");

  auto empty = plain("a");
  empty.sources = Sources{};
  ASSERT_TRUE(reg_.apply(update({empty}), false).ok());
  a = reg_.findEndpoint(kMeeting, "a");
  EXPECT_TRUE(a->audioSources.empty());
  EXPECT_TRUE(a->ssrcGroups.empty());
  EXPECT_EQ(reg_.counts().endpointsWithAudioSources, 1u);

  // Payload types: a new id is added, a known id replaced, none removed.
  auto media = plain("a");
  media.mediaBlocks = 1;
  media.audio = MediaDesc{};
  media.audio->payloadTypes = {{111, "opus", 48000, 2, {{"minptime", "20"}}, {}},
                               {112, "red", 48000, 2, {}, {}}};
  ASSERT_TRUE(reg_.apply(update({media}), false).ok());
  a = reg_.findEndpoint(kMeeting, "a");
  ASSERT_EQ(a->audioPayloadTypes.size(), 3u);
  EXPECT_EQ(a->audioPayloadTypes[0].parameters.at("minptime"), "20");
  EXPECT_EQ(a->audioPayloadTypes[2].name, "red");
  EXPECT_EQ(a->audioHeaderExtensions.size(), 2u);
  EXPECT_TRUE(a->acceptsAudio);
  EXPECT_FALSE(a->extmapAllowMixed);

  // An endpoint that offered video only does not accept audio.
  auto videoOnly = createEndpoint("c");
  videoOnly.audio.reset();
  ASSERT_TRUE(reg_.apply(update({videoOnly}), false).ok());
  EXPECT_FALSE(reg_.findEndpoint(kMeeting, "c")->acceptsAudio);
  EXPECT_EQ(reg_.counts().largestConference, 3u);
}

TEST_F(RegistryTest, BridgeSideExpiry) {
  twoEndpoints();
  EXPECT_FALSE(reg_.expireEndpoint(kMeeting, "zz"));
  EXPECT_TRUE(reg_.expireEndpoint(kMeeting, "a"));
  EXPECT_EQ(reg_.findEndpoint(kMeeting, "a"), nullptr);
  EXPECT_FALSE(reg_.expireConference("nope"));
  EXPECT_TRUE(reg_.expireConference(kMeeting));
  EXPECT_EQ(rec_.events, (std::vector<std::string>{std::string("expired ") + kMeeting + " a",
                                                   std::string("expired ") + kMeeting + " b",
                                                   std::string("conference ") + kMeeting}));
  EXPECT_EQ(reg_.counts().totalConferencesCompleted, 1u);
  // Without a listener nothing breaks.
  reg_.setListener(nullptr);
  ASSERT_TRUE(reg_.apply(createConference({createEndpoint("a")}), false).ok());
  EXPECT_TRUE(reg_.apply(update({expire("a")}), false).ok());
}

TEST_F(RegistryTest, TwoConferencesAreIndependent) {
  ASSERT_TRUE(reg_.apply(createConference({createEndpoint("a")}), false).ok());
  auto second = createConference({createEndpoint("a")});
  second.meetingId = "other";
  second.name.reset();
  ASSERT_TRUE(reg_.apply(second, false).ok());
  const Conference* c1 = reg_.findByMeetingId(kMeeting);
  const Conference* c2 = reg_.findByMeetingId("other");
  ASSERT_TRUE(c1 && c2);
  EXPECT_NE(c1->internalId, c2->internalId);
  EXPECT_FALSE(c2->name);
  EXPECT_EQ(reg_.findByInternalId(c2->internalId), c2);
  EXPECT_NE(reg_.findEndpoint("other", "a")->localIce.ufrag,
            reg_.findEndpoint(kMeeting, "a")->localIce.ufrag);
  EXPECT_EQ(reg_.findEndpoint("missing", "a"), nullptr);
  EXPECT_EQ(reg_.findByInternalId("0000000000000000"), nullptr);
  EXPECT_EQ(reg_.counts().conferences, 2u);
  EXPECT_EQ(reasonName(ErrorReason::kUnspecified), "unspecified");
  EXPECT_EQ(reasonName(ErrorReason::kNone), "");
}

}  // namespace
