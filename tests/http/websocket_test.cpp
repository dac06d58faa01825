// HttpServer's WebSockets over real sockets on 127.0.0.1: the server's
// io_context runs on its own thread, the service is a fake that echoes, and
// each client is a Beast websocket stream on its own io_context whose every
// operation is bounded by a deadline, so no test can hang. No timing is
// asserted beyond "happens eventually" and "at least".
#include "http/http_server.hpp"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace jvb::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

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

// The bridge's side, faked. Only touched on the io thread.
class FakeService : public WebSocketService {
 public:
  WebSocketVerdict authorize(std::string_view target) override {
    authorized.emplace_back(target);
    if (target.starts_with("/forbidden")) {
      return {403, "bad password"};
    }
    if (target.starts_with("/missing")) {
      return {404, "server ID mismatch"};
    }
    if (target.starts_with("/throw")) {
      throw std::runtime_error("authorize exploded");
    }
    return {};
  }

  void opened(std::string_view target, std::shared_ptr<WebSocketPeer> peer) override {
    openedTargets.emplace_back(target);
    if (target.find("hello") != std::string_view::npos) {
      peer->sendText("hello");
    }
    kept.push_back(peer);
    peers[peer->id()] = std::move(peer);
  }

  void message(WebSocketPeer& peer, std::string_view text) override {
    messages.emplace_back(text);
    if (text == "close-me") {
      peer.close(1001, "expired");
      peer.sendText("after close");  // no-op
      peer.close(1000, "twice");     // no-op
      return;
    }
    if (text == "throw") {
      throw std::runtime_error("message exploded");
    }
    peer.sendText("echo:" + std::string(text));
  }

  void closed(WebSocketPeer& peer) override {
    ++closedCount[peer.id()];
    peers.erase(peer.id());  // drops the service's reference
  }

  std::vector<std::string> authorized;
  std::vector<std::string> openedTargets;
  std::vector<std::string> messages;
  std::map<uint64_t, std::shared_ptr<WebSocketPeer>> peers;  // open ones
  std::vector<std::shared_ptr<WebSocketPeer>> kept;          // every peer ever opened (not dropped)
  std::map<uint64_t, int> closedCount;
};

// A WebSocket client; every operation completes within kWait.
class WsClient {
 private:
  // Completion handlers for the operation being started.
  auto handler() {
    done_ = false;
    return [this](beast::error_code ec) {
      ec_ = ec;
      done_ = true;
    };
  }
  auto sizedHandler() {
    done_ = false;
    return [this](beast::error_code ec, std::size_t) {
      ec_ = ec;
      done_ = true;
    };
  }

