#pragma once
// Graceful shutdown, as JVB's ShutdownManager: RUNNING -> GRACEFUL_SHUTDOWN
// -> SHUTTING_DOWN -> exit.
//  - GRACEFUL_SHUTDOWN: presence says graceful_shutdown=true, new conferences
//    are refused (colibri2 service-unavailable / graceful_shutdown), existing
//    ones keep being served (and keep accepting endpoints);
//  - when the bridge hosts no more than graceful-shutdown-min-participants
//    endpoints, or after graceful-shutdown-max-duration: SHUTTING_DOWN,
//    presence says shutting_down=true so Jicofo moves what is left;
//  - the process exits shutting-down-delay later, or at once when no endpoint
//    is left to move.
// Threading: control thread; it only arms timers on the control io_context.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>

#include "config/bridge_config.hpp"
#include "control/bridge_state.hpp"

namespace jvb::control {

class ShutdownManager {
 public:
  struct Hooks {
    std::function<int()> localEndpoints;  // endpoints hosted now
    std::function<void()> phaseChanged;   // e.g. publish presence now
    std::function<void()> exit;           // stop everything; called once
  };

  ShutdownManager(boost::asio::io_context& control, const config::BridgeConfig& cfg,
                  BridgeState& state, Hooks hooks);

  // SIGTERM or REST {"graceful-shutdown": true}. Idempotent.
  void beginGraceful();
  // SIGINT, a second SIGTERM, or REST {"graceful-shutdown": false}: shutting
  // down now, exit after the delay (at once without endpoints).
  void beginShuttingDown();
  // Exit now (a second SIGINT).
  void exitNow();

  [[nodiscard]] ShutdownPhase phase() const { return state_.shutdownPhase(); }

 private:
  void check();
  void armCheck();

  const config::BridgeConfig& cfg_;
  BridgeState& state_;
  Hooks hooks_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point gracefulSince_{};
  std::chrono::steady_clock::time_point shuttingDownSince_{};
  bool exited_ = false;
  static constexpr std::chrono::milliseconds kCheckInterval{200};
};

}  // namespace jvb::control
