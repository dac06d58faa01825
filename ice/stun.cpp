#include "ice/stun.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stun/stunagent.h>
#include <stun/stunmessage.h>
#include <stun/usages/ice.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace jvb::ice {

std::string_view roleName(Role r) {
  return r == Role::kControlling ? "controlling" : "controlled";
}

namespace stun {

struct StunCodec::Agent {
  StunAgent agent;
};

namespace {

// Attributes we understand. Anything comprehension-required (< 0x8000) not
// listed here makes libnice report an unknown attribute (RFC 5389 section
// 7.3.1); comprehension-optional ones (GOOG-NETWORK-INFO, NOMINATION, ...)
// are ignored whether listed or not.
constexpr uint16_t kKnownAttributes[] = {STUN_ATTRIBUTE_MAPPED_ADDRESS,
                                         STUN_ATTRIBUTE_USERNAME,
                                         STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
                                         STUN_ATTRIBUTE_ERROR_CODE,
                                         STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES,
                                         STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
                                         STUN_ATTRIBUTE_PRIORITY,
                                         STUN_ATTRIBUTE_USE_CANDIDATE,
                                         STUN_ATTRIBUTE_SOFTWARE,
                                         STUN_ATTRIBUTE_FINGERPRINT,
                                         STUN_ATTRIBUTE_ICE_CONTROLLED,
                                         STUN_ATTRIBUTE_ICE_CONTROLLING,
                                         0};

constexpr uint8_t kCookie[4] = {0x21, 0x12, 0xA4, 0x42};  // RFC 5389 section 6

void initAgent(StunAgent& agent) {
  stun_agent_init(&agent, kKnownAttributes, STUN_COMPATIBILITY_RFC5389,
                  static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                   STUN_AGENT_USAGE_USE_FINGERPRINT));
}

// libnice's id is the 16 bytes after the type and length: cookie + 96 bits.
void toNiceId(const TransactionId& id, StunTransactionId& out) {
  std::memcpy(out, kCookie, sizeof(kCookie));
  std::memcpy(out + sizeof(kCookie), id.data(), id.size());
}

TransactionId fromMessage(const StunMessage& msg) {
  StunTransactionId raw;
  stun_message_id(&msg, raw);
  TransactionId id{};
  std::memcpy(id.data(), raw + sizeof(kCookie), id.size());
  return id;
}

// NOTE: libnice's message API takes non-const buffers; every function used
// on received datagrams here only reads them.
uint8_t* mutableBytes(std::span<const uint8_t> d) {
  return const_cast<uint8_t*>(d.data());
}

// A read-only view of a datagram whose framing libnice has validated
// (complete, attribute lengths inside the message, 4-byte aligned); nullopt
// otherwise.
std::optional<StunMessage> frame(std::span<const uint8_t> datagram) {
  if (datagram.size() < STUN_MESSAGE_HEADER_LENGTH || datagram.size() > STUN_MAX_MESSAGE_SIZE) {
    return std::nullopt;
  }
  const int len = stun_message_validate_buffer_length(datagram.data(), datagram.size(), true);
  if (len <= 0 || static_cast<size_t>(len) != datagram.size()) {
    return std::nullopt;
  }
  StunMessage msg{};
  msg.agent = nullptr;
  msg.buffer = mutableBytes(datagram);
  msg.buffer_len = datagram.size();
  if (!stun_message_has_cookie(&msg)) {
    return std::nullopt;
  }
  return msg;
}

// NOTE: stun_agent_validate() compares 20 bytes at MESSAGE-INTEGRITY's value
// whatever the attribute's declared length, which reads past the datagram
// when a short MESSAGE-INTEGRITY ends it. Reject those before calling it.
bool integrityLengthOk(const StunMessage& msg) {
  uint16_t len = 0;
  const void* mi = stun_message_find(&msg, STUN_ATTRIBUTE_MESSAGE_INTEGRITY, &len);
  return mi == nullptr || len == 20;
}

bool toSockaddr(const UdpEndpoint& ep, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof(ss));
  if (ep.size() > sizeof(ss)) {
    return false;
  }
  std::memcpy(&ss, ep.data(), ep.size());
  len = static_cast<socklen_t>(ep.size());
  return true;
}

