#include "http/http_server.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <exception>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>

#include "common/log.hpp"

namespace jvb::http {
namespace detail {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// After a response that closes the connection, unread request bytes are
// discarded for a while before closing, so that the close does not turn into
// a reset that destroys the response before the client reads it.
constexpr std::chrono::seconds kLingerTimeout{2};
constexpr std::size_t kMaxLingerBytes = 1024 * 1024;
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

std::string describe(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) {
    return fmt::format("[{}]:{}", host, port);  // IPv6 literal
  }
  return fmt::format("{}:{}", host, port);
}

// 1, 2, 4, 8, ...: log a recurring event without flooding.
bool isPowerOfTwo(uint64_t n) {
  return n != 0 && (n & (n - 1)) == 0;
}

// Close codes an endpoint may send (RFC 6455 7.4, IANA registry).
bool sendableCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

// `reason` cut to what fits a close frame, on a UTF-8 character boundary.
std::string closeReasonText(std::string reason) {
  constexpr std::size_t kMax = 123;  // 125-byte control payload less the code
  if (reason.size() > kMax) {
    std::size_t n = kMax;
    while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0U) == 0x80U) {
      --n;
    }
    reason.resize(n);
  }
  return reason;
}

}  // namespace

// A connection Listener::stop() can close: an HTTP session or a WebSocket.
class Connection {
 public:
  virtual ~Connection() = default;
  // Closes the socket at once; pending handlers end with operation_aborted.
  virtual void terminate() = 0;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, std::string host, uint16_t port,
           std::shared_ptr<const Router> router, ServerLimits limits)
      : ioc_(ioc),
        acceptor_(ioc),
        retryTimer_(ioc),
        host_(std::move(host)),
        requestedPort_(port),
        router_(std::move(router)),
        limits_(limits) {
    if (!router_) {
      throw std::invalid_argument("HttpServer needs a router");
    }
  }

  void setWebSocketService(std::shared_ptr<WebSocketService> service, WebSocketLimits limits) {
    if (started_) {
      throw std::logic_error("HttpServer::setWebSocketService() after start()");
    }
    service_ = std::move(service);
    wsLimits_ = limits;
  }

  void start();
  void stop();
  uint16_t port() const { return boundPort_; }
  std::size_t connectionCount() const { return sessions_.size(); }
  const Router& router() const { return *router_; }
  const ServerLimits& limits() const { return limits_; }
  void remove(uint64_t id) { sessions_.erase(id); }

  // WebSockets. service() is null when none is set and after stop().
  WebSocketService* service() const { return service_.get(); }
  const WebSocketLimits& wsLimits() const { return wsLimits_; }
  WebSocketCounters& wsCounters() { return wsCounters_; }
  std::size_t webSocketCount() const { return webSockets_; }
  // The service's verdict on an upgrade request, checked and counted.
  WebSocketVerdict authorizeWebSocket(const std::string& target);
  // An upgraded connection takes over the HTTP session's id.
  void adoptWebSocket(uint64_t id, std::weak_ptr<Connection> ws) {
    sessions_[id] = std::move(ws);
    ++webSockets_;
  }
  void webSocketEnded(uint64_t id) {
    sessions_.erase(id);
    --webSockets_;
  }

 private:
  [[noreturn]] void fail(const boost::system::error_code& ec, const char* what);
  void doAccept();
  void onAccept(const boost::system::error_code& ec, tcp::socket socket);

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer retryTimer_;
  std::string host_;
  uint16_t requestedPort_;
  uint16_t boundPort_ = 0;
  std::shared_ptr<const Router> router_;
  ServerLimits limits_;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> sessions_;
  uint64_t nextId_ = 1;
  uint64_t refused_ = 0;
  uint64_t acceptErrors_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  std::shared_ptr<WebSocketService> service_;
  WebSocketLimits wsLimits_;
  WebSocketCounters wsCounters_;
  std::size_t webSockets_ = 0;
  uint64_t wsOverLimit_ = 0;
};

