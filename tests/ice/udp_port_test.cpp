#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "alloc_counter.hpp"
#include "ice/udp_port.hpp"

// Counts getsockname(2) calls made anywhere in this test binary (the
// executable's definition interposes libc's, which it forwards to), so that
// sendTo() can be checked not to query the socket per call without strace.
namespace {
std::atomic<int> gGetsocknameCalls{0};
}  // namespace

extern "C" int getsockname(int fd, sockaddr* __restrict addr, socklen_t* __restrict len) noexcept {
  using Fn = int (*)(int, sockaddr*, socklen_t*);
  static const auto real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getsockname"));
  gGetsocknameCalls.fetch_add(1, std::memory_order_relaxed);
  return real(fd, addr, len);
}

namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using jvb::ice::UdpPort;

static_assert(
    std::is_same_v<UdpPort::Handler, std::function<void(std::span<uint8_t>, const udp::endpoint&)>>,
    "the handler gets a mutable view, so that it may decrypt in place");

// Runs `io` until `done()` or about two seconds have passed.
template <typename Done>
void runUntil(asio::io_context& io, Done done) {
  for (int i = 0; i < 200 && !done(); ++i) {
    io.run_for(std::chrono::milliseconds(10));
  }
}

bool hostHasIpv6Loopback() {
  asio::io_context io;
  udp::socket s(io);
  boost::system::error_code ec;
  s.open(udp::v6(), ec);
  if (!ec) {
    s.bind(udp::endpoint(asio::ip::make_address("::1"), 0), ec);
  }
  return !ec;
}

// Small datagrams occupy well under 1 KiB of receive buffer each on Linux
// (832 bytes of skb truesize on a 6.x kernel); a burst test needs its whole
// burst queued at once, or the kernel drops the excess silently.
bool receiveBufferHolds(UdpPort& port, const udp::endpoint& to, size_t datagrams) {
  int size = 0;
  socklen_t len = sizeof(size);
  if (::getsockopt(port.nativeHandleFor(to), SOL_SOCKET, SO_RCVBUF, &size, &len) != 0) {
    return false;
  }
  return static_cast<size_t>(size) >= datagrams * 1024;
}

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(UdpPort, ReceivesDatagramsWithTheirSource) {
  asio::io_context io;
  std::vector<std::string> got;
  udp::endpoint lastFrom;
  UdpPort port(io, "127.0.0.1", 0, [&](std::span<uint8_t> d, const udp::endpoint& from) {
    got.emplace_back(d.begin(), d.end());
    lastFrom = from;
  });
  port.start();
  ASSERT_NE(port.port(), 0);

  udp::socket client(io, udp::endpoint(udp::v4(), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), port.port());
  client.send_to(asio::buffer(std::string("hello")), to);
  client.send_to(asio::buffer(std::string("world!")), to);

  runUntil(io, [&] { return got.size() >= 2; });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "hello");
  EXPECT_EQ(got[1], "world!");
  EXPECT_EQ(lastFrom.port(), client.local_endpoint().port());
  EXPECT_EQ(lastFrom.address(), asio::ip::make_address("127.0.0.1"));

  // And back: sendTo reaches the source.
  EXPECT_TRUE(port.sendTo(bytes("pong"), client.local_endpoint()));
  std::array<char, 16> buf{};
  udp::endpoint src;
  const size_t n = client.receive_from(asio::buffer(buf), src);
  EXPECT_EQ(std::string(buf.data(), n), "pong");
  EXPECT_EQ(src.port(), port.port());
}

TEST(UdpPort, QueueDelayIsTheTimeSinceTheKernelReceivedTheDatagram) {
  asio::io_context io;
  std::vector<std::chrono::nanoseconds> waited;
  UdpPort* self = nullptr;
  UdpPort port(io, "127.0.0.1", 0, [&](std::span<uint8_t>, const udp::endpoint&) {
    waited.push_back(self->queueDelay());
  });
  self = &port;
  port.start();
  udp::socket client(io, udp::endpoint(udp::v4(), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), port.port());
  // Queued while nobody reads: the first waits at least the sleep.
  client.send_to(asio::buffer(std::string("old")), to);
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  runUntil(io, [&] { return waited.size() >= 1; });
  ASSERT_EQ(waited.size(), 1u);
  EXPECT_GE(waited[0], std::chrono::milliseconds(80));
  EXPECT_LT(waited[0], std::chrono::seconds(60));  // a stamp, not garbage
  // Read as soon as it lands: less than the one that waited (the sleep is
  // not repeated), and never negative.
  client.send_to(asio::buffer(std::string("new")), to);
  runUntil(io, [&] { return waited.size() >= 2; });
  ASSERT_EQ(waited.size(), 2u);
  EXPECT_GE(waited[1].count(), 0);
  EXPECT_LT(waited[1], waited[0]);
}

