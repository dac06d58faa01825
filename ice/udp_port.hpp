#pragma once
// The bridge's single UDP media port (JVB: videobridge.ice.udp.port, 10000),
// shared by every endpoint so that operators keep one firewall rule.
//
// Threading: all methods, and the receive handler, run on the media thread
// that runs the io_context given at construction. Nothing here is
// thread-safe; nothing is locked.
//
// With a wildcard bind address ("0.0.0.0" or "::") the port listens on IPv4
// and, where the host has IPv6, on IPv6 too (a v6-only socket beside the v4
// one, as JVB's single-port harvester listens on both families).
//
// Receiving: each socket waits for readability (async_wait), then drains its
// queue with recvmmsg(2), kBatchSize datagrams per call into buffers owned by
// the port, and hands each one to the handler. After kMaxBatchesPerWakeup
// full batches it re-arms the wait instead of draining further, so other
// handlers queued on the io_context (timers, the other socket, posted work)
// run between two bursts of one busy socket.
#include <sys/socket.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <chrono>
#include <cstddef>
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
  // Called once per datagram with a mutable view into the port's receive
  // buffer and the source address, both valid only during the call: the
  // handler may modify the bytes in place (e.g. decrypt SRTP there) but must
  // copy whatever it keeps. It may call sendTo() and close(); it must not
  // destroy the port. Stored once at construction; receiving allocates
  // nothing per packet.
  using Handler = std::function<void(std::span<uint8_t> datagram, const Endpoint& from)>;

  // Datagrams per recvmmsg call, and full batches drained per wakeup before
  // yielding to the io_context.
  static constexpr size_t kBatchSize = 32;
  static constexpr size_t kMaxBatchesPerWakeup = 8;
  // Receive buffer per datagram: any datagram that fits a 1500-byte MTU, with
  // room for SRTP trailers. A larger datagram is truncated by the kernel
  // (MSG_TRUNC); the port drops it without calling the handler and counts it
  // in truncatedDatagrams().
  static constexpr size_t kMaxDatagramSize = 2048;

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
  // The bound address of each open socket (as recorded at bind time).
  [[nodiscard]] std::vector<Endpoint> localEndpoints() const;
  [[nodiscard]] bool isOpen() const { return !sockets_.empty(); }
  // Datagrams larger than kMaxDatagramSize, dropped since start().
  [[nodiscard]] uint64_t truncatedDatagrams() const { return truncated_; }
  // During the handler: how long the datagram it was given has waited since
  // the kernel received it (its SO_TIMESTAMPNS stamp to the moment the
  // handler is called), so the time it spent in the socket's receive queue
  // and behind the datagrams of its batch. Zero where the kernel gave no stamp.
  [[nodiscard]] std::chrono::nanoseconds queueDelay() const { return queueDelay_; }

  // Sends one datagram from the socket of the destination's family (one
  // sendmsg; the family is recorded at bind time, not queried per call).
  // Returns false (and counts nothing) when no socket of that family exists
  // or the kernel refused the datagram.
  bool sendTo(std::span<const uint8_t> datagram, const Endpoint& to);
  // The socket of `to`'s address family (for batched sendmmsg), or -1. The
  // descriptor is in non-blocking mode.
  [[nodiscard]] int nativeHandleFor(const Endpoint& to);

 private:
  struct Socket;
  void waitReadable(Socket& s);
  void drain(Socket& s);
  static std::chrono::nanoseconds waited(const msghdr& h);

  boost::asio::io_context& io_;
  std::string bindAddress_;
  uint16_t requestedPort_;
  uint16_t boundPort_ = 0;
  uint64_t truncated_ = 0;
  std::chrono::nanoseconds queueDelay_{0};
  Handler handler_;
  std::vector<std::unique_ptr<Socket>> sockets_;
};

}  // namespace jvb::ice
