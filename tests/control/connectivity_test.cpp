// ConnectivityMonitor: JVB's EndpointConnectionStatusMonitor rules over a
// real registry, with a fake clock and activity reports shaped as the media
// thread sends them.
#include "control/connectivity.hpp"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

namespace {

using namespace jvb::control;
namespace media = jvb::media;
using std::chrono::milliseconds;
using Clock = ConnectivityMonitor::Clock;
using Change = std::tuple<std::string, std::string, bool>;
using Ids = std::vector<std::string>;

constexpr const char* kMeeting = "0d7a3c9e-1111-2222-3333-444455556666";

EndpointRequest newEndpoint(const std::string& id, bool visitor = false) {
  EndpointRequest e;
  e.id = id;
  e.create = true;
  e.mediaBlocks = 1;
  MediaDesc audio;
  audio.payloadTypes = {PayloadType{111, "opus", 48000, 2, {}, {}}};
  e.audio = audio;
  e.transport = TransportDesc{};
  e.capabilities = {"source-names"};
  if (visitor) {
    e.mucRole = "visitor";
  }
  return e;
}

media::EndpointAudioStats activity(const std::string& id, int64_t createdMs, int64_t incomingMs) {
  media::EndpointAudioStats s;
  s.id = id;
  s.sinceCreatedMs = createdMs;
  s.sinceIncomingMs = incomingMs;
  return s;
}

class ConnectivityTest : public ::testing::Test {
 protected:
  ConnectivityTest() : reg_([this] { return now_; }) { reg_.setListener(&monitor_); }

  void create(const std::string& id, bool visitor = false) {
    ConferenceModify m;
    m.meetingId = kMeeting;
    m.name = "room@conference.example.com";
    m.create = reg_.findByMeetingId(kMeeting) == nullptr;
    m.endpoints.push_back(newEndpoint(id, visitor));
    const auto r = reg_.apply(m, false);
    ASSERT_TRUE(r.ok()) << r.error->text;
  }
  void expire(const std::string& id) {
    ConferenceModify m;
    m.meetingId = kMeeting;
    EndpointRequest e;
    e.id = id;
    e.expire = true;
    m.endpoints.push_back(e);
    ASSERT_TRUE(reg_.apply(m, false).ok());
  }
  void report(std::vector<media::EndpointAudioStats> eps) {
    media::ConferenceAudioStats c;
    c.meetingId = kMeeting;
    c.endpoints = std::move(eps);
    monitor_.setActivity({c});
  }
  // One check; what it notified.
  std::vector<Change> check() {
    changes_.clear();
    monitor_.check();
    return changes_;
  }
  void advance(milliseconds d) { now_ += d; }

