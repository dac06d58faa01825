// http::WebSocketClient (the audio export's socket): URL parsing, and the
// ways a connection attempt ends without a peer (no callback from inside
// connect(), one `closed` from the io_context, none after the handle goes).
#include "http/websocket_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>

namespace jvb::http {
namespace {

TEST(WebSocketUrl, SplitsWsAndWss) {
  WebSocketUrl u;
  ASSERT_TRUE(parseWebSocketUrl("wss://t.example.com/ws/room?lang=en", u));
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "t.example.com");
  EXPECT_EQ(u.port, "443");
  EXPECT_EQ(u.target, "/ws/room?lang=en");
  ASSERT_TRUE(parseWebSocketUrl("ws://127.0.0.1:8000", u));
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, "8000");
  EXPECT_EQ(u.target, "/");
  ASSERT_TRUE(parseWebSocketUrl("ws://[::1]:9/x", u));
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "9");
  ASSERT_TRUE(parseWebSocketUrl("ws://h?q=1", u));
  EXPECT_EQ(u.target, "/?q=1");
  for (const char* bad :
       {"", "http://h/", "ws://", "ws://:80/", "ws://h:x/", "ws://h:123456/", "ws://[::1/"}) {
    EXPECT_FALSE(parseWebSocketUrl(bad, u)) << bad;
  }
}

TEST(WebSocketClient, EndsWithOneClosedCallback) {
  boost::asio::io_context io;
  // A port nobody listens on: bind one, then close it.
  uint16_t port = 0;
  {
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  int refused = 0;
  int invalid = 0;
  int opened = 0;
  int code = 0;
  WebSocketClient::Callbacks cb;
  cb.opened = [&] { ++opened; };
  cb.closed = [&](int c, std::string) {
    ++refused;
    code = c;
  };
  auto a = WebSocketClient::connect(io, std::string("ws://127.0.0.1:") + std::to_string(port) + "/",
                                    {}, cb);
  WebSocketClient::Callbacks bad;
  bad.closed = [&](int, std::string) { ++invalid; };
  auto b = WebSocketClient::connect(io, "wss://", {}, bad);
  EXPECT_EQ(invalid, 0);  // never from inside connect()
  EXPECT_FALSE(a->send("x"));
  int gone = 0;
  WebSocketClient::Callbacks later;
  later.closed = [&](int, std::string) { ++gone; };
  auto c = WebSocketClient::connect(io, std::string("ws://127.0.0.1:") + std::to_string(port) + "/",
                                    {}, later);
  c.reset();  // no callback once the handle is gone
  io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(code, 1006);
  EXPECT_EQ(invalid, 1);
  EXPECT_EQ(opened, 0);
  EXPECT_EQ(gone, 0);
}

}  // namespace
}  // namespace jvb::http