std::optional<UdpEndpoint> fromSockaddr(const sockaddr_storage& ss, socklen_t len) {
  namespace ip = boost::asio::ip;
  if (ss.ss_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in{};
    std::memcpy(&in, &ss, sizeof(in));
    ip::address_v4::bytes_type b{};
    std::memcpy(b.data(), &in.sin_addr, b.size());
    return UdpEndpoint(ip::address_v4(b), ntohs(in.sin_port));
  }
  if (ss.ss_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &ss, sizeof(in6));
    ip::address_v6::bytes_type b{};
    std::memcpy(b.data(), &in6.sin6_addr, b.size());
    return UdpEndpoint(ip::address_v6(b, in6.sin6_scope_id), ntohs(in6.sin6_port));
  }
  return std::nullopt;
}

struct ValidaterData {
  std::string_view ufrag;
  std::string_view pwd;
  bool usernameMatched = false;
};

// RFC 8445 section 7.3: the part of USERNAME before the colon must be our
// ufrag; the key is then our pwd. The remote part is the caller's business.
bool validateUsername(StunAgent* /*agent*/, StunMessage* /*message*/, uint8_t* username,
                      uint16_t usernameLen, uint8_t** password, size_t* passwordLen,
                      void* userData) {
  auto* data = static_cast<ValidaterData*>(userData);
  if (username == nullptr || data->ufrag.empty()) {
    return false;
  }
  const std::string_view user(reinterpret_cast<const char*>(username), usernameLen);
  const size_t colon = user.find(':');
  if (colon == std::string_view::npos || user.substr(0, colon) != data->ufrag) {
    return false;
  }
  data->usernameMatched = true;
  // NOTE: libnice only reads the key through this pointer.
  *password = reinterpret_cast<uint8_t*>(const_cast<char*>(data->pwd.data()));
  *passwordLen = data->pwd.size();
  return true;
}

