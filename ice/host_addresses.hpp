#pragma once
// The addresses the bridge advertises as ICE candidates on its single UDP
// port: the host's interface addresses, plus the public address of every
// static NAT mapping (ice4j.harvest.mapping.static-mappings) whose local
// address is one of them, as JVB's mapping harvesters do.
#include <boost/asio/ip/address.hpp>
#include <string>
#include <vector>

#include "config/bridge_config.hpp"

namespace jvb::ice {

struct HostAddress {
  boost::asio::ip::address address;
  std::string interfaceName;
  bool loopback = false;
  bool isPrivate = false;  // RFC 1918 / RFC 4193 (fc00::/7) / RFC 6598 (100.64/10)
};

enum class CandidateType { kHost, kServerReflexive };

struct AdvertisedAddress {
  boost::asio::ip::address address;
  uint16_t port = 0;
  CandidateType type = CandidateType::kHost;
  // For a mapped (srflx) address: the local address it maps.
  boost::asio::ip::address relatedAddress;
  uint16_t relatedPort = 0;
};

// Interface addresses that are up, without link-local ones (never used by
// JVB). Loopback addresses are included only when asked for (tests on lo).
std::vector<HostAddress> interfaceAddresses(bool includeLoopback);

[[nodiscard]] bool isPrivateAddress(const boost::asio::ip::address& a);
[[nodiscard]] bool isLinkLocal(const boost::asio::ip::address& a);

// Host candidates on `port` for `hosts` (private ones dropped when
// advertisePrivate is false), then one server-reflexive candidate for each
// static mapping whose local address matches a host address (local-port, when
// given, must equal `port`; public-port defaults to `port`).
std::vector<AdvertisedAddress> advertisedAddresses(
    const std::vector<HostAddress>& hosts, uint16_t port,
    const std::vector<config::StaticMapping>& mappings, bool advertisePrivate);

}  // namespace jvb::ice

namespace jvb::ice {

// What the bridge advertises for its media port under `cfg`: with a specific
// videobridge.ice.udp.bind-address, that address only; with a wildcard, every
// interface address except loopback (loopback only when the host has nothing
// else, e.g. a test namespace); then the static mappings.
std::vector<AdvertisedAddress> bridgeAddresses(const config::BridgeConfig& cfg, uint16_t port);

}  // namespace jvb::ice
