// Colibri2 through the IQ dispatcher: canned requests as Jicofo sends them
// (jvb-interfaces.md section 3.8) and every field of the replies. Errors and
// malformed input: colibri2_errors_test.cpp.
#include "xmpp/colibri2.hpp"
#include "tests/xmpp/stanza_test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace {

using namespace jvb::xmpp;
using namespace jvb::xmpp::testing;
namespace control = jvb::control;

constexpr const char* kMeeting = "6f1c2d3e-aaaa-bbbb-cccc-0123456789ab";
constexpr const char* kFocus = "jvbbrewery@internal.auth.example.com/focus";
constexpr const char* kBridge = "jvbbrewery@internal.auth.example.com/jvb-1";
constexpr const char* kFingerprint =
    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:"
    "89";

// The allocation request of section 3.8, plus the video <media> and the
// tracing element Jicofo also sends.
const std::string kCreateBody = std::string(R"(
  <conference-modify xmlns='jitsi:colibri2' meeting-id=')") +
                                kMeeting + R"('
                     name='room1@conference.example.com' create='true'>
    <traceparent xmlns='urn:example:tracing' value='00-abc-def-01'/>
    <endpoint id='9a8b7c6d' create='true' stats-id='Alice-x1'>
      <media type='audio'>
        <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='111' name='opus' clockrate='48000' channels='2'>
          <parameter name='minptime' value='10'/>
          <parameter name='useinbandfec' value='1'/>
          <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/>
        </payload-type>
        <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='126' name='telephone-event' clockrate='8000'/>
        <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/>
        <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='10' uri='urn:ietf:params:rtp-hdrext:sdes:mid'/>
        <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='5' uri='http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01'/>
        <extmap-allow-mixed xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0'/>
      </media>
      <media type='video'>
        <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='100' name='VP8' clockrate='90000'>
          <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/>
        </payload-type>
        <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='3' uri='http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time'/>
      </media>
      <transport ice-controlling='true'><sctp/></transport>
      <sources>
        <media-source type='audio' id='9a8b7c6d-a0'>
          <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1234567890' name='9a8b7c6d-a0'/>
        </media-source>
        <media-source type='video' id='9a8b7c6d-v0'>
          <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='55' name='9a8b7c6d-v0'/>
        </media-source>
      </sources>
      <capability name='source-names'/>
      <capability name='ssrc-rewriting'/>
    </endpoint>
  </conference-modify>)";

std::string iq(const std::string& type, const std::string& id, const std::string& body) {
  return iqXml(type, id, kFocus, kBridge, body);
}

std::string modify(const std::string& attrs, const std::string& children) {
  return modifyXml(kMeeting, attrs, children);
}

bool alnum(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) != 0; });
}

bool iceChars(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 || c == '+' || c == '/'; });
}

class Colibri2Test : public ::testing::Test {
 protected:
  Library lib_;
  Context ctx_;
  IqDispatcher iqs_;
  control::ConferenceRegistry registry_;
  bool refuse_ = false;
  Colibri2Local local_;

  void SetUp() override {
    local_.fingerprint = kFingerprint;
    jvb::ice::Candidate host;
    host.foundation = "1";
    host.priority = 2130706431;
    host.ip = "10.0.0.5";
    host.port = 10000;
    host.type = "host";
    host.id = "a1";
    jvb::ice::Candidate srflx = host;
    srflx.foundation = "3";
    srflx.priority = 1694498815;
    srflx.ip = "203.0.113.7";
    srflx.type = "srflx";
    srflx.relAddr = "10.0.0.5";
    srflx.relPort = 10000;
    srflx.id = "a2";
    local_.candidates = {host, srflx};
    local_.websocket = WebsocketSettings{true, "meet.example.com:443", true, "default-id"};
    registerColibri2(iqs_, registry_, local_, [this] { return refuse_; });
  }