RequestCheck checkRequestWith(StunAgent& agent, std::span<const uint8_t> datagram,
                              const Credentials& local, BindingRequest* out) {
  const auto view = frame(datagram);
  if (!view) {
    return RequestCheck::kNotStun;
  }
  if (stun_message_get_class(&*view) != STUN_REQUEST ||
      stun_message_get_method(&*view) != STUN_BINDING) {
    return RequestCheck::kNotBindingRequest;
  }
  if (!integrityLengthOk(*view)) {
    return RequestCheck::kMalformed;
  }
  ValidaterData vd{local.ufrag, local.pwd};
  StunMessage msg{};
  const StunValidationStatus status =
      stun_agent_validate(&agent, &msg, datagram.data(), datagram.size(), validateUsername, &vd);
  switch (status) {
    case STUN_VALIDATION_SUCCESS:
      break;
    case STUN_VALIDATION_NOT_STUN:
    case STUN_VALIDATION_INCOMPLETE_STUN:
      return RequestCheck::kNotStun;
    case STUN_VALIDATION_UNAUTHORIZED_BAD_REQUEST:
      return stun_message_has_attribute(&*view, STUN_ATTRIBUTE_USERNAME)
                 ? RequestCheck::kBadIntegrity
                 : RequestCheck::kWrongUfrag;
    case STUN_VALIDATION_UNAUTHORIZED:
      return vd.usernameMatched ? RequestCheck::kBadIntegrity : RequestCheck::kWrongUfrag;
    case STUN_VALIDATION_UNKNOWN_REQUEST_ATTRIBUTE:
      // Authenticated (libnice checks integrity before unknown attributes).
      if (out != nullptr) {
        out->transactionId = fromMessage(msg);
      }
      return RequestCheck::kUnknownAttributes;
    default:
      return RequestCheck::kMalformed;
  }

  BindingRequest req;
  req.transactionId = fromMessage(msg);
  if (stun_message_find32(&msg, STUN_ATTRIBUTE_PRIORITY, &req.priority) !=
      STUN_MESSAGE_RETURN_SUCCESS) {
    return RequestCheck::kMalformed;  // RFC 8445 section 7.1.1: PRIORITY is mandatory
  }
  const StunMessageReturn use = stun_message_find_flag(&msg, STUN_ATTRIBUTE_USE_CANDIDATE);
  if (use == STUN_MESSAGE_RETURN_INVALID) {
    return RequestCheck::kMalformed;
  }
  req.useCandidate = use == STUN_MESSAGE_RETURN_SUCCESS;
  uint64_t tie = 0;
  const StunMessageReturn controlling =
      stun_message_find64(&msg, STUN_ATTRIBUTE_ICE_CONTROLLING, &tie);
  if (controlling == STUN_MESSAGE_RETURN_SUCCESS) {
    req.senderRole = Role::kControlling;
    req.tieBreaker = tie;
  }
  const StunMessageReturn controlled =
      stun_message_find64(&msg, STUN_ATTRIBUTE_ICE_CONTROLLED, &tie);
  if (controlled == STUN_MESSAGE_RETURN_SUCCESS) {
    if (req.senderRole) {
      return RequestCheck::kMalformed;  // both roles at once
    }
    req.senderRole = Role::kControlled;
    req.tieBreaker = tie;
  }
  if (controlling == STUN_MESSAGE_RETURN_INVALID || controlled == STUN_MESSAGE_RETURN_INVALID) {
    return RequestCheck::kMalformed;
  }
  uint16_t ulen = 0;
  const auto* user =
      static_cast<const char*>(stun_message_find(&msg, STUN_ATTRIBUTE_USERNAME, &ulen));
  if (user == nullptr) {
    return RequestCheck::kWrongUfrag;  // unreachable: the validater saw it
  }
  const std::string_view username(user, ulen);
  req.remoteUfrag = username.substr(username.find(':') + 1);
  if (out != nullptr) {
    *out = req;
  }
  return RequestCheck::kValid;
}

// A message of class `cls` for Binding transaction `id` in `out`, ready for
// attributes; false if `out` cannot hold a header.
bool startMessage(StunAgent& agent, StunMessage& msg, StunClass cls, const TransactionId& id,
                  std::span<uint8_t> out) {
  if (out.size() < STUN_MESSAGE_HEADER_LENGTH) {
    return false;
  }
  msg = StunMessage{};
  msg.agent = &agent;
  msg.buffer = out.data();
  msg.buffer_len = std::min<size_t>(out.size(), STUN_MAX_MESSAGE_SIZE);
  StunTransactionId nid;
  toNiceId(id, nid);
  return stun_message_init(&msg, cls, STUN_BINDING, nid);
}

const uint8_t* keyBytes(std::string_view pwd) {
  return reinterpret_cast<const uint8_t*>(pwd.data());
}

}  // namespace

std::string_view requestCheckName(RequestCheck c) {
  switch (c) {
    case RequestCheck::kValid:
      return "valid";
    case RequestCheck::kNotStun:
      return "not-stun";
    case RequestCheck::kNotBindingRequest:
      return "not-binding-request";
    case RequestCheck::kMalformed:
      return "malformed";
    case RequestCheck::kWrongUfrag:
      return "wrong-ufrag";
    case RequestCheck::kBadIntegrity:
      return "bad-integrity";
    case RequestCheck::kUnknownAttributes:
      return "unknown-attributes";
  }
  return "?";
}

std::string_view responseCheckName(ResponseCheck c) {
  switch (c) {
    case ResponseCheck::kValid:
      return "valid";
    case ResponseCheck::kNotStun:
      return "not-stun";
    case ResponseCheck::kNotBindingResponse:
      return "not-binding-response";
    case ResponseCheck::kMalformed:
      return "malformed";
    case ResponseCheck::kUnmatched:
      return "unmatched";
    case ResponseCheck::kBadIntegrity:
      return "bad-integrity";
  }
  return "?";
}

