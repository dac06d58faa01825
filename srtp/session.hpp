#pragma once
// SRTP and SRTCP (RFC 3711; AEAD_AES_128_GCM per RFC 7714) for one direction
// of one endpoint, over libsrtp2: the keys come from the DTLS-SRTP exporter as
// plain bytes (srtp_keys.hpp), so neither OpenSSL nor libsrtp types appear
// here.
//
// Threading: a Session belongs to the worker thread of its endpoint; nothing
// in it is synchronised. An srtp::Library must outlive every Session.
//
// Errors: creation (control plane) throws; protect/unprotect (packet path)
// never throw or allocate in this wrapper and return a Result. Below it,
// libsrtp allocates once per new SSRC (the first packet of a stream that
// passes authentication clones the ssrc_any_* template), and nothing else, in
// both profiles: AES_CM_128_HMAC_SHA1_80 authenticates with srtp::Library's
// HMAC-SHA1 (hmac_sha1.hpp), not libsrtp's, whose OpenSSL 3.0 HMAC re-init
// mallocs and frees twice per packet (tests/srtp/no_alloc_test.cpp).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "srtp/srtp_keys.hpp"

struct srtp_ctx_t_;  // libsrtp's session (srtp_t)

namespace jvb::srtp {

// Room a send buffer needs after the packet, whatever the profile: libsrtp's
// SRTP_MAX_TRAILER_LEN (16-byte tag + 128-byte MKI), plus the 4-byte
// E-flag/SRTCP index for RTCP. The exact need per session is rtpTrailer() /
// rtcpTrailer() (no MKI is ever configured).
inline constexpr size_t kMaxTrailer = 16 + 128;
inline constexpr size_t kMaxRtcpTrailer = kMaxTrailer + 4;

enum class Status : uint8_t {
  kOk,
  kAuthFailure,  // tag (HMAC or GCM) did not verify: wrong keys or tampering
  kReplay,       // replay window: repeated, or older than the window
  kBadLength,    // too short for header + tag, header overruns, no room for trailer
  kOther,        // any other libsrtp status (see Result::srtpStatus), or a moved-from
                 // or wrong-direction session
};
[[nodiscard]] std::string_view statusName(Status status) noexcept;
// libsrtp's enumerator name for an srtp_err_status_t value, e.g.
// "srtp_err_status_auth_fail"; "srtp_err_status_unknown" otherwise.
[[nodiscard]] std::string_view errorName(int srtpStatus) noexcept;

struct [[nodiscard]] Result {
  Status status = Status::kOther;
  size_t length = 0;   // the packet's new length when ok(), else 0
  int srtpStatus = 0;  // libsrtp's srtp_err_status_t (0 when the wrapper refused)
  [[nodiscard]] bool ok() const noexcept { return status == Status::kOk; }
};

enum class Direction : uint8_t { kInbound, kOutbound };

struct SessionOptions {
  // Replay window in packets (RFC 3711 section 3.3.2; libsrtp accepts
  // 64..32767). JVB and libwebrtc use 1024 for inbound streams.
  unsigned replayWindow = 1024;
  // Outbound only: let the same sequence number be protected twice (a
  // retransmission with the same payload). Off: a repeat is a kReplay, which
  // catches a forwarding bug that would otherwise reuse keystream.
  bool allowRepeatTx = false;
};

class Session {
 public:
  // Unprotects what the endpoint sends: keys.remote, ssrc_any_inbound.
  [[nodiscard]] static Session inbound(const Keys& keys, const SessionOptions& options = {});
  // Protects what the bridge sends to it: keys.local, ssrc_any_outbound.
  // Both throw std::invalid_argument for a key of the wrong size or a window
  // out of range, std::logic_error without an srtp::Library, and
  // std::runtime_error naming libsrtp's status when srtp_create fails.
  [[nodiscard]] static Session outbound(const Keys& keys, const SessionOptions& options = {});

  Session(Session&&) noexcept = default;
  Session& operator=(Session&&) noexcept = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() = default;

  [[nodiscard]] Direction direction() const noexcept { return direction_; }
  [[nodiscard]] Profile profile() const noexcept { return profile_; }
  // Bytes protectRtp() / protectRtcp() append: the auth tag (10 for
  // HMAC-SHA1-80, 16 for GCM), plus the 4-byte SRTCP index for RTCP.
  [[nodiscard]] size_t rtpTrailer() const noexcept { return rtpTrailer_; }
  [[nodiscard]] size_t rtcpTrailer() const noexcept { return rtcpTrailer_; }

  // In place: buffer[0, length) holds the packet and the buffer needs
  // rtpTrailer() (rtcpTrailer()) more bytes; the result's length is the new
  // packet length. Outbound sessions only.
  // NOTE: libsrtp reads the header as 32-bit words: keep buffers 4-byte aligned.
  Result protectRtp(std::span<uint8_t> buffer, size_t length) noexcept;
  Result protectRtcp(std::span<uint8_t> buffer, size_t length) noexcept;
  // In place over the whole received datagram; the result's length is the
  // plaintext's (the trailer is dropped). Inbound sessions only.
  Result unprotectRtp(std::span<uint8_t> packet) noexcept;
  Result unprotectRtcp(std::span<uint8_t> packet) noexcept;

 private:
  struct Deleter {
    void operator()(srtp_ctx_t_* ctx) const noexcept;
  };
  Session(srtp_ctx_t_* ctx, Direction direction, Profile profile) noexcept;
  static Session create(const Keys& keys, Direction direction, const SessionOptions& options);

  std::unique_ptr<srtp_ctx_t_, Deleter> ctx_;
  Direction direction_ = Direction::kInbound;
  Profile profile_ = Profile::kAeadAes128Gcm;
  uint8_t rtpTrailer_ = 0;
  uint8_t rtcpTrailer_ = 0;
};

}  // namespace jvb::srtp
