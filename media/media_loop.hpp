#pragma once
// The media thread: one Asio io_context, run by one thread, that owns the UDP
// media port and (with the media issue) every endpoint's ICE/DTLS/SRTP state.
// Nothing on this thread takes a lock on the packet path.
//
// The control thread talks to it only through send(): a typed command
// (media_model.hpp) moved onto the media thread (Asio's handler queue is the
// command queue). Results go back as MediaEvents, posted to the control loop.
// Counters are relaxed atomics written by the media thread and read by the
// control thread for stats; they are the only shared state.
#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include "ice/ice_agent.hpp"
#include "ice/udp_port.hpp"
#include "media/audio_ssrc_cache.hpp"
#include "media/export_ring.hpp"
#include "media/media_counters.hpp"
#include "media/media_events.hpp"
#include "media/media_model.hpp"
#include "media/rate_limit.hpp"
#include "media/speech_activity.hpp"

namespace jvb::dtls {
class Certificate;
class Context;
}  // namespace jvb::dtls

namespace jvb::media {

// What the media thread needs to know of the configuration (app/ maps
// jvb.conf onto it).
struct MediaOptions {
  std::string bindAddress = "0.0.0.0";  // videobridge.ice.udp.bind-address
  uint16_t port = 10000;                // videobridge.ice.udp.port (0: any)
  SpeechActivityConfig speech;          // videobridge.loudest
  SsrcRewriteConfig rewrite;            // videobridge.ssrc-limit.audio, jvb-audio.ssrc-rewriting
  IceRestartConfig iceRestart;          // videobridge.ice.restart
  // jvb-audio.endpoint-rate-limit (packets-per-second, burst): 10x a 20 ms
  // Opus sender is dropped (README "Misbehaving peers").
  EndpointRateLimit rateLimit{200, 200};
  // jvb-audio.media.max-queue-delay: RTP that has waited longer than this
  // since the kernel received it (the media thread past its capacity) is
  // dropped without being decrypted or forwarded (README "Process model").
  // Zero: never.
  std::chrono::milliseconds maxQueueDelay{200};
};

class MediaRouter;

class MediaLoop {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kHeartbeat{100};

  // `certificate`: the DTLS identity signalled in Colibri2 (one per process);
  // null generates one (tests).
  explicit MediaLoop(MediaOptions options,
                     std::shared_ptr<const dtls::Certificate> certificate = nullptr);
  ~MediaLoop();
  MediaLoop(const MediaLoop&) = delete;
  MediaLoop& operator=(const MediaLoop&) = delete;

  // Binds the UDP media port (throws std::system_error naming address:port)
  // and starts the media thread.
  void start();
  // Stops the thread and joins it. Idempotent; commands still queued are dropped.
  void stop();

  // Applies `command` on the media thread, in the order sent. Thread-safe.
  // False once stopped.
  bool send(Command command);
  // Runs `command` on the media thread (the primitive under send(); tests
  // use it to look at the thread). Thread-safe. False once stopped.
  bool post(std::function<void()> command);
  // Where the media thread's events go (before or after start()).
  void setEvents(MediaEvents events);
  // ICE timing for endpoints added from now on (tests shorten consent).
  void setIceConfig(const ice::IceConfig& config);
  // The ring exported audio goes into (Colibri2 <connects>); before start().
  void setExportRing(std::shared_ptr<ExportRing> ring) { exportRing_ = std::move(ring); }

  [[nodiscard]] bool running() const { return running_.load(); }
  [[nodiscard]] uint16_t udpPort() const { return udpPort_.load(); }
  [[nodiscard]] Clock::time_point lastHeartbeat() const;
  [[nodiscard]] const MediaCounters& counters() const { return counters_; }
  // The media thread's kernel thread id (0 before it runs): the control
  // thread reads its scheduler figures from /proc (control/stats.hpp's
  // ThreadBusy) without touching the thread.
  [[nodiscard]] int threadId() const { return threadId_.load(std::memory_order_relaxed); }

 private:
  void onDatagram(std::span<uint8_t> datagram, const ice::UdpPort::Endpoint& from);
  void armHeartbeat();
  void run();

  MediaOptions options_;
  MediaEvents events_;  // handed to the router at start()
  std::shared_ptr<const dtls::Certificate> certificate_;
  std::shared_ptr<ExportRing> exportRing_;
  boost::asio::io_context io_;
  std::unique_ptr<ice::UdpPort> port_;
  std::unique_ptr<dtls::Context> dtls_;
  std::unique_ptr<MediaRouter> router_;
  std::unique_ptr<boost::asio::steady_timer> heartbeatTimer_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<uint16_t> udpPort_{0};
  std::atomic<int64_t> heartbeatNs_{0};
  std::atomic<int> threadId_{0};
  MediaCounters counters_;
};

}  // namespace jvb::media