bool looksLikeStun(std::span<const uint8_t> d) {
  if (d.size() < STUN_MESSAGE_HEADER_LENGTH || d[0] > 3) {
    return false;
  }
  const size_t len = (static_cast<size_t>(d[2]) << 8) | d[3];
  return len % 4 == 0 && len + STUN_MESSAGE_HEADER_LENGTH == d.size() &&
         std::memcmp(d.data() + 4, kCookie, sizeof(kCookie)) == 0;
}

std::optional<std::string_view> peekLocalUfrag(std::span<const uint8_t> datagram) {
  const auto msg = frame(datagram);
  if (!msg || stun_message_get_class(&*msg) != STUN_REQUEST ||
      stun_message_get_method(&*msg) != STUN_BINDING) {
    return std::nullopt;
  }
  uint16_t len = 0;
  const auto* user =
      static_cast<const char*>(stun_message_find(&*msg, STUN_ATTRIBUTE_USERNAME, &len));
  if (user == nullptr) {
    return std::nullopt;
  }
  const std::string_view username(user, len);
  const size_t colon = username.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return std::nullopt;
  }
  return username.substr(0, colon);
}

RequestCheck checkRequest(std::span<const uint8_t> datagram, const Credentials& local,
                          BindingRequest* out) {
  // A short-lived agent (about 11 KiB of stack: libnice embeds its table of
  // 200 outstanding transactions) keeps this free of shared state; checking a
  // request never touches that table.
  StunAgent agent;
  initAgent(agent);
  return checkRequestWith(agent, datagram, local, out);
}

StunCodec::StunCodec() : agent_(std::make_unique<Agent>()) {
  initAgent(agent_->agent);
}

StunCodec::~StunCodec() = default;

void StunCodec::setPeerPassword(std::string_view pwd) {
  if (pwd == peerPwd_) {
    return;
  }
  forgetAll();  // libnice remembers a pointer into peerPwd_ for each request
  peerPwd_.assign(pwd);
}

void StunCodec::forgetAll() {
  initAgent(agent_->agent);
}

RequestCheck StunCodec::checkRequest(std::span<const uint8_t> datagram, const Credentials& local,
                                     BindingRequest* out) {
  return checkRequestWith(agent_->agent, datagram, local, out);
}

size_t StunCodec::buildSuccessResponse(const TransactionId& id, const UdpEndpoint& mapped,
                                       std::string_view localPwd, std::span<uint8_t> out) {
  StunMessage msg;
  sockaddr_storage ss;
  socklen_t len = 0;
  if (localPwd.empty() || !startMessage(agent_->agent, msg, STUN_RESPONSE, id, out) ||
      !toSockaddr(mapped, ss, len) ||
      stun_message_append_xor_addr(&msg, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, &ss, len) !=
          STUN_MESSAGE_RETURN_SUCCESS) {
    return 0;
  }
  return stun_agent_finish_message(&agent_->agent, &msg, keyBytes(localPwd), localPwd.size());
}

size_t StunCodec::buildErrorResponse(const TransactionId& id, int code, std::string_view localPwd,
                                     std::span<uint8_t> out) {
  StunMessage msg;
  if (localPwd.empty() || code < 300 || code > 699 ||
      !startMessage(agent_->agent, msg, STUN_ERROR, id, out) ||
      stun_message_append_error(&msg, static_cast<StunError>(code)) !=
          STUN_MESSAGE_RETURN_SUCCESS) {
    return 0;
  }
  return stun_agent_finish_message(&agent_->agent, &msg, keyBytes(localPwd), localPwd.size());
}

size_t StunCodec::buildUnknownAttributesError(std::span<const uint8_t> request,
                                              std::string_view localPwd, std::span<uint8_t> out) {
  auto req = frame(request);
  if (!req || stun_message_get_class(&*req) != STUN_REQUEST || localPwd.empty() ||
      out.size() < STUN_MESSAGE_HEADER_LENGTH) {
    return 0;
  }
  req->agent = &agent_->agent;
  req->key = const_cast<uint8_t*>(keyBytes(localPwd));
  req->key_len = localPwd.size();
  StunMessage msg{};
  return stun_agent_build_unknown_attributes_error(
      &agent_->agent, &msg, out.data(), std::min<size_t>(out.size(), STUN_MAX_MESSAGE_SIZE), &*req);
}

