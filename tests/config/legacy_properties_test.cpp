#include "config/legacy_properties.hpp"

#include <gtest/gtest.h>

namespace {

using jvb::config::applyLegacyPropertiesText;
using jvb::config::BridgeConfig;

TEST(LegacyProperties, PathIsBesideJvbConf) {
  EXPECT_EQ(jvb::config::legacyPropertiesPath("/etc/jitsi/videobridge/jvb.conf"),
            "/etc/jitsi/videobridge/sip-communicator.properties");
  EXPECT_EQ(jvb::config::legacyPropertiesPath("jvb.conf"), "./sip-communicator.properties");
  EXPECT_EQ(jvb::config::legacyPropertiesPath("/jvb.conf"), "/sip-communicator.properties");
}

TEST(LegacyProperties, NatHarvesterPairIsAStaticMappingFirst) {
  BridgeConfig c;
  c.staticMappings.resize(1);
  c.staticMappings[0].localAddress = "10.0.0.9";
  c.staticMappings[0].publicAddress = "203.0.113.9";
  applyLegacyPropertiesText(c,
                            "# seed\n"
                            "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=10.0.0.5\r\n"
                            "org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS = 203.0.113.7\n"
                            "org.jitsi.videobridge.ENABLE_STATISTICS=true\n",
                            "sip-communicator.properties");
  ASSERT_EQ(c.staticMappings.size(), 2U);
  EXPECT_EQ(c.staticMappings[0].localAddress, "10.0.0.5");
  EXPECT_EQ(c.staticMappings[0].publicAddress, "203.0.113.7");
  EXPECT_FALSE(c.staticMappings[0].localPort);
  EXPECT_EQ(c.staticMappings[1].localAddress, "10.0.0.9");
  EXPECT_TRUE(c.statsEnabled);
}

TEST(LegacyProperties, HalfAPairOrEmptyValuesChangeNothing) {
  BridgeConfig c;
  applyLegacyPropertiesText(c, "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=10.0.0.5\n", "p");
  EXPECT_TRUE(c.staticMappings.empty());
  applyLegacyPropertiesText(c,
                            "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=\n"
                            "org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS=1.2.3.4\n",
                            "p");
  EXPECT_TRUE(c.staticMappings.empty());
}

TEST(LegacyProperties, StunAddressesReplaceTheConfiguredOnes) {
  BridgeConfig c;
  c.stunAddresses = {"stun.example.com:3478"};
  applyLegacyPropertiesText(c,
                            "org.ice4j.ice.harvest.STUN_MAPPING_HARVESTER_ADDRESSES: "
                            "a.example:443, \\\n   b.example:3478,\n",
                            "p");
  EXPECT_EQ(c.stunAddresses, (std::vector<std::string>{"a.example:443", "b.example:3478"}));
}

TEST(LegacyProperties, GarbageIsIgnored) {
  BridgeConfig c;
  const BridgeConfig before = c;
  applyLegacyPropertiesText(c, "\\\n===\n:\n!comment\n  \n\x01\x02 junk\nno-value\n", "p");
  EXPECT_TRUE(c.staticMappings.empty());
  EXPECT_TRUE(c.stunAddresses.empty());
  EXPECT_EQ(c.iceUdpPort, before.iceUdpPort);
}

TEST(LegacyProperties, MissingFileIsNoError) {
  BridgeConfig c;
  EXPECT_FALSE(jvb::config::applyLegacyProperties(c, "/nonexistent/sip-communicator.properties"));
}

}  // namespace
