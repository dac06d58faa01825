// SystemdNotifier: which sd_notify messages go out for a healthy and a stuck
// media loop, and when STATUS= is re-sent. The real sd_notify path (a unix
// datagram socket, WATCHDOG_USEC, a stalled media thread) is covered by
// tests/deploy/test_watchdog.py.
#include "app/systemd_notifier.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace jvb::app {
namespace {

class NotifierTest : public ::testing::Test {
 protected:
  SystemdNotifier make() {
    return SystemdNotifier(
        io_, [this] { return health_; }, [this] { return status_; },
        [this](const std::string& m) { sent_.push_back(m); });
  }
  int count(const std::string& message) const {
    int n = 0;
    for (const auto& m : sent_) {
      n += m == message ? 1 : 0;
    }
    return n;
  }

  boost::asio::io_context io_;
  control::Health health_{true, "", 5};
  ServiceStatus status_;
  std::vector<std::string> sent_;
};

TEST(FormatStatus, CountsDrainAndShutdown) {
  ServiceStatus s;
  EXPECT_EQ(formatStatus(s), "conferences 0, endpoints 0");
  s.conferences = 2;
  s.endpoints = 7;
  s.drain = true;
  s.phase = control::ShutdownPhase::kGracefulShutdown;
  EXPECT_EQ(formatStatus(s), "conferences 2, endpoints 7, drain, graceful shutdown");
  s.drain = false;
  s.phase = control::ShutdownPhase::kShuttingDown;
  s.healthy = false;
  EXPECT_EQ(formatStatus(s), "conferences 2, endpoints 7, shutting down, media loop unhealthy");
}

TEST_F(NotifierTest, ReadyCarriesTheFirstStatus) {
  auto n = make();
  status_.conferences = 1;
  status_.endpoints = 3;
  n.ready();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0], "READY=1\nSTATUS=conferences 1, endpoints 3");
  n.refreshStatus();  // unchanged: nothing sent
  EXPECT_EQ(sent_.size(), 1u);
  status_.drain = true;
  n.refreshStatus();
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1], "STATUS=conferences 1, endpoints 3, drain");
}

TEST_F(NotifierTest, PingsOnlyWhileTheMediaLoopIsHealthy) {
  auto n = make();
  n.ready();
  n.tick();
  n.tick();
  EXPECT_EQ(count("WATCHDOG=1"), 2);
  EXPECT_FALSE(n.withholding());

  health_ = control::Health{false, "media loop stuck: no heartbeat for 4000 ms", 4000};
  n.tick();
  n.tick();
  n.tick();
  EXPECT_EQ(count("WATCHDOG=1"), 2);
  EXPECT_TRUE(n.withholding());
  EXPECT_EQ(count("STATUS=conferences 0, endpoints 0, media loop unhealthy"), 1);

  health_ = control::Health{true, "", 5};
  n.tick();
  EXPECT_EQ(count("WATCHDOG=1"), 3);
  EXPECT_FALSE(n.withholding());
  EXPECT_EQ(sent_.back(), "STATUS=conferences 0, endpoints 0");
}

TEST_F(NotifierTest, StoppingEndsThePings) {
  auto n = make();
  n.startWatchdog(std::chrono::milliseconds(20));
  EXPECT_EQ(n.watchdogPeriod(), std::chrono::microseconds(20000));
  n.stopping();
  EXPECT_EQ(sent_.back(), "STOPPING=1\nSTATUS=conferences 0, endpoints 0, stopping");
  // The cancelled timer's handler runs and sends nothing more.
  const auto before = sent_.size();
  io_.run();
  EXPECT_EQ(sent_.size(), before);
  n.refreshStatus();
  EXPECT_EQ(sent_.size(), before);
}

TEST_F(NotifierTest, NoPeriodNoTimer) {
  auto n = make();
  n.startWatchdog(std::chrono::microseconds(0));
  EXPECT_EQ(n.watchdogPeriod().count(), 0);
  io_.run();  // nothing armed: returns at once
  EXPECT_TRUE(sent_.empty());
}

}  // namespace
}  // namespace jvb::app
