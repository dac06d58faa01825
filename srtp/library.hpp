#pragma once
// The process-wide libsrtp state: srtp_init() on construction, then the
// allocation-free HMAC-SHA1 auth type registered in place of libsrtp's own
// (hmac_sha1.hpp); srtp_shutdown() on destruction.
//
// NOTE: build exactly one Library in main(), before any worker thread starts
// and before any srtp::Session is made, and destroy it after every Session is
// gone (the workers have joined). srtp_init() is not thread-safe and not
// idempotent (libsrtp 2.5 fails a second call with bad_param), so a second
// live Library is a programming error (std::logic_error), and nothing else in
// the process may call srtp_init(). Session creation without one throws too.
#include <stdexcept>

namespace jvb::srtp {

class Library {
 public:
  // Throws std::runtime_error naming libsrtp's status when srtp_init() fails
  // (it runs the cipher self-tests) or the HMAC-SHA1 replacement fails its
  // self-test, std::logic_error when one is alive.
  Library();
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  Library(Library&&) = delete;
  Library& operator=(Library&&) = delete;

  // Whether a Library is alive (checked when a Session is created).
  [[nodiscard]] static bool initialized() noexcept;
};

}  // namespace jvb::srtp
