// HttpServer over real sockets on 127.0.0.1: the server's io_context runs on
// its own thread (the "control thread"); the client is a Beast stream whose
// every operation has a deadline, so no test can hang. No timing is asserted.
#include "http/http_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace jvb::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Parsed = bhttp::response<bhttp::string_body>;

constexpr std::chrono::seconds kWait{10};  // upper bound for any single wait

// The server side: an io_context run by one thread, as the bridge's control loop.
class IoThread {
 public:
  IoThread() : guard_(net::make_work_guard(ioc)), thread_([this] { ioc.run(); }) {}
  ~IoThread() { stop(); }
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  void stop() {
    guard_.reset();
    ioc.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  std::thread::id id() const { return thread_.get_id(); }

  // Runs `f` on the io thread and waits for it (bounded); rethrows its exception.
  template <class F>
  void call(F f) {
    auto task = std::make_shared<std::packaged_task<void()>>(std::move(f));
    auto done = task->get_future();
    net::post(ioc, [task] { (*task)(); });
    if (done.wait_for(kWait) != std::future_status::ready) {
      throw std::runtime_error("io thread did not answer in time");
    }
    done.get();
  }

  net::io_context ioc;

 private:
  net::executor_work_guard<net::io_context::executor_type> guard_;
  std::thread thread_;
};

// A client connection; every operation completes within kWait.
class Client {
 public:
  Client() = default;
  explicit Client(uint16_t port) {
    const auto ec = connect(port);
    EXPECT_FALSE(ec) << ec.message();
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  beast::error_code connect(uint16_t port) {
    stream_.expires_after(kWait);
    stream_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                          [this](beast::error_code ec) { ec_ = ec; });
    return run();
  }

  beast::error_code write(const std::string& raw) {
    stream_.expires_after(kWait);
    net::async_write(stream_, net::buffer(raw),
                     [this](beast::error_code ec, std::size_t) { ec_ = ec; });
    return run();
  }

  beast::error_code read(Parsed& out, bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.skip(head);
    stream_.expires_after(kWait);
    bhttp::async_read(stream_, buffer_, parser,
                      [this](beast::error_code ec, std::size_t) { ec_ = ec; });
    const auto ec = run();
    if (!ec) {
      out = parser.release();
    }
    return ec;
  }

  // Sends a request and reads its response.
  Parsed request(bhttp::verb method, const std::string& target, const std::string& body = "") {
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    if (!body.empty()) {
      req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    beast::error_code ec;
    stream_.expires_after(kWait);
    bhttp::async_write(stream_, req, [this](beast::error_code e, std::size_t) { ec_ = e; });
    EXPECT_FALSE(ec = run()) << ec.message();
    Parsed res;
    EXPECT_FALSE(ec = read(res, method == bhttp::verb::head)) << ec.message();
    return res;
  }

  // Reads until the server closes; returns the error that ended it (eof when
  // the server closed cleanly) and what was read in `out`.
  beast::error_code readUntilClosed(std::string* out = nullptr) {
    std::string data = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    beast::error_code ec;
    for (int i = 0; i < 10000 && !ec; ++i) {  // bounded in count, and each read in time
      char chunk[4096];
      std::size_t n = 0;
      stream_.expires_after(kWait);
      stream_.async_read_some(net::buffer(chunk), [&](beast::error_code e, std::size_t got) {
        ec_ = e;
        n = got;
      });
      ec = run();
      data.append(chunk, n);
    }
    if (out != nullptr) {
      *out = std::move(data);
    }
    return ec;
  }

  void close() { stream_.close(); }

 private:
  beast::error_code run() {
    ec_ = {};
    ioc_.restart();
    ioc_.run();
    return ec_;
  }

  net::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
  beast::error_code ec_;
};

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerLimits limits = {}) {
    RestOptions o;
    o.apiEnabled = true;
    o.shutdownEnabled = true;
    Handlers h;
    h.health = [this] {
      return HealthReport{healthy.load(), "media loop stuck", nlohmann::json{{"checks", 1}}};
    };
    h.stats = []() -> nlohmann::json { throw std::runtime_error("stats exploded"); };
    h.drain = [this] { return drain.load(); };
    h.setDrain = [this](bool on) {
      handlerThread = std::this_thread::get_id();
      drain = on;
    };
    h.shutdown = [](bool) { return false; };
    router_ = std::make_shared<const Router>(o, h);
    io = std::make_unique<IoThread>();
    io->call([this, limits] {
      server = std::make_unique<HttpServer>(io->ioc, "127.0.0.1", 0, router_, limits);
      server->start();
      port = server->port();
    });
    ASSERT_NE(port, 0);
  }