size_t StunCodec::buildRequest(const RequestParams& p, std::span<uint8_t> out, TransactionId& id) {
  // NOTE: stun_usage_ice_conncheck_create() ignores a failed header write and
  // then reads the header's length field, so a short buffer must never reach
  // it.
  if (peerPwd_.empty() || p.localUfrag.empty() || p.remoteUfrag.empty() || out.size() < 64) {
    return 0;
  }
  std::array<char, 2 * 256 + 1> user{};
  const size_t ulen = p.remoteUfrag.size() + 1 + p.localUfrag.size();
  if (ulen > user.size()) {
    return 0;
  }
  std::copy(p.remoteUfrag.begin(), p.remoteUfrag.end(), user.begin());
  user[p.remoteUfrag.size()] = ':';
  std::copy(p.localUfrag.begin(), p.localUfrag.end(),
            user.begin() + static_cast<std::ptrdiff_t>(p.remoteUfrag.size() + 1));
  StunMessage msg{};
  const size_t n = stun_usage_ice_conncheck_create(
      &agent_->agent, &msg, out.data(), std::min<size_t>(out.size(), STUN_MAX_MESSAGE_SIZE),
      reinterpret_cast<const uint8_t*>(user.data()), ulen, keyBytes(peerPwd_), peerPwd_.size(),
      p.useCandidate, p.role == Role::kControlling, p.priority, p.tieBreaker, nullptr,
      STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
  if (n == 0) {
    return 0;
  }
  id = fromMessage(msg);
  return n;
}

ResponseCheck StunCodec::checkResponse(std::span<const uint8_t> datagram, BindingResponse& out) {
  const auto view = frame(datagram);
  if (!view) {
    return ResponseCheck::kNotStun;
  }
  const StunClass cls = stun_message_get_class(&*view);
  if ((cls != STUN_RESPONSE && cls != STUN_ERROR) ||
      stun_message_get_method(&*view) != STUN_BINDING) {
    return ResponseCheck::kNotBindingResponse;
  }
  if (!integrityLengthOk(*view)) {
    return ResponseCheck::kMalformed;
  }
  StunMessage msg{};
  switch (stun_agent_validate(&agent_->agent, &msg, datagram.data(), datagram.size(), nullptr,
                              nullptr)) {
    case STUN_VALIDATION_SUCCESS:
      break;
    case STUN_VALIDATION_NOT_STUN:
    case STUN_VALIDATION_INCOMPLETE_STUN:
      return ResponseCheck::kNotStun;
    case STUN_VALIDATION_UNMATCHED_RESPONSE:
      return ResponseCheck::kUnmatched;
    case STUN_VALIDATION_UNAUTHORIZED:
    case STUN_VALIDATION_UNAUTHORIZED_BAD_REQUEST:
      return ResponseCheck::kBadIntegrity;
    default:
      return ResponseCheck::kMalformed;
  }
  out = BindingResponse{};
  out.transactionId = fromMessage(msg);
  if (cls == STUN_ERROR) {
    int code = 0;
    out.errorCode =
        stun_message_find_error(&msg, &code) == STUN_MESSAGE_RETURN_SUCCESS ? code : 500;
    return ResponseCheck::kValid;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (stun_usage_ice_conncheck_process(&msg, &ss, &len, STUN_USAGE_ICE_COMPATIBILITY_RFC5245) ==
      STUN_USAGE_ICE_RETURN_SUCCESS) {
    out.mapped = fromSockaddr(ss, len);
  }
  return ResponseCheck::kValid;
}

void StunCodec::forget(const TransactionId& id) {
  StunTransactionId nid;
  toNiceId(id, nid);
  stun_agent_forget_transaction(&agent_->agent, nid);
}

}  // namespace stun
}  // namespace jvb::ice
