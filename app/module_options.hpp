#pragma once
// The one place that maps jvb.conf (config::BridgeConfig, plain data) onto
// the options of the modules that take their own (the media thread's).
#include "config/bridge_config.hpp"
#include "media/media_loop.hpp"

namespace jvb::app {

media::MediaOptions mediaOptions(const config::BridgeConfig& cfg);

}  // namespace jvb::app
