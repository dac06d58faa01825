#include "srtp/library.hpp"

#include <srtp2/srtp.h>

#include <atomic>
#include <string>

#include "srtp/session.hpp"

namespace jvb::srtp {

namespace {
std::atomic<bool> gAlive{false};
}  // namespace

Library::Library() {
  if (gAlive.exchange(true)) {
    throw std::logic_error("srtp::Library: already initialized (build one, in main)");
  }
  const srtp_err_status_t status = srtp_init();
  if (status != srtp_err_status_ok) {
    gAlive = false;
    throw std::runtime_error("srtp_init failed: " + std::string(errorName(status)));
  }
}

Library::~Library() {
  srtp_shutdown();
  gAlive = false;
}

bool Library::initialized() noexcept {
  return gAlive.load();
}

}  // namespace jvb::srtp
