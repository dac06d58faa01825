#include "srtp/session.hpp"

#include <srtp2/srtp.h>
#include <string.h>  // explicit_bzero

#include <array>
#include <climits>
#include <stdexcept>
#include <string>

#include "srtp/library.hpp"

namespace jvb::srtp {

static_assert(kMaxTrailer == SRTP_MAX_TRAILER_LEN);

namespace {

constexpr size_t kRtpHeader = 12;    // RFC 3550 section 5.1
constexpr size_t kRtcpHeader = 8;    // RFC 3550 section 6.4: header + SSRC
constexpr size_t kSrtcpIndex = 4;    // RFC 3711 section 3.4: E flag + index
constexpr size_t kHmacSha1Tag = 10;  // RFC 3711 section 5.2 (HMAC-SHA1, 80 bits)
constexpr size_t kGcmTag = 16;       // RFC 7714 section 7.2

Result fromStatus(srtp_err_status_t s, int length) noexcept {
  switch (s) {
    case srtp_err_status_ok:
      return {Status::kOk, static_cast<size_t>(length), 0};
    case srtp_err_status_auth_fail:
      return {Status::kAuthFailure, 0, s};
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      return {Status::kReplay, 0, s};
    case srtp_err_status_bad_param:  // srtp_validate_rtp_header, length checks
    case srtp_err_status_parse_err:  // header extension past the end
      return {Status::kBadLength, 0, s};
    default:
      return {Status::kOther, 0, s};
  }
}

constexpr Result refuse(Status s) noexcept {
  return {s, 0, 0};
}

// Protect: the packet must hold a header, and the buffer the trailer. libsrtp
// takes an int length.
bool protectFits(std::span<uint8_t> buffer, size_t length, size_t header, size_t trailer) noexcept {
  return length >= header && length <= buffer.size() && buffer.size() - length >= trailer &&
         length + trailer <= INT_MAX;
}

void setPolicy(srtp_crypto_policy_t& p, Profile profile) noexcept {
  switch (profile) {
    case Profile::kAeadAes128Gcm:
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&p);
      return;
    case Profile::kAes128CmHmacSha1_80:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p);
      return;
  }
}

}  // namespace

std::string_view statusName(Status status) noexcept {
  switch (status) {
    case Status::kOk:
      return "ok";
    case Status::kAuthFailure:
      return "auth_failure";
    case Status::kReplay:
      return "replay";
    case Status::kBadLength:
      return "bad_length";
    case Status::kOther:
      return "other";
  }
  return "other";
}

std::string_view errorName(int srtpStatus) noexcept {
  static constexpr std::array<std::string_view, 28> kNames{
      "srtp_err_status_ok",           "srtp_err_status_fail",
      "srtp_err_status_bad_param",    "srtp_err_status_alloc_fail",
      "srtp_err_status_dealloc_fail", "srtp_err_status_init_fail",
      "srtp_err_status_terminus",     "srtp_err_status_auth_fail",
      "srtp_err_status_cipher_fail",  "srtp_err_status_replay_fail",
      "srtp_err_status_replay_old",   "srtp_err_status_algo_fail",
      "srtp_err_status_no_such_op",   "srtp_err_status_no_ctx",
      "srtp_err_status_cant_check",   "srtp_err_status_key_expired",
      "srtp_err_status_socket_err",   "srtp_err_status_signal_err",
      "srtp_err_status_nonce_bad",    "srtp_err_status_read_fail",
      "srtp_err_status_write_fail",   "srtp_err_status_parse_err",
      "srtp_err_status_encode_err",   "srtp_err_status_semaphore_err",
      "srtp_err_status_pfkey_err",    "srtp_err_status_bad_mki",
      "srtp_err_status_pkt_idx_old",  "srtp_err_status_pkt_idx_adv"};
  static_assert(srtp_err_status_pkt_idx_adv == kNames.size() - 1);
  if (srtpStatus < 0 || static_cast<size_t>(srtpStatus) >= kNames.size()) {
    return "srtp_err_status_unknown";
  }
  return kNames[static_cast<size_t>(srtpStatus)];
}

void Session::Deleter::operator()(srtp_ctx_t_* ctx) const noexcept {
  srtp_dealloc(ctx);
}

Session::Session(srtp_ctx_t_* ctx, Direction direction, Profile profile) noexcept
    : ctx_(ctx), direction_(direction), profile_(profile) {
  const size_t tag = profile == Profile::kAeadAes128Gcm ? kGcmTag : kHmacSha1Tag;
  rtpTrailer_ = static_cast<uint8_t>(tag);
  rtcpTrailer_ = static_cast<uint8_t>(tag + kSrtcpIndex);
}

