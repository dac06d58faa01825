#pragma once
// HMAC-SHA1 (RFC 2104) for libsrtp's SRTP_HMAC_SHA1, the authentication of
// AES_CM_128_HMAC_SHA1_80 (RFC 3711 section 4.2.1), with no heap allocation
// per packet.
//
// Why: libsrtp 2.5's own (crypto/hash/hmac_ossl.c) re-initialises an OpenSSL
// 3.0 EVP_MAC_CTX per packet, and OpenSSL 3.0's HMAC re-init and final each
// copy a digest context (EVP_MD_CTX_copy_ex dups the provider's context): two
// malloc/free pairs per protect or unprotect. This auth type absorbs K ^ ipad
// and K ^ opad into two SHA-1 states once, when libsrtp derives the session
// keys (its init); per packet it copies the inner state, hashes the packet and
// finishes with a copy of the outer state: fixed-size copies and SHA-1
// compressions (OpenSSL's SHA-1 block code), nothing allocated. The tags are
// the same bytes (tests/srtp/hmac_sha1_test.cpp). Allocation happens only in
// the vtable's alloc, once per session.
//
// srtp::Library registers it with srtp_replace_auth_type() right after
// srtp_init(); libsrtp then self-tests it against its RFC 2202 test cases and
// libsrtp's own. A libsrtp session keeps the auth type it was created with.
struct srtp_auth_type_t;  // libsrtp's auth vtable (srtp2/auth.h)

namespace jvb::srtp {

// The auth type itself (static storage), for tests that drive its vtable.
[[nodiscard]] const srtp_auth_type_t& hmacSha1AuthType() noexcept;

// Registers hmacSha1AuthType() for SRTP_HMAC_SHA1: sessions created from then
// on use it. Needs an initialised libsrtp (srtp::Library calls it; nothing
// else needs to). Returns libsrtp's srtp_err_status_t (0 = ok).
[[nodiscard]] int useHmacSha1() noexcept;

// Registers libsrtp's own HMAC-SHA1 again (its srtp_hmac), so that sessions
// created from then on use it: for the tests and benchmarks that compare the
// two in one process. Not for the bridge.
[[nodiscard]] int useLibsrtpHmacSha1() noexcept;

}  // namespace jvb::srtp