  // The reply as it goes on the wire, parsed back: namespaces as a peer sees them.
  StanzaPtr send(const std::string& xml) {
    auto request = parse(ctx_.get(), xml);
    EXPECT_TRUE(request) << xml;
    if (!request) {
      return nullptr;
    }
    auto reply = iqs_.handle(ctx_.get(), request.get());
    EXPECT_TRUE(reply);
    if (!reply) {
      return nullptr;
    }
    auto wire = parse(ctx_.get(), toText(reply.get()));
    EXPECT_TRUE(wire) << toText(reply.get());
    return wire;
  }

  // The <conference-modified> of a result reply (fails the test otherwise).
  xmpp_stanza_t* modified(const StanzaPtr& reply) {
    EXPECT_TRUE(reply);
    if (!reply) {
      return nullptr;
    }
    EXPECT_EQ(attr(reply.get(), "type"), "result") << toText(reply.get());
    const auto children = tags(reply.get());
    EXPECT_EQ(children.size(), 1u);
    if (children.size() != 1) {
      return nullptr;
    }
    EXPECT_EQ(name(children[0]), "conference-modified");
    EXPECT_EQ(ns(children[0]), "jitsi:colibri2");
    EXPECT_EQ(xmpp_stanza_get_attribute_count(children[0]), 1);  // xmlns only
    return children[0];
  }

  void createConference() {
    auto reply = send(iq("get", "c1", kCreateBody));
    ASSERT_EQ(attr(reply.get(), "type"), "result") << toText(reply.get());
  }

  void createEndpoint(const std::string& id) {
    auto reply = send(iq("set", "e-" + id,
                         modify("", "<endpoint id='" + id +
                                        "' create='true'><transport ice-controlling='true'/>"
                                        "<capability name='source-names'/></endpoint>")));
    ASSERT_EQ(attr(reply.get(), "type"), "result") << toText(reply.get());
  }
};

