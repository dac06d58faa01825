#include "ice/stun_mapping.hpp"

#include <netinet/in.h>
#include <stun/stunagent.h>
#include <stun/stunmessage.h>
#include <stun/usages/bind.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace jvb::ice {

namespace {

// A server's response may carry these; comprehension-optional ones
// (SOFTWARE, RESPONSE-ORIGIN, OTHER-ADDRESS, ...) are ignored anyway.
constexpr uint16_t kKnownAttributes[] = {STUN_ATTRIBUTE_MAPPED_ADDRESS,
                                         STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
                                         STUN_ATTRIBUTE_ERROR_CODE,
                                         STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES,
                                         STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
                                         STUN_ATTRIBUTE_FINGERPRINT,
                                         STUN_ATTRIBUTE_SOFTWARE,
                                         STUN_ATTRIBUTE_ALTERNATE_SERVER,
                                         0};

constexpr uint8_t kCookie[4] = {0x21, 0x12, 0xA4, 0x42};

stun::TransactionId idOf(const StunMessage& msg) {
  StunTransactionId raw;
  stun_message_id(&msg, raw);
  stun::TransactionId id{};
  std::memcpy(id.data(), raw + sizeof(kCookie), id.size());
  return id;
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
    return UdpEndpoint(ip::address_v6(b), ntohs(in6.sin6_port));
  }
  return std::nullopt;
}

// The same endpoint, IPv4-mapped IPv6 (from a dual-stack socket) or not.
bool sameEndpoint(const UdpEndpoint& a, const UdpEndpoint& b) {
  if (a.port() != b.port()) {
    return false;
  }
  auto plain = [](const boost::asio::ip::address& x) -> boost::asio::ip::address {
    if (x.is_v6() && x.to_v6().is_v4_mapped()) {
      return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, x.to_v6());
    }
    return x;
  };
  return plain(a.address()) == plain(b.address());
}

}  // namespace

std::optional<StunServerName> parseStunServer(std::string_view text, std::string& error) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
      s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
      s.remove_suffix(1);
    }
    return s;
  };
  text = trim(text);
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = "expected [address]:port";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      error = "expected host:port";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    error = "expected host:port with a port of 1..65535";
    return std::nullopt;
  }
  return StunServerName{std::string(host), static_cast<uint16_t>(value)};
}

struct StunMapper::Agent {
  StunAgent agent;
};

StunMapper::StunMapper(std::vector<UdpEndpoint> servers, StunMappingTiming timing)
    : servers_(std::move(servers)), timing_(timing), agent_(std::make_unique<Agent>()) {
  // RFC 5389 messages without credentials and without FINGERPRINT (a plain
  // Binding request, RFC 5389 section 7.1; a server answers with or without).
  stun_agent_init(&agent_->agent, kKnownAttributes, STUN_COMPATIBILITY_RFC5389,
                  static_cast<StunAgentUsageFlags>(0));
  state_.resize(servers_.size());
  for (size_t i = 0; i < servers_.size(); ++i) {
    state_[i].address = servers_[i];
  }
}

StunMapper::~StunMapper() = default;

bool StunMapper::isServer(const UdpEndpoint& from) const {
  return std::any_of(servers_.begin(), servers_.end(),
                     [&](const UdpEndpoint& s) { return sameEndpoint(s, from); });
}

