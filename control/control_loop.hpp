#pragma once
// The control thread: one io_context run by one thread, hosting the HTTP
// servers, the XMPP client connections and the timers that publish stats.
// It never waits on the media thread: it posts commands to MediaLoop and
// reads its atomic counters.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <optional>
#include <thread>

namespace jvb::control {

class ControlLoop {
 public:
  ControlLoop() = default;
  ~ControlLoop();
  ControlLoop(const ControlLoop&) = delete;
  ControlLoop& operator=(const ControlLoop&) = delete;

  boost::asio::io_context& context() { return io_; }

  // Runs the loop on a new thread ("jvb-control").
  void start();
  // Runs the loop on the calling thread until stop() (main uses this, so the
  // process has exactly two threads of its own).
  void runHere();
  void stop();
  void post(std::function<void()> fn);

 private:
  void runLoop();

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

}  // namespace jvb::control
