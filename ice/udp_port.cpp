#include "ice/udp_port.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <time.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/log.hpp"

namespace jvb::ice {

namespace asio = boost::asio;
using asio::ip::udp;

// One socket, the address family and address it was bound to (recorded once,
// so that sending never asks the kernel), and its receive batch: kBatchSize
// buffers of kMaxDatagramSize bytes, their source addresses and the
// recvmmsg headers pointing at both, and room for each datagram's receive
// timestamp (SO_TIMESTAMPNS), all set up once at construction.
struct UdpPort::Socket {
  explicit Socket(asio::io_context& io) : socket(io) {
    for (size_t i = 0; i < kBatchSize; ++i) {
      iov[i].iov_base = buffers[i].data();
      iov[i].iov_len = buffers[i].size();
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      // The kernel writes each source sockaddr straight into the Endpoint's
      // storage, as asio's own receive_from does; the Endpoint derives its
      // length from sa_family, so no conversion (and no allocation) follows.
      msgs[i].msg_hdr.msg_name = from[i].data();
      msgs[i].msg_hdr.msg_control = control[i].data();
    }
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  udp::socket socket;
  int family = AF_UNSPEC;  // AF_INET or AF_INET6
  udp::endpoint local;
  std::array<std::array<uint8_t, kMaxDatagramSize>, kBatchSize> buffers{};
  std::array<udp::endpoint, kBatchSize> from{};
  std::array<iovec, kBatchSize> iov{};
  std::array<mmsghdr, kBatchSize> msgs{};
  struct alignas(cmsghdr) Control {
    std::array<uint8_t, CMSG_SPACE(sizeof(timespec))> bytes;
    uint8_t* data() { return bytes.data(); }
  };
  std::array<Control, kBatchSize> control{};
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
    if (!e) {
      s->local = s->socket.local_endpoint(e);  // the only getsockname
    }
    if (!e) {
      // The descriptor itself non-blocking (recvmmsg until EAGAIN; the fan-out's
      // sendmmsg on nativeHandleFor()), while asio's synchronous send_to keeps
      // its blocking semantics.
      s->socket.native_non_blocking(true, e);
    }
    if (e) {
      throw bindError(e, ep.address().to_string(), ep.port());
    }
    s->family = ep.protocol().family();
    // Room for bursts from hundreds of endpoints between two loop turns.
    s->socket.set_option(asio::socket_base::receive_buffer_size(4 << 20), e);
    s->socket.set_option(asio::socket_base::send_buffer_size(4 << 20), e);
    // The kernel's arrival time of every datagram, for queueDelay().
    const int on = 1;
    if (::setsockopt(s->socket.native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0) {
      LOG_WARN("ice", "SO_TIMESTAMPNS refused ({}): receive-queue delay not measured",
               std::strerror(errno));
    }
    return s;
  };

  sockets_.push_back(open(udp::endpoint(address, requestedPort_), address.is_v6() && wildcard));
  boundPort_ = sockets_.front()->local.port();
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
    const auto& ep = s->local;
    LOG_INFO("ice", "media port listening on udp {}",
             ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                                  : fmt::format("{}:{}", ep.address().to_string(), ep.port()));
    waitReadable(*s);
  }
}

void UdpPort::waitReadable(Socket& s) {
  // asio's epoll reactor re-arms the descriptor (EPOLL_CTL_MOD) whenever a
  // wait starts, so a wait armed while datagrams are still queued completes
  // on the next poll, behind the handlers already queued on the io_context
  // (udp_port_test's ABusySocketYieldsAfterTheBoundAndThenDrainsTheRest).
  s.socket.async_wait(udp::socket::wait_read, [this, &s](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted || !s.socket.is_open()) {
      return;
    }
    drain(s);
    if (s.socket.is_open()) {
      waitReadable(s);
    }
  });
}

std::chrono::nanoseconds UdpPort::waited(const msghdr& h) {
  for (const cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&h), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS ||
        c->cmsg_len < CMSG_LEN(sizeof(timespec))) {
      continue;
    }
    timespec stamp{};
    std::memcpy(&stamp, CMSG_DATA(c), sizeof(stamp));
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);  // the stamp's clock (vDSO: no system call)
    const int64_t ns = (static_cast<int64_t>(now.tv_sec) - stamp.tv_sec) * 1'000'000'000 +
                       (now.tv_nsec - stamp.tv_nsec);
    // A step of the wall clock backwards reads as no wait; one forwards makes
    // the datagrams queued at that moment look old, once.
    return std::chrono::nanoseconds(ns > 0 ? ns : 0);
  }
  return std::chrono::nanoseconds(0);
}

void UdpPort::drain(Socket& s) {
  const int fd = s.socket.native_handle();
  for (size_t batch = 0; batch < kMaxBatchesPerWakeup; ++batch) {
    for (size_t i = 0; i < kBatchSize; ++i) {  // in/out: the kernel stores the actual lengths
      s.msgs[i].msg_hdr.msg_namelen = static_cast<socklen_t>(s.from[i].capacity());
      s.msgs[i].msg_hdr.msg_controllen = sizeof(Socket::Control);
    }
    const int n =
        ::recvmmsg(fd, s.msgs.data(), static_cast<unsigned>(kBatchSize), MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return;
      }
      // EINTR, or an error queued on the socket (e.g. ECONNREFUSED from an
      // ICMP error for an earlier send), which this call reported and
      // cleared; neither may stop the port.
      continue;
    }
    for (int i = 0; i < n; ++i) {
      const msghdr& h = s.msgs[i].msg_hdr;
      if ((h.msg_flags & MSG_TRUNC) != 0) {
        ++truncated_;  // larger than kMaxDatagramSize: never a valid packet here
        continue;
      }
      queueDelay_ = waited(h);
      handler_(std::span<uint8_t>(s.buffers[i].data(), s.msgs[i].msg_len), s.from[i]);
      if (!s.socket.is_open()) {
        return;  // the handler closed the port
      }
    }
    if (static_cast<size_t>(n) < kBatchSize) {
      // recvmmsg stops short only when the queue ran empty (or on an error,
      // which the next call reports): nothing left to drain this time.
      return;
    }
  }
  // kMaxBatchesPerWakeup full batches: the caller re-arms the wait, which
  // completes behind the other handlers that became ready meanwhile.
}

bool UdpPort::sendTo(std::span<const uint8_t> datagram, const Endpoint& to) {
  const int family = to.protocol().family();
  for (auto& s : sockets_) {
    if (s->family == family) {
      boost::system::error_code ec;
      s->socket.send_to(asio::buffer(datagram.data(), datagram.size()), to, 0, ec);
      return !ec;
    }
  }
  return false;
}

int UdpPort::nativeHandleFor(const Endpoint& to) {
  const int family = to.protocol().family();
  for (auto& s : sockets_) {
    if (s->family == family) {
      return s->socket.native_handle();  // -1 once closed
    }
  }
  return -1;
}

std::vector<UdpPort::Endpoint> UdpPort::localEndpoints() const {
  std::vector<Endpoint> out;
  for (const auto& s : sockets_) {
    if (s->socket.is_open()) {
      out.push_back(s->local);
    }
  }
  return out;
}

void UdpPort::close() {
  for (auto& s : sockets_) {
    boost::system::error_code ec;
    s->socket.close(ec);
  }
  // NOTE: a pending wait completes with operation_aborted and returns before
  // touching its Socket, so destroying the port afterwards is safe whether
  // or not the io_context runs again.
}

}  // namespace jvb::ice
