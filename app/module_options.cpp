#include "app/module_options.hpp"

namespace jvb::app {

media::MediaOptions mediaOptions(const config::BridgeConfig& cfg) {
  media::MediaOptions o;
  o.bindAddress = cfg.iceBindAddress;
  o.port = static_cast<uint16_t>(cfg.iceUdpPort);
  o.speech.routeLoudestOnly = cfg.routeLoudestOnly;
  o.speech.numLoudest = cfg.numLoudest;
  o.speech.alwaysRouteDominant = cfg.alwaysRouteDominant;
  o.speech.energyExpireTime = cfg.energyExpireTime;
  o.speech.energyAlphaPct = cfg.energyAlphaPct;
  o.rewrite.limit = static_cast<size_t>(cfg.ssrcLimitAudio);
  o.rewrite.newSsrcDelay = cfg.newSsrcDelay;
  o.rewrite.remapMinIdle = cfg.remapMinIdle;
  o.rateLimit.packetsPerSecond = static_cast<uint32_t>(cfg.endpointRateLimitPps);
  o.rateLimit.burst = static_cast<uint32_t>(cfg.endpointRateLimitBurst);
  o.iceRestart.timeout = cfg.iceRestartTimeout;
  o.iceRestart.transitionWindow = cfg.iceRestartTransitionWindow;
  o.maxQueueDelay = cfg.maxQueueDelay;
  return o;
}

}  // namespace jvb::app
