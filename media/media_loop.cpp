#include "media/media_loop.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/log.hpp"
#include "dtls/certificate.hpp"
#include "dtls/context.hpp"
#include "media/media_router.hpp"
#include "rtp/demux.hpp"

namespace jvb::media {

namespace asio = boost::asio;

MediaLoop::MediaLoop(MediaOptions options, std::shared_ptr<const dtls::Certificate> certificate)
    : options_(std::move(options)), certificate_(std::move(certificate)) {
  if (!certificate_) {
    certificate_ = std::make_shared<const dtls::Certificate>(dtls::Certificate::generate());
  }
}

MediaLoop::~MediaLoop() {
  stop();
}

void MediaLoop::start() {
  port_ = std::make_unique<ice::UdpPort>(
      io_, options_.bindAddress, options_.port,
      [this](std::span<uint8_t> d, const ice::UdpPort::Endpoint& from) { onDatagram(d, from); });
  port_->start();  // throws with address:port when it cannot bind
  udpPort_.store(port_->port());
  dtls_ = std::make_unique<dtls::Context>(*certificate_);
  router_ = std::make_unique<MediaRouter>(io_, *port_, *dtls_, counters_, options_.speech);
  router_->setSsrcRewriteConfig(options_.rewrite);
  router_->setIceRestartConfig(options_.iceRestart);
  router_->setRateLimit(options_.rateLimit);
  router_->setEvents(events_);
  router_->setExportRing(exportRing_.get());
  heartbeatTimer_ = std::make_unique<asio::steady_timer>(io_);
  heartbeatNs_.store(Clock::now().time_since_epoch().count());
  armHeartbeat();
  running_.store(true);
  thread_ = std::thread([this] { run(); });
}

namespace {
constexpr int kMediaNice = 5;
}  // namespace

void MediaLoop::run() {
  pthread_setname_np(pthread_self(), "jvb-media");
  threadId_.store(static_cast<int>(::gettid()), std::memory_order_relaxed);
  // The control plane must never starve behind media (a late health-check
  // answer gets a working bridge declared dead): where the two threads share
  // a core, SCHED_BATCH (a waking media thread never preempts a running
  // control thread; the control thread, waking, preempts media at once) and
  // a nice of +5 (the control thread's share when both are runnable: 1024
  // against 335) let the control thread run first. The media thread still
  // gets every cycle the control thread does not use. (Linux: both apply to
  // the calling thread; neither needs a privilege.)
  sched_param batch{};
  if (::pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch) != 0) {
    LOG_WARN("media", "cannot put the media thread in SCHED_BATCH");
  }
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kMediaNice) != 0) {
    LOG_WARN("media", "cannot lower the media thread's priority");
  }
  auto guard = asio::make_work_guard(io_);
  while (!io_.stopped()) {
    try {
      io_.run();
    } catch (const std::exception& e) {
      // A failing handler must not take the media of every other endpoint
      // down with it: count, log and keep serving.
      counters_.handlerErrors.fetch_add(1, std::memory_order_relaxed);
      LOG_ERROR("media", "media loop handler failed: {}", e.what());
    }
  }
  LOG_DEBUG("media", "media loop exited");
}

void MediaLoop::stop() {
  if (!running_.exchange(false)) {
    return;
  }
  io_.stop();
  if (thread_.joinable()) {
    thread_.join();
  }
  // The thread is gone: the sockets can be closed from here.
  router_.reset();
  heartbeatTimer_.reset();
  if (port_) {
    port_->close();
  }
  LOG_INFO("media", "media loop stopped");
}

bool MediaLoop::post(std::function<void()> command) {
  if (!running_.load()) {
    return false;
  }
  asio::post(io_, std::move(command));
  return true;
}

bool MediaLoop::send(Command command) {
  return post([this, command = std::move(command)]() mutable {
    if (router_) {
      router_->apply(std::move(command));
    }
  });
}

void MediaLoop::setEvents(MediaEvents events) {
  if (!running_.load()) {
    events_ = std::move(events);
    return;
  }
  post([this, events = std::move(events)] {
    events_ = events;
    if (router_) {
      router_->setEvents(events_);
    }
  });
}

void MediaLoop::setIceConfig(const ice::IceConfig& config) {
  post([this, config] {
    if (router_) {
      router_->setIceConfig(config);
    }
  });
}

MediaLoop::Clock::time_point MediaLoop::lastHeartbeat() const {
  return Clock::time_point(Clock::duration(heartbeatNs_.load(std::memory_order_relaxed)));
}

void MediaLoop::armHeartbeat() {
  heartbeatTimer_->expires_after(kHeartbeat);
  heartbeatTimer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    heartbeatNs_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    armHeartbeat();
  });
}

void MediaLoop::onDatagram(std::span<uint8_t> datagram, const ice::UdpPort::Endpoint& from) {
  counters_.packetsReceived.fetch_add(1, std::memory_order_relaxed);
  counters_.bytesReceived.fetch_add(datagram.size(), std::memory_order_relaxed);
  // Load shedding: past capacity the receive queue grows until the kernel
  // drops, and every packet read from it is as late as the queue is long
  // (seconds at 4 MiB). Stale audio is useless to a receiver's jitter buffer,
  // and forwarding it costs as much as forwarding fresh audio, so RTP that
  // waited too long goes unread: the thread catches up, what it forwards is
  // at most this late, and STUN, DTLS and RTCP behind it (consent, new
  // endpoints' handshakes) get through.
  if (options_.maxQueueDelay.count() != 0 && port_->queueDelay() > options_.maxQueueDelay &&
      rtp::classify(datagram) == rtp::PacketKind::kRtp) {
    counters_.rtpStaleDropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  router_->onDatagram(datagram, from);
}

}  // namespace jvb::media
