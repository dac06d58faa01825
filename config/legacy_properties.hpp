#pragma once
// The legacy sip-communicator.properties that JVB reads beside jvb.conf
// (its Debian launcher sets SC_HOME_DIR_LOCATION=/etc/jitsi and
// SC_HOME_DIR_NAME=videobridge next to -Dconfig.file=/etc/jitsi/videobridge/
// jvb.conf, so both files share one directory). Older Debian installs and
// the seed still carry it. Honoured, as ice4j's HarvestConfig maps them:
//  - org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS together with
//    NAT_HARVESTER_PUBLIC_ADDRESS: one static mapping, before those of
//    ice4j.harvest.mapping.static-mappings (neither alone does anything);
//  - org.ice4j.ice.harvest.STUN_MAPPING_HARVESTER_ADDRESSES (comma-separated):
//    replaces ice4j.harvest.mapping.stun.addresses (ice4j reads the legacy
//    property first).
// Every other property is logged as a warning, naming the jvb.conf key to
// move it to where there is one. Plain data, as the rest of config/.
#include <string>

#include "config/bridge_config.hpp"

namespace jvb::config {

// sip-communicator.properties in the directory of `configFile`.
std::string legacyPropertiesPath(const std::string& configFile);

// Reads `path` when it exists (an absent file is no error) into `cfg`.
// Java .properties syntax: `key=value`, `key: value` or `key value`, `#`
// and `!` comments, trailing-backslash continuations, backslash escapes.
// An unreadable file is logged and changes nothing. Returns whether a file
// was read.
bool applyLegacyProperties(BridgeConfig& cfg, const std::string& path);
// The same from text (`name` for messages).
void applyLegacyPropertiesText(BridgeConfig& cfg, const std::string& text, const std::string& name);

}  // namespace jvb::config