TEST(UdpPort, BindConflictNamesAddressAndPort) {
  asio::io_context io;
  UdpPort first(io, "127.0.0.1", 0, [](auto, const auto&) {});
  first.start();
  UdpPort second(io, "127.0.0.1", first.port(), [](auto, const auto&) {});
  try {
    second.start();
    FAIL() << "second bind on the same port succeeded";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("udp 127.0.0.1:" + std::to_string(first.port())),
              std::string::npos)
        << e.what();
  }
}

TEST(UdpPort, RejectsABindAddressThatIsNotAnAddress) {
  asio::io_context io;
  UdpPort port(io, "not-an-ip", 0, [](auto, const auto&) {});
  EXPECT_THROW(port.start(), std::system_error);
  EXPECT_FALSE(port.isOpen());
}

TEST(UdpPort, WildcardListensOnBothFamiliesOnOnePort) {
  asio::io_context io;
  int received = 0;
  UdpPort port(io, "0.0.0.0", 0, [&](auto, const auto&) { ++received; });
  port.start();
  const auto eps = port.localEndpoints();
  ASSERT_GE(eps.size(), 1u);
  for (const auto& ep : eps) {
    EXPECT_EQ(ep.port(), port.port());
  }
  udp::socket v4(io, udp::endpoint(udp::v4(), 0));
  v4.send_to(asio::buffer(std::string("x")),
             udp::endpoint(asio::ip::make_address("127.0.0.1"), port.port()));
  int expected = 1;
  if (eps.size() == 2) {
    udp::socket v6(io, udp::endpoint(udp::v6(), 0));
    v6.send_to(asio::buffer(std::string("y")),
               udp::endpoint(asio::ip::make_address("::1"), port.port()));
    expected = 2;
  }
  runUntil(io, [&] { return received >= expected; });
  EXPECT_EQ(received, expected);
}

// Several senders (of both families where the host has IPv6 loopback) send
// one interleaved burst before the port gets to run, larger than one
// recvmmsg batch and than one wakeup's bound: every datagram arrives, in
// order per sender, with its sender's address and its own length.
class UdpPortBurst : public testing::TestWithParam<const char*> {};

TEST_P(UdpPortBurst, ArrivesInOrderPerSenderWithTheSourceAddress) {
  const bool v6 = hostHasIpv6Loopback();
  asio::io_context io;
  struct Got {
    std::vector<uint32_t> seqs;
    std::vector<udp::endpoint> from;
  };
  std::map<uint8_t, Got> got;  // by sender index (the first payload byte)
  size_t received = 0;
  bool badLength = false;
  UdpPort port(io, GetParam(), 0, [&](std::span<uint8_t> d, const udp::endpoint& from) {
    ++received;
    if (d.size() < 5) {
      badLength = true;
      return;
    }
    uint32_t seq = 0;
    std::memcpy(&seq, d.data() + 1, sizeof(seq));
    badLength = badLength || d.size() != 5 + seq % 64;
    got[d[0]].seqs.push_back(seq);
    got[d[0]].from.push_back(from);
  });
  port.start();

  const udp::endpoint to4(asio::ip::make_address("127.0.0.1"), port.port());
  const udp::endpoint to6(asio::ip::make_address("::1"), port.port());
  std::vector<std::unique_ptr<udp::socket>> senders;
  std::vector<udp::endpoint> targets;
  for (int i = 0; i < 3; ++i) {
    senders.push_back(std::make_unique<udp::socket>(io, udp::endpoint(to4.address(), 0)));
    targets.push_back(to4);
  }
  if (v6 && port.localEndpoints().size() == 2) {
    for (int i = 0; i < 3; ++i) {
      senders.push_back(std::make_unique<udp::socket>(io, udp::endpoint(to6.address(), 0)));
      targets.push_back(to6);
    }
  }
  constexpr uint32_t kPerSender = 120;  // 360 per socket: over one wakeup's 8 x 32
  if (!receiveBufferHolds(port, to4, 3 * kPerSender)) {
    GTEST_SKIP() << "socket receive buffer too small to queue the whole burst";
  }

  std::array<uint8_t, 5 + 64> payload{};
  for (uint32_t seq = 0; seq < kPerSender; ++seq) {
    for (size_t i = 0; i < senders.size(); ++i) {
      payload[0] = static_cast<uint8_t>(i);
      std::memcpy(payload.data() + 1, &seq, sizeof(seq));
      senders[i]->send_to(asio::buffer(payload.data(), 5 + seq % 64), targets[i]);
    }
  }
  const size_t total = senders.size() * kPerSender;
  runUntil(io, [&] { return received >= total; });

  EXPECT_EQ(received, total);
  EXPECT_FALSE(badLength);
  ASSERT_EQ(got.size(), senders.size());
  for (size_t i = 0; i < senders.size(); ++i) {
    const Got& g = got[static_cast<uint8_t>(i)];
    ASSERT_EQ(g.seqs.size(), kPerSender) << "sender " << i;
    for (uint32_t seq = 0; seq < kPerSender; ++seq) {
      EXPECT_EQ(g.seqs[seq], seq) << "sender " << i;
    }
    const udp::endpoint self = senders[i]->local_endpoint();
    EXPECT_TRUE(std::all_of(g.from.begin(), g.from.end(),
                            [&](const udp::endpoint& f) { return f == self; }))
        << "sender " << i << " at " << self;
  }
}

