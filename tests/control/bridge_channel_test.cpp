// The bridge-channel codec and BridgeChannelHub, with fake transports that
// record what they are given.
#include "control/bridge_channel.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

using namespace jvb::control;
using namespace jvb::media;
using json = nlohmann::json;
using Mode = AudioSubscription::Mode;
constexpr auto kWs = ChannelTransport::kWebSocket;
constexpr auto kSctp = ChannelTransport::kSctp;
constexpr const char* kMeeting = "m1";

// The alternative, by value (a default one when the variant holds another).
template <class T>
T as(const channel::ClientMessage& m) {
  EXPECT_TRUE(std::holds_alternative<T>(m)) << "variant index " << m.index();
  const T* p = std::get_if<T>(&m);
  return p != nullptr ? *p : T{};
}

std::string malformedReason(std::string_view text) {
  auto m = channel::parse(text);
  const auto* bad = std::get_if<channel::Malformed>(&m);
  return bad == nullptr ? std::string("<not malformed>") : bad->reason;
}

// --- AudioSubscription ------------------------------------------------------

TEST(AudioSubscription, AllowsByMode) {
  AudioSubscription all;
  EXPECT_TRUE(all.allows("a"));
  EXPECT_FALSE(all.allowsSynthetic("a"));
  AudioSubscription none{Mode::kNone, {}, {}};
  EXPECT_FALSE(none.allows("a"));
  AudioSubscription inc{Mode::kInclude, {"a"}, {"a"}};
  EXPECT_TRUE(inc.allows("a"));
  EXPECT_FALSE(inc.allows("b"));
  EXPECT_TRUE(inc.allowsSynthetic("a"));
  AudioSubscription exc{Mode::kExclude, {"a"}, {}};
  EXPECT_FALSE(exc.allows("a"));
  EXPECT_TRUE(exc.allows("b"));
}

TEST(AudioSubscription, FromFieldsFollowsJvb) {
  // all=true: everything regular but `exclude`; `include` only adds synthetic sources.
  auto s = AudioSubscription::fromFields(true, {"syn"}, {});
  EXPECT_EQ(s.mode, Mode::kAll);
  EXPECT_TRUE(s.allowsSynthetic("syn"));
  s = AudioSubscription::fromFields(true, {}, {"x", "x"});
  EXPECT_EQ(s, (AudioSubscription{Mode::kExclude, {"x"}, {}}));
  // all=false: `include` minus `exclude`.
  s = AudioSubscription::fromFields(false, {"a", "b", "a"}, {"b"});
  EXPECT_EQ(s, (AudioSubscription{Mode::kInclude, {"a"}, {"a"}}));
  EXPECT_FALSE(s.allows("b"));
  EXPECT_FALSE(s.allowsSynthetic("b"));
  s = AudioSubscription::fromFields(false, {"b"}, {"b"});
  EXPECT_EQ(s.mode, Mode::kNone);
  EXPECT_EQ(AudioSubscription::fromFields(false, {}, {}).mode, Mode::kNone);
}

// --- Codec: client messages -------------------------------------------------

TEST(ChannelCodec, ClientHello) {
  as<channel::ClientHello>(channel::parse(R"({"colibriClass":"ClientHello"})"));
  // Unknown properties are ignored.
  as<channel::ClientHello>(
      channel::parse(R"( {"x":[1,{"y":null}],"colibriClass":"ClientHello"} )"));
}

TEST(ChannelCodec, EndpointMessageKeepsEverything) {
  const auto& m = as<channel::EndpointMessage>(channel::parse(
      R"({"colibriClass":"EndpointMessage","to":"b","msgPayload":{"type":"e2e","n":[1,2.5,"x"]}})"));
  EXPECT_EQ(m.to, "b");
  EXPECT_FALSE(m.isBroadcast());
  EXPECT_EQ(m.fields["msgPayload"], json::parse(R"({"type":"e2e","n":[1,2.5,"x"]})"));
  EXPECT_EQ(m.fields["colibriClass"], "EndpointMessage");
}

TEST(ChannelCodec, EndpointMessageBlankOrAbsentToIsBroadcast) {
  for (const char* text : {R"({"colibriClass":"EndpointMessage","to":""})",
                           R"({"colibriClass":"EndpointMessage","to":" \t"})",
                           R"({"colibriClass":"EndpointMessage","to":null})",
                           R"({"colibriClass":"EndpointMessage"})"}) {
    EXPECT_TRUE(as<channel::EndpointMessage>(channel::parse(text)).isBroadcast()) << text;
  }
  EXPECT_NE(malformedReason(R"({"colibriClass":"EndpointMessage","to":5})"), "<not malformed>");
}

TEST(ChannelCodec, EndpointStats) {
  const auto& m = as<channel::EndpointStats>(
      channel::parse(R"({"colibriClass":"EndpointStats","bitrate":{"upload":10},"from":"x"})"));
  EXPECT_EQ(m.fields["bitrate"]["upload"], 10);
}

TEST(ChannelCodec, LastN) {
  EXPECT_EQ(as<channel::LastNChanged>(
                channel::parse(R"({"colibriClass":"LastNChangedEvent","lastN":-1})"))
                .lastN,
            -1);
  EXPECT_EQ(as<channel::LastNChanged>(
                channel::parse(R"({"colibriClass":"LastNChangedEvent","lastN":20})"))
                .lastN,
            20);
  for (const char* text : {R"({"colibriClass":"LastNChangedEvent"})",
                           R"({"colibriClass":"LastNChangedEvent","lastN":"5"})",
                           R"({"colibriClass":"LastNChangedEvent","lastN":1.5})",
                           R"({"colibriClass":"LastNChangedEvent","lastN":4294967296})",
                           R"({"colibriClass":"LastNChangedEvent","lastN":-4294967296})"}) {
    EXPECT_NE(malformedReason(text), "<not malformed>") << text;
  }
}

