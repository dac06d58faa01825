#pragma once
// The write side of a Session's SSL: a BIO whose every BIO_write is exactly
// one outgoing datagram, handed to a DatagramSink.
//
// Why this is enough for DTLS (RFC 6347 section 4.1.1): OpenSSL writes each
// record with one BIO_write. During a handshake it stacks its own
// BIO_f_buffer on top and flushes it (one write down to us) before the next
// handshake fragment would overflow the MTU, consulting BIO_wpending, so a
// flight reaches us as datagrams of whole records no larger than the MTU.
// After the handshake each record (application data, alert) arrives alone.
//
// Thread-safety: the method table is created once per process (thread-safe
// static initialisation) and only read afterwards.
#include <openssl/bio.h>

#include <cstdint>
#include <span>

#include "dtls/openssl_util.hpp"

namespace jvb::dtls {

class DatagramSink {
 public:
  // Called from inside OpenSSL: must not throw and must not re-enter the SSL.
  virtual void onDatagram(std::span<const uint8_t> datagram) noexcept = 0;

 protected:
  ~DatagramSink() = default;
};

// A new BIO writing to `sink`, which must outlive it. Null when OpenSSL cannot
// allocate (the error is on OpenSSL's queue).
BioPtr makeDatagramBio(DatagramSink* sink);

}  // namespace jvb::dtls