  Clock::time_point now_ = Clock::time_point(std::chrono::hours(1));
  std::vector<Change> changes_;
  ConferenceRegistry reg_;
  ConnectivityMonitor monitor_{reg_, ConnectivityOptions{milliseconds(15000), milliseconds(8000)},
                               [this](const std::string& m, const std::string& id, bool active) {
                                 changes_.emplace_back(m, id, active);
                               },
                               [this] { return now_; }};
};

TEST_F(ConnectivityTest, NeverConnectedIsInactiveOnlyAfterTheFirstTransferTimeout) {
  create("a");
  report({activity("a", 15000, -1)});
  EXPECT_TRUE(check().empty());  // not longer than the timeout yet
  advance(milliseconds(1));
  EXPECT_EQ(check(), (std::vector<Change>{{kMeeting, "a", false}}));
  EXPECT_TRUE(check().empty());  // once
  EXPECT_EQ(monitor_.neverConnected(), 1u);
  EXPECT_EQ(monitor_.endpointsDisconnected(), 0u);  // JVB counts only a lost connection
  EXPECT_EQ(monitor_.inactiveEndpoints(kMeeting), Ids{"a"});
  // It finally sends: active, and counted as reconnected (as JVB does).
  report({activity("a", 30000, 10)});
  EXPECT_EQ(check(), (std::vector<Change>{{kMeeting, "a", true}}));
  EXPECT_EQ(monitor_.endpointsReconnected(), 1u);
  EXPECT_TRUE(monitor_.inactiveEndpoints(kMeeting).empty());
}

TEST_F(ConnectivityTest, InactiveAfterTheLimitAndBackOnActivity) {
  create("a");
  create("b");
  report({activity("a", 60000, 8000), activity("b", 60000, 20)});
  EXPECT_TRUE(check().empty());  // 8 s is still within the limit
  report({activity("a", 61000, 8001), activity("b", 61000, 20)});
  EXPECT_EQ(check(), (std::vector<Change>{{kMeeting, "a", false}}));
  report({activity("a", 62000, 9001), activity("b", 62000, 20)});
  EXPECT_TRUE(check().empty());
  EXPECT_EQ(monitor_.endpointsDisconnected(), 1u);
  EXPECT_TRUE(monitor_.isInactive(kMeeting, "a"));
  EXPECT_FALSE(monitor_.isInactive(kMeeting, "b"));
  EXPECT_EQ(monitor_.inactiveCount(), 1u);
  report({activity("a", 63000, 0), activity("b", 63000, 20)});
  EXPECT_EQ(check(), (std::vector<Change>{{kMeeting, "a", true}}));
  EXPECT_TRUE(check().empty());
  EXPECT_EQ(monitor_.endpointsReconnected(), 1u);
  EXPECT_EQ(monitor_.inactiveCount(), 0u);
}

TEST_F(ConnectivityTest, ReportAgeCountsAndFreshReportsWait) {
  create("a");
  report({activity("a", 60000, 7500)});
  advance(milliseconds(400));
  EXPECT_TRUE(check().empty());
  advance(milliseconds(101));  // 7500 + 501 ms without a newer report
  EXPECT_EQ(check(), (std::vector<Change>{{kMeeting, "a", false}}));
  // An endpoint created since the last report is left for the next one.
  create("late");
  advance(milliseconds(60000));
  const auto c = check();
  EXPECT_TRUE(c.empty());
  EXPECT_FALSE(monitor_.isInactive(kMeeting, "late"));
}

TEST_F(ConnectivityTest, VisitorsAreNotJudgedNorReported) {
  create("v", true);
  create("a");
  report({activity("v", 60000, 30000), activity("a", 60000, 30000)});
  EXPECT_EQ(check(), (std::vector<Change>{{kMeeting, "a", false}}));
  EXPECT_EQ(monitor_.inactiveEndpoints(kMeeting), Ids{"a"});
}

TEST_F(ConnectivityTest, AnExpiredEndpointStaysInactiveForItsNextIncarnation) {
  create("a");
  create("b");
  report({activity("a", 60000, 9000), activity("b", 60000, 9000)});
  EXPECT_EQ(check().size(), 2u);
  expire("a");
  // Only endpoints that exist are told to a newcomer.
  EXPECT_EQ(monitor_.inactiveEndpoints(kMeeting), Ids{"b"});
  EXPECT_EQ(monitor_.inactiveCount(), 1u);
  // Re-created with the same id: still inactive to the others until it is
  // seen active, then reported active (nothing else tells them).
  create("a");
  EXPECT_EQ(monitor_.inactiveEndpoints(kMeeting), (Ids{"a", "b"}));
  report({activity("a", 100, 50), activity("b", 61000, 10000)});
  EXPECT_EQ(check(), (std::vector<Change>{{kMeeting, "a", true}}));
}

TEST_F(ConnectivityTest, AnExpiredConferenceIsForgotten) {
  create("a");
  report({activity("a", 60000, 9000)});
  EXPECT_EQ(check().size(), 1u);
  ConferenceModify m;
  m.meetingId = kMeeting;
  m.expire = true;
  ASSERT_TRUE(reg_.apply(m, false).ok());
  EXPECT_FALSE(monitor_.isInactive(kMeeting, "a"));
  EXPECT_TRUE(check().empty());  // nothing left to judge
  // A new conference of the same meeting id starts clean.
  create("a");
  EXPECT_TRUE(monitor_.inactiveEndpoints(kMeeting).empty());
}

}  // namespace
