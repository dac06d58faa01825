#include "ice/stun_mapping.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stun/stunagent.h>
#include <stun/stunmessage.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

namespace {

using jvb::ice::StunMapper;
using jvb::ice::StunMappingTiming;
using jvb::ice::UdpEndpoint;
using Clock = StunMapper::Clock;
using std::chrono::milliseconds;

UdpEndpoint ep(const char* ip, uint16_t port) {
  return {boost::asio::ip::make_address(ip), port};
}

struct Sent {
  std::vector<uint8_t> bytes;
  UdpEndpoint to;
};

// A STUN server's side, on libnice's agent: answers `request` with a success
// carrying XOR-MAPPED-ADDRESS `mapped` (or an error response with `error`).
std::vector<uint8_t> answer(const std::vector<uint8_t>& request, const UdpEndpoint& mapped,
                            int error = 0, bool fingerprint = true) {
  static const uint16_t known[] = {0};
  StunAgent agent;
  stun_agent_init(
      &agent, known, STUN_COMPATIBILITY_RFC5389,
      fingerprint ? STUN_AGENT_USAGE_USE_FINGERPRINT : static_cast<StunAgentUsageFlags>(0));
  StunMessage req{};
  req.agent = &agent;
  req.buffer = const_cast<uint8_t*>(request.data());
  req.buffer_len = request.size();
  std::vector<uint8_t> out(512);
  StunMessage msg{};
  if (error != 0) {
    EXPECT_TRUE(stun_agent_init_error(&agent, &msg, out.data(), out.size(), &req,
                                      static_cast<StunError>(error)));
  } else {
    EXPECT_TRUE(stun_agent_init_response(&agent, &msg, out.data(), out.size(), &req));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(mapped.port());
    const auto b = mapped.address().to_v4().to_bytes();
    std::memcpy(&sin.sin_addr, b.data(), b.size());
    EXPECT_EQ(stun_message_append_xor_addr(&msg, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
                                           reinterpret_cast<sockaddr_storage*>(&sin), sizeof(sin)),
              STUN_MESSAGE_RETURN_SUCCESS);
  }
  const size_t n = stun_agent_finish_message(&agent, &msg, nullptr, 0);
  EXPECT_GT(n, 0U);
  out.resize(n);
  return out;
}

struct Rig {
  std::vector<Sent> sent;
  std::vector<StunMapper::Outcome> timeouts;
  Clock::time_point poll(StunMapper& m, Clock::time_point now) {
    return m.poll(
        now,
        [this](std::span<const uint8_t> d, const UdpEndpoint& to) {
          sent.push_back({{d.begin(), d.end()}, to});
        },
        [this](const StunMapper::Outcome& o) { timeouts.push_back(o); });
  }
};

TEST(StunServerName, ParsesHostPortAsIce4j) {
  std::string err;
  auto a = jvb::ice::parseStunServer("stun.example.com:3478", err);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "stun.example.com");
  EXPECT_EQ(a->port, 3478);
  auto b = jvb::ice::parseStunServer(" 192.0.2.1:19302 ", err);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "192.0.2.1");
  auto c = jvb::ice::parseStunServer("[2001:db8::1]:3478", err);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "2001:db8::1");
  for (const char* bad : {"stun.example.com", "stun:", ":3478", "h:0", "h:65536", "h:12x",
                          "2001:db8::1:3478", "[::1]3478", ""}) {
    err.clear();
    EXPECT_FALSE(jvb::ice::parseStunServer(bad, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(StunMapper, LearnsTheMappedAddressFromTheServersResponse) {
  const auto server = ep("198.51.100.7", 3478);
  StunMapper m({server}, StunMappingTiming{});
  Rig rig;
  const auto t0 = Clock::now();
  const auto next = rig.poll(m, t0);
  ASSERT_EQ(rig.sent.size(), 1U);
  EXPECT_EQ(rig.sent[0].to, server);
  EXPECT_EQ(rig.sent[0].bytes.size(), 20U);  // a bare Binding request
  EXPECT_EQ(rig.sent[0].bytes[0], 0x00);
  EXPECT_EQ(rig.sent[0].bytes[1], 0x01);
  EXPECT_EQ(next, t0 + milliseconds(100));
  EXPECT_TRUE(m.isServer(server));
  EXPECT_FALSE(m.isServer(ep("198.51.100.7", 3479)));

  // With and without FINGERPRINT: servers differ.
  for (bool fingerprint : {true, false}) {
    const auto resp = answer(rig.sent.back().bytes, ep("203.0.113.9", 40000), 0, fingerprint);
    // From another address: not ours, nothing changes.
    bool rejected = false;
    EXPECT_FALSE(m.onDatagram(resp, ep("198.51.100.8", 3478), t0, &rejected));
    EXPECT_TRUE(rejected);
    const auto out = m.onDatagram(resp, server, t0 + milliseconds(20));
    ASSERT_TRUE(out);
    EXPECT_EQ(out->server, 0U);
    ASSERT_TRUE(out->mapped);
    EXPECT_EQ(*out->mapped, ep("203.0.113.9", 40000));
    // The same response again: the round is over.
    rejected = false;
    EXPECT_FALSE(m.onDatagram(resp, server, t0 + milliseconds(30), &rejected));
    EXPECT_TRUE(rejected);
    // Nothing until the refresh, then a new request with a new id.
    const size_t before = rig.sent.size();
    EXPECT_EQ(rig.poll(m, t0 + milliseconds(25)), t0 + milliseconds(20) + milliseconds(30000));
    EXPECT_EQ(rig.sent.size(), before);
    rig.poll(m, t0 + milliseconds(20) + milliseconds(30000));
    ASSERT_EQ(rig.sent.size(), before + 1);
    EXPECT_NE(
        std::memcmp(rig.sent[before].bytes.data() + 8, rig.sent[before - 1].bytes.data() + 8, 12),
        0);
  }
  EXPECT_TRUE(rig.timeouts.empty());
}

TEST(StunMapper, RetransmitsAsRfc5389ThenGivesUpAndRetriesOnRefresh) {
  const auto server = ep("198.51.100.7", 3478);
  StunMappingTiming timing;
  timing.refresh = milliseconds(5000);
  StunMapper m({server}, timing);
  Rig rig;
  auto now = Clock::now();
  auto next = rig.poll(m, now);
  // 100, 200, 400, 800, 1600, 1600 ms between the 7 sends, then 1600 ms more.
  const int waits[] = {100, 200, 400, 800, 1600, 1600, 1600};
  for (int w : waits) {
    EXPECT_EQ(next, now + milliseconds(w));
    now = next;
    next = rig.poll(m, now);
  }
  EXPECT_EQ(rig.sent.size(), 7U);
  for (const auto& s : rig.sent) {
    EXPECT_EQ(s.bytes, rig.sent[0].bytes);  // retransmissions resend the request
  }
  ASSERT_EQ(rig.timeouts.size(), 1U);
  EXPECT_FALSE(rig.timeouts[0].mapped);
  EXPECT_EQ(next, now + milliseconds(5000));
  // A late answer to the abandoned request changes nothing.
  bool rejected = false;
  EXPECT_FALSE(
      m.onDatagram(answer(rig.sent[0].bytes, ep("203.0.113.9", 1)), server, now, &rejected));
  EXPECT_TRUE(rejected);
  rig.poll(m, next);
  EXPECT_EQ(rig.sent.size(), 8U);
}

TEST(StunMapper, ErrorResponseEndsTheRoundWithoutAnAddress) {
  const auto server = ep("198.51.100.7", 3478);
  StunMapper m({server}, StunMappingTiming{});
  Rig rig;
  const auto t0 = Clock::now();
  rig.poll(m, t0);
  const auto out = m.onDatagram(answer(rig.sent[0].bytes, {}, 400), server, t0);
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->mapped);
  EXPECT_EQ(out->errorCode, 400);
}

TEST(StunMapper, GarbageFromAServerIsRejected) {
  const auto server = ep("198.51.100.7", 3478);
  StunMapper m({server}, StunMappingTiming{});
  Rig rig;
  const auto t0 = Clock::now();
  rig.poll(m, t0);
  auto resp = answer(rig.sent[0].bytes, ep("203.0.113.9", 40000));
  std::vector<std::vector<uint8_t>> bad = {{}, {0, 1, 0, 0}, rig.sent[0].bytes};
  auto wrongId = resp;
  wrongId[10] ^= 0xFF;
  bad.push_back(wrongId);
  auto truncated = resp;
  truncated.resize(resp.size() - 4);
  bad.push_back(truncated);
  auto badLength = resp;
  badLength[3] = static_cast<uint8_t>(badLength[3] + 4);
  bad.push_back(badLength);
  for (const auto& b : bad) {
    bool rejected = false;
    EXPECT_FALSE(m.onDatagram(b, server, t0, &rejected));
    EXPECT_TRUE(rejected);
  }
  // The real answer still completes the round.
  const auto out = m.onDatagram(resp, server, t0);
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->mapped);
}

TEST(StunMapper, SeveralServersEachHaveTheirOwnRound) {
  const auto a = ep("198.51.100.7", 3478);
  const auto b = ep("198.51.100.8", 3478);
  StunMapper m({a, b}, StunMappingTiming{});
  Rig rig;
  const auto t0 = Clock::now();
  rig.poll(m, t0);
  ASSERT_EQ(rig.sent.size(), 2U);
  // b's answer sent from a's address is no answer of a's.
  bool rejected = false;
  EXPECT_FALSE(m.onDatagram(answer(rig.sent[1].bytes, ep("203.0.113.9", 1)), a, t0, &rejected));
  EXPECT_TRUE(rejected);
  const auto out = m.onDatagram(answer(rig.sent[1].bytes, ep("203.0.113.9", 2)), b, t0);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->server, 1U);
}

}  // namespace