  void TearDown() override {
    if (io) {
      try {
        io->call([this] { server.reset(); });
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
      io->stop();
    }
    server.reset();
    io.reset();
  }

  std::size_t connections() {
    std::size_t n = 0;
    io->call([this, &n] { n = server->connectionCount(); });
    return n;
  }

  std::unique_ptr<IoThread> io;
  std::unique_ptr<HttpServer> server;
  uint16_t port = 0;
  std::atomic<bool> healthy{true};
  std::atomic<bool> drain{false};
  std::thread::id handlerThread;

 private:
  std::shared_ptr<const Router> router_;
};

void expectCommonHeaders(const Parsed& r) {
  EXPECT_EQ(r[bhttp::field::server], "jvb-audio");
  EXPECT_EQ(r[bhttp::field::access_control_allow_origin], "*");
  EXPECT_NE(r.find(bhttp::field::content_length), r.end());
}

TEST_F(ServerTest, HealthHealthyAndNot) {
  start();
  Client c(port);
  Parsed r = c.request(bhttp::verb::get, "/about/health");
  EXPECT_EQ(r.result_int(), 200U);
  EXPECT_EQ(r[bhttp::field::content_type], "application/json");
  EXPECT_EQ(nlohmann::json::parse(r.body())["healthy"], true);
  expectCommonHeaders(r);

  healthy = false;
  r = c.request(bhttp::verb::get, "/about/health?x=1");
  EXPECT_EQ(r.result_int(), 500U);
  const auto body = nlohmann::json::parse(r.body());
  EXPECT_EQ(body["healthy"], false);
  EXPECT_EQ(body["reason"], "media loop stuck");
  expectCommonHeaders(r);
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowed) {
  start();
  Client c(port);
  Parsed r = c.request(bhttp::verb::get, "/no/such/thing");
  EXPECT_EQ(r.result_int(), 404U);
  expectCommonHeaders(r);
  r = c.request(bhttp::verb::put, "/colibri/drain/enable", "{}");
  EXPECT_EQ(r.result_int(), 405U);
  EXPECT_EQ(r[bhttp::field::allow], "POST, OPTIONS");
  expectCommonHeaders(r);
  EXPECT_FALSE(drain.load());
}

TEST_F(ServerTest, HandlersRunOnTheIoThread) {
  start();
  Client c(port);
  EXPECT_EQ(c.request(bhttp::verb::post, "/colibri/drain/enable").result_int(), 200U);
  EXPECT_TRUE(drain.load());
  EXPECT_EQ(nlohmann::json::parse(c.request(bhttp::verb::get, "/colibri/drain").body())["drain"],
            true);
  std::thread::id seen;
  io->call([&] { seen = handlerThread; });
  EXPECT_EQ(seen, io->id());
}

TEST_F(ServerTest, ShutdownBadJsonAndRefusal) {
  start();
  Client c(port);
  Parsed r = c.request(bhttp::verb::post, "/colibri/shutdown", "{nope");
  EXPECT_EQ(r.result_int(), 400U);
  EXPECT_NE(r.body().find("malformed JSON"), std::string::npos);
  r = c.request(bhttp::verb::post, "/colibri/shutdown", R"({"graceful-shutdown":true})");
  EXPECT_EQ(r.result_int(), 503U);
}

TEST_F(ServerTest, ThrowingHandlerIs500AndTheServerGoesOn) {
  start();
  Client c(port);
  EXPECT_EQ(c.request(bhttp::verb::get, "/colibri/stats").result_int(), 500U);
  EXPECT_EQ(c.request(bhttp::verb::get, "/about/version").result_int(), 200U);
  Client other(port);
  EXPECT_EQ(other.request(bhttp::verb::get, "/about/version").result_int(), 200U);
}

TEST_F(ServerTest, HeadHasContentLengthButNoBody) {
  start();
  Client c(port);
  Parsed r = c.request(bhttp::verb::head, "/about/version");
  EXPECT_EQ(r.result_int(), 200U);
  EXPECT_TRUE(r.body().empty());
  EXPECT_NE(r[bhttp::field::content_length], "0");
  // The connection is still in step: the next response parses.
  EXPECT_EQ(c.request(bhttp::verb::get, "/about/version").result_int(), 200U);
}

TEST_F(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  start();
  Client c(port);
  Parsed r1 = c.request(bhttp::verb::get, "/about/health");
  Parsed r2 = c.request(bhttp::verb::get, "/about/version");
  EXPECT_EQ(r1.result_int(), 200U);
  EXPECT_EQ(r2.result_int(), 200U);
  EXPECT_TRUE(r2.keep_alive());
  EXPECT_EQ(connections(), 1U);
}

TEST_F(ServerTest, PipelinedRequests) {
  start();
  Client c(port);
  ASSERT_FALSE(c.write(
      "GET /about/health HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n"));
  Parsed r;
  ASSERT_FALSE(c.read(r));
  EXPECT_EQ(r.result_int(), 200U);
  ASSERT_FALSE(c.read(r));
  EXPECT_EQ(r.result_int(), 404U);
}

TEST_F(ServerTest, ConnectionCloseAndHttp10Close) {
  start();
  for (const char* raw : {"GET /about/health HTTP/1.1\r\nConnection: close\r\n\r\n",
                          "GET /about/health HTTP/1.0\r\n\r\n"}) {
    SCOPED_TRACE(raw);
    Client c(port);
    ASSERT_FALSE(c.write(raw));
    Parsed r;
    ASSERT_FALSE(c.read(r));
    EXPECT_EQ(r.result_int(), 200U);
    EXPECT_FALSE(r.keep_alive());
    EXPECT_EQ(c.readUntilClosed(), net::error::eof);
  }
}

TEST_F(ServerTest, OversizedHeaderIs431ThenClose) {
  ServerLimits limits;
  limits.maxHeaderBytes = 1024;
  start(limits);
  Client c(port);
  ASSERT_FALSE(
      c.write("GET /about/health HTTP/1.1\r\nX-Filler: " + std::string(20000, 'a') + "\r\n\r\n"));
  Parsed r;
  ASSERT_FALSE(c.read(r));
  EXPECT_EQ(r.result_int(), 431U);
  EXPECT_FALSE(r.keep_alive());
  expectCommonHeaders(r);
  EXPECT_EQ(c.readUntilClosed(), net::error::eof);
}

TEST_F(ServerTest, OversizedBodyIs413ThenClose) {
  ServerLimits limits;
  limits.maxBodyBytes = 1000;
  start(limits);
  Client c(port);
  ASSERT_FALSE(c.write("POST /colibri/shutdown HTTP/1.1\r\nContent-Length: 200000\r\n\r\n" +
                       std::string(200000, 'x')));
  Parsed r;
  ASSERT_FALSE(c.read(r));
  EXPECT_EQ(r.result_int(), 413U);
  EXPECT_FALSE(r.keep_alive());
  expectCommonHeaders(r);
  EXPECT_EQ(c.readUntilClosed(), net::error::eof);
}

TEST_F(ServerTest, GarbageIs400ThenClose) {
  start();
  Client c(port);
  ASSERT_FALSE(c.write(std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n")));
  Parsed r;
  ASSERT_FALSE(c.read(r));
  EXPECT_EQ(r.result_int(), 400U);
  EXPECT_FALSE(r.keep_alive());
  EXPECT_EQ(c.readUntilClosed(), net::error::eof);
  // The server is fine.
  Client other(port);
  EXPECT_EQ(other.request(bhttp::verb::get, "/about/health").result_int(), 200U);
}

TEST_F(ServerTest, IdleConnectionsAreClosed) {
  ServerLimits limits;
  limits.idleTimeout = std::chrono::seconds(1);
  start(limits);
  Client afterRequest(port);
  EXPECT_EQ(afterRequest.request(bhttp::verb::get, "/about/health").result_int(), 200U);
  Client silent(port);
  std::string rest;
  EXPECT_NE(afterRequest.readUntilClosed(&rest), beast::error::timeout);
  EXPECT_TRUE(rest.empty());
  EXPECT_NE(silent.readUntilClosed(&rest), beast::error::timeout);
  EXPECT_TRUE(rest.empty());
}

TEST_F(ServerTest, ConnectionsBeyondTheLimitAreClosed) {
  ServerLimits limits;
  limits.maxConnections = 2;
  start(limits);
  Client a(port);
  Client b(port);
  EXPECT_EQ(a.request(bhttp::verb::get, "/about/health").result_int(), 200U);
  EXPECT_EQ(b.request(bhttp::verb::get, "/about/health").result_int(), 200U);
  EXPECT_EQ(connections(), 2U);

  Client refused(port);
  std::string got;
  const auto ec = refused.readUntilClosed(&got);
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(connections(), 2U);

  // A slot frees up once a connection goes away.
  a.close();
  for (int i = 0; i < 500 && connections() > 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(connections(), 1U);
  Client c(port);
  EXPECT_EQ(c.request(bhttp::verb::get, "/about/health").result_int(), 200U);
}

TEST_F(ServerTest, BindFailureNamesHostAndPort) {
  start();
  bool threw = false;
  io->call([&] {
    HttpServer second(io->ioc, "127.0.0.1", port,
                      std::make_shared<const Router>(RestOptions{}, Handlers{}));
    try {
      second.start();
    } catch (const std::system_error& e) {
      threw = true;
      EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos)
          << e.what();
      EXPECT_EQ(e.code(), std::errc::address_in_use);
    }
  });
  EXPECT_TRUE(threw);
}

TEST_F(ServerTest, UnresolvableHostThrows) {
  start();
  io->call([&] {
    HttpServer bad(io->ioc, "no-such-host.invalid", 0,
                   std::make_shared<const Router>(RestOptions{}, Handlers{}));
    EXPECT_THROW(bad.start(), std::system_error);
  });
}

TEST_F(ServerTest, StopClosesEveryConnectionAndTheListener) {
  start();
  Client c(port);
  EXPECT_EQ(c.request(bhttp::verb::get, "/about/health").result_int(), 200U);
  Client idle(port);
  io->call([this] { server->stop(); });
  EXPECT_NE(c.readUntilClosed(), beast::error::timeout);
  EXPECT_NE(idle.readUntilClosed(), beast::error::timeout);
  Client late;
  EXPECT_TRUE(late.connect(port));       // refused: nothing listens
  io->call([this] { server->stop(); });  // idempotent
}

TEST_F(ServerTest, DestructorClosesConnections) {
  start();
  Client c(port);
  EXPECT_EQ(c.request(bhttp::verb::get, "/about/health").result_int(), 200U);
  io->call([this] { server.reset(); });
  EXPECT_NE(c.readUntilClosed(), beast::error::timeout);
}

TEST_F(ServerTest, UpgradeWithoutWebSocketServiceGoesToTheRouter) {
  start();
  Client c(port);
  ASSERT_FALSE(
      c.write("GET /colibri-ws/default-id/c/e?pwd=x HTTP/1.1\r\nHost: a\r\n"
              "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  Parsed r;
  ASSERT_FALSE(c.read(r));
  EXPECT_EQ(r.result_int(), 404U);
  expectCommonHeaders(r);
  // Still plain HTTP on this connection.
  EXPECT_EQ(c.request(bhttp::verb::get, "/about/health").result_int(), 200U);
  io->call([this] { EXPECT_EQ(server->webSocketCount(), 0U); });
}

TEST_F(ServerTest, WebSocketServiceCannotBeSetAfterStart) {
  start();
  io->call([this] { EXPECT_THROW(server->setWebSocketService(nullptr), std::logic_error); });
}

}  // namespace
}  // namespace jvb::http