TEST(ChannelCodec, ReceiverAudioSubscriptionNewForm) {
  auto sub = [](const char* fields) {
    return as<channel::ReceiverAudioSubscription>(channel::parse(
        std::string(R"({"colibriClass":"ReceiverAudioSubscription")") + fields + "}"));
  };
  auto m = sub(R"(,"all":true,"include":[],"exclude":[])");  // what LJM sends by default
  EXPECT_EQ(m.subscription.mode, Mode::kAll);
  EXPECT_FALSE(m.legacy);
  m = sub(R"(,"all":true,"exclude":["a-a0"])");
  EXPECT_EQ(m.subscription, (AudioSubscription{Mode::kExclude, {"a-a0"}, {}}));
  m = sub(R"(,"all":false,"include":["a-a0","b-a0"],"exclude":["b-a0"])");
  EXPECT_EQ(m.subscription, (AudioSubscription{Mode::kInclude, {"a-a0"}, {"a-a0"}}));
  EXPECT_EQ(m.include, (std::vector<std::string>{"a-a0", "b-a0"}));
  EXPECT_EQ(m.exclude, (std::vector<std::string>{"b-a0"}));
  m = sub(R"(,"include":["a-a0"])");  // `all` defaults to false
  EXPECT_EQ(m.subscription.mode, Mode::kInclude);
  m = sub("");  // no fields: all=false, nothing
  EXPECT_EQ(m.subscription.mode, Mode::kNone);
  m = sub(R"(,"all":null,"include":null)");
  EXPECT_EQ(m.subscription.mode, Mode::kNone);
  m = sub(R"(,"all":true,"include":["syn"])");  // synthetic source on top of all
  EXPECT_EQ(m.subscription.mode, Mode::kAll);
  EXPECT_TRUE(m.subscription.allowsSynthetic("syn"));
  m = sub(R"(,"list":["x"])");  // `list` belongs to the legacy form
  EXPECT_EQ(m.subscription.mode, Mode::kNone);
}

TEST(ChannelCodec, ReceiverAudioSubscriptionLegacyForm) {
  auto sub = [](const char* fields) {
    return channel::parse(std::string(R"({"colibriClass":"ReceiverAudioSubscription")") + fields +
                          "}");
  };
  auto m = as<channel::ReceiverAudioSubscription>(sub(R"(,"mode":"All")"));
  EXPECT_TRUE(m.legacy);
  EXPECT_EQ(m.subscription.mode, Mode::kAll);
  m = as<channel::ReceiverAudioSubscription>(sub(R"(,"mode":"None","list":["a"])"));
  EXPECT_EQ(m.subscription.mode, Mode::kNone);
  m = as<channel::ReceiverAudioSubscription>(sub(R"(,"mode":"Include","list":["a","b"])"));
  EXPECT_EQ(m.subscription, (AudioSubscription{Mode::kInclude, {"a", "b"}, {"a", "b"}}));
  m = as<channel::ReceiverAudioSubscription>(sub(R"(,"mode":"Exclude","list":["a"])"));
  EXPECT_EQ(m.subscription, (AudioSubscription{Mode::kExclude, {"a"}, {}}));
  m = as<channel::ReceiverAudioSubscription>(sub(R"(,"mode":"Include")"));
  EXPECT_EQ(m.subscription.mode, Mode::kNone);
  // `mode` wins over the new fields.
  m = as<channel::ReceiverAudioSubscription>(sub(R"(,"mode":"None","all":true)"));
  EXPECT_EQ(m.subscription.mode, Mode::kNone);
  // JVB compares the mode string exactly.
  EXPECT_NE(malformedReason(R"({"colibriClass":"ReceiverAudioSubscription","mode":"all"})"),
            "<not malformed>");
  EXPECT_NE(malformedReason(R"({"colibriClass":"ReceiverAudioSubscription","mode":"EXCLUDE"})"),
            "<not malformed>");
  EXPECT_NE(malformedReason(R"({"colibriClass":"ReceiverAudioSubscription","mode":7})"),
            "<not malformed>");
  EXPECT_NE(malformedReason(
                R"({"colibriClass":"ReceiverAudioSubscription","mode":"Include","list":"a"})"),
            "<not malformed>");
}

TEST(ChannelCodec, ReceiverAudioSubscriptionBadTypes) {
  for (const char* fields : {R"("all":"true")", R"("all":1)", R"("include":"a")",
                             R"("include":[1])", R"("exclude":[null])", R"("exclude":{})"}) {
    const std::string text =
        std::string(R"({"colibriClass":"ReceiverAudioSubscription",)") + fields + "}";
    EXPECT_NE(malformedReason(text), "<not malformed>") << text;
  }
}

TEST(ChannelCodec, VideoMessages) {
  as<channel::ReceiverVideoConstraints>(channel::parse(
      R"({"colibriClass":"ReceiverVideoConstraints","lastN":3,"constraints":{"a-v0":{"maxHeight":180}}})"));
  const auto& s = as<channel::SourceVideoType>(channel::parse(
      R"({"colibriClass":"SourceVideoTypeMessage","sourceName":"a-v0","videoType":"desktop"})"));
  EXPECT_EQ(s.sourceName, "a-v0");
  EXPECT_EQ(s.videoType, "desktop");
  EXPECT_FALSE(s.legacy);
  EXPECT_TRUE(as<channel::SourceVideoType>(
                  channel::parse(R"({"colibriClass":"VideoTypeMessage","videoType":"camera"})"))
                  .legacy);
}