// One upgraded connection. A read is pending from the handshake until the end
// (but for an oversized message, see onRead()), so the read handler sees every
// way a socket ends (close frame from either side, protocol error, socket
// closed by a timer or stop()) and calls finish(), the only place the service
// hears closed().
class WsSession final : public Connection,
                        public WebSocketPeer,
                        public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(beast::tcp_stream stream, std::shared_ptr<Listener> owner, uint64_t id)
      : ws_(std::move(stream)), timer_(ws_.get_executor()), owner_(std::move(owner)), id_(id) {}
  ~WsSession() override { owner_->remove(id_); }
  WsSession(const WsSession&) = delete;
  WsSession& operator=(const WsSession&) = delete;

  // Answers the upgrade request (already read by the HTTP session).
  void run(wire::BeastRequest request);

  void terminate() override { finish(); }
  uint64_t id() const override { return id_; }
  void sendText(std::string text) override;
  void close(uint16_t code, std::string reason) override {
    startClose(code, std::move(reason), /*flush=*/true);
  }

 private:
  enum class State { kHandshake, kOpen, kClosing, kClosed };

  WebSocketCounters& counters() { return owner_->wsCounters(); }
  const WebSocketLimits& limits() const { return owner_->wsLimits(); }

  void onAccept(beast::error_code ec);
  void doRead();
  void onRead(beast::error_code ec, std::size_t bytes);
  void onControl(websocket::frame_type kind);
  void doWrite();
  void onWrite(beast::error_code ec, std::size_t bytes);
  void startClose(uint16_t code, std::string reason, bool flush);
  void beginClosing();
  void sendClose();
  void ping();
  void armTimer();
  void waitUntil(Clock::time_point at);
  void onTimer(beast::error_code ec, uint64_t generation);
  void dropQueue();
  void serviceFailed(const char* call, const char* what);
  void finish();

  websocket::stream<beast::tcp_stream> ws_;
  net::steady_timer timer_;  // pings and idle timeout; when closing, the close deadline
  std::shared_ptr<Listener> owner_;
  uint64_t id_;
  State state_ = State::kHandshake;
  bool opened_ = false;  // the service got opened() and is owed closed()
  wire::BeastRequest request_;
  std::string target_;
  beast::flat_buffer readBuffer_;
  std::deque<std::string> queue_;  // front is being written while writing_
  std::size_t queuedBytes_ = 0;
  bool reading_ = false;  // a read is pending
  bool writing_ = false;
  bool pingInFlight_ = false;
  bool closeAfterFlush_ = false;
  bool closeSent_ = false;
  bool closeReceived_ = false;
  uint16_t closeCode_ = 1000;
  std::string closeReason_;
  Clock::time_point lastActivity_;
  Clock::time_point nextPing_;
  uint64_t timerGeneration_ = 0;  // a wait whose generation is old is stale
};

void WsSession::run(wire::BeastRequest request) {
  request_ = std::move(request);
  target_ = std::string(request_.target());
  const auto& lim = limits();
  // Beast's own timers replace tcp_stream's once the stream is a WebSocket.
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeouts;
  timeouts.handshake_timeout = lim.closeTimeout.count() > 0 ? Clock::duration(lim.closeTimeout)
                                                            : websocket::stream_base::none();
  timeouts.idle_timeout = websocket::stream_base::none();  // own timer: see onTimer()
  timeouts.keep_alive_pings = false;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(bhttp::field::server, wire::kServerName); }));
  websocket::permessage_deflate deflate;
  deflate.server_enable = lim.compression;
  // Bridge-channel messages are small JSON: a 1 KiB window and a small zlib
  // state keep a compressing socket near 12 KiB instead of ~256 KiB, which
  // matters with hundreds of endpoints on one bridge.
  deflate.server_max_window_bits = 10;
  deflate.memLevel = 4;
  ws_.set_option(deflate);
  ws_.read_message_max(0);  // enforced by doRead()/onRead()
  ws_.text(true);
  // Invoked from inside this session's reads, which keep it alive.
  ws_.control_callback(
      [this](websocket::frame_type kind, std::string_view /*payload*/) { onControl(kind); });
  // Bytes the client sent after its request (before our 101) are dropped;
  // RFC 6455 has clients wait for the 101.
  ws_.async_accept(request_, beast::bind_front_handler(&WsSession::onAccept, shared_from_this()));
}

