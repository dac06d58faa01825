// EntityExpiry: JVB's expiry rules (VideobridgeExpireThread, Endpoint.kt
// shouldExpire, Conference.java shouldExpire) over a real registry, with a
// fake clock and activity reports shaped as the media thread sends them.
#include "control/expiration.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace jvb::control;
namespace media = jvb::media;
using std::chrono::milliseconds;
using Clock = EntityExpiry::Clock;

constexpr const char* kMeeting = "0d7a3c9e-1111-2222-3333-444455556666";

struct Recorder : ConferenceListener {
  std::vector<std::string> events;
  void endpointChanged(const std::string&, const Endpoint&) override {}
  void endpointExpired(const std::string& m, const std::string& id) override {
    events.push_back("endpoint " + m + " " + id);
  }
  void conferenceExpired(const std::string& m) override { events.push_back("conference " + m); }
};

EndpointRequest newEndpoint(const std::string& id) {
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

media::EndpointAudioStats activity(const std::string& id, int64_t createdMs, int64_t incomingMs,
                                   bool iceFailed = false) {
  media::EndpointAudioStats s;
  s.id = id;
  s.sinceCreatedMs = createdMs;
  s.sinceIncomingMs = incomingMs;
  s.iceFailed = iceFailed;
  return s;
}

class ExpiryTest : public ::testing::Test {
 protected:
  ExpiryTest() : reg_([this] { return now_; }) { reg_.setListener(&rec_); }

  // One endpoint per request, as Jicofo sends them (and JVB requires).
  void create(std::vector<std::string> ids) {
    for (const auto& id : ids) {
      ConferenceModify m;
      m.meetingId = kMeeting;
      m.name = "room@conference.example.com";
      m.create = reg_.findByMeetingId(kMeeting) == nullptr;
      m.endpoints.push_back(newEndpoint(id));
      const auto r = reg_.apply(m, false);
      ASSERT_TRUE(r.ok()) << r.error->text;
    }
  }
  void report(std::vector<media::EndpointAudioStats> eps) {
    media::ConferenceAudioStats c;
    c.meetingId = kMeeting;
    c.endpoints = std::move(eps);
    expiry_.setActivity({c});
  }
  void advance(milliseconds d) { now_ += d; }

  Clock::time_point now_ = Clock::time_point(std::chrono::hours(1));
  Recorder rec_;
  ConferenceRegistry reg_;
  EntityExpiry expiry_{
      reg_, ExpirationOptions{milliseconds(60000), milliseconds(120000), milliseconds(20000)},
      [this] { return now_; }};
};

TEST_F(ExpiryTest, EachRuleOfJvbAndNothingElse) {
  create({"active", "quiet", "never", "young", "failed", "unreported"});
  report({activity("active", 200000, 20),
          activity("quiet", 200000, 60001),  // no packet for over the timeout
          activity("never", 120001, -1),     // neither failed nor connected for 2 min
          activity("young", 119000, -1),     // not connected yet, under 2 min
          activity("failed", 3000, 1000, true)});
  const auto out = expiry_.check();
  ASSERT_EQ(out.endpoints.size(), 3u);
  EXPECT_EQ(rec_.events,
            (std::vector<std::string>{std::string("endpoint ") + kMeeting + " failed",
                                      std::string("endpoint ") + kMeeting + " never",
                                      std::string("endpoint ") + kMeeting + " quiet"}));
  const Conference* c = reg_.findByMeetingId(kMeeting);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->endpoints.size(), 3u);  // active, young, unreported (created since the report)
  EXPECT_EQ(expiry_.endpointsExpired(), 3u);
  EXPECT_TRUE(out.conferences.empty());
}

TEST_F(ExpiryTest, ReportAgeCountsTowardsTheLimits) {
  create({"a", "b"});
  report({activity("a", 200000, 59500), activity("b", 119500, -1)});
  EXPECT_TRUE(expiry_.check().endpoints.empty());
  advance(milliseconds(1000));  // no new report: the last one is a second old
  EXPECT_EQ(expiry_.check().endpoints.size(), 2u);
}

TEST_F(ExpiryTest, EmptyConferenceAfterGraceAndOneCheckAfterItsLastEndpoint) {
  create({"a"});
  report({activity("a", 200000, 70000)});
  advance(milliseconds(25000));
  auto out = expiry_.check();
  EXPECT_EQ(out.endpoints.size(), 1u);
  EXPECT_TRUE(out.conferences.empty());  // lives one check longer (as JVB)
  out = expiry_.check();
  ASSERT_EQ(out.conferences.size(), 1u);
  EXPECT_EQ(reg_.findByMeetingId(kMeeting), nullptr);
  EXPECT_EQ(rec_.events.back(), std::string("conference ") + kMeeting);
  EXPECT_EQ(expiry_.conferencesExpired(), 1u);
  EXPECT_TRUE(expiry_.check().conferences.empty());  // gone, nothing more
}

TEST_F(ExpiryTest, NewEmptyConferenceHasItsGrace) {
  ConferenceModify m;
  m.meetingId = kMeeting;
  m.name = "room@conference.example.com";
  m.create = true;
  ASSERT_TRUE(reg_.apply(m, false).ok());
  advance(milliseconds(19000));
  EXPECT_TRUE(expiry_.check().conferences.empty());
  advance(milliseconds(2000));
  EXPECT_EQ(expiry_.check().conferences.size(), 1u);
}

TEST_F(ExpiryTest, AnEndpointExpiredByColibri2MeanwhileIsSkipped) {
  create({"a", "b"});
  report({activity("a", 200000, 70000), activity("b", 200000, 10)});
  ConferenceModify m;
  m.meetingId = kMeeting;
  EndpointRequest e;
  e.id = "a";
  e.expire = true;
  m.endpoints = {e};
  ASSERT_TRUE(reg_.apply(m, false).ok());
  rec_.events.clear();
  const auto out = expiry_.check();
  EXPECT_TRUE(out.endpoints.empty());
  EXPECT_TRUE(rec_.events.empty());
  EXPECT_EQ(expiry_.endpointsExpired(), 0u);
}

}  // namespace