TEST(ChannelCodec, UnknownClasses) {
  // colibriClass is case-sensitive; bridge-to-client classes are not for us.
  for (const char* cls : {"Foo", "clienthello", "ServerHello", "DominantSpeakerEndpointChangeEvent",
                          "", "AddReceiver"}) {
    const json j = {{"colibriClass", cls}};
    EXPECT_EQ(as<channel::Unknown>(channel::parse(j.dump())).colibriClass, cls);
  }
}

TEST(ChannelCodec, MalformedInputs) {
  for (const char* text : {"",
                           " ",
                           "{",
                           "}",
                           "nul",
                           "[]",
                           "\"ClientHello\"",
                           "42",
                           "null",
                           R"({"colibriclass":"ClientHello"})",
                           R"({"colibriClass":5})",
                           R"({"colibriClass":null})",
                           R"({"colibriClass":"ClientHello",})",
                           R"({"colibriClass":"ClientHello"} x)",
                           R"({"colibriClass":"ClientHello"}{})",
                           R"({'colibriClass':'ClientHello'})",
                           R"({"colibriClass":"ClientHello","a":1,"a":2})",
                           R"({"colibriClass":"ClientHello","colibriClass":"ClientHello"})",
                           R"({"colibriClass":"EndpointMessage","x":{"k":1,"k":1}})",
                           "{\"colibriClass\":\"ClientHello\",\"s\":\"\xff\xfe\"}",
                           "{\"colibriClass\":\"ClientHello\",\"s\":\"a\nb\"}",
                           R"({"colibriClass":"ClientHello","n":1e999})",
                           "{\"colibriClass\":\"Client\0Hello\"}",
                           "\xef\xbb\xbf"}) {
    EXPECT_NE(malformedReason(text), "<not malformed>") << text;
  }
  // A NUL byte is never valid JSON outside a string, nor raw inside one
  // (nlohmann's lexer would take it for the end of the input).
  EXPECT_NE(malformedReason(std::string_view("{\"colibriClass\":\"ClientHello\"}\0x", 32)),
            "<not malformed>");
}

TEST(ChannelCodec, SizeLimit) {
  const std::string head = R"({"colibriClass":"EndpointMessage","to":"","pad":")";
  const std::string tail = R"("})";
  std::string text =
      head + std::string(kMaxChannelMessageBytes - head.size() - tail.size(), 'x') + tail;
  ASSERT_EQ(text.size(), kMaxChannelMessageBytes);
  as<channel::EndpointMessage>(channel::parse(text));
  text.insert(head.size(), "x");
  EXPECT_NE(malformedReason(text).find("larger than"), std::string::npos);
}

TEST(ChannelCodec, DepthLimit) {
  auto nested = [](std::size_t levels) {
    // The root object is level 1.
    std::string inner;
    for (std::size_t i = 1; i < levels; ++i) {
      inner += "[";
    }
    inner += "0";
    for (std::size_t i = 1; i < levels; ++i) {
      inner += "]";
    }
    return R"({"colibriClass":"EndpointStats","d":)" + inner + "}";
  };
  as<channel::EndpointStats>(channel::parse(nested(kMaxChannelJsonDepth)));
  EXPECT_NE(malformedReason(nested(kMaxChannelJsonDepth + 1)).find("nested"), std::string::npos);
  // Far deeper than any stack would take, and objects too.
  EXPECT_NE(malformedReason(std::string(kMaxChannelMessageBytes, '[')), "<not malformed>");
  std::string objects;
  while (objects.size() + 6 < kMaxChannelMessageBytes) {
    objects += R"({"a":)";
  }
  EXPECT_NE(malformedReason(objects).find("nested"), std::string::npos);
}

// --- Codec: bridge messages -------------------------------------------------

TEST(ChannelCodec, Builders) {
  EXPECT_EQ(json::parse(channel::serverHello()), json::parse(R"({"colibriClass":"ServerHello"})"));
  EXPECT_EQ(json::parse(channel::serverHello("2.3-1")),
            json::parse(R"({"colibriClass":"ServerHello","version":"2.3-1"})"));
  EXPECT_EQ(json::parse(channel::dominantSpeaker("a", {"b", "c"}, false)),
            json::parse(R"({"colibriClass":"DominantSpeakerEndpointChangeEvent",
                            "dominantSpeakerEndpoint":"a","previousSpeakers":["b","c"],
                            "silence":false})"));
  EXPECT_EQ(json::parse(channel::dominantSpeaker("a", {}, true))["previousSpeakers"],
            json::array());
  EXPECT_EQ(json::parse(channel::forwardedSources()),
            json::parse(R"({"colibriClass":"ForwardedSources","forwardedSources":[]})"));
  EXPECT_EQ(json::parse(channel::connectivityStatus("a", false)),
            json::parse(R"({"colibriClass":"EndpointConnectivityStatusChangeEvent",
                            "endpoint":"a","active":"false"})"));
  EXPECT_EQ(json::parse(channel::connectivityStatus("a", true))["active"], "true");
  EXPECT_EQ(json::parse(channel::relayed(
                json::parse(R"({"colibriClass":"EndpointStats","from":"x"})"), "a")),
            json::parse(R"({"colibriClass":"EndpointStats","from":"a"})"));
  // Invalid UTF-8 in an id never throws.
  EXPECT_FALSE(channel::connectivityStatus("\xff", true).empty());
}

