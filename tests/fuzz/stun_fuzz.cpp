// libFuzzer target for ice/: arbitrary bytes
//  1. as one datagram through the shared-port helpers (looksLikeStun,
//     peekLocalUfrag, checkRequest), a codec's response matching, and a
//     fresh IceAgent's incoming path (from a signalled and an unknown source);
//  2. as a script driving an IceAgent against an authentic peer (answers,
//     role conflicts, requests, time steps, mutated replays), so that the
//     state machine, not only the parser, meets odd sequences;
//  3. as a STUN server's response to the public-address mapper.
// Nothing may crash, leak, or read out of bounds.
#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "ice/ice_agent.hpp"
#include "ice/stun.hpp"
#include "ice/stun_mapping.hpp"

namespace {

namespace stun = jvb::ice::stun;
using jvb::ice::Candidate;
using jvb::ice::Credentials;
using jvb::ice::IceAgent;
using jvb::ice::IceConfig;
using jvb::ice::Role;
using jvb::ice::UdpEndpoint;

// The seeds in corpus/stun_fuzz are built for these credentials.
const Credentials kLocal{"fuzzUfrg", "fuzzPassword0123456789ab"};
const Credentials kPeer{"peerUfrg", "peerPassword012345678901"};

UdpEndpoint endpoint(size_t i) {
  static const UdpEndpoint kEndpoints[] = {
      UdpEndpoint(boost::asio::ip::make_address("192.0.2.1"), 5000),
      UdpEndpoint(boost::asio::ip::make_address("192.0.2.2"), 5001),
      UdpEndpoint(boost::asio::ip::make_address("2001:db8::1"), 5000),
      UdpEndpoint(boost::asio::ip::make_address("198.51.100.9"), 9),
  };
  return kEndpoints[i % 4];
}

Candidate candidate(size_t i, uint8_t typeBits) {
  static const char* const kTypes[] = {"host", "srflx", "prflx", "relay"};
  const UdpEndpoint ep = endpoint(i);
  Candidate c;
  c.ip = ep.address().to_string();
  c.port = ep.port();
  c.type = kTypes[typeBits % 4];
  c.priority = 2130706431u - 1000u * typeBits;
  return c;
}

IceConfig config() {
  IceConfig cfg;
  cfg.seed = 1;
  cfg.maxPairs = 8;
  return cfg;
}

void datagram(std::span<const uint8_t> d) {
  (void)stun::looksLikeStun(d);
  (void)stun::peekLocalUfrag(d);
  stun::BindingRequest req;
  (void)stun::checkRequest(d, kLocal, &req);

  stun::StunCodec codec;
  codec.setPeerPassword(kPeer.pwd);
  stun::BindingResponse resp;
  (void)codec.checkResponse(d, resp);

  size_t sent = 0;
  IceAgent agent(
      kLocal, [&sent](std::span<const uint8_t>, const UdpEndpoint&) { ++sent; }, config());
  const auto now = IceAgent::TimePoint{} + std::chrono::hours(1);
  (void)agent.handleStun(d, endpoint(0), now);  // before any signalling
  agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
  agent.addRemoteCandidate(candidate(0, 0));
  agent.tick(now);
  (void)agent.handleStun(d, endpoint(0), now);
  (void)agent.handleStun(d, endpoint(2), now);
  agent.tick(now + std::chrono::seconds(1));
}

struct Out {
  std::vector<uint8_t> bytes;
  UdpEndpoint to;
};

void script(std::span<const uint8_t> d) {
  std::deque<Out> out;
  IceConfig cfg = config();
  if (!d.empty()) {
    cfg.tieBreaker = d[0];
  }
  IceAgent agent(
      kLocal,
      [&out](std::span<const uint8_t> b, const UdpEndpoint& to) {
        if (out.size() < 64) {
          out.push_back({{b.begin(), b.end()}, to});
        }
      },
      cfg, d.size() > 1 && (d[1] & 1) ? Role::kControlled : Role::kControlling);
  stun::StunCodec peer;  // answers with kPeer, signs its requests with kLocal.pwd
  peer.setPeerPassword(kLocal.pwd);
  auto now = IceAgent::TimePoint{} + std::chrono::hours(1);
  std::vector<uint8_t> buf(stun::kMaxMessageSize);

  for (size_t i = 0; i < d.size() && i < 512; ++i) {
    const uint8_t b = d[i];
    const size_t arg = b >> 3;
    switch (b & 7) {
      case 0:
        agent.setRemoteCredentials(kPeer.ufrag, kPeer.pwd);
        break;
      case 1:
        agent.addRemoteCandidate(candidate(arg, static_cast<uint8_t>(arg >> 2)));
        break;
      case 2:
        now += std::chrono::milliseconds(37 * arg * arg);
        agent.tick(now);
        break;
      case 3:
      case 4: {  // the peer answers the oldest datagram (success or error)
        if (out.empty()) {
          break;
        }
        const Out o = std::move(out.front());
        out.pop_front();
        stun::BindingRequest req;
        if (peer.checkRequest(o.bytes, kPeer, &req) != stun::RequestCheck::kValid) {
          break;
        }
        static const int kErrors[] = {487, 400, 500, 487};
        const size_t n =
            (b & 7) == 3
                ? peer.buildSuccessResponse(req.transactionId, o.to, kPeer.pwd, buf)
                : peer.buildErrorResponse(req.transactionId, kErrors[arg % 4], kPeer.pwd, buf);
        const UdpEndpoint from = (arg & 8) ? endpoint(arg) : o.to;
        (void)agent.handleStun({buf.data(), n}, from, now);
        break;
      }
      case 5: {  // the peer's own check
        stun::TransactionId id{};
        const stun::RequestParams p{kPeer.ufrag,
                                    kLocal.ufrag,
                                    1862270975u + static_cast<uint32_t>(arg),
                                    (arg & 1) ? Role::kControlling : Role::kControlled,
                                    arg * 0x9e3779b97f4a7c15ULL,
                                    (arg & 2) != 0};
        const size_t n = peer.buildRequest(p, buf, id);
        peer.forget(id);
        (void)agent.handleStun({buf.data(), n}, endpoint(arg >> 2), now);
        break;
      }
      case 6: {  // a mutated replay of something the agent sent
        if (out.empty()) {
          break;
        }
        std::vector<uint8_t> m = out.back().bytes;
        if (!m.empty()) {
          m[(arg * 7) % m.size()] ^= static_cast<uint8_t>(1u << (arg % 8));
        }
        (void)agent.handleStun(m, endpoint(arg), now);
        break;
      }
      default:
        if (!out.empty()) {
          out.pop_front();  // lost
        }
        break;
    }
    (void)agent.nextWakeup();
    (void)agent.selectedRemote();
  }
}

}  // namespace

// 3. As a STUN server's answer to the mapper's outstanding request: as is,
// and with the request's transaction id written in, so that libnice's
// response path (validation, XOR-MAPPED-ADDRESS, error codes) is reached.
void mapping(std::span<const uint8_t> d) {
  const UdpEndpoint server = endpoint(0);
  jvb::ice::StunMapper mapper({server}, jvb::ice::StunMappingTiming{});
  std::vector<uint8_t> request;
  mapper.poll(
      jvb::ice::StunMapper::Clock::time_point{},
      [&](std::span<const uint8_t> r, const UdpEndpoint&) { request.assign(r.begin(), r.end()); },
      nullptr);
  bool rejected = false;
  (void)mapper.onDatagram(d, endpoint(1), {}, &rejected);
  (void)mapper.onDatagram(d, server, {}, &rejected);
  if (d.size() >= 20 && request.size() >= 20) {
    std::vector<uint8_t> withId(d.begin(), d.end());
    std::copy(request.begin() + 4, request.begin() + 20, withId.begin() + 4);
    (void)mapper.onDatagram(withId, server, {}, &rejected);
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> d(data, size);
  datagram(d);
  script(d);
  mapping(d);
  return 0;
}
