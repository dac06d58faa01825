// The audio export: the mediajson encoder against jicoco-mediajson's
// MediaJsonTest.kt and JVB's MediaJsonSerializerTest.kt examples, the index
// trackers, JVB's reconnect backoff, and control::Exporters driven through a
// registry with a fake WebSocket (what goes out, in which order, reconnects,
// removal).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "control/exporters.hpp"
#include "control/mediajson.hpp"

namespace jvb::control {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(MediaJson, Base64) {
  const uint8_t a[] = {'f', 'o', 'o', 'b', 'a', 'r'};
  EXPECT_EQ(mediajson::base64({a, 0}), "");
  EXPECT_EQ(mediajson::base64({a, 1}), "Zg==");
  EXPECT_EQ(mediajson::base64({a, 2}), "Zm8=");
  EXPECT_EQ(mediajson::base64({a, 6}), "Zm9vYmFy");
  const uint8_t b[] = {0xfc, 0xff, 0xfe};
  EXPECT_EQ(mediajson::base64(b), "/P/+");
}

// MediaJsonTest.kt "MediaEvent": seq 123, tag "t", chunk 213, timestamp
// 0x1_0000_ffff; numbers as strings; audioLevel/vad only when set.
TEST(MediaJson, MediaEventAsJicoco) {
  const uint8_t payload[] = {0xfc, 0xff, 0xfe};
  const auto text = mediajson::mediaEvent(123, "t", 213, 0x1'0000'ffffLL, payload, {}, {});
  EXPECT_EQ(text, R"({"event":"media","sequenceNumber":"123","media":{"tag":"t","chunk":"213",)"
                  R"("timestamp":"4295032831","payload":"/P/+"}})");
  const auto j = json::parse(mediajson::mediaEvent(123, "t", 213, 1, payload, 42, true));
  EXPECT_TRUE(j["media"]["audioLevel"].is_number_integer());
  EXPECT_EQ(j["media"]["audioLevel"], 42);
  EXPECT_EQ(j["media"]["vad"], true);
}

// MediaJsonTest.kt "StartEvent" (opus, 48000, 2, parameters) with the
// customParameters JVB's serializer always sets; no diarize.
TEST(MediaJson, StartEventAsJicoco) {
  mediajson::MediaFormat f{"opus", 48000, 2, {{"k1", "v2"}, {"k2", "v2"}}};
  const auto text = mediajson::startEvent(123, "t", f, "abcdabcd");
  EXPECT_EQ(text, R"({"event":"start","sequenceNumber":"123","start":{"tag":"t","mediaFormat":)"
                  R"({"encoding":"opus","sampleRate":48000,"channels":2,"parameters":{"k1":"v2",)"
                  R"("k2":"v2"}},"customParameters":{"endpointId":"abcdabcd"}}})");
}

TEST(MediaJson, OtherEvents) {
  EXPECT_EQ(mediajson::pingEvent(42), R"({"event":"ping","id":42})");
  EXPECT_EQ(mediajson::sessionEndEvent(), R"({"event":"session-end"})");
  EXPECT_EQ(mediajson::sourcesEvent({"523834112-a0", "2394a3432-a0"}, {}),
            R"({"event":"sources","exports":["523834112-a0","2394a3432-a0"],"requests":[]})");
  EXPECT_EQ(mediajson::infoEvent("jvb-audio", "1.2", "us-east"),
            R"({"event":"info","application":"jvb-audio","version":"1.2","region":"us-east"})");
  EXPECT_EQ(mediajson::infoEvent("jvb-audio", "1.2", ""),
            R"({"event":"info","application":"jvb-audio","version":"1.2"})");
}

TEST(MediaJson, ParsesWhatThePeerSends) {
  using K = mediajson::Incoming::Kind;
  const auto pong = mediajson::parseIncoming(R"({"event":"pong","id":123})");
  EXPECT_EQ(pong.kind, K::kPong);
  EXPECT_EQ(pong.id, 123);
  EXPECT_EQ(mediajson::parseIncoming(R"({"event":"transcription-result","x":1})").kind,
            K::kTranscriptionResult);
  EXPECT_EQ(mediajson::parseIncoming(R"({"event":"info","application":"skynet"})").kind, K::kInfo);
  EXPECT_EQ(mediajson::parseIncoming(R"({"event":"whatever"})").kind, K::kOther);
  for (const char* bad :
       {"", "{", "[]", "42", R"({"event":1})", R"({"id":1})", R"({"event":"pong","id":"x"})"}) {
    EXPECT_EQ(mediajson::parseIncoming(bad).kind, K::kMalformed) << bad;
  }
}

// JVB's RtpSequenceIndexTracker / RtpTimestampIndexTracker.
TEST(MediaJson, IndexTrackersExtendOverRollovers) {
  mediajson::IndexTracker seq(16);
  EXPECT_EQ(seq.update(65534), 65534);
  EXPECT_EQ(seq.update(65535), 65535);
  EXPECT_EQ(seq.update(0), 65536);
  EXPECT_EQ(seq.update(65533), 65533);  // late, from before the rollover
  EXPECT_EQ(seq.update(1), 65537);
  mediajson::IndexTracker ts(32);
  EXPECT_EQ(ts.update(0xffffff00u), 0xffffff00LL);
  EXPECT_EQ(ts.update(0x100u), 0x1'0000'0100LL);
}

// MediaJsonSerializerTest.kt's packet (SSRC 12345, seq 1, ts 1000, opus
// 111, source-1, endpoint-1): a start, then media; later packets continue
// chunk and timestamp; a payload type change restarts.
TEST(MediaJson, SerializerAsJvb) {
  std::vector<json> out;
  const auto ref = std::chrono::steady_clock::time_point{} + 10s;
  mediajson::Serializer s([&out](std::string t) { out.push_back(json::parse(t)); }, ref);
  const mediajson::MediaFormat opus{"opus", 48000, 2, {{"useinbandfec", "1"}}};
  const uint8_t frame[] = {1, 2, 3};
  mediajson::Packet p;
  p.ssrc = 12345;
  p.sequenceNumber = 1;
  p.timestamp = 1000;
  p.payloadType = 111;
  p.payload = frame;
  s.encode(p, "source-1", "endpoint-1", opus, ref + 500ms);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["event"], "start");
  EXPECT_EQ(out[0]["sequenceNumber"], "1");
  EXPECT_EQ(out[0]["start"]["tag"], "source-1");
  EXPECT_EQ(out[0]["start"]["customParameters"]["endpointId"], "endpoint-1");
  EXPECT_FALSE(out[0]["start"].contains("diarize"));
  EXPECT_EQ(out[1]["event"], "media");
  EXPECT_EQ(out[1]["sequenceNumber"], "2");
  EXPECT_EQ(out[1]["media"]["tag"], "source-1");
  EXPECT_EQ(out[1]["media"]["chunk"], "1");
  EXPECT_EQ(out[1]["media"]["timestamp"], "24000");  // 0.5 s after the serializer, at 48 kHz
  EXPECT_EQ(out[1]["media"]["payload"], "AQID");
  EXPECT_FALSE(out[1]["media"].contains("audioLevel"));
  p.sequenceNumber = 2;
  p.timestamp = 1960;
  p.audioLevel = 30;
  p.vad = true;
  s.encode(p, "source-1", "endpoint-1", opus, ref + 520ms);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2]["sequenceNumber"], "3");
  EXPECT_EQ(out[2]["media"]["chunk"], "2");
  EXPECT_EQ(out[2]["media"]["timestamp"], "24960");
  EXPECT_EQ(out[2]["media"]["audioLevel"], 30);
  p.payloadType = 112;
  s.encode(p, "source-1", "endpoint-1", opus, ref + 1s);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[3]["event"], "start");
  EXPECT_EQ(out[3]["start"]["tag"], "source-1");
  EXPECT_EQ(out[4]["media"]["timestamp"], "48000");
}

