#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "control/shutdown.hpp"

namespace {

using jvb::control::BridgeState;
using jvb::control::ShutdownManager;
using jvb::control::ShutdownPhase;

struct Fixture {
  boost::asio::io_context io;
  jvb::config::BridgeConfig cfg;
  BridgeState state{false};
  int endpoints = 0;
  int phaseChanges = 0;
  int exits = 0;
  std::unique_ptr<ShutdownManager> mgr;

  Fixture() {
    cfg.gracefulShutdownMaxDuration = std::chrono::seconds(60);
    cfg.shuttingDownDelay = std::chrono::milliseconds(300);
    mgr = std::make_unique<ShutdownManager>(
        io, cfg, state,
        ShutdownManager::Hooks{[this] { return endpoints; }, [this] { ++phaseChanges; },
                               [this] { ++exits; }});
  }
  // Runs the loop until pred() or 10 s.
  template <typename P>
  bool runUntil(P pred) {
    for (int i = 0; i < 1000 && !pred(); ++i) {
      io.run_for(std::chrono::milliseconds(10));
    }
    return pred();
  }
};

TEST(Shutdown, GracefulWithoutEndpointsExitsAtOnce) {
  Fixture f;
  f.mgr->beginGraceful();
  EXPECT_EQ(f.exits, 1);
  EXPECT_EQ(f.state.shutdownPhase(), ShutdownPhase::kShuttingDown);
  EXPECT_EQ(f.phaseChanges, 2);  // graceful, then shutting down: presence each time
}

TEST(Shutdown, GracefulServesEndpointsUntilTheyLeave) {
  Fixture f;
  f.endpoints = 3;
  f.mgr->beginGraceful();
  EXPECT_EQ(f.state.shutdownPhase(), ShutdownPhase::kGracefulShutdown);
  f.io.run_for(std::chrono::milliseconds(500));
  EXPECT_EQ(f.state.shutdownPhase(), ShutdownPhase::kGracefulShutdown);
  EXPECT_EQ(f.exits, 0);
  f.mgr->beginGraceful();  // idempotent
  EXPECT_EQ(f.phaseChanges, 1);
  f.endpoints = 0;
  EXPECT_TRUE(f.runUntil([&] { return f.exits == 1; }));
  EXPECT_EQ(f.state.shutdownPhase(), ShutdownPhase::kShuttingDown);
}

TEST(Shutdown, MaxDurationMovesToShuttingDownThenTheDelayExits) {
  Fixture f;
  f.cfg.gracefulShutdownMaxDuration = std::chrono::milliseconds(200);
  f.endpoints = 2;
  f.mgr->beginGraceful();
  EXPECT_TRUE(f.runUntil([&] { return f.state.shutdownPhase() == ShutdownPhase::kShuttingDown; }));
  EXPECT_EQ(f.exits, 0);  // endpoints left: Jicofo gets shutting-down-delay to move them
  EXPECT_TRUE(f.runUntil([&] { return f.exits == 1; }));
}

TEST(Shutdown, MinParticipantsThreshold) {
  Fixture f;
  f.cfg.gracefulShutdownMinParticipants = 2;
  f.endpoints = 2;
  f.mgr->beginGraceful();
  EXPECT_EQ(f.state.shutdownPhase(), ShutdownPhase::kShuttingDown);
}

TEST(Shutdown, ExitNowIsOnce) {
  Fixture f;
  f.endpoints = 5;
  f.mgr->beginShuttingDown();
  EXPECT_EQ(f.exits, 0);
  f.mgr->exitNow();
  f.mgr->exitNow();
  f.mgr->beginShuttingDown();
  EXPECT_EQ(f.exits, 1);
}

}  // namespace