void WsSession::onAccept(beast::error_code ec) {
  if (state_ == State::kClosed) {
    return;
  }
  request_ = {};
  if (ec) {
    ++counters().handshakeFailed;
    LOG_DEBUG("http", "websocket {} handshake failed: {}", id_, ec.message());
    finish();
    return;
  }
  state_ = State::kOpen;
  opened_ = true;
  ++counters().accepted;
  ++counters().open;
  lastActivity_ = Clock::now();
  nextPing_ = lastActivity_ + limits().pingInterval;
  LOG_DEBUG("http", "websocket {} open: {}", id_, target_);
  armTimer();
  doRead();
  if (auto* service = owner_->service()) {
    try {
      service->opened(target_, shared_from_this());
    } catch (const std::exception& e) {
      serviceFailed("opened", e.what());
    } catch (...) {
      serviceFailed("opened", "non-standard exception");
    }
  }
}

void WsSession::doRead() {
  // At most one byte over the limit, so that an oversized message is noticed
  // before it is all in memory (also for one that is compressed).
  const std::size_t limit = limits().maxMessageBytes + 1 - readBuffer_.size();
  reading_ = true;
  ws_.async_read_some(readBuffer_, limit,
                      beast::bind_front_handler(&WsSession::onRead, shared_from_this()));
}

void WsSession::onRead(beast::error_code ec, std::size_t /*bytes*/) {
  if (state_ == State::kClosed) {
    return;
  }
  reading_ = false;
  if (ec) {
    LOG_DEBUG("http", "websocket {} ended: {}", id_, ec.message());
    finish();
    return;
  }
  lastActivity_ = Clock::now();
  if (readBuffer_.size() > limits().maxMessageBytes) {
    // Our own limit rather than Beast's read_message_max: on that error Beast
    // 1.74 closes the socket with the message's rest unread, and the reset
    // can destroy the 1009 close frame before the client reads it. Beast's
    // close handshake instead discards the rest while waiting for the reply.
    ++counters().oversized;
    LOG_INFO("http", "websocket {}: message over {} bytes, closing", id_, limits().maxMessageBytes);
    readBuffer_ = beast::flat_buffer();
    startClose(1009, "message too big", /*flush=*/false);
    return;  // no more reads: the close handshake's end ends the session
  }
  if (!ws_.is_message_done()) {
    doRead();
    return;
  }
  if (!ws_.got_text()) {
    ++counters().binaryIgnored;
  } else if (state_ == State::kOpen) {
    ++counters().messagesIn;
    const auto data = readBuffer_.cdata();
    const std::string_view text(static_cast<const char*>(data.data()), data.size());
    if (auto* service = owner_->service()) {
      try {
        service->message(*this, text);
      } catch (const std::exception& e) {
        serviceFailed("message", e.what());
      } catch (...) {
        serviceFailed("message", "non-standard exception");
      }
    }
  }
  readBuffer_.consume(readBuffer_.size());
  if (state_ != State::kClosed) {  // the service may have stopped the server
    doRead();
  }
}

void WsSession::onControl(websocket::frame_type kind) {
  lastActivity_ = Clock::now();
  if (kind == websocket::frame_type::close) {
    closeReceived_ = true;  // Beast answers it; no close of our own after this
    if (state_ == State::kOpen) {
      beginClosing();  // bounds Beast's wait for the peer's end of the TCP stream
    }
  }
}

void WsSession::sendText(std::string text) {
  if (state_ != State::kOpen) {
    return;
  }
  const auto& lim = limits();
  if (!queue_.empty() &&
      (queue_.size() >= lim.maxQueuedMessages || queuedBytes_ + text.size() > lim.maxQueuedBytes)) {
    const uint64_t n = ++counters().closedSlowConsumer;
    if (isPowerOfTwo(n)) {
      LOG_WARN("http", "websocket {}: {} messages ({} bytes) queued, closing ({} so far)", id_,
               queue_.size(), queuedBytes_, n);
    }
    startClose(1008, "slow consumer", /*flush=*/false);
    return;
  }
  queuedBytes_ += text.size();
  queue_.push_back(std::move(text));
  if (!writing_) {
    doWrite();
  }
}

