#include "srtp/library.hpp"

#include <srtp2/srtp.h>

#include <atomic>
#include <string>

#include "srtp/hmac_sha1.hpp"
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
  // HMAC-SHA1 without a heap allocation per packet (hmac_sha1.hpp). libsrtp
  // self-tests it here; every session created from now on uses it.
  const int replaced = useHmacSha1();
  if (replaced != srtp_err_status_ok) {
    srtp_shutdown();
    gAlive = false;
    throw std::runtime_error("srtp_replace_auth_type(HMAC-SHA1) failed: " +
                             std::string(errorName(replaced)));
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
