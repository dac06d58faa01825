#pragma once
// Internal to http/: one WebSocket connection of an HttpServer (colibri-ws),
// created by the HTTP session that read the upgrade request.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>

#include "http/listener.hpp"

namespace jvb::http::detail {

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
  // Whether the next incoming message is within the message-rate cap.
  bool admitMessage();
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
  // The incoming-message cap (WebSocketLimits::maxMessagesPerSecond) as a
  // GCRA: when the next message is due; whether this socket was logged.
  Clock::time_point messageTat_{};
  bool rateLogged_ = false;
  Clock::time_point nextPing_;
  uint64_t timerGeneration_ = 0;  // a wait whose generation is old is stale
};

}  // namespace jvb::http::detail
