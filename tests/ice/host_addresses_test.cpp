#include <gtest/gtest.h>

#include "ice/host_addresses.hpp"

namespace {

namespace ip = boost::asio::ip;
using jvb::ice::AdvertisedAddress;
using jvb::ice::CandidateType;
using jvb::ice::HostAddress;

HostAddress host(const char* a, bool priv) {
  return HostAddress{ip::make_address(a), "eth0", false, priv};
}

TEST(HostAddresses, ClassifiesPrivateAndLinkLocal) {
  EXPECT_TRUE(jvb::ice::isPrivateAddress(ip::make_address("10.1.2.3")));
  EXPECT_TRUE(jvb::ice::isPrivateAddress(ip::make_address("172.16.0.1")));
  EXPECT_TRUE(jvb::ice::isPrivateAddress(ip::make_address("172.31.255.1")));
  EXPECT_FALSE(jvb::ice::isPrivateAddress(ip::make_address("172.32.0.1")));
  EXPECT_TRUE(jvb::ice::isPrivateAddress(ip::make_address("192.168.1.1")));
  EXPECT_TRUE(jvb::ice::isPrivateAddress(ip::make_address("100.64.0.1")));
  EXPECT_TRUE(jvb::ice::isPrivateAddress(ip::make_address("fd00::1")));
  EXPECT_FALSE(jvb::ice::isPrivateAddress(ip::make_address("203.0.113.7")));
  EXPECT_FALSE(jvb::ice::isPrivateAddress(ip::make_address("2001:db8::1")));
  EXPECT_TRUE(jvb::ice::isLinkLocal(ip::make_address("169.254.1.1")));
  EXPECT_TRUE(jvb::ice::isLinkLocal(ip::make_address("fe80::1")));
  EXPECT_FALSE(jvb::ice::isLinkLocal(ip::make_address("127.0.0.1")));
}

TEST(HostAddresses, LoopbackOnlyWhenAskedFor) {
  bool sawLoopback = false;
  for (const auto& h : jvb::ice::interfaceAddresses(true)) {
    EXPECT_FALSE(jvb::ice::isLinkLocal(h.address));
    sawLoopback = sawLoopback || h.address == ip::make_address("127.0.0.1");
  }
  EXPECT_TRUE(sawLoopback);
  for (const auto& h : jvb::ice::interfaceAddresses(false)) {
    EXPECT_FALSE(h.loopback) << h.address;
  }
}

TEST(HostAddresses, StaticMappingAddsAServerReflexiveAddress) {
  // The seed's NAT_HARVESTER_LOCAL_ADDRESS / PUBLIC_ADDRESS pair, as a
  // jvb.conf static mapping.
  std::vector<jvb::config::StaticMapping> maps{{"10.0.0.5", "198.51.100.20", {}, {}, "nat"},
                                               {"10.9.9.9", "198.51.100.99", {}, {}, "other"}};
  const auto out = jvb::ice::advertisedAddresses({host("10.0.0.5", true)}, 10000, maps, true);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].type, CandidateType::kHost);
  EXPECT_EQ(out[0].address, ip::make_address("10.0.0.5"));
  EXPECT_EQ(out[0].port, 10000);
  EXPECT_EQ(out[1].type, CandidateType::kServerReflexive);
  EXPECT_EQ(out[1].address, ip::make_address("198.51.100.20"));
  EXPECT_EQ(out[1].port, 10000);
  EXPECT_EQ(out[1].relatedAddress, ip::make_address("10.0.0.5"));
}

TEST(HostAddresses, MappingPortsAndPrivateFiltering) {
  std::vector<jvb::config::StaticMapping> maps{{"10.0.0.5", "198.51.100.20", 10000, 20000, ""},
                                               {"10.0.0.5", "198.51.100.21", 9999, 1, ""},
                                               {"not-ip", "198.51.100.22", {}, {}, ""}};
  const auto out = jvb::ice::advertisedAddresses({host("10.0.0.5", true)}, 10000, maps, false);
  ASSERT_EQ(out.size(), 1u);  // private host dropped; port-mismatched and bad mappings ignored
  EXPECT_EQ(out[0].type, CandidateType::kServerReflexive);
  EXPECT_EQ(out[0].port, 20000);
}

}  // namespace

namespace {

TEST(BridgeAddresses, SpecificBindAddressIsTheOnlyHostCandidate) {
  jvb::config::BridgeConfig cfg;
  cfg.iceBindAddress = "127.0.0.1";
  cfg.staticMappings = {{"127.0.0.1", "198.51.100.20", {}, {}, "nat"}};
  const auto out = jvb::ice::bridgeAddresses(cfg, 10000);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].address, boost::asio::ip::make_address("127.0.0.1"));
  EXPECT_EQ(out[0].type, jvb::ice::CandidateType::kHost);
  EXPECT_EQ(out[1].address, boost::asio::ip::make_address("198.51.100.20"));
}

TEST(BridgeAddresses, WildcardUsesInterfacesWithoutLoopbackWhenThereAreOthers) {
  jvb::config::BridgeConfig cfg;
  cfg.iceBindAddress = "0.0.0.0";
  const auto out = jvb::ice::bridgeAddresses(cfg, 10000);
  ASSERT_FALSE(out.empty());
  const bool onlyLoopback = jvb::ice::interfaceAddresses(false).empty();
  for (const auto& a : out) {
    EXPECT_EQ(a.address.is_loopback(), onlyLoopback) << a.address;
    EXPECT_EQ(a.port, 10000);
  }
}

}  // namespace

namespace {

TEST(HostAddresses, DiscoveredMappingsFollowIce4jRules) {
  const std::vector<HostAddress> hosts{host("10.0.0.5", true)};
  std::vector<jvb::config::StaticMapping> maps(1);
  maps[0].localAddress = "10.0.0.5";
  maps[0].publicAddress = "203.0.113.7";
  auto out = jvb::ice::advertisedAddresses(hosts, 10000, maps, true);
  const auto udp = [](const char* a, uint16_t p) {
    return boost::asio::ip::udp::endpoint(ip::make_address(a), p);
  };
  jvb::ice::appendDiscovered(
      out, hosts, 10000,
      {{ip::make_address("10.0.0.5"), udp("198.51.100.4", 41000)},    // a NAT: srflx
       {ip::make_address("10.0.0.5"), udp("10.0.0.5", 10000)},        // no NAT: nothing
       {ip::make_address("10.0.0.5"), udp("203.0.113.7", 10000)},     // = the static one
       {ip::make_address("10.0.0.9"), udp("198.51.100.5", 10000)},    // not a host address
       {ip::make_address("10.0.0.5"), udp("198.51.100.4", 41000)}});  // a second server, same
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[2].type, CandidateType::kServerReflexive);
  EXPECT_EQ(out[2].address, ip::make_address("198.51.100.4"));
  EXPECT_EQ(out[2].port, 41000);  // the port the server saw the media port as
  EXPECT_EQ(out[2].relatedAddress, ip::make_address("10.0.0.5"));
  EXPECT_EQ(out[2].relatedPort, 10000);
}

TEST(HostAddresses, LocalAddressTowardLoopbackIsLoopback) {
  const auto a = jvb::ice::localAddressToward(
      boost::asio::ip::udp::endpoint(ip::make_address("127.0.0.1"), 3478));
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_loopback());
}

}  // namespace
