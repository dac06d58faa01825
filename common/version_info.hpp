#pragma once
// What the bridge says about itself: /about/version, jabber:iq:version and the
// "version" stat in brewery presence.
#include <string>

namespace jvb {

struct VersionInfo {
  std::string name;     // "jvb-audio"
  std::string version;  // "<project version>-<git describe>", e.g. "0.1.0-g1a2b3c4"
  std::string os;       // uname sysname, e.g. "Linux"
};

// Computed once; safe to call from any thread.
const VersionInfo& versionInfo();

}  // namespace jvb
