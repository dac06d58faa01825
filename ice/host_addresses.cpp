#include "ice/host_addresses.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/log.hpp"

namespace jvb::ice {

namespace ip = boost::asio::ip;

bool isLinkLocal(const ip::address& a) {
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return b[0] == 169 && b[1] == 254;
  }
  return a.to_v6().is_link_local();
}

bool isPrivateAddress(const ip::address& a) {
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 100 && (b[1] & 0xC0) == 64);
  }
  const auto b = a.to_v6().to_bytes();
  return (b[0] & 0xFE) == 0xFC;
}

std::vector<HostAddress> interfaceAddresses(bool includeLoopback) {
  std::vector<HostAddress> out;
  ifaddrs* raw = nullptr;
  if (getifaddrs(&raw) != 0) {
    LOG_WARN("ice", "getifaddrs failed: {}", std::strerror(errno));
    return out;
  }
  std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> list(raw, &freeifaddrs);
  for (const ifaddrs* i = list.get(); i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_UP) == 0) {
      continue;
    }
    ip::address addr;
    if (i->ifa_addr->sa_family == AF_INET) {
      sockaddr_in sin{};
      std::memcpy(&sin, i->ifa_addr, sizeof(sin));
      addr = ip::address_v4(ntohl(sin.sin_addr.s_addr));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      sockaddr_in6 sin6{};
      std::memcpy(&sin6, i->ifa_addr, sizeof(sin6));
      ip::address_v6::bytes_type bytes{};
      std::memcpy(bytes.data(), &sin6.sin6_addr, bytes.size());
      addr = ip::address_v6(bytes);
    } else {
      continue;
    }
    if (isLinkLocal(addr)) {
      continue;
    }
    const bool loopback = addr.is_loopback() || (i->ifa_flags & IFF_LOOPBACK) != 0;
    if (loopback && !includeLoopback) {
      continue;
    }
    out.push_back(HostAddress{addr, i->ifa_name, loopback, isPrivateAddress(addr)});
  }
  return out;
}

std::vector<AdvertisedAddress> advertisedAddresses(
    const std::vector<HostAddress>& hosts, uint16_t port,
    const std::vector<config::StaticMapping>& mappings, bool advertisePrivate) {
  std::vector<AdvertisedAddress> out;
  for (const auto& h : hosts) {
    if (h.isPrivate && !advertisePrivate) {
      continue;
    }
    out.push_back(AdvertisedAddress{h.address, port, CandidateType::kHost, {}, 0});
  }
  for (const auto& m : mappings) {
    boost::system::error_code ec1, ec2;
    const auto local = ip::make_address(m.localAddress, ec1);
    const auto pub = ip::make_address(m.publicAddress, ec2);
    if (ec1 || ec2) {
      LOG_WARN("ice", "static mapping {} -> {} ignored: not IP addresses", m.localAddress,
               m.publicAddress);
      continue;
    }
    if (m.localPort && *m.localPort != port) {
      continue;
    }
    bool matches = false;
    for (const auto& h : hosts) {
      matches = matches || h.address == local;
    }
    if (!matches) {
      continue;
    }
    const auto publicPort = static_cast<uint16_t>(m.publicPort ? *m.publicPort : port);
    out.push_back(AdvertisedAddress{pub, publicPort, CandidateType::kServerReflexive, local, port});
  }
  return out;
}

}  // namespace jvb::ice

namespace jvb::ice {

std::vector<AdvertisedAddress> bridgeAddresses(const config::BridgeConfig& cfg, uint16_t port) {
  boost::system::error_code ec;
  const auto bind = ip::make_address(cfg.iceBindAddress, ec);
  std::vector<HostAddress> hosts;
  if (!ec && !bind.is_unspecified()) {
    hosts.push_back(HostAddress{bind, "", bind.is_loopback(), isPrivateAddress(bind)});
  } else {
    hosts = interfaceAddresses(false);
    if (hosts.empty()) {
      hosts = interfaceAddresses(true);
    }
  }
  auto out = advertisedAddresses(hosts, port, cfg.staticMappings, cfg.advertisePrivateCandidates);
  if (out.empty()) {
    LOG_WARN("ice", "no address to advertise for the media port (bind address {})",
             cfg.iceBindAddress);
  }
  return out;
}

}  // namespace jvb::ice
