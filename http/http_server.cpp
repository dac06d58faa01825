#include "http/http_server.hpp"

#include <algorithm>
#include <array>
#include <chrono>
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

#include "common/log.hpp"

namespace jvb::http {
namespace detail {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

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

}  // namespace

class Session;

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

  void start();
  void stop();
  uint16_t port() const { return boundPort_; }
  std::size_t connectionCount() const { return sessions_.size(); }
  const Router& router() const { return *router_; }
  const ServerLimits& limits() const { return limits_; }
  void remove(uint64_t id) { sessions_.erase(id); }

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
  std::unordered_map<uint64_t, std::weak_ptr<Session>> sessions_;
  uint64_t nextId_ = 1;
  uint64_t refused_ = 0;
  uint64_t acceptErrors_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

// One connection: read a request, answer it, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Listener> owner, uint64_t id)
      : stream_(std::move(socket)),
        buffer_(wire::readBufferLimit(owner->limits())),
        owner_(std::move(owner)),
        id_(id) {}
  ~Session() { owner_->remove(id_); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void run() { doRead(); }

  // From Listener::stop(): pending operations end with operation_aborted.
  void close() {
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
    send(wire::respond(owner_->router(), parser_->get()));
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
  std::vector<std::shared_ptr<Session>> open;
  open.reserve(sessions_.size());
  for (const auto& [id, weak] : sessions_) {
    if (auto s = weak.lock()) {
      open.push_back(std::move(s));
    }
  }
  for (const auto& s : open) {
    s->close();
  }
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

}  // namespace jvb::http
