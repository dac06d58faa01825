// BridgeChannels: colibri-ws sockets and SCTP channels joined to the hub, with
// the Colibri2 registry deciding who may connect (no network: fake sockets).
#include "control/bridge_channels.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

using namespace jvb::control;
using namespace jvb::media;

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

// SSRC rewriting: each slot change goes out at once as an AudioSourcesMap on
// the receiver's channel (JVB's shape: ssrc a number, mid only when set);
// without a channel it is dropped and counted; every open (and a replacing
// socket) gets all current mappings; freed slots are not announced.
TEST_F(BridgeChannelsTest, AudioSourcesMapIncrementalThenFullOnEveryOpen) {
  auto& a = open("a");
  const auto mapped = [](const std::string& rx, uint32_t slot, uint32_t ssrc,
                         const std::string& owner, const std::string& mid = "") {
    return AudioSlotMapping{rx, slot, ssrc, mid, owner + "-a0", owner, false};
  };
  channels_.audioSlotsChanged(kMeeting,
                              {mapped("a", 0, 4000000000u, "b", "a0"), mapped("c", 0, 17, "a")});
  ASSERT_EQ(classes(a).back(), "AudioSourcesMap");
  const auto j = nlohmann::json::parse(a.sent.back());
  ASSERT_EQ(j["mappedSources"].size(), 1u);
  const auto& e = j["mappedSources"][0];
  EXPECT_EQ(e["source"], "b-a0");
  EXPECT_EQ(e["owner"], "b");
  ASSERT_TRUE(e["ssrc"].is_number_unsigned());
  EXPECT_EQ(e["ssrc"].get<uint64_t>(), 4000000000u);
  EXPECT_EQ(e["mid"], "a0");
  // c has no channel: dropped and counted, nothing queued.
  auto totals = channels_.totals().details;
  EXPECT_EQ(totals["audio_sources_maps_sent"], 1);
  EXPECT_EQ(totals["audio_sources_maps_dropped"], 1);
  // c opens its socket: ServerHello, then the full map (without "mid").
  auto& c = open("c");
  ASSERT_EQ(classes(c).front(), "ServerHello");
  ASSERT_EQ(classes(c).back(), "AudioSourcesMap");
  const auto full = nlohmann::json::parse(c.sent.back());
  ASSERT_EQ(full["mappedSources"].size(), 1u);
  EXPECT_EQ(full["mappedSources"][0]["owner"], "a");
  EXPECT_FALSE(full["mappedSources"][0].contains("mid"));
  // A remap of a's slot 0 and a new slot 1; then slot 0 is freed: a
  // replacing socket gets only slot 1.
  channels_.audioSlotsChanged(
      kMeeting, {mapped("a", 0, 4000000000u, "c", "a0"), mapped("a", 1, 99, "b", "a1")});
  const auto both = nlohmann::json::parse(a.sent.back());
  EXPECT_EQ(both["mappedSources"].size(), 2u) << "one message per receiver per change set";
  const size_t before = a.sent.size();
  channels_.audioSlotsChanged(kMeeting,
                              {AudioSlotMapping{"a", 0, 4000000000u, "a0", "", "", true}});
  EXPECT_EQ(a.sent.size(), before) << "a freed slot is not announced";
  auto& again = open("a");
  const auto replay = nlohmann::json::parse(again.sent.back());
  ASSERT_EQ(replay["colibriClass"], "AudioSourcesMap");
  ASSERT_EQ(replay["mappedSources"].size(), 1u);
  EXPECT_EQ(replay["mappedSources"][0]["ssrc"], 99);
  EXPECT_EQ(replay["mappedSources"][0]["owner"], "b");
  // An expired receiver's mappings are forgotten.
  ConferenceModify m;
  m.meetingId = kMeeting;
  EndpointRequest x;
  x.id = "a";
  x.expire = true;
  m.endpoints = {x};
  ASSERT_TRUE(registry_.apply(m, false).ok());
  channels_.audioSlotsChanged(kMeeting, {mapped("a", 2, 5, "b")});
  EXPECT_EQ(channels_.totals().details["audio_sources_maps_dropped"], 1);
}

}  // namespace
