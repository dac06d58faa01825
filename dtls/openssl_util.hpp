#pragma once
// OpenSSL plumbing shared by dtls/: one RAII owner per C handle, and the one
// helper that drains OpenSSL's per-thread error queue (every failure path in
// dtls/ goes through it, so that a stale entry never explains a later error).
//
// Thread-safety: OpenSSL's error queue is per thread; the helpers touch only
// the calling thread's queue.
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/log.hpp"

namespace jvb::dtls {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// Pops every entry of this thread's OpenSSL error queue and returns them
// joined with "; " (empty when the queue was empty). The queue is empty
// afterwards.
std::string drainOpenSslErrors();

// Drains the queue like drainOpenSslErrors() and, when it was not empty, logs
// one line "<what>: <errors>" under component "dtls" at `level`. Returns the
// joined text. Use this, not ERR_* calls, everywhere in dtls/.
std::string logOpenSslErrors(log::Level level, std::string_view what);

}  // namespace jvb::dtls
