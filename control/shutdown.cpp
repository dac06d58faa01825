#include "control/shutdown.hpp"

#include "common/log.hpp"

namespace jvb::control {

ShutdownManager::ShutdownManager(boost::asio::io_context& control, const config::BridgeConfig& cfg,
                                 BridgeState& state, Hooks hooks)
    : cfg_(cfg), state_(state), hooks_(std::move(hooks)), timer_(control) {}

void ShutdownManager::beginGraceful() {
  if (state_.shutdownPhase() != ShutdownPhase::kRunning) {
    return;
  }
  gracefulSince_ = std::chrono::steady_clock::now();
  state_.setShutdownPhase(ShutdownPhase::kGracefulShutdown);
  LOG_INFO(
      "shutdown",
      "graceful shutdown: refusing new conferences, serving {} endpoint(s) until they leave "
      "(at most {} s)",
      hooks_.localEndpoints(),
      std::chrono::duration_cast<std::chrono::seconds>(cfg_.gracefulShutdownMaxDuration).count());
  hooks_.phaseChanged();
  check();
}

void ShutdownManager::beginShuttingDown() {
  if (exited_ || state_.shutdownPhase() == ShutdownPhase::kShuttingDown) {
    return;
  }
  shuttingDownSince_ = std::chrono::steady_clock::now();
  state_.setShutdownPhase(ShutdownPhase::kShuttingDown);
  const int left = hooks_.localEndpoints();
  LOG_INFO("shutdown", "shutting down: {} endpoint(s) left, exiting {}", left,
           left == 0 ? std::string("now")
                     : "in " +
                           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                              cfg_.shuttingDownDelay)
                                              .count()) +
                           " s");
  hooks_.phaseChanged();
  check();
}

void ShutdownManager::exitNow() {
  if (exited_) {
    return;
  }
  exited_ = true;
  timer_.cancel();
  hooks_.exit();
}

void ShutdownManager::check() {
  if (exited_) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const int endpoints = hooks_.localEndpoints();
  switch (state_.shutdownPhase()) {
    case ShutdownPhase::kRunning:
      return;
    case ShutdownPhase::kGracefulShutdown:
      if (endpoints <= cfg_.gracefulShutdownMinParticipants ||
          now - gracefulSince_ >= cfg_.gracefulShutdownMaxDuration) {
        beginShuttingDown();
        return;
      }
      break;
    case ShutdownPhase::kShuttingDown:
      if (endpoints == 0 || now - shuttingDownSince_ >= cfg_.shuttingDownDelay) {
        exitNow();
        return;
      }
      break;
  }
  armCheck();
}

void ShutdownManager::armCheck() {
  timer_.expires_after(kCheckInterval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      check();
    }
  });
}

}  // namespace jvb::control