TEST(Exporters, ReconnectDelayIsJvbs) {
  ExporterOptions o;
  EXPECT_EQ(Exporters::reconnectDelay(1, o), 0ms);
  EXPECT_EQ(Exporters::reconnectDelay(2, o), 1000ms);
  EXPECT_EQ(Exporters::reconnectDelay(3, o), 2000ms);
  EXPECT_EQ(Exporters::reconnectDelay(6, o), 16000ms);
  EXPECT_EQ(Exporters::reconnectDelay(7, o), 30000ms);
  EXPECT_EQ(Exporters::reconnectDelay(5000, o), 30000ms);
}

// A fake WebSocket: records what is sent; the test opens and closes it.
struct FakeSocket : ExportSocket {
  std::vector<std::string>* sent = nullptr;
  std::vector<std::pair<int, std::string>>* closes = nullptr;
  bool open = false;
  bool send(std::string text) override {
    if (!open) {
      return false;
    }
    sent->push_back(std::move(text));
    return true;
  }
  void close(uint16_t code, std::string reason) override {
    closes->emplace_back(code, std::move(reason));
    open = false;
  }
};

class ExportersTest : public ::testing::Test {
 protected:
  static constexpr const char* kMeeting = "m1";
  boost::asio::io_context io_;
  std::shared_ptr<media::ExportRing> ring_ = std::make_shared<media::ExportRing>(4);
  std::vector<media::Command> commands_;
  MediaCompiler compiler_{[this](media::Command c) {
    commands_.push_back(std::move(c));
    return true;
  }};
  ConferenceRegistry registry_;
  std::vector<std::string> sent_;
  std::vector<std::pair<int, std::string>> closes_;
  std::vector<std::string> urls_;
  std::vector<std::vector<std::pair<std::string, std::string>>> headers_;
  ExportSocketCallbacks callbacks_;
  FakeSocket* socket_ = nullptr;
  std::unique_ptr<Exporters> exporters_;
  ConferenceListeners listeners_;
  std::vector<std::pair<std::string, std::string>> relayed_;

