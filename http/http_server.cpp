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
#include "common/redact.hpp"
#include "http/listener.hpp"
#include "http/websocket_session.hpp"

namespace jvb::http {
namespace detail {
namespace {

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

}  // namespace

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
    LOG_WARN("http", "websocket authorize({}) threw: {}", redactSecrets(target), e.what());
    verdict = {500, "Internal Server Error"};
  } catch (...) {
    LOG_WARN("http", "websocket authorize({}) threw", redactSecrets(target));
    verdict = {500, "Internal Server Error"};
  }
  if (verdict.status != 101 && (verdict.status < 400 || verdict.status > 599)) {
    LOG_WARN("http", "websocket authorize({}) answered {}; sending 500", redactSecrets(target),
             verdict.status);
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
  LOG_DEBUG("http", "websocket upgrade {} -> {}", redactSecrets(target), verdict.status);
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