void WsSession::doWrite() {
  writing_ = true;
  // deque::push_back keeps references valid, so front() stays put.
  ws_.async_write(net::buffer(queue_.front()),
                  beast::bind_front_handler(&WsSession::onWrite, shared_from_this()));
}

void WsSession::onWrite(beast::error_code ec, std::size_t /*bytes*/) {
  writing_ = false;
  if (state_ == State::kClosed || ec) {
    // A failed write: the pending read sees the failure too, or a timer ends it.
    queue_.clear();
    queuedBytes_ = 0;
    return;
  }
  queuedBytes_ -= queue_.front().size();
  queue_.pop_front();
  ++counters().messagesOut;
  if (!queue_.empty()) {
    doWrite();
  } else if (closeAfterFlush_) {
    closeAfterFlush_ = false;
    sendClose();
  }
}

void WsSession::startClose(uint16_t code, std::string reason, bool flush) {
  if (state_ != State::kOpen) {
    return;
  }
  beginClosing();
  if (!sendableCloseCode(code)) {
    LOG_WARN("http", "websocket {}: close code {} cannot be sent, using 1000", id_, code);
    code = 1000;
  }
  closeCode_ = code;
  closeReason_ = closeReasonText(std::move(reason));
  LOG_DEBUG("http", "websocket {} closing: {} {}", id_, closeCode_, closeReason_);
  if (!flush) {
    dropQueue();
  }
  if (!flush || queue_.empty()) {
    sendClose();  // waits for a write in flight
  } else {
    closeAfterFlush_ = true;
  }
}

void WsSession::beginClosing() {
  state_ = State::kClosing;
  if (limits().closeTimeout.count() > 0) {
    waitUntil(Clock::now() + limits().closeTimeout);
  } else {
    ++timerGeneration_;
    timer_.cancel();
  }
}

void WsSession::sendClose() {
  if (closeSent_ || closeReceived_ || !ws_.is_open()) {
    return;
  }
  closeSent_ = true;
  // A pending read gets the peer's close frame and ends the session; without
  // one (after an oversized message) the close's end does.
  ws_.async_close(
      websocket::close_reason(static_cast<websocket::close_code>(closeCode_), closeReason_),
      [self = shared_from_this()](beast::error_code ec) {
        if (!self->reading_) {
          LOG_DEBUG("http", "websocket {} closed: {}", self->id_, ec.message());
          self->finish();
        }
      });
}

void WsSession::ping() {
  if (pingInFlight_ || !ws_.is_open()) {
    return;
  }
  pingInFlight_ = true;
  ws_.async_ping({},
                 [self = shared_from_this()](beast::error_code) { self->pingInFlight_ = false; });
}

void WsSession::armTimer() {
  const auto& lim = limits();
  std::optional<Clock::time_point> at;
  if (lim.idleTimeout.count() > 0) {
    at = lastActivity_ + lim.idleTimeout;
  }
  if (lim.pingInterval.count() > 0) {
    at = at ? std::min(*at, nextPing_) : nextPing_;
  }
  if (lim.closeTimeout.count() > 0) {  // to notice a close Beast started itself
    const auto watch = Clock::now() + lim.closeTimeout;
    at = at ? std::min(*at, watch) : watch;
  }
  if (at) {
    waitUntil(*at);
  }
}

void WsSession::waitUntil(Clock::time_point at) {
  const uint64_t generation = ++timerGeneration_;
  timer_.expires_at(at);
  timer_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
    self->onTimer(ec, generation);
  });
}