  void SetUp() override {
    ExporterOptions o;
    o.baseDelay = 1ms;
    o.maxDelay = 1ms;
    o.version = "9.9";
    exporters_ = std::make_unique<Exporters>(
        io_, ring_, compiler_, registry_,
        [this](const std::string& url,
               const std::vector<std::pair<std::string, std::string>>& headers,
               ExportSocketCallbacks cb) {
          urls_.push_back(url);
          headers_.push_back(headers);
          callbacks_ = std::move(cb);
          auto s = std::make_unique<FakeSocket>();
          s->sent = &sent_;
          s->closes = &closes_;
          socket_ = s.get();
          return s;
        },
        o);
    exporters_->setTranscriptionSink([this](const std::string& m, const std::string& text) {
      relayed_.emplace_back(m, text);
      return size_t{2};
    });
    listeners_.add(&compiler_);
    listeners_.add(exporters_.get());
    registry_.setListener(&listeners_);
  }

  static ConnectRequest transcriber(bool create) {
    ConnectRequest c;
    c.id = "transcriber";
    c.url = "wss://t.example.com/ws?room=x";
    c.protocol = "mediajson";
    c.type = "transcriber";
    c.audio = true;
    c.create = create;
    c.httpHeaders = {{"Authorization", "Bearer abc"}};
    return c;
  }

  static EndpointRequest endpoint(const std::string& id, uint32_t ssrc) {
    EndpointRequest e;
    e.id = id;
    e.create = true;
    e.mediaBlocks = 1;
    MediaDesc m;
    m.payloadTypes = {PayloadType{111, "OPUS", 48000, 2, {{"useinbandfec", "1"}}, {}}};
    e.audio = m;
    e.transport = TransportDesc{};
    Sources s;
    s.audio.push_back(AudioMediaSource{id + "-a0", false, {{ssrc, id + "-a0"}}, {}});
    e.sources = s;
    e.capabilities = {"source-names"};
    return e;
  }

  void push(uint32_t ssrc, uint16_t seq) {
    const uint8_t frame[] = {9, 9};
    ring_->push(conferenceHandle(), ssrc, seq, 960u * seq, 111, 20, true, frame);
  }
  media::ConferenceHandle conferenceHandle() {
    for (const auto& c : commands_) {
      if (const auto* u = std::get_if<media::cmd::UpsertEndpoint>(&c)) {
        return u->spec.conference;
      }
    }
    return 0;
  }
  bool exporting() {
    std::optional<bool> last;
    for (const auto& c : commands_) {
      if (const auto* e = std::get_if<media::cmd::SetConferenceExport>(&c)) {
        last = e->enabled;
      }
    }
    return last.value_or(false);
  }
};