 public:
  explicit WsClient(bool deflate = false) {
    if (deflate) {
      websocket::permessage_deflate pmd;
      pmd.client_enable = true;
      ws_.set_option(pmd);
    }
    ws_.control_callback([this](websocket::frame_type kind, std::string_view) {
      if (kind == websocket::frame_type::ping) {
        ++pings;
      }
    });
  }
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  beast::error_code connectTcp(uint16_t port) {
    beast::get_lowest_layer(ws_).async_connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), port), handler());
    return run();
  }

  // Connects and sends the upgrade request; `response` holds the answer.
  beast::error_code connect(uint16_t port, const std::string& target) {
    if (auto ec = connectTcp(port)) {
      return ec;
    }
    ws_.async_handshake(response, "127.0.0.1:" + std::to_string(port), target, handler());
    return run();
  }

  beast::error_code send(std::string_view text, bool binary = false) {
    ws_.binary(binary);
    ws_.async_write(net::buffer(text.data(), text.size()), sizedHandler());
    return run();
  }

  void beginRead() {
    buffer_.clear();
    done_ = false;
    ws_.async_read(buffer_, sizedHandler());
  }
  // Runs the client's handlers for `d` whether or not the read completes.
  void pump(Clock::duration d) {
    ioc_.restart();
    ioc_.run_for(d);
  }
  beast::error_code endRead(std::string* out = nullptr) {
    const auto ec = wait();
    if (!ec && out != nullptr) {
      *out = beast::buffers_to_string(buffer_.data());
    }
    return ec;
  }
  beast::error_code read(std::string* out = nullptr) {
    beginRead();
    return endRead(out);
  }
  std::string readText() {
    std::string text;
    const auto ec = read(&text);
    EXPECT_FALSE(ec) << ec.message();
    return text;
  }

  beast::error_code close(uint16_t code) {
    ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(code)), handler());
    return run();
  }

  beast::error_code writeRaw(const std::string& bytes) {
    net::async_write(beast::get_lowest_layer(ws_), net::buffer(bytes), sizedHandler());
    return run();
  }

  // Reads raw bytes until the server closes; the error that ended it.
  beast::error_code readRawUntilClosed(std::string* out = nullptr) {
    std::string data;
    beast::error_code ec;
    for (int i = 0; i < 10000 && !ec; ++i) {  // bounded in count, and each read in time
      char chunk[4096];
      std::size_t n = 0;
      done_ = false;
      beast::get_lowest_layer(ws_).async_read_some(
          net::buffer(chunk), [this, &n](beast::error_code e, std::size_t got) {
            ec_ = e;
            n = got;
            done_ = true;
          });
      ec = run();
      data.append(chunk, n);
    }
    if (out != nullptr) {
      *out = std::move(data);
    }
    return ec;
  }

  websocket::close_reason reason() const { return ws_.reason(); }

  websocket::response_type response;
  int pings = 0;

  beast::error_code run() { return wait(); }

  // Runs until the started operation completes; at kWait closes the socket.
  beast::error_code wait() {
    const auto deadline = Clock::now() + kWait;
    ioc_.restart();
    while (!done_ && Clock::now() < deadline) {
      if (ioc_.run_one_until(deadline) == 0 && ioc_.stopped()) {
        break;
      }
    }
    if (!done_) {
      beast::get_lowest_layer(ws_).close();
      ioc_.restart();
      ioc_.run_for(std::chrono::seconds(1));
      return beast::error::timeout;
    }
    return ec_;
  }

  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_{ioc_};
  beast::flat_buffer buffer_;
  beast::error_code ec_;
  bool done_ = true;
};

constexpr const char* kTarget = "/colibri-ws/default-id/conf1/ep1?pwd=Abc123";

class WebSocketTest : public ::testing::Test {
 protected:
  void start(WebSocketLimits wsLimits = {}, ServerLimits limits = {}) {
    Handlers h;
    h.health = [] { return HealthReport{}; };
    router_ = std::make_shared<const Router>(RestOptions{}, h);
    service = std::make_shared<FakeService>();
    io = std::make_unique<IoThread>();
    io->call([this, wsLimits, limits] {
      server = std::make_unique<HttpServer>(io->ioc, "127.0.0.1", 0, router_, limits);
      server->setWebSocketService(service, wsLimits);
      server->start();
      port = server->port();
    });
    ASSERT_NE(port, 0);
  }

