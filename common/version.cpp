#include "common/version_info.hpp"

#include <sys/utsname.h>

#include "common/version.hpp"

namespace jvb {

const VersionInfo& versionInfo() {
  static const VersionInfo info = [] {
    VersionInfo v;
    v.name = "jvb-audio";
    v.version = std::string(build::kProjectVersion) + "-" + build::kGitDescribe;
    utsname u{};
    v.os = uname(&u) == 0 ? std::string(u.sysname) : std::string("unknown");
    return v;
  }();
  return info;
}

}  // namespace jvb
