#pragma once
// Bridge-wide state that the control plane owns and publishes: drain,
// shutdown phase, XMPP connectivity, and the health verdict derived from the
// media loop's heartbeat. Written on the control thread; atomics so that any
// thread may read.
#include <atomic>
#include <chrono>
#include <string>

#include "media/media_loop.hpp"

namespace jvb::control {

// JVB's ShutdownState: RUNNING -> GRACEFUL_SHUTDOWN -> SHUTTING_DOWN.
enum class ShutdownPhase : int { kRunning = 0, kGracefulShutdown = 1, kShuttingDown = 2 };

struct Health {
  bool healthy = false;
  std::string reason;         // empty when healthy
  double heartbeatAgeMs = 0;  // how long ago the media loop last ran its heartbeat
};

class BridgeState {
 public:
  explicit BridgeState(bool initialDrain) : drain_(initialDrain) {}

  [[nodiscard]] bool drain() const { return drain_.load(); }
  void setDrain(bool on) { drain_.store(on); }

  [[nodiscard]] ShutdownPhase shutdownPhase() const {
    return static_cast<ShutdownPhase>(phase_.load());
  }
  void setShutdownPhase(ShutdownPhase p) { phase_.store(static_cast<int>(p)); }

  // Filled by the XMPP side (one client per configured xmpp-client entry).
  std::atomic<int> mucClientsConfigured{0};
  std::atomic<int> mucClientsConnected{0};
  std::atomic<int> mucsConfigured{0};
  std::atomic<int> mucsJoined{0};
  // Over all XMPP connections (control thread writes; /metrics reads):
  // stanzas received and sent, and connections lost (JVB's xmpp_disconnects).
  std::atomic<uint64_t> xmppStanzasReceived{0};
  std::atomic<uint64_t> xmppStanzasSent{0};
  std::atomic<uint64_t> xmppDisconnects{0};

 private:
  std::atomic<bool> drain_;
  std::atomic<int> phase_{static_cast<int>(ShutdownPhase::kRunning)};
};

// The media loop is alive when its heartbeat ran within `maxStall`; a loop
// that is blocked (a handler that never returns, a livelock) or whose thread
// is gone is not. XMPP state is deliberately not part of the verdict: media
// keeps flowing through an XMPP outage, and a failing health check would get
// a working bridge restarted.
Health evaluateHealth(const media::MediaLoop& media, std::chrono::milliseconds maxStall,
                      media::MediaLoop::Clock::time_point now = media::MediaLoop::Clock::now());

}  // namespace jvb::control
