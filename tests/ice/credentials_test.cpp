#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "ice/credentials.hpp"

namespace {

namespace ip = boost::asio::ip;
using namespace jvb::ice;

TEST(Credentials, IceCharsOfRfcLengthsAndUnique) {
  std::set<std::string> seen;
  const std::regex iceChars("[A-Za-z0-9+/]+");
  for (int i = 0; i < 100; ++i) {
    const auto c = generateCredentials();
    EXPECT_GE(c.ufrag.size(), 4u);
    EXPECT_GE(c.pwd.size(), 22u);
    EXPECT_TRUE(std::regex_match(c.ufrag, iceChars)) << c.ufrag;
    EXPECT_TRUE(std::regex_match(c.pwd, iceChars)) << c.pwd;
    EXPECT_TRUE(seen.insert(c.ufrag).second);
  }
}

TEST(Candidates, PriorityFollowsRfc8445) {
  EXPECT_EQ(candidatePriority(CandidateType::kHost, 65535), 2130706431u);  // JVB's host value
  EXPECT_EQ(candidatePriority(CandidateType::kServerReflexive, 65535), 1694498815u);
}

TEST(Candidates, HostThenMappedWithRelatedAddress) {
  std::vector<AdvertisedAddress> addrs{
      {ip::make_address("10.0.0.5"), 10000, CandidateType::kHost, {}, 0},
      {ip::make_address("2001:db8::5"), 10000, CandidateType::kHost, {}, 0},
      {ip::make_address("203.0.113.7"), 10000, CandidateType::kServerReflexive,
       ip::make_address("10.0.0.5"), 10000}};
  const auto c = buildCandidates(addrs);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].type, "host");
  EXPECT_EQ(c[0].ip, "10.0.0.5");
  EXPECT_EQ(c[0].port, 10000);
  EXPECT_EQ(c[0].component, 1);
  EXPECT_EQ(c[0].protocol, "udp");
  EXPECT_EQ(c[2].type, "srflx");
  EXPECT_EQ(c[2].relAddr, "10.0.0.5");
  EXPECT_EQ(c[2].relPort, 10000);
  EXPECT_GT(c[0].priority, c[1].priority);  // IPv4 host above IPv6 host
  EXPECT_GT(c[1].priority, c[2].priority);  // host above srflx
  EXPECT_NE(c[0].foundation, c[1].foundation);
  EXPECT_NE(c[0].foundation, c[2].foundation);
  std::set<std::string> ids{c[0].id, c[1].id, c[2].id};
  EXPECT_EQ(ids.size(), 3u);
}

}  // namespace