StunMapper::Clock::time_point StunMapper::poll(Clock::time_point now, const Send& send,
                                               const std::function<void(const Outcome&)>& done) {
  Clock::time_point next = Clock::time_point::max();
  for (size_t i = 0; i < state_.size(); ++i) {
    Server& s = state_[i];
    if (now >= s.due) {
      if (!s.inFlight) {
        StunMessage msg{};
        s.requestLen =
            stun_usage_bind_create(&agent_->agent, &msg, s.request.data(), s.request.size());
        if (s.requestLen == 0) {
          s.due = now + timing_.refresh;  // cannot happen with a 64-byte buffer
        } else {
          s.id = idOf(msg);
          s.inFlight = true;
          s.sends = 1;
          s.rto = timing_.firstRetransmit;
          s.due = now + s.rto;
          send({s.request.data(), s.requestLen}, s.address);
        }
      } else if (s.sends <= timing_.maxRetransmissions) {
        ++s.sends;
        s.rto = std::min(s.rto * 2, timing_.maxRetransmit);
        s.due = now + s.rto;
        send({s.request.data(), s.requestLen}, s.address);
      } else {
        // The last wait is over: no answer this round.
        StunTransactionId nid;
        std::memcpy(nid, kCookie, sizeof(kCookie));
        std::memcpy(nid + sizeof(kCookie), s.id.data(), s.id.size());
        stun_agent_forget_transaction(&agent_->agent, nid);
        s.inFlight = false;
        s.due = now + timing_.refresh;
        if (done) {
          done(Outcome{i, std::nullopt, 0});
        }
      }
    }
    next = std::min(next, s.due);
  }
  return next;
}

std::optional<StunMapper::Outcome> StunMapper::onDatagram(std::span<const uint8_t> datagram,
                                                          const UdpEndpoint& from,
                                                          Clock::time_point now, bool* rejected) {
  auto reject = [&]() -> std::optional<Outcome> {
    if (rejected != nullptr) {
      *rejected = true;
    }
    return std::nullopt;
  };
  if (datagram.size() < STUN_MESSAGE_HEADER_LENGTH || datagram.size() > STUN_MAX_MESSAGE_SIZE) {
    return reject();
  }
  size_t index = state_.size();
  for (size_t i = 0; i < state_.size(); ++i) {
    if (state_[i].inFlight && sameEndpoint(state_[i].address, from)) {
      index = i;
      break;
    }
  }
  if (index == state_.size()) {
    return reject();  // nothing outstanding to that server
  }
  Server& s = state_[index];
  // NOTE: the header carries our transaction id; check it before libnice
  // consumes the transaction, so that a stray response changes nothing.
  // A Binding success (0x0101) or error (0x0111) response, nothing else.
  const unsigned type = (unsigned{datagram[0]} << 8) | datagram[1];
  if ((type != 0x0101 && type != 0x0111) ||
      std::memcmp(datagram.data() + 4, kCookie, sizeof(kCookie)) != 0 ||
      std::memcmp(datagram.data() + 8, s.id.data(), s.id.size()) != 0) {
    return reject();
  }
  StunMessage msg{};
  const StunValidationStatus status =
      stun_agent_validate(&agent_->agent, &msg, datagram.data(), datagram.size(), nullptr, nullptr);
  if (status != STUN_VALIDATION_SUCCESS) {
    return reject();
  }
  sockaddr_storage mapped{};
  socklen_t mappedLen = sizeof(mapped);
  sockaddr_storage alternate{};
  socklen_t alternateLen = sizeof(alternate);
  const StunUsageBindReturn r =
      stun_usage_bind_process(&msg, reinterpret_cast<sockaddr*>(&mapped), &mappedLen,
                              reinterpret_cast<sockaddr*>(&alternate), &alternateLen);
  Outcome out{index, std::nullopt, 0};
  switch (r) {
    case STUN_USAGE_BIND_RETURN_SUCCESS:
      out.mapped = fromSockaddr(mapped, mappedLen);
      break;
    case STUN_USAGE_BIND_RETURN_ERROR:
    case STUN_USAGE_BIND_RETURN_ALTERNATE_SERVER: {
      int code = 0;
      out.errorCode =
          stun_message_find_error(&msg, &code) == STUN_MESSAGE_RETURN_SUCCESS ? code : 500;
      break;
    }
    default:
      // Validated and matched but unusable (a success without an address):
      // the transaction is over, the round failed.
      out.errorCode = 500;
      break;
  }
  s.inFlight = false;
  s.due = now + timing_.refresh;
  return out;
}

}  // namespace jvb::ice
