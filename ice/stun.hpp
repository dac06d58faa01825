#pragma once
// STUN for ICE connectivity checks (RFC 5389 / RFC 8445), as a thin C++ layer
// over libnice's STUN library (<stun/stunagent.h>, <stun/usages/ice.h>). No
// codec is written here: parsing, MESSAGE-INTEGRITY, FINGERPRINT and
// XOR-MAPPED-ADDRESS are libnice's; this file adds the short-term-credential
// rules of ICE, bounds checks libnice leaves to its caller, and value types.
//
// Socket-free. Nothing here allocates per packet: views point into the
// caller's datagram and messages are written into the caller's buffer.
//
// Threading: the free functions are reentrant. A StunCodec is used by one
// thread at a time (it owns a libnice StunAgent, whose table of outstanding
// transactions it mutates).
#include <array>
#include <boost/asio/ip/udp.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ice/credentials.hpp"

namespace jvb::ice {

using UdpEndpoint = boost::asio::ip::udp::endpoint;

// The ICE role of an agent (RFC 8445 section 6.1.1).
enum class Role : uint8_t { kControlling, kControlled };
[[nodiscard]] std::string_view roleName(Role r);

namespace stun {

// The 96-bit transaction id of RFC 5389 section 6 (without the magic cookie).
using TransactionId = std::array<uint8_t, 12>;

// Large enough for any message this layer builds (USERNAME is bounded by the
// 256-character ufrags of RFC 8445 section 15.4). IPv6's minimum MTU.
inline constexpr size_t kMaxMessageSize = 1280;

// RFC 7983 / RFC 5389 section 6: first byte 0..3, length a multiple of 4 that
// matches the datagram, magic cookie present. Cheap; no attribute walk.
[[nodiscard]] bool looksLikeStun(std::span<const uint8_t> datagram);

// For the shared-port demultiplexer, before any credential is known: the
// local ufrag of a Binding request, i.e. USERNAME's text before the first
// ':'. A view into `datagram`; nullopt for anything that is not a well-formed
// Binding request with such a USERNAME. Authenticates nothing.
[[nodiscard]] std::optional<std::string_view> peekLocalUfrag(std::span<const uint8_t> datagram);

// An authenticated Binding request (RFC 8445 section 7.3). Views point into
// the datagram it was read from.
struct BindingRequest {
  TransactionId transactionId{};
  std::string_view remoteUfrag;    // USERNAME's text after the first ':'
  uint32_t priority = 0;           // PRIORITY (mandatory)
  bool useCandidate = false;       // USE-CANDIDATE
  std::optional<Role> senderRole;  // ICE-CONTROLLING / ICE-CONTROLLED, when present
  uint64_t tieBreaker = 0;         // that attribute's value
};

enum class RequestCheck : uint8_t {
  kValid,
  kNotStun,            // not a complete STUN message
  kNotBindingRequest,  // a response, an indication, or another method
  kMalformed,          // no cookie/FINGERPRINT, bad FINGERPRINT, bad attribute, no PRIORITY
  kWrongUfrag,         // USERNAME missing or not "<local ufrag>:..."
  kBadIntegrity,       // MESSAGE-INTEGRITY missing or not keyed with the local pwd
  kUnknownAttributes,  // authentic, but has comprehension-required attributes we lack (420)
};
[[nodiscard]] std::string_view requestCheckName(RequestCheck c);

// Validates a Binding request against one endpoint's local credentials:
// USERNAME "<local.ufrag>:<remote ufrag>", MESSAGE-INTEGRITY keyed with
// local.pwd, FINGERPRINT, PRIORITY. Pure: creates no state anywhere. `out` is
// filled only for kValid (and, for kUnknownAttributes, its transactionId).
[[nodiscard]] RequestCheck checkRequest(std::span<const uint8_t> datagram, const Credentials& local,
                                        BindingRequest* out = nullptr);

// A response to one of our requests, authenticated with the pwd it was sent
// with.
struct BindingResponse {
  TransactionId transactionId{};
  int errorCode = 0;                  // 0 for a success response
  std::optional<UdpEndpoint> mapped;  // XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS)
};

enum class ResponseCheck : uint8_t {
  kValid,
  kNotStun,
  kNotBindingResponse,
  kMalformed,     // no cookie/FINGERPRINT, bad FINGERPRINT or attributes
  kUnmatched,     // no outstanding request of ours has this transaction id
  kBadIntegrity,  // MESSAGE-INTEGRITY missing or wrong
};
[[nodiscard]] std::string_view responseCheckName(ResponseCheck c);

// What goes into one of our connectivity checks (RFC 8445 section 7.2.2).
struct RequestParams {
  std::string_view localUfrag;
  std::string_view remoteUfrag;  // USERNAME is "<remoteUfrag>:<localUfrag>"
  uint32_t priority = 0;         // of a peer-reflexive candidate of ours
  Role role = Role::kControlling;
  uint64_t tieBreaker = 0;
  bool useCandidate = false;
};

// One libnice StunAgent (RFC 5389 compatibility, short-term credentials,
// FINGERPRINT on everything) and the peer's pwd that keys our requests.
class StunCodec {
 public:
  StunCodec();
  ~StunCodec();
  StunCodec(const StunCodec&) = delete;
  StunCodec& operator=(const StunCodec&) = delete;