void WsSession::onTimer(beast::error_code ec, uint64_t generation) {
  if (ec || generation != timerGeneration_ || state_ == State::kClosed) {
    return;
  }
  if (state_ == State::kClosing) {
    LOG_DEBUG("http", "websocket {}: close handshake timed out", id_);
    finish();
    return;
  }
  if (!ws_.is_open()) {
    // Beast is closing by itself (protocol error, oversized message) and waits
    // for the peer to end the TCP stream: bound that.
    beginClosing();
    return;
  }
  const auto& lim = limits();
  const auto now = Clock::now();
  if (lim.idleTimeout.count() > 0 && now - lastActivity_ >= lim.idleTimeout) {
    ++counters().idleTimeouts;
    LOG_INFO("http", "websocket {}: nothing received for {} ms, closing", id_,
             lim.idleTimeout.count());
    startClose(1001, "idle timeout", /*flush=*/false);
    return;
  }
  if (lim.pingInterval.count() > 0 && now >= nextPing_) {
    ping();
    nextPing_ = now + lim.pingInterval;
  }
  armTimer();
}

void WsSession::dropQueue() {
  const std::size_t keep = writing_ ? 1 : 0;  // the write in flight still reads its buffer
  while (queue_.size() > keep) {
    queuedBytes_ -= queue_.back().size();
    queue_.pop_back();
  }
}

void WsSession::serviceFailed(const char* call, const char* what) {
  LOG_WARN("http", "websocket {}: service {}() threw: {}", id_, call, what);
  startClose(1011, "internal error", /*flush=*/false);
}

void WsSession::finish() {
  if (state_ == State::kClosed) {
    return;
  }
  state_ = State::kClosed;
  ++timerGeneration_;
  timer_.cancel();
  dropQueue();
  beast::get_lowest_layer(ws_).close();  // ends whatever Beast still has pending
  owner_->webSocketEnded(id_);
  if (!opened_) {
    return;
  }
  opened_ = false;
  --counters().open;
  if (auto* service = owner_->service()) {
    try {
      service->closed(*this);
    } catch (const std::exception& e) {
      LOG_WARN("http", "websocket {}: service closed() threw: {}", id_, e.what());
    } catch (...) {
      LOG_WARN("http", "websocket {}: service closed() threw", id_);
    }
  }
}

