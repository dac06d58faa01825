#include "control/control_loop.hpp"

#include <pthread.h>

#include <boost/asio/post.hpp>

#include "common/log.hpp"

namespace jvb::control {

ControlLoop::~ControlLoop() {
  stop();
}

void ControlLoop::start() {
  guard_.emplace(boost::asio::make_work_guard(io_));
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "jvb-control");
    runLoop();
  });
}

void ControlLoop::runHere() {
  guard_.emplace(boost::asio::make_work_guard(io_));
  runLoop();
}

void ControlLoop::runLoop() {
  while (!io_.stopped()) {
    try {
      io_.run();
    } catch (const std::exception& e) {
      LOG_ERROR("control", "control loop handler failed: {}", e.what());
    }
  }
}

void ControlLoop::stop() {
  guard_.reset();
  io_.stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
  }
}

void ControlLoop::post(std::function<void()> fn) {
  boost::asio::post(io_, std::move(fn));
}

}  // namespace jvb::control
