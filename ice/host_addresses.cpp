#include "ice/host_addresses.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <boost/asio/io_context.hpp>
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
    const std::vector<config::StaticMapping>& mappings, bool advertisePrivate, bool quiet) {
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
      if (!quiet) {
        LOG_WARN("ice", "static mapping {} -> {} ignored: not IP addresses", m.localAddress,
                 m.publicAddress);
      }
      continue;
    }
    if (m.localPort && *m.localPort != port) {
      if (!quiet) {
        LOG_WARN("ice",
                 "static mapping {}:{} -> {} ignored: its local-port is not the media port {}",
                 m.localAddress, *m.localPort, m.publicAddress, port);
      }
      continue;
    }
    bool matches = false;
    for (const auto& h : hosts) {
      matches = matches || h.address == local;
    }
    if (!matches) {
      if (!quiet) {
        std::string known;
        for (const auto& h : hosts) {
          known += known.empty() ? "" : ", ";
          known += h.address.to_string();
        }
        LOG_WARN("ice",
                 "static mapping {} -> {} matches no local address ({}): no srflx candidate for it",
                 m.localAddress, m.publicAddress, known.empty() ? "none" : known);
      }
      continue;
    }
    const auto publicPort = static_cast<uint16_t>(m.publicPort ? *m.publicPort : port);
    out.push_back(AdvertisedAddress{pub, publicPort, CandidateType::kServerReflexive, local, port});
  }
  return out;
}

}  // namespace jvb::ice

namespace jvb::ice {

void appendDiscovered(std::vector<AdvertisedAddress>& out, const std::vector<HostAddress>& hosts,
                      uint16_t port, const std::vector<DiscoveredMapping>& discovered) {
  for (const auto& d : discovered) {
    const ip::address mapped = d.mapped.address();
    if (mapped == d.local) {
      continue;  // no NAT between the bridge and that server
    }
    bool hostMatches = false;
    for (const auto& h : hosts) {
      hostMatches = hostMatches || h.address == d.local;
    }
    if (!hostMatches) {
      continue;
    }
    bool duplicate = false;
    for (const auto& a : out) {
      duplicate = duplicate || (a.type == CandidateType::kServerReflexive && a.address == mapped &&
                                a.relatedAddress == d.local);
    }
    if (duplicate) {
      continue;
    }
    out.push_back(
        AdvertisedAddress{mapped, d.mapped.port(), CandidateType::kServerReflexive, d.local, port});
  }
}

std::optional<ip::address> localAddressToward(const ip::udp::endpoint& to) {
  boost::asio::io_context io;
  ip::udp::socket s(io);
  boost::system::error_code ec;
  s.open(to.protocol(), ec);
  if (ec) {
    return std::nullopt;
  }
  s.connect(to, ec);  // UDP: picks the route and source address, sends nothing
  if (ec) {
    return std::nullopt;
  }
  const auto local = s.local_endpoint(ec);
  if (ec) {
    return std::nullopt;
  }
  return local.address();
}

std::vector<AdvertisedAddress> bridgeAddresses(const config::BridgeConfig& cfg, uint16_t port,
                                               const std::vector<DiscoveredMapping>& discovered,
                                               bool quiet) {
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
  auto out =
      advertisedAddresses(hosts, port, cfg.staticMappings, cfg.advertisePrivateCandidates, quiet);
  appendDiscovered(out, hosts, port, discovered);
  if (out.empty() && !quiet) {
    LOG_WARN("ice", "no address to advertise for the media port (bind address {})",
             cfg.iceBindAddress);
  }
  return out;
}

}  // namespace jvb::ice