// One connection: read a request, answer it, repeat while keep-alive. An
// upgrade request the WebSocket service accepts hands the socket to a
// WsSession.
class Session final : public Connection, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Listener> owner, uint64_t id)
      : stream_(std::move(socket)),
        buffer_(wire::readBufferLimit(owner->limits())),
        owner_(std::move(owner)),
        id_(id) {}
  ~Session() override {
    if (id_ != 0) {  // 0: the id went to a WsSession
      owner_->remove(id_);
    }
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void run() { doRead(); }

  // From Listener::stop(): pending operations end with operation_aborted.
  void terminate() override {
    closed_ = true;
    stream_.close();
  }

 private:
  void expireAfter(std::chrono::seconds timeout) {
    if (timeout.count() > 0) {
      stream_.expires_after(timeout);
    } else {
      stream_.expires_never();
    }
  }

  void doRead() {
    parser_.emplace();
    wire::applyLimits(*parser_, owner_->limits());
    expireAfter(owner_->limits().idleTimeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::onRead, shared_from_this()));
  }

  void onRead(beast::error_code ec, std::size_t /*bytes*/) {
    if (closed_) {
      return;
    }
    if (ec) {
      if (auto res = wire::readErrorResponse(ec)) {
        LOG_DEBUG("http", "bad request: {} -> {}", ec.message(), res->result_int());
        send(std::move(*res));
        return;
      }
      if (ec == bhttp::error::end_of_stream) {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      }
      stream_.close();  // end of stream, idle timeout, reset, or aborted
      return;
    }
    if (owner_->service() != nullptr && websocket::is_upgrade(parser_->get())) {
      upgrade();
      return;
    }
    send(wire::respond(owner_->router(), parser_->get()));
  }

  void upgrade() {
    const auto& req = parser_->get();
    const WebSocketVerdict verdict = owner_->authorizeWebSocket(std::string(req.target()));
    if (verdict.status == 101) {
      auto ws = std::make_shared<WsSession>(std::move(stream_), owner_, id_);
      owner_->adoptWebSocket(id_, ws);
      id_ = 0;
      closed_ = true;  // this session is done; the socket is the WsSession's
      ws->run(parser_->release());
      return;
    }
    Response refusal{verdict.status, "text/plain; charset=utf-8", verdict.body, {}};
    auto res = wire::toBeast(refusal, req);
    res.keep_alive(false);
    send(std::move(res));
  }

  void send(wire::BeastResponse res) {
    response_ = std::move(res);
    expireAfter(owner_->limits().idleTimeout);
    bhttp::async_write(stream_, response_,
                       beast::bind_front_handler(&Session::onWrite, shared_from_this()));
  }

  void onWrite(beast::error_code ec, std::size_t /*bytes*/) {
    if (closed_) {
      return;
    }
    if (ec) {
      stream_.close();
      return;
    }
    if (response_.need_eof()) {
      lingerClose();
      return;
    }
    doRead();
  }

  void lingerClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    const auto idle = owner_->limits().idleTimeout;
    expireAfter(idle.count() > 0 ? std::min(idle, kLingerTimeout) : kLingerTimeout);
    // Whatever was read ahead is discarded too.
    buffer_.consume(buffer_.size());
    doDrain();
  }

  void doDrain() {
    stream_.async_read_some(net::buffer(discard_),
                            beast::bind_front_handler(&Session::onDrain, shared_from_this()));
  }

  void onDrain(beast::error_code ec, std::size_t bytes) {
    if (closed_) {
      return;
    }
    discarded_ += bytes;
    if (ec || discarded_ > kMaxLingerBytes) {
      stream_.close();
      return;
    }
    doDrain();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<wire::RequestParser> parser_;
  wire::BeastResponse response_;
  std::shared_ptr<Listener> owner_;
  uint64_t id_;
  std::array<char, 4096> discard_{};
  std::size_t discarded_ = 0;
  bool closed_ = false;
};

void Listener::fail(const boost::system::error_code& ec, const char* what) {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  throw std::system_error(std::error_code(ec),
                          fmt::format("http: cannot {} {}", what, describe(host_, requestedPort_)));
}

void Listener::start() {
  if (started_) {
    throw std::logic_error("HttpServer::start() called twice");
  }
  started_ = true;
  boost::system::error_code ec;
  tcp::endpoint endpoint;
  const auto address = net::ip::make_address(host_, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, requestedPort_);
  } else {
    tcp::resolver resolver(ioc_);
    const auto results =
        resolver.resolve(host_, std::to_string(requestedPort_), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      fail(ec ? ec : net::error::host_not_found, "resolve");
    }
    endpoint = results.begin()->endpoint();
  }
  if (acceptor_.open(endpoint.protocol(), ec); ec) {
    fail(ec, "open a socket for");
  }
  if (acceptor_.set_option(net::socket_base::reuse_address(true), ec); ec) {
    fail(ec, "set SO_REUSEADDR on");
  }
  if (acceptor_.bind(endpoint, ec); ec) {
    fail(ec, "bind");
  }
  if (acceptor_.listen(net::socket_base::max_listen_connections, ec); ec) {
    fail(ec, "listen on");
  }
  const auto local = acceptor_.local_endpoint(ec);
  if (ec) {
    fail(ec, "read the bound port of");
  }
  boundPort_ = local.port();
  LOG_INFO("http", "listening on {}", describe(host_, boundPort_));
  doAccept();
}

void Listener::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  retryTimer_.cancel();
  if (acceptor_.is_open()) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    LOG_INFO("http", "stopped listening on {} ({} connections closed)", describe(host_, boundPort_),
             sessions_.size());
  }
  std::vector<std::shared_ptr<Connection>> open;
  open.reserve(sessions_.size());
  for (const auto& [id, weak] : sessions_) {
    if (auto s = weak.lock()) {
      open.push_back(std::move(s));
    }
  }
  // WebSockets call the service's closed() from here.
  for (const auto& s : open) {
    s->terminate();
  }
  // Also breaks a cycle if the service still holds peers (peer -> us -> service).
  service_.reset();
}

