#pragma once
// The HTTP/1.1 layer between bytes and a Router, on Boost.Beast: how a request
// is parsed (limits), how a parse failure is answered, and how a Router's
// Response is put on the wire. HttpServer's sessions and the http_fuzz target
// use exactly these functions, so fuzzing serveBytes() exercises the server's
// parsing and routing path without sockets.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/router.hpp"

namespace jvb::http {

struct ServerLimits {
  std::size_t maxHeaderBytes = 8 * 1024;  // request line + fields; beyond: 431
  std::size_t maxBodyBytes = 64 * 1024;   // beyond: 413
  // A connection must deliver a whole request (and accept a whole response)
  // within this time; an idle keep-alive connection is closed after it.
  std::chrono::seconds idleTimeout{30};
  std::size_t maxConnections = 256;  // further connections are accepted and closed at once
};

namespace wire {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;
using BeastResponse = boost::beast::http::response<boost::beast::http::string_body>;
using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

inline constexpr std::string_view kServerName = "jvb-audio";

// Applies the header and body limits to a fresh parser.
void applyLimits(RequestParser& parser, const ServerLimits& limits);

// The most a connection's read buffer may hold: one header plus one socket read.
std::size_t readBufferLimit(const ServerLimits& limits);

// The Router's request for a parsed message.
Request toRequest(const BeastRequest& request);

// Puts `response` on the wire for `request`: same HTTP version, keep-alive as
// the request asks, Server, Content-Length and Access-Control-Allow-Origin
// always, and no body for HEAD (Content-Length stays the GET body's).
BeastResponse toBeast(const Response& response, const BeastRequest& request);

// Routes a parsed request. Never throws for anything the router or its
// handlers throw: that becomes a 500. HTTP versions other than 1.0 and 1.1
// get 505 and the connection closes.
BeastResponse respond(const Router& router, const BeastRequest& request);

// What to send when reading a request failed with `ec`: 431 (header too
// large), 413 (body too large) or 400 (malformed) with Connection: close.
// nullopt when the connection should just be closed (end of stream, timeout,
// reset, peer gone mid-request).
std::optional<BeastResponse> readErrorResponse(const boost::beast::error_code& ec);

// The bytes of a response as the server writes them.
std::string serialize(BeastResponse& response);

// Serves `bytes` as one connection would: the client sends them in pieces of
// `chunkSize` bytes (0: all at once) and then closes its side. Requests are
// read with Beast's own read algorithm into the server's parser, then answered
// until the connection would close. Returns the serialized responses.
std::string serveBytes(const Router& router, std::string_view bytes, const ServerLimits& limits,
                       std::size_t chunkSize = 0);

}  // namespace wire
}  // namespace jvb::http
