// BridgeChannels: colibri-ws sockets and SCTP channels joined to the hub, with
// the Colibri2 registry deciding who may connect (no network: fake sockets).
#include "bridge/bridge_channels.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

using namespace jvb::bridge;

constexpr const char* kMeeting = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

struct FakeSocket {
  std::vector<std::string> sent;
  std::vector<uint16_t> closes;
  bool closed = false;
};

EndpointRequest create(const std::string& id) {
  EndpointRequest e;
  e.id = id;
  e.create = true;
  e.mediaBlocks = 1;
  MediaDesc audio;
  audio.payloadTypes = {PayloadType{111, "opus", 48000, 2, {}, {}}};
  e.audio = audio;
  e.transport = TransportDesc{};
  e.capabilities = {"source-names"};
  return e;
}

class BridgeChannelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One endpoint per request, as Jicofo sends them (JVB refuses more).
    registry_.setListener(&channels_);
    for (const char* id : {"a", "b", "c"}) {
      ConferenceModify m;
      m.meetingId = kMeeting;
      m.name = "room@conference.example.com";
      m.create = registry_.findByMeetingId(kMeeting) == nullptr;
      m.endpoints = {create(id)};
      const auto r = registry_.apply(m, false);
      ASSERT_TRUE(r.ok()) << r.error->text;
      internalId_ = r.reply.internalId;
    }
  }
  std::string url(const std::string& ep) {
    return "/colibri-ws/default-id/" + internalId_ + "/" + ep +
           "?pwd=" + registry_.findEndpoint(kMeeting, ep)->websocketPassword;
  }
  FakeSocket& open(const std::string& ep) {
    const uint64_t id = nextId_++;
    auto& s = sockets_[id];
    EXPECT_EQ(channels_.authorize(url(ep)).status, 101u);
    channels_.socketOpened(
        url(ep), BridgeChannels::Socket{id, [&s](std::string t) { s.sent.push_back(std::move(t)); },
                                        [&s](uint16_t code, std::string) {
                                          s.closes.push_back(code);
                                          s.closed = true;
                                        }});
    return s;
  }
  static std::vector<std::string> classes(const FakeSocket& s) {
    std::vector<std::string> out;
    for (const auto& t : s.sent) {
      out.push_back(nlohmann::json::parse(t).value("colibriClass", ""));
    }
    return out;
  }
  uint64_t idOf(const FakeSocket& s) {
    for (auto& [id, sock] : sockets_) {
      if (&sock == &s) {
        return id;
      }
    }
    return 0;
  }

  ConferenceRegistry registry_;
  BridgeChannels channels_{registry_, "default-id", nullptr};
  std::string internalId_;
  std::map<uint64_t, FakeSocket> sockets_;
  uint64_t nextId_ = 1;
};

TEST_F(BridgeChannelsTest, ServerHelloOnOpenAndEndpointMessagesBetweenSockets) {
  auto& a = open("a");
  auto& b = open("b");
  ASSERT_FALSE(a.sent.empty());
  EXPECT_EQ(classes(a).front(), "ServerHello");
  b.sent.clear();
  channels_.socketMessage(idOf(a),
                          R"({"colibriClass":"EndpointMessage","to":"b","msgPayload":{"x":1}})");
  ASSERT_EQ(b.sent.size(), 1u);
  const auto j = nlohmann::json::parse(b.sent[0]);
  EXPECT_EQ(j["from"], "a");
  EXPECT_EQ(j["msgPayload"]["x"], 1);
  channels_.dominantSpeakerChanged(kMeeting, "b", {"a"}, false);
  EXPECT_EQ(classes(a).back(), "DominantSpeakerEndpointChangeEvent");
  EXPECT_EQ(classes(b).back(), "DominantSpeakerEndpointChangeEvent");
  const auto t = channels_.totals();
  EXPECT_EQ(t.webSocketMessagesReceived, 1u);
  EXPECT_GE(t.webSocketMessagesSent, 4u);
}

TEST_F(BridgeChannelsTest, RefusalsAreCountedAndWrongPasswordsNeverReachTheHub) {
  EXPECT_EQ(channels_.authorize("/colibri-ws/other/" + internalId_ + "/a?pwd=x").status, 404u);
  EXPECT_EQ(channels_.authorize("/colibri-ws/default-id/" + internalId_ + "/a?pwd=x").status, 403u);
  EXPECT_EQ(channels_.totals().details["websockets_refused"], 2);
  EXPECT_EQ(channels_.openSockets(), 0u);
}

TEST_F(BridgeChannelsTest, ANewerSocketReplacesTheOlderOne) {
  auto& first = open("a");
  auto& second = open("a");
  EXPECT_TRUE(first.closed);
  EXPECT_EQ(first.closes, std::vector<uint16_t>{4000});
  EXPECT_FALSE(second.closed);
  EXPECT_EQ(channels_.openSockets(), 1u);
  // The old socket's late close changes nothing for the new one.
  channels_.socketClosed(idOf(first));
  EXPECT_EQ(channels_.openSockets(), 1u);
  auto& b = open("b");
  channels_.socketMessage(idOf(b),
                          R"({"colibriClass":"EndpointMessage","to":"a","msgPayload":{}})");
  EXPECT_EQ(classes(second).back(), "EndpointMessage");
}

TEST_F(BridgeChannelsTest, ExpiringTheEndpointClosesItsSocketWith1001) {
  auto& a = open("a");
  open("b");
  EndpointRequest e;
  e.id = "a";
  e.expire = true;
  ConferenceModify m;
  m.meetingId = kMeeting;
  m.endpoints = {e};
  ASSERT_TRUE(registry_.apply(m, false).ok());
  EXPECT_EQ(a.closes, std::vector<uint16_t>{1001});
  EXPECT_EQ(channels_.openSockets(), 1u);
}

TEST_F(BridgeChannelsTest, GarbageAndUnknownClassesAreCountedAndTheChannelKeepsWorking) {
  auto& a = open("a");
  auto& b = open("b");
  channels_.socketMessage(idOf(a), "not json at all");
  channels_.socketMessage(idOf(a), R"({"colibriClass":"NoSuchThing"})");
  channels_.socketMessage(idOf(a), std::string(70 * 1024, '{'));
  b.sent.clear();
  channels_.socketMessage(idOf(a), R"({"colibriClass":"EndpointMessage","to":"","msgPayload":{}})");
  EXPECT_EQ(classes(b), std::vector<std::string>{"EndpointMessage"});
  const auto t = channels_.totals();
  EXPECT_EQ(t.details["malformed"], 2);
  EXPECT_EQ(t.details["unknown_class"], 1);
  EXPECT_FALSE(a.closed);
}

TEST_F(BridgeChannelsTest, SctpChannelsJoinTheSameConference) {
  auto& a = open("a");
  channels_.channelOpened(kMeeting, "c", 7);
  a.sent.clear();
  channels_.channelMessage(kMeeting, "c",
                           R"({"colibriClass":"EndpointMessage","to":"a","msgPayload":{"y":2}})");
  ASSERT_EQ(a.sent.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(a.sent[0])["from"], "c");
  EXPECT_EQ(channels_.totals().dataChannelMessagesReceived, 1u);
  // An SCTP channel of an endpoint that expired meanwhile is not attached.
  channels_.channelOpened(kMeeting, "zz", 8);
  EXPECT_FALSE(channels_.hub().connected(kMeeting, "zz"));
}

}  // namespace
