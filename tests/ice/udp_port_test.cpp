#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "ice/udp_port.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using jvb::ice::UdpPort;

TEST(UdpPort, ReceivesDatagramsWithTheirSource) {
  asio::io_context io;
  std::vector<std::string> got;
  udp::endpoint lastFrom;
  UdpPort port(io, "127.0.0.1", 0, [&](std::span<const uint8_t> d, const udp::endpoint& from) {
    got.emplace_back(d.begin(), d.end());
    lastFrom = from;
  });
  port.start();
  ASSERT_NE(port.port(), 0);

  udp::socket client(io, udp::endpoint(udp::v4(), 0));
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), port.port());
  client.send_to(asio::buffer(std::string("hello")), to);
  client.send_to(asio::buffer(std::string("world!")), to);

  for (int i = 0; i < 200 && got.size() < 2; ++i) {
    io.run_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "hello");
  EXPECT_EQ(got[1], "world!");
  EXPECT_EQ(lastFrom.port(), client.local_endpoint().port());
  EXPECT_EQ(lastFrom.address(), asio::ip::make_address("127.0.0.1"));

  // And back: sendTo reaches the source.
  const std::string reply = "pong";
  EXPECT_TRUE(port.sendTo({reinterpret_cast<const uint8_t*>(reply.data()), reply.size()},
                          client.local_endpoint()));
  std::array<char, 16> buf{};
  udp::endpoint src;
  const size_t n = client.receive_from(asio::buffer(buf), src);
  EXPECT_EQ(std::string(buf.data(), n), "pong");
  EXPECT_EQ(src.port(), port.port());
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
  for (int i = 0; i < 200 && received < expected; ++i) {
    io.run_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(received, expected);
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
