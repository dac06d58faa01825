// Colibri2 errors through the IQ dispatcher: each row of JVB's error table
// (condition, Smack type, text, colibri2 reason) and malformed requests, all
// of which must leave the registry untouched; plus the parser on its own.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/xmpp/stanza_test_util.hpp"
#include "xmpp/colibri2.hpp"

namespace {

using namespace jvb::xmpp;
using namespace jvb::xmpp::testing;
namespace control = jvb::control;

constexpr const char* kMeeting = "6f1c2d3e-aaaa-bbbb-cccc-0123456789ab";
constexpr const char* kFocus = "jvbbrewery@internal.auth.example.com/focus";

std::string iq(const std::string& type, const std::string& id, const std::string& body) {
  return iqXml(type, id, kFocus, "jvbbrewery@internal.auth.example.com/jvb-1", body);
}

std::string modify(const std::string& attrs, const std::string& children) {
  return modifyXml(kMeeting, attrs, children);
}

class Colibri2ErrorTest : public ::testing::Test {
 protected:
  Library lib_;
  Context ctx_;
  IqDispatcher iqs_;
  control::ConferenceRegistry registry_;
  bool refuse_ = false;

  void SetUp() override {
    Colibri2Local local;
    local.fingerprint = "AB:CD";
    registerColibri2(iqs_, registry_, local, [this] { return refuse_; });
  }

  // The reply as it goes on the wire, parsed back.
  StanzaPtr send(const std::string& xml) {
    auto request = parse(ctx_.get(), xml);
    EXPECT_TRUE(request) << xml;
    if (!request) {
      return nullptr;
    }
    auto reply = iqs_.handle(ctx_.get(), request.get());
    EXPECT_TRUE(reply);
    return reply ? parse(ctx_.get(), toText(reply.get())) : nullptr;
  }

  struct ErrorView {
    std::string type, condition, text, reason;
    size_t extensions = 0;
  };
  static ErrorView error(const StanzaPtr& reply) {
    ErrorView v;
    if (!reply || attr(reply.get(), "type") != "error") {
      return v;
    }
    xmpp_stanza_t* err = xmpp_stanza_get_child_by_name(reply.get(), "error");
    if (err == nullptr) {
      return v;
    }
    v.type = attr(err, "type");
    for (xmpp_stanza_t* c : tags(err)) {
      if (ns(c) == kNsStanzas && name(c) == "text") {
        v.text = text(c);
      } else if (ns(c) == kNsStanzas) {
        v.condition = name(c);
      } else {
        ++v.extensions;
        if (ns(c) == "jitsi:colibri2" && name(c) == "error") {
          v.reason = attr(c, "reason");
        }
      }
    }
    return v;
  }