// --- Hub --------------------------------------------------------------------

struct FakeTransport {
  std::vector<std::string> sent;
  bool accept = true;
  BridgeChannelHub::Send fn() {
    return [this](const std::string& s) {
      sent.push_back(s);
      return accept;
    };
  }
  std::vector<std::string> classes() const {
    std::vector<std::string> out;
    for (const auto& s : sent) {
      out.push_back(json::parse(s).value("colibriClass", std::string("?")));
    }
    return out;
  }
  json last() const { return sent.empty() ? json() : json::parse(sent.back()); }
  void clear() { sent.clear(); }
};

using Classes = std::vector<std::string>;

struct HubTest : ::testing::Test {
  struct Change {
    std::string meeting, endpoint;
    AudioSubscription sub;
  };
  std::vector<Change> changes;
  std::vector<std::string> visitors;
  std::vector<std::string> connectedEvents;
  BridgeChannelOptions options;
  std::unique_ptr<BridgeChannelHub> hub = make();

  std::unique_ptr<BridgeChannelHub> make() {
    BridgeChannelHub::Hooks hooks;
    hooks.audioSubscriptionChanged = [this](const std::string& m, const std::string& e,
                                            const AudioSubscription& s) {
      changes.push_back({m, e, s});
    };
    hooks.isVisitor = [this](const std::string&, const std::string& e) {
      return std::find(visitors.begin(), visitors.end(), e) != visitors.end();
    };
    hooks.channelConnected = [this](const std::string& m, const std::string& e) {
      connectedEvents.push_back(m + "/" + e);
    };
    return std::make_unique<BridgeChannelHub>(std::move(hooks), options);
  }
  // Attaches and forgets what the hub sends on open.
  void open(const std::string& ep, FakeTransport& t, ChannelTransport kind = kWs, uint64_t id = 1,
            const std::string& meeting = kMeeting) {
    hub->attach(meeting, ep, kind, id, t.fn());
    t.clear();
  }
  void say(const std::string& ep, std::string_view text, ChannelTransport kind = kWs) {
    hub->onMessage(kMeeting, ep, kind, text);
  }
};

TEST_F(HubTest, WebSocketOpenGetsServerHelloThenForwardedSources) {
  FakeTransport a;
  hub->attach(kMeeting, "a", kWs, 1, a.fn());
  EXPECT_EQ(a.classes(), (Classes{"ServerHello", "ForwardedSources"}));
  EXPECT_EQ(json::parse(a.sent[0]), json::parse(R"({"colibriClass":"ServerHello"})"));
  EXPECT_EQ(connectedEvents, (Classes{"m1/a"}));
  EXPECT_TRUE(hub->connected(kMeeting, "a"));
}

TEST_F(HubTest, ServerHelloCarriesConfiguredVersion) {
  options.version = "1.2.3";
  hub = make();
  FakeTransport a;
  hub->attach(kMeeting, "a", kWs, 1, a.fn());
  EXPECT_EQ(json::parse(a.sent[0])["version"], "1.2.3");
}

TEST_F(HubTest, SctpOpenGetsServerHelloToo) {
  FakeTransport a;
  hub->attach(kMeeting, "a", kSctp, 7, a.fn());
  EXPECT_EQ(a.classes(), (Classes{"ServerHello", "ForwardedSources"}));
}

TEST_F(HubTest, OpenGetsCurrentDominantSpeaker) {
  hub->dominantSpeakerChanged(kMeeting, "b", {"c", "b"}, false);
  FakeTransport a;
  hub->attach(kMeeting, "a", kSctp, 1, a.fn());
  EXPECT_EQ(a.classes(),
            (Classes{"ServerHello", "ForwardedSources", "DominantSpeakerEndpointChangeEvent"}));
  EXPECT_EQ(a.last()["dominantSpeakerEndpoint"], "b");
  EXPECT_EQ(a.last()["previousSpeakers"], json::parse(R"(["c"])"));
  EXPECT_EQ(a.last()["silence"], false);
}

TEST_F(HubTest, ClientHelloAnsweredOnTheSameTransport) {
  FakeTransport ws, sctp;
  open("a", ws, kWs, 1);
  open("a", sctp, kSctp, 2);
  ws.clear();
  say("a", R"({"colibriClass":"ClientHello"})", kSctp);
  EXPECT_TRUE(ws.sent.empty());
  EXPECT_EQ(sctp.classes(), (Classes{"ServerHello"}));
  say("a", R"({"colibriClass":"ClientHello"})", kWs);
  EXPECT_EQ(ws.classes(), (Classes{"ServerHello"}));
}

TEST_F(HubTest, ActiveTransportAsJvb) {
  FakeTransport ws, sctp, other;
  open("b", other);
  open("a", ws, kWs, 1);      // websocket last active
  open("a", sctp, kSctp, 2);  // a data channel opening does not change that
  auto ping = [&] {
    ws.clear();
    sctp.clear();
    say("b", R"({"colibriClass":"EndpointMessage","to":"a","msgPayload":{}})");
  };
  ping();
  EXPECT_EQ(ws.sent.size(), 1u);
  EXPECT_TRUE(sctp.sent.empty());
  say("a", R"({"colibriClass":"LastNChangedEvent","lastN":1})", kSctp);  // SCTP now last active
  ping();
  EXPECT_TRUE(ws.sent.empty());
  EXPECT_EQ(sctp.sent.size(), 1u);
  say("a", R"({"colibriClass":"LastNChangedEvent","lastN":1})", kWs);
  ping();
  EXPECT_EQ(ws.sent.size(), 1u);
  hub->detach(kMeeting, "a", kWs, 1);  // websocket gone: the data channel
  ping();
  EXPECT_TRUE(ws.sent.empty());
  EXPECT_EQ(sctp.sent.size(), 1u);
  hub->detach(kMeeting, "a", kSctp, 2);
  FakeTransport ws2;
  open("a", ws2, kWs, 3);  // only a websocket
  ping();
  EXPECT_EQ(ws2.sent.size(), 1u);
}

