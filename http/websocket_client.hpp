#pragma once
// An outgoing WebSocket (RFC 6455) client on Boost.Beast, for the audio
// export (Colibri2 <connects>: JVB's Exporter opens one to the transcriber's
// or recorder's ws:// or wss:// URL, with the <http-header>s on the upgrade
// request). One object is one connection attempt: it resolves, connects,
// (TLS with SNI and peer verification against the system's CAs for wss),
// does the handshake, then reads text messages until it is closed.
//
// Threading: everything runs on the io_context given (the control thread's),
// and the callbacks are called there. It never blocks: sends are queued, and
// a peer that does not read is cut off once the queue is full (the send is
// refused and counted by the caller). After close() or destruction no
// callback is called.
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace jvb::http {

class WebSocketClient {
 public:
  struct Callbacks {
    std::function<void()> opened;
    std::function<void(std::string)> text;
    // Once: the connection could not be made, or it ended (the peer's close
    // code, 1006 for an abnormal end), with a reason for the log.
    std::function<void(int code, std::string reason)> closed;
  };
  struct Options {
    std::vector<std::pair<std::string, std::string>> headers;  // on the upgrade request
    size_t maxQueuedMessages = 4096;
    size_t maxQueuedBytes = 8u << 20;
    size_t maxMessageBytes = 1u << 20;  // larger incoming messages end the connection
    int connectTimeoutMs = 10000;
  };

  virtual ~WebSocketClient() = default;
  // False (nothing queued) when not open or the send queue is full.
  virtual bool send(std::string text) = 0;
  // Sends a close frame after what is queued, then ends; no more callbacks.
  virtual void close(uint16_t code, std::string reason) = 0;

  // Starts a connection to `url` (ws://host[:port]/path?query or wss://...).
  // A URL that cannot be parsed calls `closed` from the io_context, never
  // from here.
  static std::unique_ptr<WebSocketClient> connect(boost::asio::io_context& io,
                                                  const std::string& url, Options options,
                                                  Callbacks callbacks);
};

// ws[s]://host[:port]/target split; false when it is not one.
struct WebSocketUrl {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  std::string port;
  std::string target;  // "/..." with the query
};
bool parseWebSocketUrl(const std::string& url, WebSocketUrl& out);

}  // namespace jvb::http