  // The peer's pwd: keys our requests and authenticates their responses.
  // Setting a different one forgets every outstanding transaction (libnice
  // keeps a pointer to the key of each one).
  void setPeerPassword(std::string_view pwd);
  [[nodiscard]] const std::string& peerPassword() const { return peerPwd_; }

  // As the free checkRequest(), with this codec's agent.
  [[nodiscard]] RequestCheck checkRequest(std::span<const uint8_t> datagram,
                                          const Credentials& local, BindingRequest* out = nullptr);

  // Binding success response: XOR-MAPPED-ADDRESS = `mapped` (the request's
  // source), MESSAGE-INTEGRITY keyed with the LOCAL pwd (RFC 8445 section
  // 7.3.1.4 / RFC 5389 section 10.1.2: a response uses the request's key),
  // FINGERPRINT. Returns the length written into `out`, 0 if it does not fit.
  size_t buildSuccessResponse(const TransactionId& id, const UdpEndpoint& mapped,
                              std::string_view localPwd, std::span<uint8_t> out);
  // Binding error response with ERROR-CODE `code` (487 role conflict, RFC
  // 8445 section 7.3.1.1), MESSAGE-INTEGRITY (local pwd) and FINGERPRINT.
  size_t buildErrorResponse(const TransactionId& id, int code, std::string_view localPwd,
                            std::span<uint8_t> out);
  // 420 with UNKNOWN-ATTRIBUTES for an authentic `request` that checkRequest
  // reported as kUnknownAttributes (RFC 5389 section 7.3.1).
  size_t buildUnknownAttributesError(std::span<const uint8_t> request, std::string_view localPwd,
                                     std::span<uint8_t> out);

  // A Binding request keyed with peerPassword(); remembered (by libnice) so
  // that checkResponse can match and authenticate its response. Every
  // request built must end with a matched response or forget(). Returns the
  // length written (0: no peer pwd, buffer too small, or 200 transactions
  // outstanding) and its id in `id`.
  size_t buildRequest(const RequestParams& params, std::span<uint8_t> out, TransactionId& id);
  // Matches a response to an outstanding request and checks its
  // MESSAGE-INTEGRITY; a matched, authentic response ends the transaction.
  [[nodiscard]] ResponseCheck checkResponse(std::span<const uint8_t> datagram,
                                            BindingResponse& out);
  // Gives up on a request (it timed out): its response will be kUnmatched.
  void forget(const TransactionId& id);
  // Forgets every outstanding request.
  void forgetAll();

 private:
  struct Agent;  // libnice's StunAgent, kept out of this header
  std::unique_ptr<Agent> agent_;
  std::string peerPwd_;
};

}  // namespace stun
}  // namespace jvb::ice
