#pragma once
// The media thread: one Asio io_context, run by one thread, that owns the UDP
// media port and (with the media issue) every endpoint's ICE/DTLS/SRTP state.
// Nothing on this thread takes a lock on the packet path.
//
// The control thread talks to it only through post(): a command is a moved,
// owned closure executed on the media thread (Asio's handler queue is the
// command queue). Results go back the same way, posted to the control loop.
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
#include <string>
#include <thread>

#include "config/bridge_config.hpp"
#include "dtls/certificate.hpp"
#include "dtls/context.hpp"
#include "ice/udp_port.hpp"
#include "rtp/demux.hpp"

namespace jvb::bridge {

struct MediaCounters {
  std::atomic<uint64_t> packetsReceived{0};
  std::atomic<uint64_t> bytesReceived{0};
  std::atomic<uint64_t> packetsSent{0};
  std::atomic<uint64_t> bytesSent{0};
  // Datagrams dropped because no endpoint owns their 5-tuple (they create no
  // state), by protocol class (rtp::PacketKind).
  std::array<std::atomic<uint64_t>, 7> droppedUnknownSource{};
  std::atomic<uint64_t> handlerErrors{0};  // exceptions caught on the media thread
  // Endpoint media (MediaRouter).
  std::atomic<uint64_t> stunRejected{0};  // STUN that authenticated for no endpoint
  std::atomic<uint64_t> iceSucceeded{0};  // total_ice_succeeded
  std::atomic<uint64_t> iceFailed{0};     // total_ice_failed (failed or consent expired)
  std::atomic<uint64_t> dtlsSucceeded{0};
  std::atomic<uint64_t> dtlsFailed{0};  // dtls_failed_endpoints
  // DTLS sessions freed once SRTP flows and no data channel needs them, and
  // DTLS datagrams that arrived for such an endpoint afterwards (dropped).
  std::atomic<uint64_t> dtlsReleased{0};
  std::atomic<uint64_t> dtlsAfterRelease{0};
  std::atomic<uint64_t> srtpFailed{0};    // authentication / replay failures
  std::atomic<uint64_t> rtpForwarded{0};  // packets sent to receivers
  std::atomic<uint64_t> rtpDropped{0};    // unsignalled SSRC, muted, not ready, malformed
  std::atomic<uint64_t> videoDropped{0};  // video is never forwarded
  // Audio routing (JVB's rules): force-muted, silence after 3 in a row,
  // route-loudest-only; and dominant-speaker changes in all conferences.
  std::atomic<uint64_t> audioMutedDropped{0};
  std::atomic<uint64_t> audioSilenceDropped{0};
  std::atomic<uint64_t> audioNotLoudestDropped{0};
  std::atomic<uint64_t> dominantSpeakerChanges{0};
  std::atomic<uint64_t> rtcpTerminated{0};
  std::atomic<uint64_t> rtcpSent{0};  // receiver reports and forwarded sender reports
};

class MediaRouter;

class MediaLoop {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kHeartbeat{100};

  // `certificate`: the DTLS identity signalled in Colibri2 (one per process);
  // null generates one (tests).
  explicit MediaLoop(const config::BridgeConfig& cfg,
                     std::shared_ptr<const dtls::Certificate> certificate = nullptr);
  ~MediaLoop();
  MediaLoop(const MediaLoop&) = delete;
  MediaLoop& operator=(const MediaLoop&) = delete;

  // Binds the UDP media port (throws std::system_error naming address:port)
  // and starts the media thread.
  void start();
  // Stops the thread and joins it. Idempotent; commands still queued are dropped.
  void stop();

  // Runs `command` on the media thread. Thread-safe. False once stopped.
  bool post(std::function<void()> command);
  // Runs `command` with the endpoint router, on the media thread.
  bool postToRouter(std::function<void(MediaRouter&)> command);

  [[nodiscard]] bool running() const { return running_.load(); }
  [[nodiscard]] uint16_t udpPort() const { return udpPort_.load(); }
  [[nodiscard]] Clock::time_point lastHeartbeat() const;
  [[nodiscard]] const MediaCounters& counters() const { return counters_; }

 private:
  void onDatagram(std::span<const uint8_t> datagram, const ice::UdpPort::Endpoint& from);
  void armHeartbeat();
  void run();

  config::BridgeConfig cfg_;
  std::shared_ptr<const dtls::Certificate> certificate_;
  boost::asio::io_context io_;
  std::unique_ptr<ice::UdpPort> port_;
  std::unique_ptr<dtls::Context> dtls_;
  std::unique_ptr<MediaRouter> router_;
  std::unique_ptr<boost::asio::steady_timer> heartbeatTimer_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<uint16_t> udpPort_{0};
  std::atomic<int64_t> heartbeatNs_{0};
  MediaCounters counters_;
};

}  // namespace jvb::bridge
