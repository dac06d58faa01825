#pragma once
// The addresses the bridge advertises as ICE candidates on its single UDP
// port: the host's interface addresses, plus the public address of every
// static NAT mapping (ice4j.harvest.mapping.static-mappings) whose local
// address is one of them, as JVB's mapping harvesters do.
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <optional>
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
// A static mapping whose local address matches no host address is skipped
// (and logged unless `quiet`).
std::vector<AdvertisedAddress> advertisedAddresses(
    const std::vector<HostAddress>& hosts, uint16_t port,
    const std::vector<config::StaticMapping>& mappings, bool advertisePrivate, bool quiet = false);

// A public address learned from a STUN server (ice/stun_mapping.hpp): the
// local address the request left from (the face) and the address the server
// saw (the mask).
struct DiscoveredMapping {
  boost::asio::ip::address local;
  boost::asio::ip::udp::endpoint mapped;
};

// Appends one srflx candidate per discovered mapping to `out`, with ice4j's
// rules (MappingCandidateHarvesters.maybeAdd, MappingCandidateHarvester.
// harvest): none when the mapped address is the local one (no NAT) or when a
// mapping with the same local and public addresses is already there (a
// static one, or another server's), and only for a local address among
// `hosts`. The candidate has the mapped port: the request left the media
// port itself (ice4j keeps the host port, its request used another socket).
void appendDiscovered(std::vector<AdvertisedAddress>& out, const std::vector<HostAddress>& hosts,
                      uint16_t port, const std::vector<DiscoveredMapping>& discovered);

// The local address the kernel picks to reach `to` (a connected UDP socket;
// nothing is sent); nullopt when there is no route.
std::optional<boost::asio::ip::address> localAddressToward(
    const boost::asio::ip::udp::endpoint& to);

}  // namespace jvb::ice

namespace jvb::ice {

// What the bridge advertises for its media port under `cfg`: with a specific
// videobridge.ice.udp.bind-address, that address only; with a wildcard, every
// interface address except loopback (loopback only when the host has nothing
// else, e.g. a test namespace); then the static mappings.
// `discovered`: the STUN mappings known now (appendDiscovered); `quiet`
// leaves out the warnings (every rebuild after the first).
std::vector<AdvertisedAddress> bridgeAddresses(
    const config::BridgeConfig& cfg, uint16_t port,
    const std::vector<DiscoveredMapping>& discovered = {}, bool quiet = false);

}  // namespace jvb::ice