  // Conference kMeeting with endpoint 9a8b7c6d (one audio source).
  void createConference() {
    auto reply = send(iq("get", "c1",
                         modify(" create='true' name='room1@conference.example.com'",
                                R"(
      <endpoint id='9a8b7c6d' create='true'>
        <transport ice-controlling='true'><sctp/></transport>
        <sources><media-source type='audio' id='9a8b7c6d-a0'>
          <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1234567890'/>
        </media-source></sources>
        <capability name='source-names'/>
      </endpoint>)")));
    ASSERT_EQ(attr(reply.get(), "type"), "result") << toText(reply.get());
  }
};

struct ErrorCase {
  const char* what;
  std::string body;
  const char* condition;
  const char* type;
  std::string text;
  const char* reason;  // "" : no colibri2 extension
};

TEST_F(Colibri2ErrorTest, EveryErrorHasJvbsConditionTypeTextAndReason) {
  createConference();
  const std::string ep = "9a8b7c6d";
  const std::string create = "<transport ice-controlling='true'/><capability name='source-names'/>";
  const std::vector<ErrorCase> cases = {
      {"unknown meeting-id",
       "<conference-modify xmlns='jitsi:colibri2' meeting-id='nope'><endpoint id='a' "
       "expire='true'/></conference-modify>",
       "item-not-found", "cancel", "Conference not found for ID: nope", "conference_not_found"},
      {"create existing", modify(" create='true'", ""), "conflict", "cancel",
       std::string("Conference already exists for ID: ") + kMeeting, "conference_already_exists"},
      {"bad name",
       "<conference-modify xmlns='jitsi:colibri2' meeting-id='n2' create='true' name='no jid'/>",
       "bad-request", "modify", "Invalid conference name (not a JID)", ""},
      {"unknown endpoint",
       modify("",
              "<endpoint id='zz'><transport><transport "
              "xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u' pwd='p'/></transport>"
              "</endpoint>"),
       "item-not-found", "cancel", "Endpoint not found for ID: zz", "unknown_endpoint"},
      {"ICE restart of an unknown endpoint (Jicofo's restartIce)",
       modify("", "<endpoint id='zz' stats-id='S-zz'><transport ice-restart='true'/></endpoint>"),
       "item-not-found", "cancel", "Endpoint not found for ID: zz", "unknown_endpoint"},
      {"two endpoints with media",
       modify("", "<endpoint id='a' create='true'>" + create + "</endpoint><endpoint id='b'/>"),
       "feature-not-implemented", "cancel",
       "Creating or updating media, sources or transport for more than one endpoint in a "
       "request.",
       "feature_not_implemented"},
      {"endpoint and relay", modify("", "<endpoint id='a'/><relay id='r'/>"),
       "feature-not-implemented", "cancel", "Using both 'relay' and 'endpoint' in a request",
       "feature_not_implemented"},
      {"relay", modify("", "<relay id='r'/>"), "feature-not-implemented", "cancel",
       "Octo is disabled in configuration.", ""},
      {"endpoint exists",
       modify("", "<endpoint id='" + ep + "' create='true'>" + create + "</endpoint>"), "conflict",
       "cancel", "Endpoint with ID 9a8b7c6d already exists", ""},
      {"no transport",
       modify("", "<endpoint id='b' create='true'><capability name='source-names'/></endpoint>"),
       "bad-request", "modify", "Attempt to create endpoint b with no <transport>", ""},
      {"no source-names", modify("", "<endpoint id='b' create='true'><transport/></endpoint>"),
       "bad-request", "modify", "Source name support is mandatory.", ""},
      {"sctp port",
       modify("",
              "<endpoint id='b' create='true'><transport><sctp port='5001'/></transport>"
              "<capability name='source-names'/></endpoint>"),
       "bad-request", "modify", "Specific SCTP port requested, not supported.", ""},
      {"sctp role",
       modify("",
              "<endpoint id='b' create='true'><transport><sctp role='client'/></transport>"
              "<capability name='source-names'/></endpoint>"),
       "feature-not-implemented", "cancel", "Unsupported SCTP role: CLIENT", ""},
      {"visitor sources",
       modify("", "<endpoint id='b' create='true' muc-role='visitor'>" + create +
                      "<sources><media-source type='audio' id='b-a0'/></sources></endpoint>"),
       "bad-request", "modify", "Attempt to set sources for visitor endpoint b", ""},
  };
  for (const auto& c : cases) {
    auto reply = send(iq("get", "err", c.body));
    ASSERT_TRUE(reply) << c.what;
    EXPECT_EQ(attr(reply.get(), "id"), "err");
    EXPECT_EQ(attr(reply.get(), "to"), kFocus);
    const ErrorView e = error(reply);
    EXPECT_EQ(e.condition, c.condition) << c.what << ": " << toText(reply.get());
    EXPECT_EQ(e.type, c.type) << c.what;
    EXPECT_EQ(e.text, c.text) << c.what;
    EXPECT_EQ(e.reason, c.reason) << c.what;
    const std::string reason(c.reason);
    EXPECT_EQ(e.extensions, reason.empty() ? 0u : reason == "unknown_endpoint" ? 2u : 1u) << c.what;
  }
  // None of them changed anything.
  EXPECT_EQ(registry_.conferences().size(), 1u);
  EXPECT_EQ(registry_.findByMeetingId(kMeeting)->endpoints.size(), 1u);

  refuse_ = true;
  auto reply = send(iq("get", "gs",
                       "<conference-modify xmlns='jitsi:colibri2' meeting-id='n3' "
                       "create='true'/>"));
  const ErrorView e = error(reply);
  EXPECT_EQ(e.condition, "service-unavailable");
  EXPECT_EQ(e.type, "cancel");
  EXPECT_EQ(e.text, "In graceful shutdown");
  EXPECT_EQ(e.reason, "graceful_shutdown");
}

TEST_F(Colibri2ErrorTest, UnknownEndpointErrorExtensionsAreJvbs) {
  control::ModifyError err{control::ErrorCondition::kItemNotFound,
                           control::ErrorReason::kUnknownEndpoint, "Endpoint not found for ID: X",
                           "X"};
  const auto ext = errorExtensions(ctx_.get(), err);
  ASSERT_EQ(ext.size(), 2u);
  EXPECT_EQ(name(ext[0].get()), "error");
  EXPECT_EQ(ns(ext[0].get()), "jitsi:colibri2");
  EXPECT_EQ(attr(ext[0].get(), "reason"), "unknown_endpoint");
  EXPECT_EQ(name(ext[1].get()), "endpoint");
  EXPECT_EQ(ns(ext[1].get()), "jitsi:colibri2");
  EXPECT_EQ(attr(ext[1].get(), "id"), "X");
  const IqError iqErr = toIqError(ctx_.get(), err);
  EXPECT_EQ(iqErr.condition, "item-not-found");
  EXPECT_EQ(iqErr.type, "cancel");
  ASSERT_EQ(iqErr.extensions.size(), 2u);
  EXPECT_EQ(attr(iqErr.extensions[0].get(), "reason"), "unknown_endpoint");
  EXPECT_EQ(attr(iqErr.extensions[1].get(), "id"), "X");
  err.condition = control::ErrorCondition::kInternalServerError;
  err.reason = control::ErrorReason::kNone;
  EXPECT_TRUE(errorExtensions(ctx_.get(), err).empty());
  EXPECT_EQ(toIqError(ctx_.get(), err).type, "wait");
  EXPECT_TRUE(toIqError(ctx_.get(), err).extensions.empty());
}

TEST_F(Colibri2ErrorTest, MalformedRequestsAreBadRequestNamingTheCulprit) {
  createConference();
  const std::string ep = "<endpoint id='9a8b7c6d'>";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"<conference-modify xmlns='jitsi:colibri2'/>",
       "Missing required attribute 'meeting-id' of <conference-modify>"},
      {"<conference-modify xmlns='jitsi:colibri2' meeting-id='  '/>",
       "Invalid value for the 'meeting-id' attribute of <conference-modify>: '  '"},
      {modify(" create='yes'", ""),
       "Invalid value for the 'create' attribute of <conference-modify>: 'yes'"},
      {modify("", "<endpoint create='true'/>"), "Missing required attribute 'id' of <endpoint>"},
      {modify("", "<endpoint id='a' expire='1'/>"),
       "Invalid value for the 'expire' attribute of <endpoint>: '1'"},
      {modify("", "<endpoint id='a' muc-role='king'/>"),
       "Invalid value for the 'muc-role' attribute of <endpoint>: 'king'"},
      {modify("", ep + "<media/></endpoint>"), "Missing required attribute 'type' of <media>"},
      {modify("", ep + "<media type='text'/></endpoint>"),
       "Invalid value for the 'type' attribute of <media>: 'text'"},
      {modify("", ep + "<media type='audio'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' "
                       "id='abc' name='opus'/></media></endpoint>"),
       "Invalid value for the 'id' attribute of <payload-type>: 'abc'"},
      {modify("", ep + "<media type='audio'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' "
                       "id='128'/></media></endpoint>"),
       "Invalid value for the 'id' attribute of <payload-type>: '128'"},
      {modify("", ep + "<media type='audio'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' "
                       "id='111' clockrate='48k'/></media></endpoint>"),
       "Invalid value for the 'clockrate' attribute of <payload-type>: '48k'"},
      {modify("", ep + "<media type='audio'><rtp-hdrext "
                       "xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='0' uri='x'/></media>"
                       "</endpoint>"),
       "Invalid value for the 'id' attribute of <rtp-hdrext>: '0'"},
      {modify("", ep + "<sources><media-source type='audio' id='s'><source "
                       "xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='12ab'/></media-source>"
                       "</sources></endpoint>"),
       "Invalid value for the 'ssrc' attribute of <source>: '12ab'"},
      {modify("", ep + "<sources><media-source type='audio' id='s'><source "
                       "xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='4294967296'/>"
                       "</media-source></sources></endpoint>"),
       "Invalid value for the 'ssrc' attribute of <source>: '4294967296'"},
      {modify("", ep + "<sources><media-source type='audio' id='s'><source "
                       "xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='-1'/></media-source>"
                       "</sources></endpoint>"),
       "Invalid value for the 'ssrc' attribute of <source>: '-1'"},
      {modify("", ep + "<sources><media-source type='audio' id='s'><source "
                       "xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' name='s'/></media-source>"
                       "</sources></endpoint>"),
       "Missing required attribute 'ssrc' of <source>"},
      {modify("", ep + "<sources><media-source type='audio' id='s'><ssrc-group "
                       "xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source "
                       "ssrc='--5'/></ssrc-group></media-source></sources></endpoint>"),
       "Invalid value for the 'ssrc' attribute of <source>: '--5'"},
      {modify("", ep + "<sources><media-source type='audio'/></sources></endpoint>"),
       "Missing required attribute 'id' of <media-source>"},
      {modify("", ep + "<sources><media-source type='screen' id='s'/></sources></endpoint>"),
       "Invalid value for the 'type' attribute of <media-source>: 'screen'"},
      {modify("", ep + "<transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'>"
                       "<candidate ip='192.0.2.1' port='x' type='host'/></transport></transport>"
                       "</endpoint>"),
       "Invalid value for the 'port' attribute of <candidate>: 'x'"},
      {modify("", ep + "<transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'>"
                       "<candidate ip='192.0.2.1' port='70000' type='host'/></transport>"
                       "</transport></endpoint>"),
       "Invalid value for the 'port' attribute of <candidate>: '70000'"},
      {modify("", ep + "<transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'>"
                       "<candidate port='1' type='host'/></transport></transport></endpoint>"),
       "Missing required attribute 'ip' of <candidate>"},
      {modify("", ep + "<transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'>"
                       "<candidate ip='192.0.2.1' port='1' type='tcp'/></transport></transport>"
                       "</endpoint>"),
       "Invalid value for the 'type' attribute of <candidate>: 'tcp'"},
      {modify("", ep + "<transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' "
                       "ufrag='u' pwd='p' ice-generation='one'/></transport></endpoint>"),
       "Invalid value for the 'ice-generation' attribute of <transport>: 'one'"},
      {modify("", ep + "<transport ice-restart='please'/></endpoint>"),
       "Invalid value for the 'ice-restart' attribute of <transport>: 'please'"},
      {modify("", ep + "<transport><sctp port='five'/></transport></endpoint>"),
       "Invalid value for the 'port' attribute of <sctp>: 'five'"},
      {modify("", ep + "<transport><sctp role='peer'/></transport></endpoint>"),
       "Invalid value for the 'role' attribute of <sctp>: 'peer'"},
      {modify("", ep + "<transport ice-controlling='maybe'/></endpoint>"),
       "Invalid value for the 'ice-controlling' attribute of <transport>: 'maybe'"},
      {modify("", ep + "<force-mute audio='on'/></endpoint>"),
       "Invalid value for the 'audio' attribute of <force-mute>: 'on'"},
      {modify("", ep + "<initial-last-n/></endpoint>"),
       "Missing required attribute 'value' of <initial-last-n>"},
      {modify("", ep + "<initial-last-n value='all'/></endpoint>"),
       "Invalid value for the 'value' attribute of <initial-last-n>: 'all'"},
  };
  for (const auto& [body, text] : cases) {
    auto reply = send(iq("set", "bad", body));
    const ErrorView e = error(reply);
    EXPECT_EQ(e.condition, "bad-request") << body;
    EXPECT_EQ(e.type, "modify") << body;
    EXPECT_EQ(e.text, text) << body;
    EXPECT_EQ(e.extensions, 0u) << body;
  }
  // Nothing was applied.
  const control::Endpoint* ep0 = registry_.findEndpoint(kMeeting, "9a8b7c6d");
  ASSERT_NE(ep0, nullptr);
  EXPECT_TRUE(ep0->remoteCandidates.empty());
  EXPECT_EQ(ep0->audioSources.size(), 1u);
  EXPECT_FALSE(ep0->forceMuteAudio);
  // A request in the wrong namespace is not ours: service-unavailable.
  auto other = send(iq("get", "ns", "<conference-modify xmlns='jitsi:colibri' meeting-id='m'/>"));
  EXPECT_EQ(error(other).condition, "service-unavailable");
}

TEST(Colibri2Parse, ReadsEveryElementAndIgnoresWhatItDoesNotKnow) {
  Library lib;
  Context ctx;
  auto el = parse(ctx.get(), R"(
  <conference-modify xmlns='jitsi:colibri2' meeting-id='m1' rtcstats-enabled='false' expire='FALSE'>
    <endpoint id='e1' stats-id='s1' muc-role='Visitor'>
      <media type='audio'>
        <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='112' name='red' clockrate='48000' channels='2'>
          <parameter value='111/111'/>
          <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/>
        </payload-type>
      </media>
      <media type='audio'>
        <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='0' name='PCMU'/>
      </media>
      <transport ice-controlling='TRUE' ice-restart='true' use-unique-port='false'>
        <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u1'>
          <candidate ip='2001:db8::1' port='9' type='relay' generation='1' component='1'
                     rel-addr='192.0.2.1' rel-port='7' protocol='UDP'/>
          <web-socket xmlns='http://jitsi.org/protocol/colibri' url='wss://x'/>
        </transport>
        <sctp port='5000' role='SERVER'/>
      </transport>
      <sources>
        <media-source type='audio' id='e1-a0' synthetic='true'>
          <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='0'/>
          <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'>
            <source ssrc='1'/><source ssrc='2'/>
          </ssrc-group>
        </media-source>
        <media-source type='video' id='e1-v0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' rid='h'/></media-source>
        <future-thing/>
      </sources>
      <force-mute video='true'/>
      <capability name='private-address-connectivity'/>
      <capability/>
      <initial-last-n value='-1'/>
      <diarize xmlns='urn:example:new'/>
    </endpoint>
    <relay id='r1'/>
    <connects><connect url='wss://t' protocol='mediajson' type='transcriber'/></connects>
  </conference-modify>)");
  ASSERT_TRUE(el);
  auto parsed = parseConferenceModify(el.get());
  ASSERT_TRUE(std::holds_alternative<control::ConferenceModify>(parsed))
      << std::get<IqError>(parsed).text;
  const auto& m = std::get<control::ConferenceModify>(parsed);
  EXPECT_EQ(m.meetingId, "m1");
  EXPECT_FALSE(m.name);
  EXPECT_FALSE(m.create);
  EXPECT_FALSE(m.expire);
  EXPECT_FALSE(m.rtcstatsEnabled);
  EXPECT_EQ(m.relays, 1u);
  EXPECT_TRUE(m.hasConnects);
  ASSERT_EQ(m.endpoints.size(), 1u);
  const control::EndpointRequest& e = m.endpoints[0];
  EXPECT_EQ(e.id, "e1");
  EXPECT_EQ(e.statsId, "s1");
  EXPECT_EQ(e.mucRole, "visitor");
  EXPECT_EQ(e.mediaBlocks, 2u);
  EXPECT_FALSE(e.videoMediaSeen);
  ASSERT_TRUE(e.audio);
  ASSERT_EQ(e.audio->payloadTypes.size(), 2u);
  EXPECT_TRUE(e.audio->payloadTypes[0].parameters.empty());  // nameless parameter dropped
  EXPECT_EQ(e.audio->payloadTypes[0].rtcpFb, (std::vector<control::RtcpFeedback>{{"nack", "pli"}}));
  EXPECT_EQ(e.audio->payloadTypes[1].id, 0);
  EXPECT_EQ(e.audio->payloadTypes[1].clockrate, 0u);
  EXPECT_FALSE(e.audio->extmapAllowMixed);
  ASSERT_TRUE(e.transport);
  EXPECT_TRUE(e.transport->iceControlling);
  EXPECT_TRUE(e.transport->iceRestart);
  EXPECT_TRUE(e.transport->sctpRequested);
  EXPECT_EQ(e.transport->sctpPort, 5000);
  EXPECT_EQ(e.transport->sctpRole, "server");
  ASSERT_TRUE(e.transport->ice);
  EXPECT_EQ(e.transport->ice->ufrag, "u1");
  EXPECT_FALSE(e.transport->ice->pwd);
  EXPECT_FALSE(e.transport->ice->rtcpMux);
  ASSERT_EQ(e.transport->ice->candidates.size(), 1u);
  const auto& c = e.transport->ice->candidates[0];
  EXPECT_EQ(c.ip, "2001:db8::1");
  EXPECT_EQ(c.type, "relay");
  EXPECT_EQ(c.protocol, "udp");
  EXPECT_EQ(c.generation, 1);
  EXPECT_EQ(c.relAddr, "192.0.2.1");
  EXPECT_EQ(c.relPort, 7);
  EXPECT_EQ(c.foundation, "");
  ASSERT_TRUE(e.sources);
  EXPECT_EQ(e.sources->videoMediaSources, 1u);
  ASSERT_EQ(e.sources->audio.size(), 1u);
  EXPECT_TRUE(e.sources->audio[0].synthetic);
  EXPECT_EQ(e.sources->audio[0].sources, (std::vector<control::SourceDesc>{{0, ""}}));
  EXPECT_EQ(e.sources->audio[0].groups,
            (std::vector<control::SsrcGroup>{{"FID", std::vector<uint32_t>{1, 2}}}));
  ASSERT_TRUE(e.forceMute);
  EXPECT_FALSE(e.forceMute->audio);
  EXPECT_TRUE(e.forceMute->video);
  EXPECT_EQ(e.capabilities, std::set<std::string>{"private-address-connectivity"});
  EXPECT_EQ(e.initialLastN, -1);
  EXPECT_TRUE(e.touchesMedia());

  // Not even an element.
  auto none = parseConferenceModify(nullptr);
  EXPECT_EQ(std::get<IqError>(none).condition, "bad-request");
}

}  // namespace