TEST_F(HubTest, DataChannelOpeningUsesActiveTransportForItsGreeting) {
  FakeTransport ws, sctp;
  open("a", ws, kWs, 1);
  hub->attach(kMeeting, "a", kSctp, 2, sctp.fn());
  // JVB sends the "transport connected" messages on the active transport;
  // the new channel itself gets only its ServerHello.
  EXPECT_EQ(ws.classes(), (Classes{"ForwardedSources"}));
  EXPECT_EQ(sctp.classes(), (Classes{"ServerHello"}));
}

TEST_F(HubTest, NewerWebSocketReplacesOlder) {
  FakeTransport b, ws1, ws2;
  open("b", b);
  open("a", ws1, kWs, 1);
  hub->attach(kMeeting, "a", kWs, 2, ws2.fn());
  EXPECT_EQ(ws2.classes(), (Classes{"ServerHello", "ForwardedSources"}));
  EXPECT_TRUE(ws1.sent.empty());
  ws2.clear();
  say("b", R"({"colibriClass":"EndpointMessage","to":"a","msgPayload":{}})");
  EXPECT_TRUE(ws1.sent.empty());
  EXPECT_EQ(ws2.sent.size(), 1u);
  // The old socket's close arrives later: a no-op.
  hub->detach(kMeeting, "a", kWs, 1);
  EXPECT_TRUE(hub->connected(kMeeting, "a"));
  say("b", R"({"colibriClass":"EndpointMessage","to":"a","msgPayload":{}})");
  EXPECT_EQ(ws2.sent.size(), 2u);
  hub->detach(kMeeting, "a", kWs, 2);
  EXPECT_FALSE(hub->connected(kMeeting, "a"));
}

TEST_F(HubTest, DetachOfUnknownOrStaleIsNoop) {
  FakeTransport a;
  open("a", a, kWs, 5);
  hub->detach(kMeeting, "a", kWs, 4);
  hub->detach(kMeeting, "a", kSctp, 5);
  hub->detach(kMeeting, "zz", kWs, 5);
  hub->detach("other", "a", kWs, 5);
  EXPECT_TRUE(hub->connected(kMeeting, "a"));
  hub->detach(kMeeting, "a", kWs, 5);
  hub->detach(kMeeting, "a", kWs, 5);
  EXPECT_FALSE(hub->connected(kMeeting, "a"));
}

TEST_F(HubTest, EndpointMessageBroadcastOverwritesFrom) {
  FakeTransport a, b, c, elsewhere;
  open("a", a);
  open("b", b, kSctp);
  open("c", c);
  open("b", elsewhere, kWs, 1, "m2");
  say("a",
      R"({"colibriClass":"EndpointMessage","to":"","from":"c","msgPayload":{"type":"reaction","v":[1,"2",{"x":null}]}})");
  EXPECT_TRUE(a.sent.empty());
  EXPECT_TRUE(elsewhere.sent.empty());
  for (auto* t : {&b, &c}) {
    ASSERT_EQ(t->sent.size(), 1u);
    EXPECT_EQ(t->last(), json::parse(R"({"colibriClass":"EndpointMessage","to":"","from":"a",
                                         "msgPayload":{"type":"reaction","v":[1,"2",{"x":null}]}})"));
  }
  EXPECT_EQ(hub->counters().endpointMessagesRelayed, 2u);
  EXPECT_EQ(hub->conferenceStats(kMeeting)->endpointMessagesRelayed, 2u);
}

TEST_F(HubTest, EndpointMessageWithoutToIsBroadcast) {
  FakeTransport a, b;
  open("a", a);
  open("b", b);
  say("a", R"({"colibriClass":"EndpointMessage","msgPayload":{"k":1}})");
  ASSERT_EQ(b.sent.size(), 1u);
  EXPECT_EQ(b.last()["from"], "a");
  EXPECT_EQ(b.last()["msgPayload"]["k"], 1);
}

TEST_F(HubTest, EndpointMessageUnicast) {
  FakeTransport a, b, c;
  open("a", a);
  open("b", b);
  open("c", c);
  say("a", R"({"colibriClass":"EndpointMessage","to":"c","from":"b","msgPayload":{"q":"?"}})");
  EXPECT_TRUE(a.sent.empty());
  EXPECT_TRUE(b.sent.empty());
  ASSERT_EQ(c.sent.size(), 1u);
  EXPECT_EQ(c.last(), json::parse(R"({"colibriClass":"EndpointMessage","to":"c","from":"a",
                                      "msgPayload":{"q":"?"}})"));
  // To itself, as JVB allows.
  say("a", R"({"colibriClass":"EndpointMessage","to":"a","msgPayload":{}})");
  EXPECT_EQ(a.sent.size(), 1u);
}

