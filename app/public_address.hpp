#pragma once
// The bridge's public address learned through STUN
// (ice4j.harvest.mapping.stun.addresses), on the control thread: the
// servers resolved at start-up, and what each one last answered. The
// requests themselves go out of the media port from the media thread
// (media::cmd::SetStunServers); each round's outcome comes back as a
// media event and lands in StunMappings::update().
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ice/host_addresses.hpp"
#include "media/media_events.hpp"

namespace jvb::app {

struct StunServer {
  std::string name;                        // as configured, "host:port"
  boost::asio::ip::udp::endpoint address;  // resolved at start-up
  boost::asio::ip::address local;          // the media port's address toward it
};

// Parses and resolves each entry (blocking DNS, once, before the bridge is
// ready: ice4j also resolves and waits for its STUN harvesters at start-up).
// IPv4 is preferred, as ice4j (which uses no IPv6 for STUN). An entry that
// does not parse, does not resolve, has no route, or is of a family the
// media port is not bound to (`bindAddress`) is logged and skipped.
std::vector<StunServer> resolveStunServers(const std::vector<std::string>& entries,
                                           const std::string& bindAddress);

class StunMappings {
 public:
  explicit StunMappings(std::vector<StunServer> servers);

  [[nodiscard]] const std::vector<StunServer>& servers() const { return servers_; }
  [[nodiscard]] std::vector<boost::asio::ip::udp::endpoint> addresses() const;

  // One round's outcome; true when the discovered mappings changed. A
  // server that stops answering keeps its last mapping (the NAT has not
  // necessarily changed; ice4j never drops one either), logged once.
  bool update(const media::StunMappingResult& result);

  // What the servers answered, for ice::bridgeAddresses().
  [[nodiscard]] std::vector<ice::DiscoveredMapping> discovered() const;

 private:
  struct State {
    std::optional<boost::asio::ip::udp::endpoint> mapped;
    bool warned = false;  // the failure of the current outage was logged
  };
  std::vector<StunServer> servers_;
  std::vector<State> state_;
};

}  // namespace jvb::app