WebSocketVerdict Listener::authorizeWebSocket(const std::string& target) {
  WebSocketVerdict verdict;
  try {
    verdict = service_->authorize(target);
  } catch (const std::exception& e) {
    LOG_WARN("http", "websocket authorize({}) threw: {}", target, e.what());
    verdict = {500, "Internal Server Error"};
  } catch (...) {
    LOG_WARN("http", "websocket authorize({}) threw", target);
    verdict = {500, "Internal Server Error"};
  }
  if (verdict.status != 101 && (verdict.status < 400 || verdict.status > 599)) {
    LOG_WARN("http", "websocket authorize({}) answered {}; sending 500", target, verdict.status);
    verdict = {500, "Internal Server Error"};
  }
  if (verdict.status == 101 && webSockets_ >= wsLimits_.maxSockets) {
    if (isPowerOfTwo(++wsOverLimit_)) {
      LOG_WARN("http", "{}: {} websockets open, the limit; {} refused so far",
               describe(host_, boundPort_), webSockets_, wsOverLimit_);
    }
    verdict = {503, "Too many WebSockets"};
  }
  switch (verdict.status) {
    case 101:
      break;
    case 403:
      ++wsCounters_.refusedForbidden;
      break;
    case 404:
      ++wsCounters_.refusedNotFound;
      break;
    default:
      ++wsCounters_.refusedOther;
      break;
  }
  LOG_DEBUG("http", "websocket upgrade {} -> {}", target, verdict.status);
  return verdict;
}

void Listener::doAccept() {
  acceptor_.async_accept(
      [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
        self->onAccept(ec, std::move(socket));
      });
}

void Listener::onAccept(const boost::system::error_code& ec, tcp::socket socket) {
  if (stopped_ || ec == net::error::operation_aborted) {
    return;
  }
  if (ec) {
    // E.g. EMFILE: try again shortly instead of spinning.
    if (isPowerOfTwo(++acceptErrors_)) {
      LOG_WARN("http", "accept on {} failed: {} ({} times)", describe(host_, boundPort_),
               ec.message(), acceptErrors_);
    }
    retryTimer_.expires_after(kAcceptRetryDelay);
    retryTimer_.async_wait([self = shared_from_this()](const boost::system::error_code& wec) {
      if (!wec && !self->stopped_) {
        self->doAccept();
      }
    });
    return;
  }
  if (sessions_.size() >= limits_.maxConnections) {
    if (isPowerOfTwo(++refused_)) {
      LOG_WARN("http", "{}: {} connections open, the limit; {} refused so far",
               describe(host_, boundPort_), sessions_.size(), refused_);
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    doAccept();
    return;
  }
  const uint64_t id = nextId_++;
  auto session = std::make_shared<Session>(std::move(socket), shared_from_this(), id);
  sessions_.emplace(id, session);
  session->run();
  doAccept();
}

}  // namespace detail

HttpServer::HttpServer(boost::asio::io_context& ioc, std::string host, uint16_t port,
                       std::shared_ptr<const Router> router, ServerLimits limits)
    : listener_(std::make_shared<detail::Listener>(ioc, std::move(host), port, std::move(router),
                                                   limits)) {}

HttpServer::~HttpServer() {
  listener_->stop();
}

void HttpServer::setWebSocketService(std::shared_ptr<WebSocketService> service,
                                     WebSocketLimits limits) {
  listener_->setWebSocketService(std::move(service), limits);
}

void HttpServer::start() {
  listener_->start();
}

uint16_t HttpServer::port() const {
  return listener_->port();
}

void HttpServer::stop() {
  listener_->stop();
}

std::size_t HttpServer::connectionCount() const {
  return listener_->connectionCount();
}

std::size_t HttpServer::webSocketCount() const {
  return listener_->webSocketCount();
}

WebSocketCounters HttpServer::webSocketCounters() const {
  return listener_->wsCounters();
}

}  // namespace jvb::http