TEST_F(HubTest, EndpointMessageToUnknownOrDisconnectedEndpoint) {
  FakeTransport a, b;
  open("a", a);
  open("b", b, kWs, 9);
  hub->detach(kMeeting, "b", kWs, 9);
  say("a", R"({"colibriClass":"EndpointMessage","to":"nobody","msgPayload":{}})");
  EXPECT_EQ(hub->counters().unknownTarget, 1u);
  say("a", R"({"colibriClass":"EndpointMessage","to":"b","msgPayload":{}})");
  EXPECT_EQ(hub->counters().noTransport, 1u);
  say("a", R"({"colibriClass":"EndpointMessage","to":"","msgPayload":{}})");
  EXPECT_EQ(hub->counters().noTransport, 2u);
  EXPECT_TRUE(b.sent.empty());
  EXPECT_EQ(hub->counters().endpointMessagesRelayed, 0u);
}

TEST_F(HubTest, VisitorsMessagesAndStatsAreDropped) {
  FakeTransport a, v;
  open("a", a);
  open("v", v);
  visitors = {"v"};
  say("v", R"({"colibriClass":"EndpointMessage","to":"","msgPayload":{}})");
  say("v", R"({"colibriClass":"EndpointMessage","to":"a","msgPayload":{}})");
  say("v", R"({"colibriClass":"EndpointStats"})");
  EXPECT_TRUE(a.sent.empty());
  EXPECT_EQ(hub->counters().visitorDropped, 3u);
  // A visitor still receives broadcasts.
  say("a", R"({"colibriClass":"EndpointMessage","to":"","msgPayload":{}})");
  EXPECT_EQ(v.sent.size(), 1u);
}

TEST_F(HubTest, EndpointStatsRelayedToAllOthers) {
  FakeTransport a, b, c;
  open("a", a);
  open("b", b);
  open("c", c);
  say("b", R"({"colibriClass":"EndpointStats","from":"a","bitrate":{"download":1}})");
  EXPECT_TRUE(b.sent.empty());
  for (auto* t : {&a, &c}) {
    ASSERT_EQ(t->sent.size(), 1u);
    EXPECT_EQ(t->last(), json::parse(R"({"colibriClass":"EndpointStats","from":"b",
                                         "bitrate":{"download":1}})"));
  }
  EXPECT_EQ(hub->counters().endpointStatsRelayed, 2u);
}

TEST_F(HubTest, EndpointStatsFilterInLargeConferences) {
  options.routeLoudestOnly = true;
  options.statsFilterThreshold = 2;
  hub = make();
  FakeTransport a, b, c;
  open("a", a);
  open("b", b);
  say("a", R"({"colibriClass":"EndpointStats"})");  // 2 endpoints: no filter
  EXPECT_EQ(b.sent.size(), 1u);
  open("c", c);
  hub->dominantSpeakerChanged(kMeeting, "b", {}, false);
  a.clear();
  b.clear();
  c.clear();
  say("a", R"({"colibriClass":"EndpointStats"})");  // not a recent speaker
  EXPECT_TRUE(b.sent.empty());
  EXPECT_TRUE(c.sent.empty());
  EXPECT_EQ(hub->counters().statsFiltered, 1u);
  say("b", R"({"colibriClass":"EndpointStats"})");
  EXPECT_EQ(a.sent.size(), 1u);
  EXPECT_EQ(c.sent.size(), 1u);
}

TEST_F(HubTest, AudioSubscriptionGoesToTheHookOnChange) {
  FakeTransport a;
  open("a", a);
  say("a", R"({"colibriClass":"ReceiverAudioSubscription","all":true,"include":[],"exclude":[]})");
  EXPECT_TRUE(changes.empty());  // same as the initial state
  say("a", R"({"colibriClass":"ReceiverAudioSubscription","mode":"Include","list":["b-a0"]})");
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].meeting, kMeeting);
  EXPECT_EQ(changes[0].endpoint, "a");
  EXPECT_EQ(changes[0].sub, (AudioSubscription{Mode::kInclude, {"b-a0"}, {"b-a0"}}));
  say("a", R"({"colibriClass":"ReceiverAudioSubscription","all":false,"include":["b-a0"]})",
      kSctp);  // no SCTP attached: dropped
  say("a", R"({"colibriClass":"ReceiverAudioSubscription","all":false,"include":["b-a0"]})");
  EXPECT_EQ(changes.size(), 1u);
  say("a", R"({"colibriClass":"ReceiverAudioSubscription","all":true,"exclude":["b-a0"]})");
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[1].sub.mode, Mode::kExclude);
  EXPECT_EQ(hub->audioSubscription(kMeeting, "a"), changes[1].sub);
  EXPECT_EQ(hub->audioSubscription(kMeeting, "zz"), AudioSubscription{});
  EXPECT_EQ(hub->counters().audioSubscriptions, 4u);
  say("a", R"({"colibriClass":"ReceiverAudioSubscription","mode":"bogus"})");
  EXPECT_EQ(changes.size(), 2u);
  EXPECT_TRUE(a.sent.empty());
}

TEST_F(HubTest, VideoMessagesAreCountedAndIgnored) {
  FakeTransport a, b;
  open("a", a);
  open("b", b);
  say("a", R"({"colibriClass":"LastNChangedEvent","lastN":3})");
  say("a", R"({"colibriClass":"ReceiverVideoConstraints","lastN":0})");
  say("a", R"({"colibriClass":"SourceVideoTypeMessage","sourceName":"a-v0","videoType":"camera"})");
  say("a", R"({"colibriClass":"VideoTypeMessage","videoType":"none"})");
  EXPECT_EQ(hub->counters().videoIgnored, 4u);
  EXPECT_TRUE(a.sent.empty());
  EXPECT_TRUE(b.sent.empty());
}