TEST_F(Colibri2Test, ConferenceAndEndpointCreateReplyCarriesEverythingJicofoNeeds) {
  auto reply = send(iq("get", "c1", kCreateBody));
  ASSERT_TRUE(reply);
  EXPECT_EQ(attr(reply.get(), "id"), "c1");
  EXPECT_EQ(attr(reply.get(), "to"), kFocus);
  EXPECT_EQ(attr(reply.get(), "from"), kBridge);
  xmpp_stanza_t* cm = modified(reply);
  ASSERT_NE(cm, nullptr);

  const control::Conference* conf = registry_.findByMeetingId(kMeeting);
  ASSERT_NE(conf, nullptr);
  const control::Endpoint* ep = registry_.findEndpoint(kMeeting, "9a8b7c6d");
  ASSERT_NE(ep, nullptr);

  const auto children = tags(cm);
  ASSERT_EQ(children.size(), 2u);
  // <endpoint id><transport><transport ice-udp/><sctp/></transport></endpoint>
  xmpp_stanza_t* endpoint = children[0];
  EXPECT_EQ(name(endpoint), "endpoint");
  EXPECT_EQ(ns(endpoint), "jitsi:colibri2");
  EXPECT_EQ(attr(endpoint, "id"), "9a8b7c6d");
  EXPECT_FALSE(optionalAttr(endpoint, "expire"));
  const auto epChildren = tags(endpoint);
  ASSERT_EQ(epChildren.size(), 1u);  // media is never echoed
  xmpp_stanza_t* transport = epChildren[0];
  EXPECT_EQ(name(transport), "transport");
  EXPECT_EQ(ns(transport), "jitsi:colibri2");
  const auto tChildren = tags(transport);
  ASSERT_EQ(tChildren.size(), 2u);
  xmpp_stanza_t* ice = tChildren[0];
  EXPECT_EQ(name(ice), "transport");
  EXPECT_EQ(ns(ice), kNsIceUdp);
  const std::string ufrag = attr(ice, "ufrag");
  const std::string pwd = attr(ice, "pwd");
  EXPECT_EQ(ufrag.size(), 8u);
  EXPECT_EQ(pwd.size(), 24u);
  EXPECT_TRUE(iceChars(ufrag) && iceChars(pwd));
  EXPECT_EQ(ufrag, ep->localIce.ufrag);
  EXPECT_EQ(pwd, ep->localIce.pwd);

  const auto iceChildren = tags(ice);
  ASSERT_EQ(iceChildren.size(), 5u);  // 2 candidates, rtcp-mux, fingerprint, web-socket
  xmpp_stanza_t* host = iceChildren[0];
  EXPECT_EQ(name(host), "candidate");
  EXPECT_EQ(ns(host), kNsIceUdp);
  EXPECT_EQ(attr(host, "foundation"), "1");
  EXPECT_EQ(attr(host, "component"), "1");
  EXPECT_EQ(attr(host, "protocol"), "udp");
  EXPECT_EQ(attr(host, "priority"), "2130706431");
  EXPECT_EQ(attr(host, "ip"), "10.0.0.5");
  EXPECT_EQ(attr(host, "port"), "10000");
  EXPECT_EQ(attr(host, "type"), "host");
  EXPECT_EQ(attr(host, "generation"), "0");
  EXPECT_EQ(attr(host, "network"), "0");
  EXPECT_EQ(attr(host, "id"), "a1");
  EXPECT_FALSE(optionalAttr(host, "rel-addr"));
  EXPECT_FALSE(optionalAttr(host, "rel-port"));
  EXPECT_EQ(xmpp_stanza_get_attribute_count(host),
            11);  // + xmlns: parsed elements carry their namespace
  xmpp_stanza_t* srflx = iceChildren[1];
  EXPECT_EQ(name(srflx), "candidate");
  EXPECT_EQ(attr(srflx, "foundation"), "3");
  EXPECT_EQ(attr(srflx, "priority"), "1694498815");
  EXPECT_EQ(attr(srflx, "ip"), "203.0.113.7");
  EXPECT_EQ(attr(srflx, "port"), "10000");
  EXPECT_EQ(attr(srflx, "type"), "srflx");
  EXPECT_EQ(attr(srflx, "rel-addr"), "10.0.0.5");
  EXPECT_EQ(attr(srflx, "rel-port"), "10000");
  EXPECT_EQ(attr(srflx, "id"), "a2");
  EXPECT_EQ(xmpp_stanza_get_attribute_count(srflx), 13);
  EXPECT_EQ(name(iceChildren[2]), "rtcp-mux");
  EXPECT_EQ(ns(iceChildren[2]), kNsIceUdp);
  xmpp_stanza_t* fp = iceChildren[3];
  EXPECT_EQ(name(fp), "fingerprint");
  EXPECT_EQ(ns(fp), kNsDtls);
  EXPECT_EQ(attr(fp, "hash"), "sha-256");
  EXPECT_EQ(attr(fp, "setup"), "actpass");
  EXPECT_EQ(text(fp), kFingerprint);
  xmpp_stanza_t* ws = iceChildren[4];
  EXPECT_EQ(name(ws), "web-socket");
  EXPECT_EQ(ns(ws), "http://jitsi.org/protocol/colibri");
  const std::string url = attr(ws, "url");
  const std::string prefix =
      "wss://meet.example.com:443/colibri-ws/default-id/" + conf->internalId + "/9a8b7c6d?pwd=";
  ASSERT_EQ(url.substr(0, prefix.size()), prefix) << url;
  EXPECT_EQ(url.substr(prefix.size()), ep->websocketPassword);
  EXPECT_EQ(ep->websocketPassword.size(), 24u);
  EXPECT_TRUE(alnum(ep->websocketPassword));
  EXPECT_EQ(conf->internalId.size(), 16u);

  xmpp_stanza_t* sctp = tChildren[1];
  EXPECT_EQ(name(sctp), "sctp");
  EXPECT_EQ(ns(sctp), "jitsi:colibri2");
  EXPECT_EQ(attr(sctp, "port"), "5000");
  EXPECT_EQ(attr(sctp, "role"), "server");

  // Feedback sources: jvb-a0 / jvb-v0 with the conference's SSRCs.
  xmpp_stanza_t* sources = children[1];
  EXPECT_EQ(name(sources), "sources");
  EXPECT_EQ(ns(sources), "jitsi:colibri2");
  const auto ms = tags(sources);
  ASSERT_EQ(ms.size(), 2u);
  const std::vector<std::tuple<std::string, std::string, uint32_t>> want = {
      {"audio", "jvb-a0", conf->feedbackAudioSsrc}, {"video", "jvb-v0", conf->feedbackVideoSsrc}};
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(name(ms[i]), "media-source");
    EXPECT_EQ(ns(ms[i]), "jitsi:colibri2");
    EXPECT_EQ(attr(ms[i], "type"), std::get<0>(want[i]));
    EXPECT_EQ(attr(ms[i], "id"), std::get<1>(want[i]));
    const auto src = tags(ms[i]);
    ASSERT_EQ(src.size(), 1u);
    EXPECT_EQ(name(src[0]), "source");
    EXPECT_EQ(ns(src[0]), kNsSsma);
    EXPECT_EQ(attr(src[0], "name"), std::get<1>(want[i]));
    const std::string ssrc = attr(src[0], "ssrc");
    ASSERT_FALSE(ssrc.empty());
    EXPECT_TRUE(std::all_of(ssrc.begin(), ssrc.end(), ::isdigit)) << ssrc;
    EXPECT_EQ(std::stoull(ssrc), std::get<2>(want[i]));
  }

  // What the registry took from the request: audio only, video ignored.
  EXPECT_EQ(conf->name, "room1@conference.example.com");
  EXPECT_EQ(ep->statsId, "Alice-x1");
  EXPECT_TRUE(ep->iceControlling);
  EXPECT_TRUE(ep->sctpRequested);
  ASSERT_EQ(ep->audioPayloadTypes.size(), 2u);
  const control::PayloadType& opus = ep->audioPayloadTypes[0];
  EXPECT_EQ(opus.id, 111);
  EXPECT_EQ(opus.name, "opus");
  EXPECT_EQ(opus.clockrate, 48000u);
  EXPECT_EQ(opus.channels, 2);
  EXPECT_EQ(opus.parameters.size(), 2u);
  EXPECT_EQ(opus.parameters.at("minptime"), "10");
  ASSERT_EQ(opus.rtcpFb.size(), 1u);
  EXPECT_EQ(opus.rtcpFb[0].type, "transport-cc");
  EXPECT_EQ(ep->audioPayloadTypes[1].channels, 1);
  ASSERT_EQ(ep->audioHeaderExtensions.size(), 3u);
  EXPECT_EQ(ep->audioHeaderExtensions[2].id, 5);
  EXPECT_TRUE(ep->extmapAllowMixed);
  EXPECT_TRUE(ep->acceptsAudio);
  ASSERT_EQ(ep->audioSources.size(), 1u);
  EXPECT_EQ(ep->audioSources.at(1234567890u).name, "9a8b7c6d-a0");
  EXPECT_EQ(ep->capabilities, (std::set<std::string>{"source-names", "ssrc-rewriting"}));
}

