#pragma once
// Per-endpoint caps on what an authenticated peer may make the media thread
// do (README "Misbehaving peers"): the packet-rate cap's configuration and
// the GCRA (a token bucket kept as one time point) behind every cap. Plain
// data and arithmetic: no allocation, no lock, no division per event.
#include <chrono>
#include <cstdint>

namespace jvb::media {

// jvb-audio.endpoint-rate-limit: per endpoint, the datagrams from its bound
// 5-tuples (RTP, RTCP, DTLS; not STUN) are admitted at `packetsPerSecond`
// on average with bursts of `burst` more; the excess is dropped before
// decryption and counted. packetsPerSecond 0: no cap.
struct EndpointRateLimit {
  uint32_t packetsPerSecond = 0;
  uint32_t burst = 0;
};

// GCRA (ITU-T I.371's virtual scheduling): `tat` is when the next event is
// due; an event up to `tolerance` ahead of it is admitted and moves it on by
// `interval`, a later one is refused and changes nothing.
inline bool admit(std::chrono::steady_clock::time_point& tat,
                  std::chrono::steady_clock::time_point now,
                  std::chrono::steady_clock::duration interval,
                  std::chrono::steady_clock::duration tolerance) noexcept {
  const auto t = tat > now ? tat : now;
  if (t - now > tolerance) {
    return false;
  }
  tat = t + interval;
  return true;
}

}  // namespace jvb::media
