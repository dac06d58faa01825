#include "app/public_address.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "common/log.hpp"
#include "ice/stun_mapping.hpp"

namespace jvb::app {

namespace ip = boost::asio::ip;

namespace {

std::string endpointText(const ip::udp::endpoint& e) {
  return e.address().is_v6() ? fmt::format("[{}]:{}", e.address().to_string(), e.port())
                             : fmt::format("{}:{}", e.address().to_string(), e.port());
}

}  // namespace

std::vector<StunServer> resolveStunServers(const std::vector<std::string>& entries,
                                           const std::string& bindAddress) {
  std::vector<StunServer> out;
  boost::system::error_code ec;
  const auto bind = ip::make_address(bindAddress, ec);
  const bool specific = !ec && !bind.is_unspecified();
  boost::asio::io_context io;
  ip::udp::resolver resolver(io);
  for (const auto& entry : entries) {
    std::string error;
    const auto name = ice::parseStunServer(entry, error);
    if (!name) {
      LOG_ERROR("ice", "ice4j.harvest.mapping.stun.addresses: \"{}\" skipped: {}", entry, error);
      continue;
    }
    const auto results = resolver.resolve(name->host, std::to_string(name->port), ec);
    if (ec || results.empty()) {
      LOG_ERROR("ice", "STUN server {} skipped: cannot resolve {}: {}", entry, name->host,
                ec ? ec.message() : std::string("no address"));
      continue;
    }
    std::optional<ip::udp::endpoint> chosen;
    for (const auto& r : results) {
      const auto e = r.endpoint();
      if (specific && e.address().is_v4() != bind.is_v4()) {
        continue;  // the media port has no socket of that family
      }
      if (!chosen || (e.address().is_v4() && !chosen->address().is_v4())) {
        chosen = e;
      }
    }
    if (!chosen) {
      LOG_ERROR("ice", "STUN server {} skipped: no address of the media port's family ({})", entry,
                bindAddress);
      continue;
    }
    std::optional<ip::address> local;
    if (specific) {
      local = bind;
    } else {
      local = ice::localAddressToward(*chosen);
    }
    if (!local) {
      LOG_ERROR("ice", "STUN server {} skipped: no route to {}", entry, endpointText(*chosen));
      continue;
    }
    LOG_INFO("ice", "STUN server {} at {}: Binding requests from the media port (local {})", entry,
             endpointText(*chosen), local->to_string());
    out.push_back(StunServer{entry, *chosen, *local});
  }
  return out;
}

StunMappings::StunMappings(std::vector<StunServer> servers)
    : servers_(std::move(servers)), state_(servers_.size()) {}

std::vector<ip::udp::endpoint> StunMappings::addresses() const {
  std::vector<ip::udp::endpoint> out;
  for (const auto& s : servers_) {
    out.push_back(s.address);
  }
  return out;
}

bool StunMappings::update(const media::StunMappingResult& result) {
  for (size_t i = 0; i < servers_.size(); ++i) {
    const auto& server = servers_[i];
    if (server.address != result.server) {
      continue;
    }
    auto& st = state_[i];
    if (!result.mapped) {
      if (!st.warned) {
        st.warned = true;
        const std::string why = result.errorCode != 0
                                    ? fmt::format("error response {}", result.errorCode)
                                    : std::string("no answer");
        if (st.mapped) {
          LOG_WARN("ice", "STUN server {} ({}): {}; keeping public address {}", server.name,
                   endpointText(server.address), why, endpointText(*st.mapped));
        } else {
          LOG_WARN("ice", "STUN server {} ({}): {}; no public address from it yet (retrying)",
                   server.name, endpointText(server.address), why);
        }
      }
      return false;
    }
    st.warned = false;
    if (st.mapped == result.mapped) {
      return false;
    }
    if (result.mapped->address() == server.local) {
      LOG_INFO("ice", "STUN server {} sees the media port as {}: no NAT, no srflx candidate",
               server.name, endpointText(*result.mapped));
    } else if (st.mapped) {
      LOG_WARN("ice", "public address changed: {} (was {}) from STUN server {}, local {}",
               endpointText(*result.mapped), endpointText(*st.mapped), server.name,
               server.local.to_string());
    } else {
      LOG_INFO("ice", "public address {} from STUN server {} (local {})",
               endpointText(*result.mapped), server.name, server.local.to_string());
    }
    st.mapped = result.mapped;
    return true;
  }
  return false;
}

std::vector<ice::DiscoveredMapping> StunMappings::discovered() const {
  std::vector<ice::DiscoveredMapping> out;
  for (size_t i = 0; i < servers_.size(); ++i) {
    if (state_[i].mapped) {
      out.push_back(ice::DiscoveredMapping{servers_[i].local, *state_[i].mapped});
    }
  }
  return out;
}

}  // namespace jvb::app