TEST_F(HubTest, UnknownAndMalformedAffectNothingElse) {
  FakeTransport a, b;
  open("a", a);
  open("b", b);
  say("a", R"({"colibriClass":"Foo"})");
  say("a", R"({"colibriClass":"ServerHello"})");
  say("a", "{not json");
  say("a", std::string(kMaxChannelMessageBytes + 1, ' '));
  say("a", std::string(10000, '['));
  say("a", R"({"colibriClass":"EndpointMessage","to":[]})");
  EXPECT_EQ(hub->counters().unknownClass, 2u);
  EXPECT_EQ(hub->counters().malformed, 4u);
  EXPECT_EQ(hub->counters().messagesIn, 6u);
  EXPECT_TRUE(a.sent.empty());
  EXPECT_TRUE(b.sent.empty());
  // The channel still works.
  say("a", R"({"colibriClass":"EndpointMessage","to":"b","msgPayload":{}})");
  EXPECT_EQ(b.sent.size(), 1u);
  say("b", R"({"colibriClass":"ClientHello"})");
  EXPECT_EQ(b.classes().back(), "ServerHello");
}

TEST_F(HubTest, MessagesOnUnattachedTransportsAreDropped) {
  FakeTransport a, b;
  open("a", a);
  open("b", b);
  hub->onMessage(kMeeting, "zz", kWs, R"({"colibriClass":"EndpointMessage","msgPayload":{}})");
  hub->onMessage("nope", "a", kWs, R"({"colibriClass":"EndpointMessage","msgPayload":{}})");
  hub->onMessage(kMeeting, "a", kSctp, R"({"colibriClass":"EndpointMessage","msgPayload":{}})");
  EXPECT_EQ(hub->counters().unattachedIn, 3u);
  EXPECT_EQ(hub->counters().messagesIn, 0u);
  EXPECT_TRUE(a.sent.empty());
  EXPECT_TRUE(b.sent.empty());
}

TEST_F(HubTest, DominantSpeakerGoesToEveryConnectedEndpoint) {
  FakeTransport a, b, c, elsewhere;
  open("a", a);
  open("b", b, kSctp);
  open("c", c, kWs, 3);
  hub->detach(kMeeting, "c", kWs, 3);
  open("a", elsewhere, kWs, 1, "m2");
  hub->dominantSpeakerChanged(kMeeting, "a", {"a", "b", "c", "b"}, false);
  const json expected = json::parse(R"({"colibriClass":"DominantSpeakerEndpointChangeEvent",
      "dominantSpeakerEndpoint":"a","previousSpeakers":["b","c"],"silence":false})");
  for (auto* t : {&a, &b}) {
    ASSERT_EQ(t->sent.size(), 1u);
    EXPECT_EQ(t->last(), expected);
  }
  EXPECT_TRUE(c.sent.empty());
  EXPECT_TRUE(elsewhere.sent.empty());
  EXPECT_EQ(hub->counters().noTransport, 1u);
  hub->dominantSpeakerChanged(kMeeting, "a", {"b"}, true);
  EXPECT_EQ(a.last()["silence"], true);
  EXPECT_EQ(hub->counters().dominantSpeakerEvents, 2u);
  EXPECT_EQ(hub->conferenceStats(kMeeting)->dominantSpeakerChanges, 2u);
}

TEST_F(HubTest, EmptyDominantSpeakerClearsWithoutSending) {
  FakeTransport a, b;
  open("a", a);
  hub->dominantSpeakerChanged(kMeeting, "a", {}, false);
  a.clear();
  hub->dominantSpeakerChanged(kMeeting, "", {"a"}, true);
  EXPECT_TRUE(a.sent.empty());
  hub->attach(kMeeting, "b", kWs, 1, b.fn());
  EXPECT_EQ(b.classes(), (Classes{"ServerHello", "ForwardedSources"}));
}

TEST_F(HubTest, ExpiredEndpointLeavesTargetsAndSpeakers) {
  FakeTransport a, b, c;
  open("a", a);
  open("b", b);
  hub->dominantSpeakerChanged(kMeeting, "b", {"a"}, false);
  hub->endpointExpired(kMeeting, "b");
  a.clear();
  say("a", R"({"colibriClass":"EndpointMessage","to":"b","msgPayload":{}})");
  EXPECT_EQ(hub->counters().unknownTarget, 1u);
  hub->attach(kMeeting, "c", kWs, 1, c.fn());
  EXPECT_EQ(c.last()["dominantSpeakerEndpoint"], "a");
  EXPECT_EQ(c.last()["previousSpeakers"], json::array());
  hub->endpointExpired(kMeeting, "nobody");
  hub->endpointExpired("nothing", "a");
}

TEST_F(HubTest, ExpiredConferenceIsForgotten) {
  FakeTransport a, b;
  open("a", a);
  open("b", b);
  hub->dominantSpeakerChanged(kMeeting, "a", {}, false);
  hub->conferenceExpired(kMeeting);
  EXPECT_FALSE(hub->conferenceStats(kMeeting).has_value());
  a.clear();
  b.clear();
  say("a", R"({"colibriClass":"EndpointMessage","msgPayload":{}})");
  EXPECT_EQ(hub->counters().unattachedIn, 1u);
  EXPECT_FALSE(hub->sendTo(kMeeting, "b", "{}"));
  EXPECT_TRUE(b.sent.empty());
  hub->conferenceExpired(kMeeting);
}

