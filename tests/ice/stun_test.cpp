#include "ice/stun.hpp"

#include <gtest/gtest.h>
#include <stun/stunagent.h>
#include <stun/stunmessage.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cstring>
#include <string>
#include <vector>

namespace {

namespace stun = jvb::ice::stun;
using jvb::ice::Credentials;
using jvb::ice::Role;
using jvb::ice::UdpEndpoint;
using Bytes = std::vector<uint8_t>;

const Credentials kBridge{"brdgUfrg", "bridgePassword0123456789"};
const Credentials kPeer{"peerUfrg", "peerPassword012345678901"};

UdpEndpoint ep(const char* ip, uint16_t port) {
  return UdpEndpoint(boost::asio::ip::make_address(ip), port);
}

// The bridge's check towards the peer: USERNAME "peer:bridge", keyed with the
// peer's pwd.
Bytes bridgeRequest(stun::StunCodec& bridge, stun::TransactionId& id, bool useCandidate = true) {
  bridge.setPeerPassword(kPeer.pwd);
  Bytes buf(stun::kMaxMessageSize);
  const stun::RequestParams params{kBridge.ufrag,      kPeer.ufrag,           0x6e7fffff,
                                   Role::kControlling, 0x0123456789abcdefULL, useCandidate};
  const size_t n = bridge.buildRequest(params, buf, id);
  EXPECT_GT(n, 20u);
  buf.resize(n);
  return buf;
}

TEST(Stun, RequestAndResponseRoundTrip) {
  stun::StunCodec bridge;
  stun::StunCodec peer;
  stun::TransactionId id{};
  const Bytes req = bridgeRequest(bridge, id);
  EXPECT_TRUE(stun::looksLikeStun(req));

  // The peer demuxes by its own ufrag, then authenticates with its pwd.
  const auto ufrag = stun::peekLocalUfrag(req);
  ASSERT_TRUE(ufrag.has_value());
  EXPECT_EQ(*ufrag, kPeer.ufrag);
  stun::BindingRequest got;
  ASSERT_EQ(stun::checkRequest(req, kPeer, &got), stun::RequestCheck::kValid);
  EXPECT_EQ(got.transactionId, id);
  EXPECT_EQ(got.remoteUfrag, kBridge.ufrag);
  EXPECT_EQ(got.priority, 0x6e7fffffu);
  EXPECT_TRUE(got.useCandidate);
  ASSERT_TRUE(got.senderRole.has_value());
  EXPECT_EQ(*got.senderRole, Role::kControlling);
  EXPECT_EQ(got.tieBreaker, 0x0123456789abcdefULL);
  EXPECT_EQ(peer.checkRequest(req, kPeer), stun::RequestCheck::kValid);

  // The response is keyed with the pwd that authenticated the request: the
  // responder's own.
  Bytes resp(stun::kMaxMessageSize);
  const UdpEndpoint mapped = ep("192.0.2.7", 40000);
  const size_t n = peer.buildSuccessResponse(got.transactionId, mapped, kPeer.pwd, resp);
  ASSERT_GT(n, 20u);
  resp.resize(n);
  EXPECT_FALSE(stun::peekLocalUfrag(resp).has_value());  // not a request
  EXPECT_EQ(stun::checkRequest(resp, kPeer), stun::RequestCheck::kNotBindingRequest);

  stun::BindingResponse r;
  ASSERT_EQ(bridge.checkResponse(resp, r), stun::ResponseCheck::kValid);
  EXPECT_EQ(r.transactionId, id);
  EXPECT_EQ(r.errorCode, 0);
  ASSERT_TRUE(r.mapped.has_value());
  EXPECT_EQ(*r.mapped, mapped);
  // A matched response ends the transaction.
  EXPECT_EQ(bridge.checkResponse(resp, r), stun::ResponseCheck::kUnmatched);
}

TEST(Stun, RequestWithoutUseCandidateOrAsControlled) {
  stun::StunCodec bridge;
  bridge.setPeerPassword(kPeer.pwd);
  Bytes buf(stun::kMaxMessageSize);
  stun::TransactionId id{};
  const stun::RequestParams params{kBridge.ufrag, kPeer.ufrag, 1234, Role::kControlled, 42, false};
  buf.resize(bridge.buildRequest(params, buf, id));
  stun::BindingRequest got;
  ASSERT_EQ(stun::checkRequest(buf, kPeer, &got), stun::RequestCheck::kValid);
  EXPECT_FALSE(got.useCandidate);
  EXPECT_EQ(got.senderRole, Role::kControlled);
  EXPECT_EQ(got.tieBreaker, 42u);
  EXPECT_EQ(got.priority, 1234u);
}

TEST(Stun, RejectsWrongCredentials) {
  stun::StunCodec bridge;
  stun::TransactionId id{};
  const Bytes req = bridgeRequest(bridge, id);
  EXPECT_EQ(stun::checkRequest(req, Credentials{kPeer.ufrag, "someOtherPassword0123456"}),
            stun::RequestCheck::kBadIntegrity);
  EXPECT_EQ(stun::checkRequest(req, Credentials{"otherUfr", kPeer.pwd}),
            stun::RequestCheck::kWrongUfrag);
  // A prefix of the ufrag is not the ufrag.
  EXPECT_EQ(stun::checkRequest(req, Credentials{"peerUfr", kPeer.pwd}),
            stun::RequestCheck::kWrongUfrag);
  EXPECT_EQ(stun::checkRequest(req, Credentials{"", kPeer.pwd}), stun::RequestCheck::kWrongUfrag);
  // The bridge's own credentials do not validate a request meant for the peer.
  EXPECT_EQ(stun::checkRequest(req, kBridge), stun::RequestCheck::kWrongUfrag);
}

TEST(Stun, RejectsTruncatedAndCorrupted) {
  stun::StunCodec bridge;
  stun::TransactionId id{};
  const Bytes req = bridgeRequest(bridge, id);
  for (size_t len = 0; len < req.size(); ++len) {
    const std::span<const uint8_t> cut(req.data(), len);
    EXPECT_EQ(stun::checkRequest(cut, kPeer), stun::RequestCheck::kNotStun) << len;
    EXPECT_FALSE(stun::peekLocalUfrag(cut).has_value()) << len;
    EXPECT_FALSE(stun::looksLikeStun(cut)) << len;
  }
  // Trailing garbage after the message.
  Bytes longer = req;
  longer.insert(longer.end(), {0, 0, 0, 0});
  EXPECT_EQ(stun::checkRequest(longer, kPeer), stun::RequestCheck::kNotStun);

  // Bad FINGERPRINT (the last 4 bytes).
  Bytes badFp = req;
  badFp.back() ^= 0x01;
  EXPECT_EQ(stun::checkRequest(badFp, kPeer), stun::RequestCheck::kMalformed);
  // Any flipped bit in the body breaks the FINGERPRINT first.
  Bytes flipped = req;
  flipped[25] ^= 0x40;
  EXPECT_NE(stun::checkRequest(flipped, kPeer), stun::RequestCheck::kValid);
  // Without the magic cookie it is not RFC 5389 STUN.
  Bytes noCookie = req;
  noCookie[4] = 0;
  EXPECT_EQ(stun::checkRequest(noCookie, kPeer), stun::RequestCheck::kNotStun);
  EXPECT_FALSE(stun::looksLikeStun(noCookie));
  // RTP/DTLS first bytes.
  Bytes rtp = req;
  rtp[0] = 0x80;
  EXPECT_FALSE(stun::looksLikeStun(rtp));
  EXPECT_EQ(stun::checkRequest(rtp, kPeer), stun::RequestCheck::kNotStun);
}

// Header + attributes, lengths filled in; for shapes the builders never emit.
Bytes rawMessage(uint16_t type, const std::vector<std::pair<uint16_t, Bytes>>& attrs) {
  Bytes m = {
      static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, 0, 0x21, 0x12, 0xA4, 0x42};
  for (int i = 0; i < 12; ++i) {
    m.push_back(static_cast<uint8_t>(i + 1));
  }
  for (const auto& [t, v] : attrs) {
    m.push_back(static_cast<uint8_t>(t >> 8));
    m.push_back(static_cast<uint8_t>(t));
    m.push_back(static_cast<uint8_t>(v.size() >> 8));
    m.push_back(static_cast<uint8_t>(v.size()));
    m.insert(m.end(), v.begin(), v.end());
    while (m.size() % 4 != 0) {
      m.push_back(0);
    }
  }
  const size_t len = m.size() - 20;
  m[2] = static_cast<uint8_t>(len >> 8);
  m[3] = static_cast<uint8_t>(len);
  return m;
}

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

TEST(Stun, PeekLocalUfrag) {
  const Bytes ok = rawMessage(0x0001, {{0x0006, text("abcd:efgh")}});
  ASSERT_TRUE(stun::peekLocalUfrag(ok).has_value());
  EXPECT_EQ(*stun::peekLocalUfrag(ok), "abcd");
  // Unauthenticated: the peek does not care, full validation does.
  EXPECT_EQ(stun::checkRequest(ok, Credentials{"abcd", "x"}), stun::RequestCheck::kMalformed);

  EXPECT_FALSE(stun::peekLocalUfrag(rawMessage(0x0001, {{0x0006, text("nocolon")}})));
  EXPECT_FALSE(stun::peekLocalUfrag(rawMessage(0x0001, {{0x0006, text(":empty")}})));
  EXPECT_FALSE(stun::peekLocalUfrag(rawMessage(0x0001, {})));
  EXPECT_FALSE(stun::peekLocalUfrag(rawMessage(0x0101, {{0x0006, text("abcd:efgh")}})));
  EXPECT_FALSE(stun::peekLocalUfrag(rawMessage(0x0011, {{0x0006, text("abcd:efgh")}})));
  // USERNAME after MESSAGE-INTEGRITY does not count (RFC 5389 section 15.4).
  EXPECT_FALSE(stun::peekLocalUfrag(
      rawMessage(0x0001, {{0x0008, Bytes(20, 0)}, {0x0006, text("abcd:efgh")}})));
}

TEST(Stun, ShortMessageIntegrityIsRejectedBeforeLibnice) {
  // libnice's validation compares 20 bytes at MESSAGE-INTEGRITY whatever its
  // length; a 4-byte one at the end of the datagram must never reach it.
  const Bytes m = rawMessage(0x0001, {{0x0006, text("abcd:efgh")}, {0x0008, Bytes(4, 0)}});
  EXPECT_EQ(stun::checkRequest(m, Credentials{"abcd", "pwd"}), stun::RequestCheck::kMalformed);
  stun::StunCodec codec;
  stun::BindingResponse r;
  const Bytes resp = rawMessage(0x0101, {{0x0008, Bytes(4, 0)}});
  EXPECT_EQ(codec.checkResponse(resp, r), stun::ResponseCheck::kMalformed);
}

// RFC 5769 section 2.1: a sample ICE request (SOFTWARE, PRIORITY,
// ICE-CONTROLLED, USERNAME "evtj:h6vY", MESSAGE-INTEGRITY, FINGERPRINT).
TEST(Stun, Rfc5769SampleRequest) {
  const Bytes req = {0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
                     0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10,
                     0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c,
                     0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
                     0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
                     0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
                     0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
                     0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
                     0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};
  EXPECT_EQ(*stun::peekLocalUfrag(req), "evtj");
  stun::BindingRequest got;
  ASSERT_EQ(stun::checkRequest(req, Credentials{"evtj", "VOkJxbRl1RmTxUk/WvJxBt"}, &got),
            stun::RequestCheck::kValid);
  EXPECT_EQ(got.priority, 0x6e0001ffu);
  EXPECT_EQ(got.senderRole, Role::kControlled);
  EXPECT_EQ(got.tieBreaker, 0x932ff9b151263b36ULL);
  EXPECT_EQ(got.remoteUfrag, "h6vY");
  const stun::TransactionId id = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                  0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
  EXPECT_EQ(got.transactionId, id);
}

TEST(Stun, XorMappedAddressIpv4AndIpv6) {
  for (const UdpEndpoint& mapped :
       {ep("192.0.2.1", 32853), ep("2001:db8:1234:5678:11:2233:4455:6677", 32853), ep("::1", 1),
        ep("255.255.255.255", 65535)}) {
    stun::StunCodec bridge;
    stun::StunCodec peer;
    stun::TransactionId id{};
    const Bytes req = bridgeRequest(bridge, id);
    stun::BindingRequest got;
    ASSERT_EQ(peer.checkRequest(req, kPeer, &got), stun::RequestCheck::kValid);
    Bytes resp(stun::kMaxMessageSize);
    resp.resize(peer.buildSuccessResponse(got.transactionId, mapped, kPeer.pwd, resp));
    ASSERT_FALSE(resp.empty());
    // The address is XOR'd: its bytes do not appear in clear.
    const auto addrBytes = mapped.address().is_v4() ? Bytes{192, 0, 2, 1} : Bytes{0x20, 0x01};
    if (mapped.address() == boost::asio::ip::make_address("192.0.2.1")) {
      EXPECT_EQ(std::search(resp.begin(), resp.end(), addrBytes.begin(), addrBytes.end()),
                resp.end());
    }
    stun::BindingResponse r;
    ASSERT_EQ(bridge.checkResponse(resp, r), stun::ResponseCheck::kValid);
    ASSERT_TRUE(r.mapped.has_value());
    EXPECT_EQ(*r.mapped, mapped);
  }
}

TEST(Stun, ResponseIntegrityUsesTheResponderPwd) {
  stun::StunCodec bridge;
  stun::StunCodec peer;
  stun::TransactionId id{};
  const Bytes req = bridgeRequest(bridge, id);
  Bytes wrong(stun::kMaxMessageSize);
  wrong.resize(peer.buildSuccessResponse(id, ep("192.0.2.1", 1), kBridge.pwd, wrong));
  stun::BindingResponse r;
  EXPECT_EQ(bridge.checkResponse(wrong, r), stun::ResponseCheck::kBadIntegrity);
  // The forged answer did not end the transaction: the real one still counts.
  Bytes right(stun::kMaxMessageSize);
  right.resize(peer.buildSuccessResponse(id, ep("192.0.2.1", 1), kPeer.pwd, right));
  EXPECT_EQ(bridge.checkResponse(right, r), stun::ResponseCheck::kValid);
  // A response to nothing we sent.
  stun::TransactionId other = id;
  other[0] ^= 1;
  Bytes stray(stun::kMaxMessageSize);
  stray.resize(peer.buildSuccessResponse(other, ep("192.0.2.1", 1), kPeer.pwd, stray));
  EXPECT_EQ(bridge.checkResponse(stray, r), stun::ResponseCheck::kUnmatched);
  Bytes badFp = right;
  badFp.back() ^= 0x80;
  EXPECT_EQ(bridge.checkResponse(badFp, r), stun::ResponseCheck::kMalformed);
  EXPECT_EQ(bridge.checkResponse(req, r), stun::ResponseCheck::kNotBindingResponse);
}

TEST(Stun, RoleConflictErrorResponse) {
  stun::StunCodec bridge;
  stun::StunCodec peer;
  stun::TransactionId id{};
  const Bytes req = bridgeRequest(bridge, id);
  stun::BindingRequest got;
  ASSERT_EQ(peer.checkRequest(req, kPeer, &got), stun::RequestCheck::kValid);
  Bytes err(stun::kMaxMessageSize);
  err.resize(peer.buildErrorResponse(got.transactionId, 487, kPeer.pwd, err));
  ASSERT_FALSE(err.empty());
  stun::BindingResponse r;
  ASSERT_EQ(bridge.checkResponse(err, r), stun::ResponseCheck::kValid);
  EXPECT_EQ(r.errorCode, 487);
  EXPECT_FALSE(r.mapped.has_value());
}

TEST(Stun, ForgottenTransactionsAreUnmatched) {
  stun::StunCodec bridge;
  stun::StunCodec peer;
  stun::TransactionId id1{};
  stun::TransactionId id2{};
  bridgeRequest(bridge, id1);
  bridgeRequest(bridge, id2);
  EXPECT_NE(id1, id2);
  bridge.forget(id1);
  Bytes resp(stun::kMaxMessageSize);
  stun::BindingResponse r;
  resp.resize(peer.buildSuccessResponse(id1, ep("192.0.2.1", 1), kPeer.pwd, resp));
  EXPECT_EQ(bridge.checkResponse(resp, r), stun::ResponseCheck::kUnmatched);
  resp.resize(stun::kMaxMessageSize);
  resp.resize(peer.buildSuccessResponse(id2, ep("192.0.2.1", 1), kPeer.pwd, resp));
  EXPECT_EQ(bridge.checkResponse(resp, r), stun::ResponseCheck::kValid);

  // A new peer pwd forgets everything outstanding.
  stun::TransactionId id3{};
  bridgeRequest(bridge, id3);
  bridge.setPeerPassword("anotherPeerPassword01234");
  resp.resize(stun::kMaxMessageSize);
  resp.resize(peer.buildSuccessResponse(id3, ep("192.0.2.1", 1), kPeer.pwd, resp));
  EXPECT_EQ(bridge.checkResponse(resp, r), stun::ResponseCheck::kUnmatched);
}

TEST(Stun, BuildersRefuseWhatTheyCannotDo) {
  stun::StunCodec codec;
  Bytes buf(stun::kMaxMessageSize);
  stun::TransactionId id{};
  const stun::RequestParams params{kBridge.ufrag, kPeer.ufrag, 1, Role::kControlling, 1, false};
  EXPECT_EQ(codec.buildRequest(params, buf, id), 0u);  // no peer pwd yet
  codec.setPeerPassword(kPeer.pwd);
  Bytes tiny(10);
  EXPECT_EQ(codec.buildRequest(params, tiny, id), 0u);
  EXPECT_EQ(codec.buildSuccessResponse(id, ep("192.0.2.1", 1), kPeer.pwd, tiny), 0u);
  Bytes small(40);
  EXPECT_EQ(codec.buildSuccessResponse(id, ep("192.0.2.1", 1), kPeer.pwd, small), 0u);
  EXPECT_EQ(codec.buildErrorResponse(id, 487, "", buf), 0u);

  // libnice keeps 200 outstanding requests per agent, no more.
  size_t built = 0;
  for (int i = 0; i < 250; ++i) {
    built += codec.buildRequest(params, buf, id) > 0 ? 1 : 0;
  }
  EXPECT_EQ(built, 200u);
  codec.forgetAll();
  EXPECT_GT(codec.buildRequest(params, buf, id), 0u);
}

TEST(Stun, UnknownComprehensionRequiredAttribute) {
  // An authentic request with attribute 0x0030 (comprehension-required,
  // unknown to us), signed by a bare libnice agent.
  StunAgent sender;
  stun_agent_init(&sender, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
                  static_cast<StunAgentUsageFlags>(STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
                                                   STUN_AGENT_USAGE_USE_FINGERPRINT));
  StunMessage msg;
  Bytes req(512);
  ASSERT_TRUE(stun_agent_init_request(&sender, &msg, req.data(), req.size(), STUN_BINDING));
  ASSERT_EQ(stun_message_append32(&msg, STUN_ATTRIBUTE_PRIORITY, 1), STUN_MESSAGE_RETURN_SUCCESS);
  ASSERT_EQ(stun_message_append32(&msg, static_cast<StunAttribute>(0x0030), 7),
            STUN_MESSAGE_RETURN_SUCCESS);
  const std::string user = kPeer.ufrag + ":" + kBridge.ufrag;
  ASSERT_EQ(stun_message_append_bytes(&msg, STUN_ATTRIBUTE_USERNAME, user.data(), user.size()),
            STUN_MESSAGE_RETURN_SUCCESS);
  const size_t n = stun_agent_finish_message(
      &sender, &msg, reinterpret_cast<const uint8_t*>(kPeer.pwd.data()), kPeer.pwd.size());
  ASSERT_GT(n, 0u);
  req.resize(n);

  EXPECT_EQ(stun::checkRequest(req, kPeer), stun::RequestCheck::kUnknownAttributes);
  // Integrity is judged first: with a wrong pwd it is just unauthenticated.
  EXPECT_EQ(stun::checkRequest(req, Credentials{kPeer.ufrag, "wrongPassword01234567890"}),
            stun::RequestCheck::kBadIntegrity);

  stun::StunCodec peer;
  Bytes err(stun::kMaxMessageSize);
  err.resize(peer.buildUnknownAttributesError(req, kPeer.pwd, err));
  ASSERT_FALSE(err.empty());
  StunMessage resp;
  ASSERT_EQ(stun_agent_validate(&sender, &resp, err.data(), err.size(), nullptr, nullptr),
            STUN_VALIDATION_SUCCESS);
  int code = 0;
  ASSERT_EQ(stun_message_find_error(&resp, &code), STUN_MESSAGE_RETURN_SUCCESS);
  EXPECT_EQ(code, 420);
  uint16_t len = 0;
  const auto* unknown = static_cast<const uint8_t*>(
      stun_message_find(&resp, STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES, &len));
  ASSERT_NE(unknown, nullptr);
  ASSERT_EQ(len, 2);
  EXPECT_EQ(unknown[0], 0x00);
  EXPECT_EQ(unknown[1], 0x30);
}

}  // namespace
