#pragma once
// WebSocket support of HttpServer (colibri-ws): the interface between the
// server, which owns the sockets, and a service that decides which upgrade
// requests to accept and handles their messages (the bridge implements it, so
// this library does not depend on bridge internals).
//
// Threading: every call in both directions happens on the server's io thread.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace jvb::http {

// One open WebSocket; implemented by the server.
class WebSocketPeer {
 public:
  virtual ~WebSocketPeer() = default;
  // Unique among the server's connections.
  virtual uint64_t id() const = 0;
  // Queues a text message; never blocks. When the outgoing queue is full (the
  // peer does not read) the socket is closed with 1008 and counted. No-op once
  // the socket is closing or closed.
  virtual void sendText(std::string text) = 0;
  // Sends what is queued, then a close frame (e.g. 1001 on endpoint expiry).
  // Codes that may not be sent on the wire become 1000; the reason is cut to
  // 123 bytes. No-op once the socket is closing or closed. May be called from
  // inside WebSocketService::opened() and message().
  virtual void close(uint16_t code, std::string reason) = 0;
};

// authorize()'s answer: 101 accepts the upgrade; any other status (403, 404,
// ...) is sent as a plain HTTP response with `body` and the connection closes.
struct WebSocketVerdict {
  unsigned status = 101;
  std::string body;
};

// Implemented by the bridge. Exceptions thrown by these calls are caught and
// logged: from authorize() the request gets 500, from the others the socket is
// closed with 1011.
class WebSocketService {
 public:
  virtual ~WebSocketService() = default;
  // `target` is the request-target as sent: path and "?query".
  virtual WebSocketVerdict authorize(std::string_view target) = 0;
  // After the handshake; the peer may be kept until closed().
  virtual void opened(std::string_view target, std::shared_ptr<WebSocketPeer> peer) = 0;
  // One whole text message. Binary messages are counted and dropped.
  virtual void message(WebSocketPeer& peer, std::string_view text) = 0;
  // Exactly once for every peer passed to opened(): on a close from either
  // side, an error, a timeout, or HttpServer::stop().
  virtual void closed(WebSocketPeer& peer) = 0;
};

struct WebSocketLimits {
  std::size_t maxMessageBytes = 64 * 1024;  // larger incoming: closed with 1009 and counted
  // Nothing received (message, ping, pong) for this long: closed with 1001
  // "idle timeout" (JVB websockets.idle-timeout). 0: never.
  std::chrono::milliseconds idleTimeout{60'000};
  // A ping is sent this often (JVB keepalive-ping-interval). 0: no pings.
  std::chrono::milliseconds pingInterval{15'000};
  // Bound on the opening handshake and on a close handshake; after it the
  // socket is closed without one.
  std::chrono::milliseconds closeTimeout{5'000};
  bool compression = true;  // permessage-deflate for clients that offer it
  // Outgoing queue bounds; a peer beyond either is closed (slow consumer). A
  // message that arrives when the queue is empty is always accepted.
  std::size_t maxQueuedMessages = 1024;
  std::size_t maxQueuedBytes = 1024 * 1024;
  // Open WebSockets at most; further upgrades get 503. They also count
  // against ServerLimits::maxConnections.
  std::size_t maxSockets = 256;
  // Incoming text messages passed to the service per socket: this many a
  // second on average, with bursts of maxMessageBurst more; the excess of a
  // flooding client is dropped, counted (rateLimited) and logged once per
  // socket, and the socket stays open. 0: no cap. A colibri-ws client sends
  // a handful a second (EndpointMessage, stats, constraints).
  std::size_t maxMessagesPerSecond = 100;
  std::size_t maxMessageBurst = 200;
};

struct WebSocketCounters {
  uint64_t accepted = 0;          // handshakes completed
  uint64_t refusedForbidden = 0;  // authorize() said 403
  uint64_t refusedNotFound = 0;   // authorize() said 404
  uint64_t refusedOther = 0;      // other refusals: other statuses, 503 over maxSockets, 500
  uint64_t handshakeFailed = 0;   // authorized, but the handshake failed (bad key, version, I/O)
  uint64_t messagesIn = 0;        // text messages passed to the service
  uint64_t messagesOut = 0;       // text messages written
  uint64_t oversized = 0;         // closed with 1009
  uint64_t binaryIgnored = 0;
  uint64_t closedSlowConsumer = 0;  // closed with 1008: outgoing queue full
  uint64_t rateLimited = 0;         // incoming messages over maxMessagesPerSecond (dropped)
  uint64_t idleTimeouts = 0;
  uint64_t open = 0;  // currently open (a gauge)
};

}  // namespace jvb::http