TEST_F(Colibri2Test, GetAndSetAreHandledAlike) {
  auto get = send(iq("get", "g1", modify(" create='true'", "")));
  ASSERT_NE(modified(get), nullptr);
  auto set = send(iq("set", "s1", modify(" expire='true'", "")));
  xmpp_stanza_t* cm = modified(set);
  ASSERT_NE(cm, nullptr);
  EXPECT_TRUE(tags(cm).empty());
  EXPECT_EQ(registry_.findByMeetingId(kMeeting), nullptr);
}

TEST_F(Colibri2Test, CreateWithRemoteFingerprintAnswersWithOurRoleAndNoSctpUnlessAsked) {
  auto reply = send(iq("set", "c2", modify(" create='true'", R"(
    <endpoint id='e1' create='true'>
      <transport ice-controlling='false'>
        <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='uf' pwd='pw'>
          <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='SHA-256' setup='active'>12:34</fingerprint>
        </transport>
      </transport>
      <capability name='source-names'/>
    </endpoint>)")));
  xmpp_stanza_t* cm = modified(reply);
  ASSERT_NE(cm, nullptr);
  xmpp_stanza_t* transport = tags(tags(cm)[0])[0];
  ASSERT_EQ(tags(transport).size(), 1u);  // no <sctp>
  xmpp_stanza_t* ice = tags(transport)[0];
  xmpp_stanza_t* fp = xmpp_stanza_get_child_by_name(ice, "fingerprint");
  ASSERT_NE(fp, nullptr);
  EXPECT_EQ(attr(fp, "setup"), "passive");
  const control::Endpoint* ep = registry_.findEndpoint(kMeeting, "e1");
  EXPECT_FALSE(ep->iceControlling);
  EXPECT_EQ(ep->remoteFingerprints[0].hash, "sha-256");
  EXPECT_FALSE(ep->acceptsAudio);
}

TEST_F(Colibri2Test, WebSocketUrlFollowsTheSettings) {
  WebsocketSettings ws{true, "jvb.example.org", false, "jvb-7"};
  EXPECT_EQ(colibriWebSocketUrl(ws, "00ff", "ep", "pw"),
            "ws://jvb.example.org/colibri-ws/jvb-7/00ff/ep?pwd=pw");
  jvb::config::BridgeConfig cfg;
  cfg.websocketsEnabled = true;
  cfg.websocketsDomain = "meet.example.com:443";
  const auto fromCfg = websocketSettings(cfg);
  EXPECT_TRUE(fromCfg.enabled);
  EXPECT_EQ(fromCfg.domain, "meet.example.com:443");
  EXPECT_TRUE(fromCfg.tls);
  EXPECT_EQ(fromCfg.serverId, "default-id");

  // Disabled: no <web-socket>.
  IqDispatcher iqs;
  Colibri2Local local = local_;
  local.websocket.enabled = false;
  registerColibri2(iqs, registry_, local, nullptr);
  auto request = parse(ctx_.get(), iq("get", "c1", kCreateBody));
  auto reply = iqs.handle(ctx_.get(), request.get());
  const std::string xml = toText(reply.get());
  EXPECT_EQ(attr(reply.get(), "type"), "result") << xml;
  EXPECT_EQ(xml.find("web-socket"), std::string::npos) << xml;
}

TEST_F(Colibri2Test, TransportUpdateSourcesUpdateForceMuteAndExpire) {
  createConference();
  createEndpoint("0f0e0d0c");
  // Transport update from the client (section 3.8).
  auto reply = send(iq("get", "t1", modify("", R"(
    <endpoint id='9a8b7c6d' stats-id='Alice-x1'>
      <transport>
        <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Hk3q' pwd='zq9zq9zq9zq9zq9zq9zq9z'>
          <rtcp-mux/>
          <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>12:34:56:78</fingerprint>
          <candidate foundation='842' component='1' protocol='udp' priority='2122260223' ip='192.0.2.10'
                     port='53211' type='host' generation='0' network='1' id='c0'/>
          <candidate foundation='843' component='1' protocol='udp' priority='1686052607' ip='198.51.100.4'
                     port='40000' type='srflx' rel-addr='192.0.2.10' rel-port='53211' generation='0'
                     network='1' id='c1'/>
        </transport>
      </transport>
    </endpoint>)")));
  xmpp_stanza_t* cm = modified(reply);
  ASSERT_NE(cm, nullptr);
  auto children = tags(cm);
  ASSERT_EQ(children.size(), 1u);  // no feedback sources without a create
  EXPECT_EQ(attr(children[0], "id"), "9a8b7c6d");
  EXPECT_TRUE(tags(children[0]).empty());
  EXPECT_EQ(xmpp_stanza_get_attribute_count(children[0]), 2);  // xmlns, id
  const control::Endpoint* ep = registry_.findEndpoint(kMeeting, "9a8b7c6d");
  EXPECT_EQ(ep->remoteUfrag, "Hk3q");
  EXPECT_EQ(ep->remotePwd, "zq9zq9zq9zq9zq9zq9zq9z");
  EXPECT_TRUE(ep->remoteRtcpMux);
  EXPECT_EQ(ep->dtlsSetup, "passive");
  ASSERT_EQ(ep->remoteFingerprints.size(), 1u);
  EXPECT_EQ(ep->remoteFingerprints[0].value, "12:34:56:78");
  ASSERT_EQ(ep->remoteCandidates.size(), 2u);
  const jvb::ice::Candidate& c = ep->remoteCandidates[1];
  EXPECT_EQ(c.foundation, "843");
  EXPECT_EQ(c.priority, 1686052607u);
  EXPECT_EQ(c.ip, "198.51.100.4");
  EXPECT_EQ(c.port, 40000);
  EXPECT_EQ(c.type, "srflx");
  EXPECT_EQ(c.relAddr, "192.0.2.10");
  EXPECT_EQ(c.relPort, 53211);
  EXPECT_EQ(c.network, 1);
  EXPECT_EQ(c.id, "c1");

  // Sources update: replaces the audio sources.
  reply = send(iq("get", "s1", modify("", R"(
    <endpoint id='9a8b7c6d'><sources>
      <media-source type='audio' id='9a8b7c6d-a0'>
        <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='4294967295' name='9a8b7c6d-a0'/>
      </media-source>
    </sources></endpoint>)")));
  ASSERT_NE(modified(reply), nullptr);
  ep = registry_.findEndpoint(kMeeting, "9a8b7c6d");
  ASSERT_EQ(ep->audioSources.size(), 1u);
  EXPECT_EQ(ep->audioSources.count(4294967295u), 1u);

  // Force-mute batch with an unknown id: all echoed bare, known ones muted.
  reply = send(iq("get", "m1", modify("", R"(
    <endpoint id='9a8b7c6d'><force-mute audio='true'/></endpoint>
    <endpoint id='deadbeef'><force-mute audio='true'/></endpoint>
    <endpoint id='0f0e0d0c'><force-mute audio='true' video='true'/></endpoint>)")));
  cm = modified(reply);
  ASSERT_NE(cm, nullptr);
  children = tags(cm);
  ASSERT_EQ(children.size(), 3u);
  const std::vector<std::string> ids = {"9a8b7c6d", "deadbeef", "0f0e0d0c"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(attr(children[i], "id"), ids[i]);
    EXPECT_EQ(xmpp_stanza_get_attribute_count(children[i]), 2);  // xmlns, id
    EXPECT_TRUE(tags(children[i]).empty());
  }
  EXPECT_TRUE(registry_.findEndpoint(kMeeting, "9a8b7c6d")->forceMuteAudio);
  EXPECT_TRUE(registry_.findEndpoint(kMeeting, "0f0e0d0c")->forceMuteVideo);

  // Endpoint expire (also of one that is already gone).
  reply = send(iq("get", "x1",
                  modify("",
                         "<endpoint id='9a8b7c6d' expire='true'/>"
                         "<endpoint id='deadbeef' expire='true'/>")));
  cm = modified(reply);
  ASSERT_NE(cm, nullptr);
  children = tags(cm);
  ASSERT_EQ(children.size(), 2u);
  for (xmpp_stanza_t* e : children) {
    EXPECT_EQ(attr(e, "expire"), "true");
    EXPECT_EQ(xmpp_stanza_get_attribute_count(e), 3);  // xmlns, id, expire
  }
  EXPECT_EQ(registry_.findEndpoint(kMeeting, "9a8b7c6d"), nullptr);
  ASSERT_NE(registry_.findByMeetingId(kMeeting), nullptr);

  // Conference expire: empty <conference-modified/>.
  reply = send(iq("get", "x2", modify(" expire='true'", "")));
  cm = modified(reply);
  ASSERT_NE(cm, nullptr);
  EXPECT_TRUE(tags(cm).empty());
  EXPECT_EQ(registry_.findByMeetingId(kMeeting), nullptr);
}

// Jicofo's in-place ICE restart (Colibri2Session.restartIce) and the
// endpoint's tagged answer (lib-jitsi-meet _sendIceRestartTransportInfo,
// forwarded by Jicofo's updateParticipant), on the wire.
TEST_F(Colibri2Test, IceRestartAnswersWithATaggedTransportAndTakesTheTaggedAnswer) {
  createConference();
  const std::string id = "9a8b7c6d";
  const auto before = registry_.findEndpoint(kMeeting, id)->localIce;
  registry_.iceConnected(kMeeting, id);  // the media thread's event
  const std::string restart = modify("", "<endpoint id='" + id +
                                             "' stats-id='Alice-x1'><transport ice-restart='true'/>"
                                             "</endpoint>");
  auto reply = send(iq("set", "r1", restart));
  xmpp_stanza_t* cm = modified(reply);
  ASSERT_NE(cm, nullptr);
  auto eps = tags(cm);
  ASSERT_EQ(eps.size(), 1u);  // no feedback sources: not a create
  EXPECT_EQ(attr(eps[0], "id"), id);
  auto transports = tags(eps[0]);
  ASSERT_EQ(transports.size(), 1u);
  EXPECT_EQ(name(transports[0]), "transport");
  EXPECT_EQ(ns(transports[0]), "jitsi:colibri2");
  auto inner = tags(transports[0]);
  ASSERT_EQ(inner.size(), 1u);  // no <sctp>: the request had none (JVB)
  xmpp_stanza_t* ice = inner[0];
  EXPECT_EQ(ns(ice), "urn:xmpp:jingle:transports:ice-udp:1");
  EXPECT_EQ(attr(ice, "ice-generation"), "1");
  const std::string ufrag = attr(ice, "ufrag");
  const std::string pwd = attr(ice, "pwd");
  EXPECT_NE(ufrag, before.ufrag);
  EXPECT_NE(pwd, before.pwd);
  EXPECT_TRUE(iceChars(ufrag) && iceChars(pwd));
  std::vector<std::string> kinds;
  std::string url;
  for (xmpp_stanza_t* c : tags(ice)) {
    kinds.push_back(name(c));
    if (name(c) == "fingerprint") {
      EXPECT_EQ(attr(c, "hash"), "sha-256");
      EXPECT_EQ(attr(c, "setup"), "actpass");
      EXPECT_EQ(text(c), kFingerprint);  // the same DTLS identity
    } else if (name(c) == "web-socket") {
      url = attr(c, "url");
    }
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"candidate", "candidate", "rtcp-mux", "fingerprint",
                                             "web-socket"}));
  const auto* ep = registry_.findEndpoint(kMeeting, id);
  EXPECT_NE(url.find("?pwd=" + ep->websocketPassword), std::string::npos) << url;
  EXPECT_EQ(ep->localIce.ufrag, before.ufrag);  // until the media thread cuts over
  ASSERT_TRUE(ep->iceRestart);
  EXPECT_EQ(ep->iceRestart->local.ufrag, ufrag);

  // The endpoint's answer, tagged with the same generation.
  reply = send(iq("set", "t1", modify("", "<endpoint id='" + id + R"('>
      <transport>
        <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='nEw1' pwd='newnewnewnewnewnewnew1'
                   ice-generation='1'>
          <rtcp-mux/>
          <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>12:34</fingerprint>
          <candidate foundation='9' component='1' protocol='udp' priority='2122260223' ip='192.0.2.20'
                     port='50000' type='host' generation='1' network='1' id='n0'/>
        </transport>
      </transport>
    </endpoint>)")));
  cm = modified(reply);
  ASSERT_NE(cm, nullptr);
  eps = tags(cm);
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_TRUE(tags(eps[0]).empty());  // an update: nothing signalled back
  ep = registry_.findEndpoint(kMeeting, id);
  ASSERT_TRUE(ep->iceRestart && ep->iceRestart->remoteKnown);
  EXPECT_EQ(ep->iceRestart->remoteUfrag, "nEw1");
  EXPECT_EQ(ep->iceRestart->remotePwd, "newnewnewnewnewnewnew1");
  ASSERT_EQ(ep->iceRestart->remoteCandidates.size(), 1u);
  EXPECT_EQ(ep->iceRestart->remoteCandidates[0].port, 50000);
  EXPECT_TRUE(ep->remoteUfrag.empty());  // the established transport's are untouched

  // Restarts disabled: the reply has the endpoint but no <transport>.
  registry_.setIceRestartEnabled(false);
  reply = send(iq("set", "r2", restart));
  cm = modified(reply);
  ASSERT_NE(cm, nullptr);
  eps = tags(cm);
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(attr(eps[0], "id"), id);
  EXPECT_TRUE(tags(eps[0]).empty());
}

}  // namespace