INSTANTIATE_TEST_SUITE_P(BindAddresses, UdpPortBurst,
                         testing::Values("127.0.0.1", "0.0.0.0", "::"));

TEST(UdpPort, ReceivesFromIpv6WhenBoundToAnIpv6Address) {
  if (!hostHasIpv6Loopback()) {
    GTEST_SKIP() << "no IPv6 loopback";
  }
  asio::io_context io;
  std::vector<std::pair<std::string, udp::endpoint>> got;
  UdpPort port(io, "::1", 0, [&](std::span<uint8_t> d, const udp::endpoint& from) {
    got.emplace_back(std::string(d.begin(), d.end()), from);
  });
  port.start();
  ASSERT_EQ(port.localEndpoints().size(), 1u);
  udp::socket client(io, udp::endpoint(asio::ip::make_address("::1"), 0));
  const udp::endpoint to(asio::ip::make_address("::1"), port.port());
  client.send_to(asio::buffer(std::string("six")), to);
  runUntil(io, [&] { return !got.empty(); });
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, "six");
  EXPECT_EQ(got[0].second, client.local_endpoint());
  EXPECT_TRUE(got[0].second.address().is_v6());
}

// The view is into the port's own buffer: the handler may rewrite it in
// place (and send the result), and the next datagrams, received into the
// same buffers, are unaffected.
TEST(UdpPort, HandlerMayModifyTheDatagramInPlace) {
  asio::io_context io;
  size_t received = 0;
  bool intact = true;
  UdpPort* self = nullptr;
  UdpPort port(io, "127.0.0.1", 0, [&](std::span<uint8_t> d, const udp::endpoint& from) {
    const std::string expected = "datagram " + std::to_string(received++);
    intact = intact && std::string(d.begin(), d.end()) == expected;
    std::transform(d.begin(), d.end(), d.begin(), [](uint8_t c) {
      return static_cast<uint8_t>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    });
    self->sendTo(d, from);
  });
  self = &port;
  port.start();

  udp::socket client(io, udp::endpoint(udp::v4(), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), port.port());
  constexpr size_t kCount = 2 * UdpPort::kBatchSize + 5;
  for (size_t i = 0; i < kCount; ++i) {
    client.send_to(asio::buffer("datagram " + std::to_string(i)), to);
  }
  runUntil(io, [&] { return received >= kCount; });
  EXPECT_EQ(received, kCount);
  EXPECT_TRUE(intact);
  client.non_blocking(true);
  for (size_t i = 0; i < kCount; ++i) {
    std::array<char, 64> buf{};
    boost::system::error_code ec;
    const size_t n = client.receive(asio::buffer(buf), 0, ec);
    ASSERT_FALSE(ec) << "echo " << i << ": " << ec.message();
    EXPECT_EQ(std::string(buf.data(), n), "DATAGRAM " + std::to_string(i));
  }
}

