#pragma once
// SRTP master keys from a completed DTLS-SRTP handshake (RFC 5764 section
// 4.2), as the plain srtp::Keys struct that srtp/ consumes.
//
// Thread-safety: touches only the given SSL.
#include <openssl/ssl.h>

#include <optional>

#include "srtp/srtp_keys.hpp"

namespace jvb::dtls {

// The use_srtp profile the handshake selected, if it is one we support.
[[nodiscard]] std::optional<srtp::Profile> selectedSrtpProfile(SSL* ssl);

// Exports 2 * (key + salt) bytes with the label "EXTRACTOR-dtls_srtp" and
// splits them into client and server write key+salt; `local` is what the
// side that is the DTLS client (`weAreClient`) or server writes with.
// Nullopt when OpenSSL refuses the export.
[[nodiscard]] std::optional<srtp::Keys> exportSrtpKeys(SSL* ssl, srtp::Profile profile,
                                                       bool weAreClient);

}  // namespace jvb::dtls
