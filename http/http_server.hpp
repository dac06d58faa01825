#pragma once
// An HTTP/1.1 server (Boost.Beast) that answers every request with a Router
// (http_server.cpp: listener and HTTP sessions; websocket_session.cpp: the
// upgraded connections).
// The bridge runs one on the private port (REST: health, version, stats,
// drain, shutdown); the public port (colibri-ws) will be a second instance.
// With a WebSocketService set, a GET with "Upgrade: websocket" goes to the
// service (websocket.hpp) instead of the Router; other requests on the same
// port still go to the Router.
//
// Threading: everything runs on the io_context given to the constructor, which
// its owner runs on ONE thread (the control thread). Construct, start(), stop()
// and destroy the server on that thread, or while the io_context is not being
// run; destroy it before the io_context.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "http/http_wire.hpp"
#include "http/router.hpp"
#include "http/websocket.hpp"

namespace jvb::http {

namespace detail {
class Listener;
}

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ioc, std::string host, uint16_t port /*0 = ephemeral*/,
             std::shared_ptr<const Router> router, ServerLimits limits = {});
  // Closes the acceptor and every connection (as stop()).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Before start(): upgrade requests go to `service` from then on. Without a
  // service they go to the Router (which answers 404). Throws
  // std::logic_error after start().
  void setWebSocketService(std::shared_ptr<WebSocketService> service, WebSocketLimits limits = {});

  // Binds and listens. Throws std::system_error whose what() names host:port
  // when the address cannot be resolved or bound. Call once.
  void start();
  // The bound port (the actual one when constructed with 0); 0 before start().
  uint16_t port() const;
  // Stops accepting and closes every connection; pending handlers end with
  // operation_aborted. Every open WebSocket is closed without a close frame
  // and its service's closed() is called before this returns. Idempotent.
  void stop();
  // Open connections (including ones being closed).
  std::size_t connectionCount() const;
  // Connections upgraded to WebSocket (handshaking or open); part of
  // connectionCount().
  std::size_t webSocketCount() const;
  WebSocketCounters webSocketCounters() const;

 private:
  std::shared_ptr<detail::Listener> listener_;
};

}  // namespace jvb::http
