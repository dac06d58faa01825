#include "control/bridge_state.hpp"

#include <fmt/format.h>

namespace jvb::control {

Health evaluateHealth(const media::MediaLoop& media, std::chrono::milliseconds maxStall,
                      media::MediaLoop::Clock::time_point now) {
  Health h;
  const auto age = now - media.lastHeartbeat();
  h.heartbeatAgeMs = std::chrono::duration<double, std::milli>(age).count();
  if (!media.running()) {
    h.reason = "media loop is not running";
    return h;
  }
  if (media.udpPort() == 0) {
    h.reason = "media UDP port is not bound";
    return h;
  }
  if (age > maxStall) {
    h.reason = fmt::format("media loop stuck: no heartbeat for {:.0f} ms (limit {} ms)",
                           h.heartbeatAgeMs, maxStall.count());
    return h;
  }
  h.healthy = true;
  return h;
}

}  // namespace jvb::control