// A datagram larger than kMaxDatagramSize arrives truncated (MSG_TRUNC): the
// port drops it, counts it, and goes on with the next ones.
TEST(UdpPort, DatagramLargerThanTheBufferIsDroppedAndCounted) {
  asio::io_context io;
  std::vector<size_t> sizes;
  UdpPort port(io, "127.0.0.1", 0,
               [&](std::span<uint8_t> d, const udp::endpoint&) { sizes.push_back(d.size()); });
  port.start();
  udp::socket client(io, udp::endpoint(udp::v4(), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), port.port());
  const std::vector<uint8_t> big(60000, 0x55);
  for (size_t n : {size_t{1}, UdpPort::kMaxDatagramSize, UdpPort::kMaxDatagramSize + 1, big.size(),
                   size_t{2}}) {
    client.send_to(asio::buffer(big.data(), n), to);
  }
  runUntil(io, [&] { return sizes.size() >= 3; });
  io.run_for(std::chrono::milliseconds(20));  // nothing else comes
  EXPECT_EQ(sizes, (std::vector<size_t>{1, UdpPort::kMaxDatagramSize, 2}));
  EXPECT_EQ(port.truncatedDatagrams(), 2u);
}

// One socket with more queued than one wakeup may take cannot hold the
// io_context: work posted meanwhile runs after at most kMaxBatchesPerWakeup
// batches, and the rest, still queued when the wait is re-armed, follows
// without waiting for another datagram to arrive.
TEST(UdpPort, ABusySocketYieldsAfterTheBoundAndThenDrainsTheRest) {
  asio::io_context io;
  constexpr size_t kBound = UdpPort::kBatchSize * UdpPort::kMaxBatchesPerWakeup;
  constexpr size_t kTotal = kBound + 64;
  size_t received = 0;
  size_t receivedWhenPostedRan = 0;
  UdpPort port(io, "127.0.0.1", 0, [&](std::span<uint8_t>, const udp::endpoint&) {
    if (received++ == 0) {
      asio::post(io, [&] { receivedWhenPostedRan = received; });
    }
  });
  port.start();
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), port.port());
  if (!receiveBufferHolds(port, to, kTotal)) {
    GTEST_SKIP() << "socket receive buffer too small to queue the whole burst";
  }
  udp::socket client(io, udp::endpoint(udp::v4(), 0));
  for (size_t i = 0; i < kTotal; ++i) {
    client.send_to(asio::buffer("x", 1), to);
  }
  runUntil(io, [&] { return received >= kTotal; });
  EXPECT_EQ(received, kTotal);
  EXPECT_GE(receivedWhenPostedRan, 1u);
  EXPECT_LE(receivedWhenPostedRan, kBound);
}

TEST(UdpPort, HandlerMayCloseThePort) {
  asio::io_context io;
  int received = 0;
  UdpPort* self = nullptr;
  UdpPort port(io, "127.0.0.1", 0, [&](auto, const auto&) {
    if (++received == 3) {
      self->close();
    }
  });
  self = &port;
  port.start();
  udp::socket client(io, udp::endpoint(udp::v4(), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), port.port());
  for (int i = 0; i < 10; ++i) {
    client.send_to(asio::buffer("x", 1), to);
  }
  runUntil(io, [&] { return received >= 3; });
  io.run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(received, 3);
  EXPECT_TRUE(port.localEndpoints().empty());
  EXPECT_FALSE(port.sendTo(bytes("x"), to));
}