Session Session::inbound(const Keys& keys, const SessionOptions& options) {
  return create(keys, Direction::kInbound, options);
}

Session Session::outbound(const Keys& keys, const SessionOptions& options) {
  return create(keys, Direction::kOutbound, options);
}

Session Session::create(const Keys& keys, Direction direction, const SessionOptions& options) {
  if (!Library::initialized()) {
    throw std::logic_error("srtp::Session: no srtp::Library (build one in main first)");
  }
  const MasterKey& master = direction == Direction::kInbound ? keys.remote : keys.local;
  const size_t expected = keyLength(keys.profile) + saltLength(keys.profile);
  if (master.size != expected) {
    throw std::invalid_argument("srtp::Session: master key+salt is " + std::to_string(master.size) +
                                " bytes, the profile needs " + std::to_string(expected));
  }
  // libsrtp's rdbx accepts 64..0x7fff (0 would mean its default of 128).
  if (options.replayWindow < 64 || options.replayWindow > 0x7FFF) {
    throw std::invalid_argument("srtp::Session: replay window must be 64..32767");
  }
  srtp_policy_t policy{};
  setPolicy(policy.rtp, keys.profile);
  setPolicy(policy.rtcp, keys.profile);
  policy.ssrc.type = direction == Direction::kInbound ? ssrc_any_inbound : ssrc_any_outbound;
  policy.window_size = options.replayWindow;
  policy.allow_repeat_tx = direction == Direction::kOutbound && options.allowRepeatTx ? 1 : 0;
  // policy.key is not const: hand libsrtp a copy, wiped once it has derived
  // the session keys.
  std::array<uint8_t, sizeof(master.bytes)> key = master.bytes;
  policy.key = key.data();
  srtp_t ctx = nullptr;
  const srtp_err_status_t status = srtp_create(&ctx, &policy);
  explicit_bzero(key.data(), key.size());
  if (status != srtp_err_status_ok) {
    if (ctx != nullptr) {
      srtp_dealloc(ctx);
    }
    throw std::runtime_error("srtp_create failed: " + std::string(errorName(status)));
  }
  return Session(ctx, direction, keys.profile);
}

Result Session::protectRtp(std::span<uint8_t> buffer, size_t length) noexcept {
  if (!ctx_ || direction_ != Direction::kOutbound) {
    return refuse(Status::kOther);
  }
  if (!protectFits(buffer, length, kRtpHeader, rtpTrailer_)) {
    return refuse(Status::kBadLength);
  }
  int len = static_cast<int>(length);
  // NOTE: libsrtp writes len; read it only after the call.
  const srtp_err_status_t status = srtp_protect(ctx_.get(), buffer.data(), &len);
  return fromStatus(status, len);
}

Result Session::protectRtcp(std::span<uint8_t> buffer, size_t length) noexcept {
  if (!ctx_ || direction_ != Direction::kOutbound) {
    return refuse(Status::kOther);
  }
  if (!protectFits(buffer, length, kRtcpHeader, rtcpTrailer_)) {
    return refuse(Status::kBadLength);
  }
  int len = static_cast<int>(length);
  const srtp_err_status_t status = srtp_protect_rtcp(ctx_.get(), buffer.data(), &len);
  return fromStatus(status, len);
}

Result Session::unprotectRtp(std::span<uint8_t> packet) noexcept {
  if (!ctx_ || direction_ != Direction::kInbound) {
    return refuse(Status::kOther);
  }
  if (packet.size() < kRtpHeader + rtpTrailer_ || packet.size() > INT_MAX) {
    return refuse(Status::kBadLength);
  }
  int len = static_cast<int>(packet.size());
  const srtp_err_status_t status = srtp_unprotect(ctx_.get(), packet.data(), &len);
  return fromStatus(status, len);
}

Result Session::unprotectRtcp(std::span<uint8_t> packet) noexcept {
  if (!ctx_ || direction_ != Direction::kInbound) {
    return refuse(Status::kOther);
  }
  if (packet.size() < kRtcpHeader + rtcpTrailer_ || packet.size() > INT_MAX) {
    return refuse(Status::kBadLength);
  }
  int len = static_cast<int>(packet.size());
  const srtp_err_status_t status = srtp_unprotect_rtcp(ctx_.get(), packet.data(), &len);
  return fromStatus(status, len);
}

}  // namespace jvb::srtp
