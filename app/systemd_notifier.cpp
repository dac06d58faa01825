#include "app/systemd_notifier.hpp"

#include <systemd/sd-daemon.h>

#include "common/log.hpp"

namespace jvb::app {

std::string formatStatus(const ServiceStatus& status) {
  std::string s = "conferences " + std::to_string(status.conferences) + ", endpoints " +
                  std::to_string(status.endpoints);
  if (status.drain) {
    s += ", drain";
  }
  switch (status.phase) {
    case control::ShutdownPhase::kRunning:
      break;
    case control::ShutdownPhase::kGracefulShutdown:
      s += ", graceful shutdown";
      break;
    case control::ShutdownPhase::kShuttingDown:
      s += ", shutting down";
      break;
  }
  if (!status.healthy) {
    s += ", media loop unhealthy";
  }
  return s;
}

namespace {
void sdNotify(const std::string& message) {
  // Outside systemd (no NOTIFY_SOCKET) this returns 0 and sends nothing; a
  // failure to send is not worth more than a debug line.
  if (sd_notify(0, message.c_str()) < 0) {
    LOG_DEBUG("main", "sd_notify failed");
  }
}
}  // namespace

SystemdNotifier::SystemdNotifier(boost::asio::io_context& io,
                                 std::function<control::Health()> health,
                                 std::function<ServiceStatus()> status, Send send)
    : health_(std::move(health)),
      status_(std::move(status)),
      send_(send ? std::move(send) : Send(sdNotify)),
      timer_(io) {}

std::chrono::microseconds SystemdNotifier::watchdogPeriodFromEnvironment() {
  uint64_t usec = 0;
  // > 0: WATCHDOG_USEC is set and WATCHDOG_PID (when set) is this process.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    return std::chrono::microseconds(usec);
  }
  return std::chrono::microseconds(0);
}

void SystemdNotifier::startWatchdog(std::chrono::microseconds period) {
  if (period.count() <= 0) {
    return;
  }
  period_ = period;
  LOG_INFO("main", "systemd watchdog: {} ms, a ping every {} ms while the media loop is healthy",
           period.count() / 1000, period.count() / 2000);
  arm();
}

void SystemdNotifier::arm() {
  timer_.expires_after(period_ / 2);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) {
      return;
    }
    tick();
    arm();
  });
}

void SystemdNotifier::tick() {
  const auto health = health_();
  if (health.healthy) {
    send_("WATCHDOG=1");
    if (withholding_) {
      LOG_INFO("main", "media loop healthy again: systemd watchdog pings resumed");
      withholding_ = false;
    }
  } else if (!withholding_) {
    withholding_ = true;
    LOG_ERROR("main",
              "withholding systemd watchdog pings ({}): systemd restarts the service when "
              "WatchdogSec passes without one",
              health.reason);
  }
  sendStatusIfChanged(health);
}

void SystemdNotifier::sendStatusIfChanged(const control::Health& health) {
  const auto status = currentStatus(health);
  if (status != lastStatus_) {
    lastStatus_ = status;
    send_("STATUS=" + status);
  }
}

std::string SystemdNotifier::currentStatus(const control::Health& health) const {
  auto s = status_();
  s.healthy = health.healthy;
  return formatStatus(s);
}

void SystemdNotifier::ready() {
  lastStatus_ = currentStatus(health_());
  send_("READY=1\nSTATUS=" + lastStatus_);
}

void SystemdNotifier::refreshStatus() {
  if (!stopped_) {
    sendStatusIfChanged(health_());
  }
}

void SystemdNotifier::stopping() {
  cancel();
  send_("STOPPING=1\nSTATUS=" + currentStatus(health_()) + ", stopping");
}

void SystemdNotifier::cancel() {
  stopped_ = true;
  timer_.cancel();
}

}  // namespace jvb::app