  void TearDown() override {
    if (io) {
      try {
        // Peers hold sockets of io->ioc: none may outlive it.
        io->call([this] {
          server.reset();
          service->kept.clear();
        });
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
      io->stop();
    }
    server.reset();
    io.reset();
  }

  WebSocketCounters counters() {
    WebSocketCounters c;
    io->call([this, &c] { c = server->webSocketCounters(); });
    return c;
  }

  // Runs `f` on the io thread; its result.
  template <class F>
  auto onIo(F f) {
    decltype(f()) result{};
    io->call([&] { result = f(); });
    return result;
  }

  // Polls `pred` on the io thread until it holds (bounded).
  template <class F>
  bool eventually(F pred) {
    const auto deadline = Clock::now() + kWait;
    while (Clock::now() < deadline) {
      if (onIo(pred)) {
        return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  std::unique_ptr<IoThread> io;
  std::unique_ptr<HttpServer> server;
  std::shared_ptr<FakeService> service;
  uint16_t port = 0;

 private:
  std::shared_ptr<const Router> router_;
};

TEST_F(WebSocketTest, UpgradeAcceptedAndTextEchoed) {
  start();
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  EXPECT_EQ(c.response.result_int(), 101U);
  EXPECT_EQ(c.response[bhttp::field::server], "jvb-audio");
  ASSERT_FALSE(c.send("hi"));
  EXPECT_EQ(c.readText(), "echo:hi");
  ASSERT_FALSE(c.send("again"));
  EXPECT_EQ(c.readText(), "echo:again");

  EXPECT_TRUE(eventually([this] { return server->webSocketCounters().messagesOut == 2; }));
  const auto n = counters();
  EXPECT_EQ(n.accepted, 1U);
  EXPECT_EQ(n.open, 1U);
  EXPECT_EQ(n.messagesIn, 2U);
  EXPECT_EQ(onIo([this] { return server->webSocketCount(); }), 1U);
  EXPECT_EQ(onIo([this] { return server->connectionCount(); }), 1U);
  io->call([this] {
    ASSERT_EQ(service->authorized.size(), 1U);
    EXPECT_EQ(service->authorized[0], kTarget);  // path and query, as sent
    ASSERT_EQ(service->openedTargets.size(), 1U);
    EXPECT_EQ(service->openedTargets[0], kTarget);
    EXPECT_EQ(service->messages, (std::vector<std::string>{"hi", "again"}));
  });
}

TEST_F(WebSocketTest, ServiceSendsFirst) {
  start();
  WsClient c;
  ASSERT_FALSE(c.connect(port, "/colibri-ws/x/hello/ep?pwd=p"));
  EXPECT_EQ(c.readText(), "hello");  // as ServerHello right after the handshake
}

TEST_F(WebSocketTest, RefusalsAreHttpStatuses) {
  start();
  {
    WsClient c;
    EXPECT_EQ(c.connect(port, "/forbidden/conf/ep?pwd=x"), websocket::error::upgrade_declined);
    EXPECT_EQ(c.response.result_int(), 403U);
    EXPECT_EQ(c.response.body(), "bad password");
    EXPECT_FALSE(c.response.keep_alive());
  }
  {
    WsClient c;
    EXPECT_EQ(c.connect(port, "/missing/x"), websocket::error::upgrade_declined);
    EXPECT_EQ(c.response.result_int(), 404U);
    EXPECT_EQ(c.response.body(), "server ID mismatch");
  }
  {
    WsClient c;
    EXPECT_EQ(c.connect(port, "/throw"), websocket::error::upgrade_declined);
    EXPECT_EQ(c.response.result_int(), 500U);
  }
  const auto n = counters();
  EXPECT_EQ(n.refusedForbidden, 1U);
  EXPECT_EQ(n.refusedNotFound, 1U);
  EXPECT_EQ(n.refusedOther, 1U);
  EXPECT_EQ(n.accepted, 0U);
  EXPECT_TRUE(onIo([this] { return service->openedTargets.empty(); }));
  EXPECT_TRUE(eventually([this] { return server->connectionCount() == 0; }));
}

TEST_F(WebSocketTest, PlainHttpStillGoesToTheRouter) {
  start();
  WsClient c;
  ASSERT_FALSE(c.connectTcp(port));
  ASSERT_FALSE(c.writeRaw("GET /about/health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  std::string got;
  c.readRawUntilClosed(&got);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200")) << got;
  EXPECT_TRUE(onIo([this] { return service->authorized.empty(); }));
}

TEST_F(WebSocketTest, BadHandshakeIsNotOpened) {
  start();
  WsClient c;
  ASSERT_FALSE(c.connectTcp(port));
  // Upgrade without Sec-WebSocket-Key: authorized, then Beast refuses it.
  ASSERT_FALSE(
      c.writeRaw("GET /colibri-ws/a/b/c HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                 "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  std::string got;
  EXPECT_NE(c.readRawUntilClosed(&got), beast::error::timeout);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 400")) << got;
  EXPECT_TRUE(eventually([this] { return server->webSocketCounters().handshakeFailed == 1; }));
  EXPECT_TRUE(
      onIo([this] { return service->openedTargets.empty() && service->closedCount.empty(); }));
  EXPECT_TRUE(eventually([this] { return server->connectionCount() == 0; }));
}

TEST_F(WebSocketTest, BinaryIsCountedAndIgnored) {
  start();
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  ASSERT_FALSE(c.send(std::string("\x00\x01\x02", 3), /*binary=*/true));
  ASSERT_FALSE(c.send("x"));
  EXPECT_EQ(c.readText(), "echo:x");  // nothing came back for the binary one
  const auto n = counters();
  EXPECT_EQ(n.binaryIgnored, 1U);
  EXPECT_EQ(n.messagesIn, 1U);
}

// The client gets the close frame even though it sent more than the server read.
void expectClosedBecauseTooBig(WsClient& c) {
  EXPECT_EQ(c.read(), websocket::error::closed);
  EXPECT_EQ(c.reason().code, 1009);
  EXPECT_EQ(std::string(c.reason().reason.data(), c.reason().reason.size()), "message too big");
}

TEST_F(WebSocketTest, OversizedMessageClosesWith1009OthersKeepWorking) {
  start();
  WsClient big;
  WsClient other;
  ASSERT_FALSE(big.connect(port, kTarget));
  ASSERT_FALSE(other.connect(port, kTarget));
  ASSERT_FALSE(big.send(std::string(100 * 1024, 'a')));
  expectClosedBecauseTooBig(big);

  ASSERT_FALSE(other.send("still here"));
  EXPECT_EQ(other.readText(), "echo:still here");
  EXPECT_TRUE(eventually([this] { return service->closedCount.size() == 1; }));
  const auto n = counters();
  EXPECT_EQ(n.oversized, 1U);
  EXPECT_EQ(n.open, 1U);
  EXPECT_EQ(n.messagesIn, 1U);
}

TEST_F(WebSocketTest, MessageAtTheLimitIsAccepted) {
  WebSocketLimits limits;
  limits.maxMessageBytes = 1000;
  start(limits);
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  const std::string text(1000 - 5, 'b');  // "echo:" + text is sent back
  ASSERT_FALSE(c.send(text));
  EXPECT_EQ(c.readText(), "echo:" + text);
  ASSERT_FALSE(c.send(std::string(1001, 'b')));
  expectClosedBecauseTooBig(c);
}

TEST_F(WebSocketTest, GarbageAfterUpgradeClosesOnlyThatSocket) {
  WebSocketLimits limits;
  limits.closeTimeout = 200ms;  // bounds the wait for the client's end of the stream
  start(limits);
  WsClient bad;
  WsClient good;
  ASSERT_FALSE(bad.connect(port, kTarget));
  ASSERT_FALSE(good.connect(port, kTarget));
  // Not a (masked) WebSocket frame.
  ASSERT_FALSE(bad.writeRaw("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got;
  const auto ec = bad.readRawUntilClosed(&got);
  EXPECT_NE(ec, beast::error::timeout);
  ASSERT_GE(got.size(), 4U);
  EXPECT_EQ(static_cast<unsigned char>(got[0]), 0x88U);  // a close frame
  EXPECT_EQ(static_cast<unsigned char>(got[2]) * 256U + static_cast<unsigned char>(got[3]),
            1002U);  // protocol error

  ASSERT_FALSE(good.send("fine"));
  EXPECT_EQ(good.readText(), "echo:fine");
  EXPECT_TRUE(eventually([this] { return service->closedCount.size() == 1; }));
  EXPECT_EQ(onIo([this] { return server->webSocketCount(); }), 1U);
}

TEST_F(WebSocketTest, ServerCloseFromInsideMessage) {
  start();
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  ASSERT_FALSE(c.send("close-me"));
  EXPECT_EQ(c.read(), websocket::error::closed);
  EXPECT_EQ(c.reason().code, 1001);
  EXPECT_EQ(std::string(c.reason().reason.data(), c.reason().reason.size()), "expired");
  EXPECT_TRUE(eventually([this] { return service->closedCount.size() == 1; }));
  io->call([this] {
    EXPECT_EQ(service->closedCount.begin()->second, 1);
    EXPECT_TRUE(service->peers.empty());
  });
  EXPECT_EQ(counters().messagesOut, 0U);  // "after close" was dropped
}

TEST_F(WebSocketTest, ServerCloseFlushesQueuedMessagesFirst) {
  start();
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  ASSERT_TRUE(eventually([this] { return service->peers.size() == 1; }));
  io->call([this] {
    auto& peer = *service->peers.begin()->second;
    peer.sendText("one");
    peer.sendText("two");
    peer.close(4000, "replaced");
  });
  EXPECT_EQ(c.readText(), "one");
  EXPECT_EQ(c.readText(), "two");
  EXPECT_EQ(c.read(), websocket::error::closed);
  EXPECT_EQ(c.reason().code, 4000);
  EXPECT_TRUE(eventually([this] { return service->closedCount.size() == 1; }));
}

TEST_F(WebSocketTest, ClientCloseCallsClosedOnce) {
  start();
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  ASSERT_TRUE(eventually([this] { return service->peers.size() == 1; }));
  EXPECT_FALSE(c.close(1000));
  EXPECT_TRUE(eventually([this] { return service->closedCount.size() == 1; }));
  EXPECT_TRUE(eventually([this] { return server->connectionCount() == 0; }));
  io->call([this] {
    EXPECT_EQ(service->closedCount.begin()->second, 1);
    // The service's old reference is harmless.
    service->kept[0]->sendText("late");
    service->kept[0]->close(1000, "late");
  });
  EXPECT_EQ(counters().open, 0U);
}

TEST_F(WebSocketTest, ServiceExceptionClosesWith1011) {
  start();
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  ASSERT_FALSE(c.send("throw"));
  EXPECT_EQ(c.read(), websocket::error::closed);
  EXPECT_EQ(c.reason().code, 1011);
  EXPECT_TRUE(eventually([this] { return service->closedCount.size() == 1; }));
}

TEST_F(WebSocketTest, SlowConsumerIsClosed) {
  WebSocketLimits limits;
  limits.maxQueuedMessages = 4;
  start(limits);
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  ASSERT_TRUE(eventually([this] { return service->peers.size() == 1; }));
  // All at once: the first is being written, the rest wait in the queue.
  io->call([this] {
    auto peer = service->peers.begin()->second;
    for (int i = 0; i < 10; ++i) {
      peer->sendText(fmt::format("m{}", i));
    }
  });
  // What was written before the close, then the close.
  beast::error_code ec;
  std::vector<std::string> got;
  for (int i = 0; i < 20; ++i) {
    std::string text;
    if ((ec = c.read(&text))) {
      break;
    }
    got.push_back(text);
  }
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(c.reason().code, 1008);
  EXPECT_LE(got.size(), 4U);
  EXPECT_EQ(counters().closedSlowConsumer, 1U);
  EXPECT_TRUE(eventually([this] { return service->closedCount.size() == 1; }));
}

TEST_F(WebSocketTest, QueueBytesAreBounded) {
  WebSocketLimits limits;
  limits.maxQueuedBytes = 10'000;
  start(limits);
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  ASSERT_TRUE(eventually([this] { return service->peers.size() == 1; }));
  // Alone in the queue: accepted whatever its size.
  io->call([this] { service->peers.begin()->second->sendText(std::string(20'000, 'x')); });
  std::string text;
  const auto ec = c.read(&text);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(text.size(), 20'000U);
  ASSERT_TRUE(eventually([this] { return server->webSocketCounters().messagesOut == 1; }));
  io->call([this] {
    auto peer = service->peers.begin()->second;
    peer->sendText(std::string(4'000, 'y'));
    peer->sendText(std::string(4'000, 'y'));
    peer->sendText(std::string(4'000, 'z'));  // 12'000 queued: over the bound
  });
  // Whatever was written before the close (the message in flight may be cut
  // off by it), then the close.
  beast::error_code end;
  for (int i = 0; i < 4 && !end; ++i) {
    end = c.read();
  }
  EXPECT_EQ(end, websocket::error::closed);
  EXPECT_EQ(c.reason().code, 1008);
  EXPECT_EQ(counters().closedSlowConsumer, 1U);
}

TEST_F(WebSocketTest, StopClosesEverySocketAndCallsClosedOnce) {
  start();
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<WsClient>());
    ASSERT_FALSE(clients.back()->connect(port, kTarget));
  }
  ASSERT_TRUE(eventually([this] { return service->peers.size() == 3; }));
  io->call([this] {
    server->stop();
    // closed() came from inside stop().
    EXPECT_EQ(service->closedCount.size(), 3U);
    for (const auto& [id, n] : service->closedCount) {
      EXPECT_EQ(n, 1) << id;
    }
    EXPECT_TRUE(service->peers.empty());
    EXPECT_EQ(server->webSocketCount(), 0U);
    EXPECT_EQ(server->connectionCount(), 0U);
    EXPECT_EQ(server->webSocketCounters().open, 0U);
    for (const auto& peer : service->kept) {
      peer->sendText("after stop");  // no-ops
      peer->close(1001, "after stop");
    }
    server->stop();  // idempotent
  });
  for (auto& c : clients) {
    EXPECT_NE(c->read(), beast::error::timeout);
  }
  io->call([this] {
    for (const auto& [id, n] : service->closedCount) {
      EXPECT_EQ(n, 1) << id;
    }
    service->kept.clear();
  });
}

TEST_F(WebSocketTest, DestroyingTheServerCallsClosed) {
  start();
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  ASSERT_TRUE(eventually([this] { return service->peers.size() == 1; }));
  io->call([this] { server.reset(); });
  EXPECT_EQ(onIo([this] { return service->closedCount.size(); }), 1U);
  EXPECT_NE(c.read(), beast::error::timeout);
}

TEST_F(WebSocketTest, ManyConcurrentSockets) {
  constexpr int kCount = 50;
  start();
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kCount; ++i) {
    clients.push_back(std::make_unique<WsClient>());
    ASSERT_FALSE(clients.back()->connect(port, kTarget)) << i;
  }
  for (int i = 0; i < kCount; ++i) {
    ASSERT_FALSE(clients[i]->send("n" + std::to_string(i)));
  }
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(clients[i]->readText(), "echo:n" + std::to_string(i));
  }
  EXPECT_EQ(onIo([this] { return server->webSocketCount(); }), std::size_t{kCount});
  EXPECT_EQ(counters().open, uint64_t{kCount});
  for (auto& c : clients) {
    EXPECT_FALSE(c->close(1000));
  }
  EXPECT_TRUE(eventually([this] { return service->closedCount.size() == kCount; }));
  EXPECT_TRUE(eventually([this] { return server->connectionCount() == 0; }));
  EXPECT_EQ(counters().accepted, uint64_t{kCount});
}

TEST_F(WebSocketTest, SocketLimitAnswers503) {
  WebSocketLimits limits;
  limits.maxSockets = 2;
  start(limits);
  WsClient a;
  WsClient b;
  WsClient c;
  ASSERT_FALSE(a.connect(port, kTarget));
  ASSERT_FALSE(b.connect(port, kTarget));
  EXPECT_EQ(c.connect(port, kTarget), websocket::error::upgrade_declined);
  EXPECT_EQ(c.response.result_int(), 503U);
  EXPECT_EQ(counters().refusedOther, 1U);
  // A slot frees up once one closes.
  EXPECT_FALSE(a.close(1000));
  ASSERT_TRUE(eventually([this] { return server->webSocketCount() == 1; }));
  WsClient d;
  EXPECT_FALSE(d.connect(port, kTarget));
}

TEST_F(WebSocketTest, PermessageDeflateWhenOffered) {
  start();
  WsClient c(/*deflate=*/true);
  ASSERT_FALSE(c.connect(port, kTarget));
  EXPECT_NE(
      std::string(c.response[bhttp::field::sec_websocket_extensions]).find("permessage-deflate"),
      std::string::npos);
  const std::string text(20'000, 'c');  // compresses well
  ASSERT_FALSE(c.send(text));
  EXPECT_EQ(c.readText(), "echo:" + text);

  WsClient plain;
  ASSERT_FALSE(plain.connect(port, kTarget));
  EXPECT_EQ(plain.response.find(bhttp::field::sec_websocket_extensions), plain.response.end());
}

TEST_F(WebSocketTest, CompressedOversizedMessageIsCaught) {
  start();
  WsClient c(/*deflate=*/true);
  ASSERT_FALSE(c.connect(port, kTarget));
  // Compresses to about 100 bytes; the limit is on what it inflates to.
  ASSERT_FALSE(c.send(std::string(100 * 1024, 'z')));
  expectClosedBecauseTooBig(c);
  EXPECT_EQ(counters().oversized, 1U);
}

TEST_F(WebSocketTest, CompressionCanBeDisabled) {
  WebSocketLimits limits;
  limits.compression = false;
  start(limits);
  WsClient c(/*deflate=*/true);
  ASSERT_FALSE(c.connect(port, kTarget));
  EXPECT_EQ(c.response.find(bhttp::field::sec_websocket_extensions), c.response.end());
  ASSERT_FALSE(c.send("x"));
  EXPECT_EQ(c.readText(), "echo:x");
}

TEST_F(WebSocketTest, KeepalivePingsKeepAnAnsweringClientOpen) {
  WebSocketLimits limits;
  // Open for 2.5 idle timeouts; the timeout is long enough that a loaded host
  // (2 cores, parallel builds) does not starve the answering client past it.
  limits.pingInterval = 100ms;
  limits.idleTimeout = 1000ms;
  start(limits);
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  ASSERT_TRUE(eventually([this] { return service->peers.size() == 1; }));
  c.beginRead();  // answers pings while pending
  c.pump(2500ms);
  io->call([this] { service->peers.begin()->second->sendText("still open"); });
  std::string text;
  ASSERT_FALSE(c.endRead(&text));
  EXPECT_EQ(text, "still open");
  EXPECT_GE(c.pings, 3);
  EXPECT_EQ(counters().idleTimeouts, 0U);
}

TEST_F(WebSocketTest, SilentClientIsClosedAfterIdleTimeout) {
  WebSocketLimits limits;
  limits.pingInterval = 50ms;
  limits.idleTimeout = 300ms;
  limits.closeTimeout = 200ms;
  start(limits);
  WsClient c;
  ASSERT_FALSE(c.connect(port, kTarget));
  // The client reads nothing, so it answers no ping.
  EXPECT_TRUE(eventually([this] { return service->closedCount.size() == 1; }));
  EXPECT_EQ(counters().idleTimeouts, 1U);
  const auto ec = c.read();
  EXPECT_TRUE(ec && ec != beast::error::timeout) << ec.message();
  EXPECT_TRUE(eventually([this] { return server->connectionCount() == 0; }));
}

// A client that floods (README "Misbehaving peers"): past the per-socket
// message-rate cap its messages are dropped and counted, not passed to the
// service; its socket stays open, and another socket is served as before.
TEST_F(WebSocketTest, FloodIsCappedPerSocketAndOthersAreServed) {
  WebSocketLimits limits;
  limits.maxMessagesPerSecond = 10;
  limits.maxMessageBurst = 5;
  start(limits);
  WsClient flooder;
  WsClient other;
  ASSERT_FALSE(flooder.connect(port, kTarget));
  ASSERT_FALSE(other.connect(port, kTarget));
  constexpr int kFlood = 200;
  const auto began = Clock::now();
  for (int i = 0; i < kFlood; ++i) {
    ASSERT_FALSE(flooder.send(fmt::format("f{}", i)));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  ASSERT_TRUE(eventually([this] {
    const auto c = server->webSocketCounters();
    return c.messagesIn + c.rateLimited == kFlood;
  }));
  const auto n = counters();
  // The burst and what the rate allows over the time the flood took.
  EXPECT_LE(n.messagesIn, 6 + static_cast<uint64_t>(10 * seconds) + 1);
  EXPECT_GE(n.rateLimited, kFlood - n.messagesIn);
  EXPECT_EQ(onIo([this] { return service->messages.size(); }), n.messagesIn);

  ASSERT_FALSE(other.send("hi"));
  EXPECT_EQ(other.readText(), "echo:hi");
  EXPECT_EQ(counters().closedSlowConsumer, 0U);
  EXPECT_EQ(counters().open, 2U);
  // The flooder is heard again once it slows down.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_FALSE(flooder.send("later"));
  bool heard = false;
  for (int i = 0; i < kFlood && !heard; ++i) {
    std::string text;
    if (flooder.read(&text)) {
      break;
    }
    heard = text == "echo:later";
  }
  EXPECT_TRUE(heard);
}

}  // namespace
}  // namespace jvb::http
