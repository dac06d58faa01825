#pragma once
// An HTTP/1.1 server (Boost.Beast) that answers every request with a Router.
// The bridge runs one on the private port (REST: health, version, stats,
// drain, shutdown); the public port (colibri-ws) will be a second instance.
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

  // Binds and listens. Throws std::system_error whose what() names host:port
  // when the address cannot be resolved or bound. Call once.
  void start();
  // The bound port (the actual one when constructed with 0); 0 before start().
  uint16_t port() const;
  // Stops accepting and closes every connection; pending handlers end with
  // operation_aborted. Idempotent.
  void stop();
  // Open connections (including ones being closed).
  std::size_t connectionCount() const;

 private:
  std::shared_ptr<detail::Listener> listener_;
};

}  // namespace jvb::http
