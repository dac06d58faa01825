#include "sctp/library.hpp"

#include <usrsctp.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>

#include "common/log.hpp"
#include "sctp/detail.hpp"

namespace jvb::sctp {

namespace {

std::mutex gMutex;
unsigned gRefs = 0;
bool gUp = false;
unsigned gInits = 0;

// usrsctp's debug output (only with its sysctl debug_on, which we leave off).
__attribute__((format(printf, 1, 2))) void debugPrintf(const char* format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  LOG_TRACE("sctp", "usrsctp: {}", line);
}

void init() {
  // Port 0: no UDP encapsulation; packets leave through connOutput (AF_CONN).
  usrsctp_init_nothreads(0, &detail::connOutput, &debugPrintf);
  // As WebRTC stacks do: no ECN (the DTLS layer below carries no ECN bits),
  // and no CRC32c check on input (DTLS already authenticates every packet).
  // connOutput fills in the checksum of outgoing packets itself, since
  // peers (browsers, aiortc) verify it.
  usrsctp_sysctl_set_sctp_ecn_enable(0);
  usrsctp_enable_crc32c_offload();
  ++gInits;
  detail::onLibraryInit();
}

bool finish() {
  // usrsctp_finish() refuses while an endpoint is not freed yet; closing
  // with SO_LINGER 0 frees them at once, but give its timers a few turns.
  for (int i = 0; i < 50; ++i) {
    if (usrsctp_finish() == 0) {
      return true;
    }
    usrsctp_handle_timers(10);
  }
  LOG_WARN("sctp", "usrsctp_finish refused; usrsctp stays initialized");
  return false;
}

}  // namespace

Library::Library() {
  const std::lock_guard lock(gMutex);
  if (gRefs++ == 0 && !gUp) {
    init();
    gUp = true;
  }
}

Library::~Library() {
  const std::lock_guard lock(gMutex);
  if (--gRefs == 0 && gUp && finish()) {
    gUp = false;
  }
}

bool Library::initialized() {
  const std::lock_guard lock(gMutex);
  return gUp;
}

unsigned Library::initCount() {
  const std::lock_guard lock(gMutex);
  return gInits;
}

}  // namespace jvb::sctp