TEST_F(ExportersTest, ExportsForwardedAudioAndReconnects) {
  // Jicofo's create: conference, endpoint and connect in one request.
  ConferenceModify m;
  m.meetingId = kMeeting;
  m.create = true;
  m.endpoints = {endpoint("a", 1111)};
  m.hasConnects = true;
  m.connects = {transcriber(true)};
  ASSERT_TRUE(registry_.apply(m, false).ok());
  ASSERT_EQ(urls_.size(), 1u);
  EXPECT_EQ(urls_[0], "wss://t.example.com/ws?room=x");
  EXPECT_EQ(headers_[0],
            (std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer abc"}}));
  EXPECT_TRUE(exporting());  // the media thread copies packets now

  // Before the socket opens nothing is encoded.
  push(1111, 1);
  exporters_->drain();
  EXPECT_TRUE(sent_.empty());

  socket_->open = true;
  callbacks_.opened();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(json::parse(sent_[0])["event"], "info");
  EXPECT_EQ(json::parse(sent_[0])["version"], "9.9");
  push(1111, 2);
  push(4242, 2);  // an SSRC nobody signalled: dropped, counted
  exporters_->drain();
  ASSERT_EQ(sent_.size(), 3u);
  const auto start = json::parse(sent_[1]);
  EXPECT_EQ(start["event"], "start");
  EXPECT_EQ(start["start"]["tag"], "a-a0");
  EXPECT_EQ(start["start"]["mediaFormat"]["encoding"], "opus");
  EXPECT_EQ(start["start"]["mediaFormat"]["channels"], 2);
  EXPECT_EQ(start["start"]["mediaFormat"]["parameters"]["useinbandfec"], "1");
  EXPECT_EQ(start["start"]["customParameters"]["endpointId"], "a");
  const auto media = json::parse(sent_[2]);
  EXPECT_EQ(media["media"]["chunk"], "2");
  EXPECT_EQ(media["media"]["payload"], "CQk=");
  EXPECT_EQ(media["media"]["audioLevel"], 20);
  EXPECT_EQ(exporters_->counters().unknownSource, 1u);
  EXPECT_EQ(exporters_->counters().connected, 1u);

  // A transcription result goes to the conference's endpoints as JVB sends it.
  callbacks_.text(R"({"event":"transcription-result","transcript":[{"text":"hi"}],"final":true})");
  callbacks_.text("not json");
  ASSERT_EQ(relayed_.size(), 1u);
  EXPECT_EQ(relayed_[0].first, kMeeting);
  EXPECT_EQ(relayed_[0].second,
            R"({"colibriClass":"EndpointMessage","to":"","msgPayload":{"event":)"
            R"("transcription-result","transcript":[{"text":"hi"}],"final":true},)"
            R"("from":"transcriber"})");
  EXPECT_EQ(exporters_->counters().transcriptsReceived, 1u);
  EXPECT_EQ(exporters_->counters().transcriptsRelayed, 2u);
  EXPECT_EQ(exporters_->counters().parseFailures, 1u);

  // A full ring drops and counts, never waits.
  for (uint16_t i = 0; i < 6; ++i) {
    push(1111, static_cast<uint16_t>(10 + i));
  }
  EXPECT_EQ(ring_->dropped(), 2u);
  exporters_->drain();

  // The peer goes away: the first reconnection is at once.
  callbacks_.closed(1006, "gone");
  EXPECT_EQ(exporters_->counters().websocketFailures, 1u);
  io_.run_for(50ms);
  ASSERT_EQ(urls_.size(), 2u);
  sent_.clear();
  socket_->open = true;
  callbacks_.opened();
  push(1111, 20);
  exporters_->drain();
  ASSERT_EQ(sent_.size(), 3u);  // info, and a fresh start: a new serializer per connection
  EXPECT_EQ(json::parse(sent_[1])["sequenceNumber"], "1");
  EXPECT_EQ(json::parse(sent_[1])["event"], "start");

  // An update of its exports sends the sources; a source not exported is
  // no longer sent.
  ConferenceModify u;
  u.meetingId = kMeeting;
  u.hasConnects = true;
  auto only = transcriber(false);
  only.exports = {"b-a0"};
  u.connects = {only};
  ASSERT_TRUE(registry_.apply(u, false).ok());
  ASSERT_EQ(sent_.size(), 4u);
  EXPECT_EQ(sent_[3], R"({"event":"sources","exports":["b-a0"],"requests":[]})");
  push(1111, 21);
  exporters_->drain();
  EXPECT_EQ(sent_.size(), 4u);

  // The connect goes away: session-end, close 1001, no more copies.
  ConferenceModify x;
  x.meetingId = kMeeting;
  x.hasConnects = true;
  auto gone = transcriber(false);
  gone.expire = true;
  x.connects = {gone};
  ASSERT_TRUE(registry_.apply(x, false).ok());
  ASSERT_EQ(sent_.size(), 5u);
  EXPECT_EQ(sent_[4], R"({"event":"session-end"})");
  ASSERT_FALSE(closes_.empty());
  EXPECT_EQ(closes_.back().first, 1001);
  EXPECT_FALSE(exporting());
  EXPECT_EQ(exporters_->counters().exporters, 0u);
}

TEST_F(ExportersTest, ConferenceExpiryStopsItsExports) {
  ConferenceModify m;
  m.meetingId = kMeeting;
  m.create = true;
  m.endpoints = {endpoint("a", 1111)};
  m.hasConnects = true;
  m.connects = {transcriber(true)};
  ASSERT_TRUE(registry_.apply(m, false).ok());
  socket_->open = true;
  callbacks_.opened();
  ASSERT_TRUE(registry_.expireConference(kMeeting));
  EXPECT_EQ(sent_.back(), R"({"event":"session-end"})");
  EXPECT_EQ(closes_.back().first, 1001);
  EXPECT_EQ(exporters_->counters().exporters, 0u);
  // A late close from the old socket changes nothing (no reconnect).
  io_.run_for(20ms);
  EXPECT_EQ(urls_.size(), 1u);
}

}  // namespace
}  // namespace jvb::control
