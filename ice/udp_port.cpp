#include "ice/udp_port.hpp"

#include <boost/asio/ip/address.hpp>
#include <system_error>

#include "common/log.hpp"

namespace jvb::ice {

namespace asio = boost::asio;
using asio::ip::udp;

// One socket and its receive buffer. 2 KiB covers any datagram that fits a
// 1500-byte MTU, with room for SRTP trailers; larger ones are truncated by
// the kernel and then fail to parse, which is the right outcome.
struct UdpPort::Socket {
  explicit Socket(asio::io_context& io) : socket(io) {}
  udp::socket socket;
  std::array<uint8_t, 2048> buffer{};
  udp::endpoint from;
};

UdpPort::UdpPort(asio::io_context& io, std::string bindAddress, uint16_t port, Handler handler)
    : io_(io),
      bindAddress_(std::move(bindAddress)),
      requestedPort_(port),
      handler_(std::move(handler)) {}

UdpPort::~UdpPort() {
  close();
}

namespace {

std::system_error bindError(const boost::system::error_code& ec, const std::string& addr,
                            uint16_t port) {
  return std::system_error(ec.value(), std::system_category(),
                           "udp " + addr + ":" + std::to_string(port));
}

}  // namespace

void UdpPort::start() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(bindAddress_, ec);
  if (ec) {
    throw std::system_error(EINVAL, std::system_category(),
                            "udp bind address \"" + bindAddress_ + "\" is not an IP address");
  }
  const bool wildcard = address.is_unspecified();

  auto open = [&](const udp::endpoint& ep, bool v6only) -> std::unique_ptr<Socket> {
    auto s = std::make_unique<Socket>(io_);
    boost::system::error_code e;
    s->socket.open(ep.protocol(), e);
    if (!e && ep.address().is_v6()) {
      s->socket.set_option(asio::ip::v6_only(v6only), e);
    }
    if (!e) {
      s->socket.bind(ep, e);
    }
    if (e) {
      throw bindError(e, ep.address().to_string(), ep.port());
    }
    // Room for bursts from hundreds of endpoints between two loop turns.
    s->socket.set_option(asio::socket_base::receive_buffer_size(4 << 20), e);
    s->socket.set_option(asio::socket_base::send_buffer_size(4 << 20), e);
    return s;
  };

  sockets_.push_back(open(udp::endpoint(address, requestedPort_), address.is_v6() && wildcard));
  boundPort_ = sockets_.front()->socket.local_endpoint().port();
  if (wildcard) {
    // The other family on the same port; a host without IPv6 (or IPv4) only
    // gets a warning, since the first family already serves.
    const auto other = address.is_v4() ? asio::ip::address(asio::ip::address_v6::any())
                                       : asio::ip::address(asio::ip::address_v4::any());
    try {
      sockets_.push_back(open(udp::endpoint(other, boundPort_), other.is_v6()));
    } catch (const std::system_error& e) {
      LOG_WARN("ice", "second address family not available: {}", e.what());
    }
  }
  for (auto& s : sockets_) {
    const auto ep = s->socket.local_endpoint();
    LOG_INFO("ice", "media port listening on udp {}",
             ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                                  : fmt::format("{}:{}", ep.address().to_string(), ep.port()));
    receiveNext(*s);
  }
}

void UdpPort::receiveNext(Socket& s) {
  s.socket.async_receive_from(asio::buffer(s.buffer), s.from,
                              [this, &s](const boost::system::error_code& ec, size_t n) {
                                if (ec == asio::error::operation_aborted || !s.socket.is_open()) {
                                  return;
                                }
                                if (!ec) {
                                  handler_(std::span<const uint8_t>(s.buffer.data(), n), s.from);
                                }
                                // ICMP errors (e.g. connection refused for an earlier send)
                                // surface here on Linux; they must not stop the port.
                                receiveNext(s);
                              });
}

bool UdpPort::sendTo(std::span<const uint8_t> datagram, const Endpoint& to) {
  for (auto& s : sockets_) {
    if (s->socket.local_endpoint().protocol() == to.protocol()) {
      boost::system::error_code ec;
      s->socket.send_to(asio::buffer(datagram.data(), datagram.size()), to, 0, ec);
      return !ec;
    }
  }
  return false;
}

int UdpPort::nativeHandleFor(const Endpoint& to) {
  for (auto& s : sockets_) {
    if (s->socket.local_endpoint().protocol() == to.protocol()) {
      return s->socket.native_handle();
    }
  }
  return -1;
}

std::vector<UdpPort::Endpoint> UdpPort::localEndpoints() const {
  std::vector<Endpoint> out;
  for (const auto& s : sockets_) {
    boost::system::error_code ec;
    auto ep = s->socket.local_endpoint(ec);
    if (!ec) {
      out.push_back(ep);
    }
  }
  return out;
}

void UdpPort::close() {
  for (auto& s : sockets_) {
    boost::system::error_code ec;
    s->socket.close(ec);
  }
  // NOTE: a pending receive completes with operation_aborted and returns
  // before touching its Socket, so destroying the port afterwards is safe
  // whether or not the io_context runs again.
}

}  // namespace jvb::ice
