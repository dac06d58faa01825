#pragma once
// The bridge's single UDP media port (JVB: videobridge.ice.udp.port, 10000),
// shared by every endpoint so that operators keep one firewall rule.
//
// Threading: all methods, and the receive handler, run on the media thread
// that runs the io_context given at construction.
//
// With a wildcard bind address ("0.0.0.0" or "::") the port listens on IPv4
// and, where the host has IPv6, on IPv6 too (a v6-only socket beside the v4
// one, as JVB's single-port harvester listens on both families).
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace jvb::ice {

class UdpPort {
 public:
  using Endpoint = boost::asio::ip::udp::endpoint;
  // Called once per datagram with a view valid only during the call. Stored
  // once at construction, so receiving allocates nothing per packet.
  using Handler = std::function<void(std::span<const uint8_t> datagram, const Endpoint& from)>;

  UdpPort(boost::asio::io_context& io, std::string bindAddress, uint16_t port, Handler handler);
  ~UdpPort();
  UdpPort(const UdpPort&) = delete;
  UdpPort& operator=(const UdpPort&) = delete;

  // Binds and starts receiving. Throws std::system_error whose what() names
  // the address and port ("udp 0.0.0.0:10000: Address already in use").
  void start();
  void close();

  // The bound port (useful when constructed with port 0).
  [[nodiscard]] uint16_t port() const { return boundPort_; }
  [[nodiscard]] std::vector<Endpoint> localEndpoints() const;
  [[nodiscard]] bool isOpen() const { return !sockets_.empty(); }

  // Sends one datagram from the socket of the destination's family.
  // Returns false (and counts nothing) when no socket of that family exists
  // or the kernel refused the datagram.
  bool sendTo(std::span<const uint8_t> datagram, const Endpoint& to);
  // The socket of `to`'s address family (for batched sendmmsg), or -1.
  [[nodiscard]] int nativeHandleFor(const Endpoint& to);

 private:
  struct Socket;
  void receiveNext(Socket& s);

  boost::asio::io_context& io_;
  std::string bindAddress_;
  uint16_t requestedPort_;
  uint16_t boundPort_ = 0;
  Handler handler_;
  std::vector<std::unique_ptr<Socket>> sockets_;
};

}  // namespace jvb::ice