// After warm-up, receiving (wait, recvmmsg, handler call, re-arm) allocates
// nothing.
TEST(UdpPort, ReceiveLoopAllocatesNothing) {
  asio::io_context io;
  size_t received = 0;
  size_t bytesSeen = 0;
  UdpPort port(io, "0.0.0.0", 0, [&](std::span<uint8_t> d, const udp::endpoint& from) {
    ++received;
    bytesSeen += d.size() + from.port();
  });
  port.start();
  udp::socket v4(io, udp::endpoint(udp::v4(), 0));
  const udp::endpoint to4(asio::ip::make_address("127.0.0.1"), port.port());
  const bool v6 = port.localEndpoints().size() == 2 && hostHasIpv6Loopback();
  udp::socket v6sock(io);
  const udp::endpoint to6(asio::ip::make_address("::1"), port.port());
  if (v6) {
    v6sock.open(udp::v6());
    v6sock.bind(udp::endpoint(udp::v6(), 0));
  }
  const std::array<uint8_t, 200> payload{};
  auto burst = [&](size_t count) {
    const size_t target = received + count * (v6 ? 2 : 1);
    for (size_t i = 0; i < count; ++i) {
      v4.send_to(asio::buffer(payload), to4);
      if (v6) {
        v6sock.send_to(asio::buffer(payload), to6);
      }
    }
    for (int i = 0; i < 200 && received < target; ++i) {
      io.run_for(std::chrono::milliseconds(10));
    }
    return received == target;
  };
  ASSERT_TRUE(burst(100));  // warm-up: asio's per-thread operation cache

  constexpr size_t kRounds = 40;
  constexpr size_t kPerRound = 50;
  const size_t before = received;
  jvb::test::startCountingAllocations();
  bool all = true;
  for (size_t r = 0; r < kRounds; ++r) {
    all = burst(kPerRound) && all;
  }
  const size_t allocations = jvb::test::stopCountingAllocations();
  EXPECT_TRUE(all);
  EXPECT_EQ(received - before, kRounds * kPerRound * (v6 ? 2 : 1));
  EXPECT_EQ(allocations, 0u);
  EXPECT_GT(bytesSeen, 0u);
}

// sendTo picks the socket by the family recorded at bind time: each family's
// peer gets the datagram from the port's port, a family without a socket
// gets nothing, and no call queries the socket (getsockname).
TEST(UdpPort, SendToPicksTheFamilyWithoutQueryingTheSocket) {
  asio::io_context io;
  UdpPort port(io, "0.0.0.0", 0, [](auto, const auto&) {});
  port.start();
  const bool v6 = port.localEndpoints().size() == 2 && hostHasIpv6Loopback();
  udp::socket c4(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const udp::endpoint to4 = c4.local_endpoint();
  udp::socket c6(io);
  udp::endpoint to6(asio::ip::make_address("::1"), 9);
  if (v6) {
    c6.open(udp::v6());
    c6.bind(udp::endpoint(asio::ip::make_address("::1"), 0));
    to6 = c6.local_endpoint();
  }

  UdpPort v4only(io, "127.0.0.1", 0, [](auto, const auto&) {});
  v4only.start();

  gGetsocknameCalls = 0;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(port.sendTo(bytes("four"), to4));
    if (v6) {
      ASSERT_TRUE(port.sendTo(bytes("six"), to6));
    }
  }
  const int fd4 = port.nativeHandleFor(to4);
  const int fd6 = port.nativeHandleFor(to6);
  EXPECT_FALSE(v4only.sendTo(bytes("six"), to6));
  EXPECT_EQ(v4only.nativeHandleFor(to6), -1);
  const auto eps = port.localEndpoints();
  EXPECT_EQ(gGetsocknameCalls.load(), 0);

  EXPECT_GE(fd4, 0);
  EXPECT_NE((::fcntl(fd4, F_GETFL) & O_NONBLOCK), 0) << "the fan-out's sendmmsg must not block";
  for (const auto& ep : eps) {
    EXPECT_EQ(ep.port(), port.port());
  }
  std::array<char, 16> buf{};
  udp::endpoint src;
  size_t n = c4.receive_from(asio::buffer(buf), src);
  EXPECT_EQ(std::string(buf.data(), n), "four");
  EXPECT_EQ(src, udp::endpoint(asio::ip::make_address("127.0.0.1"), port.port()));
  if (v6) {
    EXPECT_GE(fd6, 0);
    EXPECT_NE(fd6, fd4);
    n = c6.receive_from(asio::buffer(buf), src);
    EXPECT_EQ(std::string(buf.data(), n), "six");
    EXPECT_EQ(src, udp::endpoint(asio::ip::make_address("::1"), port.port()));
  } else if (eps.size() == 1) {
    EXPECT_EQ(fd6, -1);
  }
}

TEST(UdpPort, CloseStopsReceivingAndDestructionIsSafeAfterward) {
  asio::io_context io;
  int received = 0;
  auto port = std::make_unique<UdpPort>(io, "127.0.0.1", 0, [&](auto, const auto&) { ++received; });
  port->start();
  port->close();
  port.reset();
  io.run_for(std::chrono::milliseconds(20));  // aborted handlers run here
  EXPECT_EQ(received, 0);
}

}  // namespace
