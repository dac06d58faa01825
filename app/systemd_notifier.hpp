#pragma once
// What the bridge tells systemd (sd_notify(3)): READY=1, STOPPING=1, a
// STATUS= line with the conference and endpoint counts and the drain and
// shutdown state, and the watchdog pings.
//
// The watchdog: when the unit sets WatchdogSec= (systemd passes WATCHDOG_USEC
// and WATCHDOG_PID), a timer on the control thread sends WATCHDOG=1 every
// half period, but only while the media loop's heartbeat is fresh
// (control::evaluateHealth). A stuck media loop, or a stuck control thread,
// stops the pings and systemd kills and restarts the service
// (Restart=on-failure). Withholding is logged once per episode.
//
// Threading: control thread only (the timer runs on its io_context).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "control/bridge_state.hpp"

namespace jvb::app {

struct ServiceStatus {
  size_t conferences = 0;
  size_t endpoints = 0;
  bool drain = false;
  control::ShutdownPhase phase = control::ShutdownPhase::kRunning;
  bool healthy = true;
};

// "conferences 2, endpoints 7", then ", drain", ", graceful shutdown" or
// ", shutting down", and ", media loop unhealthy" as they apply.
std::string formatStatus(const ServiceStatus& status);

class SystemdNotifier {
 public:
  // One sd_notify message ("READY=1", "STATUS=..."); the default sends it to
  // $NOTIFY_SOCKET with sd_notify(0, ...), a no-op outside systemd.
  using Send = std::function<void(const std::string&)>;

  SystemdNotifier(boost::asio::io_context& io, std::function<control::Health()> health,
                  std::function<ServiceStatus()> status, Send send = {});

  // The watchdog period systemd asks for (sd_watchdog_enabled: WATCHDOG_USEC,
  // honouring WATCHDOG_PID); zero when there is none.
  static std::chrono::microseconds watchdogPeriodFromEnvironment();

  // Arms the ping timer: a ping every period / 2. A zero period does nothing.
  void startWatchdog(std::chrono::microseconds period);
  // One watchdog period's work (the timer calls it): WATCHDOG=1 when the media
  // loop is healthy, else nothing (logged once); then the status.
  void tick();

  void ready();          // READY=1 with the first STATUS=
  void refreshStatus();  // STATUS= when it differs from the last one sent
  void stopping();       // STOPPING=1 with the status; stops the timer
  void cancel();         // stops the timer

  [[nodiscard]] bool withholding() const { return withholding_; }
  [[nodiscard]] std::chrono::microseconds watchdogPeriod() const { return period_; }

 private:
  void arm();
  void sendStatusIfChanged(const control::Health& health);
  [[nodiscard]] std::string currentStatus(const control::Health& health) const;

  std::function<control::Health()> health_;
  std::function<ServiceStatus()> status_;
  Send send_;
  boost::asio::steady_timer timer_;
  std::chrono::microseconds period_{0};
  std::string lastStatus_;
  bool withholding_ = false;
  bool stopped_ = false;
};

}  // namespace jvb::app