TEST_F(HubTest, ConnectivityStatusBroadcastAndReplayedToNewcomers) {
  FakeTransport a, b, v, c;
  open("a", a);
  open("b", b);
  hub->connectivityChanged(kMeeting, "b", false);
  for (auto* t : {&a, &b}) {
    EXPECT_EQ(t->last(), json::parse(R"({"colibriClass":"EndpointConnectivityStatusChangeEvent",
                                         "endpoint":"b","active":"false"})"));
  }
  visitors = {"v"};
  hub->connectivityChanged(kMeeting, "v", false);
  hub->attach(kMeeting, "c", kSctp, 1, c.fn());
  EXPECT_EQ(c.classes(),
            (Classes{"ServerHello", "ForwardedSources", "EndpointConnectivityStatusChangeEvent"}));
  EXPECT_EQ(c.last()["endpoint"], "b");
  hub->connectivityChanged(kMeeting, "b", true);
  EXPECT_EQ(a.last()["active"], "true");
  hub->endpointExpired(kMeeting, "c");
  FakeTransport d;
  hub->attach(kMeeting, "d", kSctp, 1, d.fn());
  EXPECT_EQ(d.classes(), (Classes{"ServerHello", "ForwardedSources"}));
}

TEST_F(HubTest, InactiveEndpointsForNewcomersComeFromTheSourceWhenSet) {
  // The connectivity monitor decides what a newcomer is told (it keeps
  // endpoints the hub no longer knows, and drops expired ones itself).
  hub->setInactiveEndpoints([](const std::string& meeting) {
    return meeting == kMeeting ? std::vector<std::string>{"x", "y"} : std::vector<std::string>{};
  });
  FakeTransport a;
  hub->attach(kMeeting, "a", kWs, 1, a.fn());
  EXPECT_EQ(a.classes(),
            (Classes{"ServerHello", "ForwardedSources", "EndpointConnectivityStatusChangeEvent",
                     "EndpointConnectivityStatusChangeEvent"}));
  EXPECT_EQ(a.last(), json::parse(R"({"colibriClass":"EndpointConnectivityStatusChangeEvent",
                                      "endpoint":"y","active":"false"})"));
  EXPECT_EQ(hub->counters().connectivityReplayed, 2u);
  hub->connectivityChanged(kMeeting, "x", true);
  EXPECT_EQ(a.last()["endpoint"], "x");
  EXPECT_EQ(a.last()["active"], "true");
  EXPECT_EQ(hub->counters().connectivityEvents, 1u);
}

TEST_F(HubTest, SendFailuresAreCounted) {
  FakeTransport a, b;
  open("a", a);
  open("b", b);
  b.accept = false;
  say("a", R"({"colibriClass":"EndpointMessage","msgPayload":{}})");
  EXPECT_EQ(hub->counters().sendFailures, 1u);
  EXPECT_EQ(hub->counters().endpointMessagesRelayed, 0u);
  EXPECT_FALSE(hub->sendTo(kMeeting, "b", R"({"colibriClass":"AudioSourcesMap"})"));
  EXPECT_EQ(hub->counters().sendFailures, 2u);
}

TEST_F(HubTest, SendToUsesTheActiveTransport) {
  FakeTransport ws, sctp;
  open("a", ws, kWs, 1);
  open("a", sctp, kSctp, 2);
  ws.clear();
  const std::string text = R"({"colibriClass":"AudioSourcesMap","mappedSources":[]})";
  EXPECT_TRUE(hub->sendTo(kMeeting, "a", text));
  EXPECT_EQ(ws.sent, std::vector<std::string>{text});
  EXPECT_FALSE(hub->sendTo(kMeeting, "zz", text));
  EXPECT_FALSE(hub->sendTo("zz", "a", text));
  EXPECT_EQ(hub->counters().noTransport, 2u);
}

TEST_F(HubTest, CountersPerConference) {
  FakeTransport a, b, c;
  open("a", a);
  open("b", b);
  open("c", c, kWs, 1, "m2");
  say("a", R"({"colibriClass":"EndpointStats"})");
  say("a", R"({"colibriClass":"ClientHello"})");
  const auto s = hub->conferenceStats(kMeeting);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->messagesIn, 2u);
  EXPECT_EQ(s->messagesOut, 6u);  // 2 greetings each, stats to b, ServerHello to a
  EXPECT_EQ(s->endpointStatsRelayed, 1u);
  EXPECT_EQ(s->connectedEndpoints, 2u);
  const auto all = hub->conferenceStats();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all.at("m2").connectedEndpoints, 1u);
  EXPECT_EQ(all.at("m2").messagesIn, 0u);
  EXPECT_FALSE(hub->conferenceStats("zz").has_value());
}

TEST_F(HubTest, TransportsMayReenterTheHub) {
  FakeTransport a;
  open("a", a);
  // b's transport fails and detaches itself, c's expires the conference.
  BridgeChannelHub* h = hub.get();
  hub->attach(kMeeting, "b", kWs, 1, [h](const std::string&) {
    h->detach(kMeeting, "b", kWs, 1);
    return false;
  });
  hub->attach(kMeeting, "c", kWs, 1, [h](const std::string& s) {
    if (s.find("EndpointMessage") != std::string::npos) {
      h->conferenceExpired(kMeeting);
    }
    return true;
  });
  say("a", R"({"colibriClass":"EndpointMessage","msgPayload":{}})");
  EXPECT_FALSE(hub->conferenceStats(kMeeting).has_value());
  hub->dominantSpeakerChanged(kMeeting, "a", {}, false);
}

}  // namespace
