#include "dtls/context.hpp"

#include <stdexcept>
#include <utility>

namespace jvb::dtls {

namespace {

[[noreturn]] void fail(const char* what) {
  const std::string errors = drainOpenSslErrors();
  throw std::runtime_error(std::string("DTLS context: ") + what +
                           (errors.empty() ? std::string() : ": " + errors));
}

// The context-wide verify callback accepts any certificate chain: WebRTC
// certificates are self-signed (RFC 8827 section 6.5) and the peer is
// authenticated by the fingerprint signalled for it, which each Session checks
// with its own per-SSL callback and again when the handshake completes.
int acceptAnyChain(int /*preverifyOk*/, X509_STORE_CTX* /*store*/) {
  return 1;
}

// The smallest MTU OpenSSL's DTLS fragmentation still works with (its own
// floor is 256 bytes minus UDP/IP overhead).
constexpr size_t kMinMtu = 256;
// During a handshake OpenSSL packs records into a BIO_f_buffer (4096 bytes)
// and flushes it before the MTU is exceeded; an MTU above that buffer would
// let it split a record across two writes, i.e. two datagrams.
constexpr size_t kMaxMtu = 4096;

}  // namespace

const char* srtpProfileName(srtp::Profile profile) {
  switch (profile) {
    case srtp::Profile::kAeadAes128Gcm:
      return "SRTP_AEAD_AES_128_GCM";
    case srtp::Profile::kAes128CmHmacSha1_80:
      return "SRTP_AES128_CM_SHA1_80";
  }
  return "";
}

Context::Context(const Certificate& certificate, ContextOptions options) : mtu_(options.mtu) {
  if (options.srtpProfiles.empty()) {
    throw std::invalid_argument("DTLS context: no SRTP protection profile configured");
  }
  if (options.mtu < kMinMtu || options.mtu > kMaxMtu) {
    throw std::invalid_argument("DTLS context: MTU out of range");
  }
  if (certificate.key() == nullptr || certificate.x509() == nullptr) {
    throw std::invalid_argument("DTLS context: empty certificate");
  }
  drainOpenSslErrors();  // start from a clean queue so that errors are ours

  ctx_.reset(SSL_CTX_new(DTLS_method()));
  if (!ctx_) {
    fail("SSL_CTX_new failed");
  }
  SSL_CTX* ctx = ctx_.get();

  // DTLS 1.2 only, as JVB's BouncyCastle stack (RFC 6347). Chromium offers
  // DTLS 1.3 but falls back to 1.2 against OpenSSL 3.0 peers.
  if (SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) != 1) {
    fail("cannot restrict to DTLS 1.2");
  }

  if (SSL_CTX_use_certificate(ctx, certificate.x509()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, certificate.key()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    fail("cannot use the certificate");
  }
  fingerprint_ = certificate.fingerprintSha256();

  // JVB's suites (jvb-interfaces.md section 8), AEAD with ECDHE only
  // (RFC 8827 section 6.5 requires forward secrecy). The RSA variants let us,
  // as client, talk to a peer with an RSA certificate; as server our ECDSA
  // certificate selects the ECDSA ones. JVB's DHE_RSA suite is left out: it
  // needs DH parameters and no WebRTC browser offers it first.
  if (SSL_CTX_set_cipher_list(ctx,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    fail("cipher list rejected");
  }
  // X25519 and P-256 are what browsers offer; P-384 as a spare. A short list
  // keeps the ClientHello small.
  if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
    fail("groups list rejected");
  }

  // use_srtp (RFC 5764 section 4.1.1). Note the inverted return convention:
  // 0 means success.
  std::string profiles;
  for (const srtp::Profile p : options.srtpProfiles) {
    if (!profiles.empty()) {
      profiles += ':';
    }
    profiles += srtpProfileName(p);
  }
  if (SSL_CTX_set_tlsext_use_srtp(ctx, profiles.c_str()) != 0) {
    fail("use_srtp profiles rejected");
  }

  // Always ask for the peer's certificate (as server: CertificateRequest,
  // RFC 5246 section 7.4.4; JVB requests ecdsa_sign) and fail a handshake in
  // which the client sends none: the fingerprint check needs it.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &acceptAnyChain);

  // Our cipher order wins when we are the server (AES-128-GCM first).
  // No session tickets, no session cache: every WebRTC DTLS association is a
  // full handshake bound to signalled fingerprints. No renegotiation: WebRTC
  // never renegotiates and it would only be a way to burn our CPU.
  // SSL_OP_NO_QUERY_MTU: the MTU is ours (below), there is no socket to ask.
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET |
                               SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_QUERY_MTU);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // Each incoming datagram is handed to OpenSSL on its own; no read-ahead.
  SSL_CTX_set_read_ahead(ctx, 0);
  // Per-endpoint memory: a record never exceeds the MTU (<= kMaxMtu), so
  // the write buffer OpenSSL keeps for the session's life needs no room for
  // 16 KiB of plaintext (about 13 KiB saved per endpoint). Release-buffers
  // mode lets the read buffer go between records where OpenSSL supports it.
  SSL_CTX_set_max_send_fragment(ctx, kMaxMtu);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  drainOpenSslErrors();
}

Context::~Context() = default;
Context::Context(Context&&) noexcept = default;
Context& Context::operator=(Context&&) noexcept = default;

}  // namespace jvb::dtls
