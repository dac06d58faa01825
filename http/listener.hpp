#pragma once
// Internal to http/ (not for other folders): the listener that owns every
// connection of an HttpServer, and the Connection interface it closes them
// through. http_server.cpp implements it (with the HTTP sessions);
// websocket_session.cpp implements the upgraded connections.
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/http_wire.hpp"
#include "http/router.hpp"
#include "http/websocket.hpp"

namespace jvb::http::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// 1, 2, 4, 8, ...: log a recurring event without flooding.
inline bool isPowerOfTwo(uint64_t n) {
  return n != 0 && (n & (n - 1)) == 0;
}

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

}  // namespace jvb::http::detail
