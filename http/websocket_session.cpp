#include "http/websocket_session.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <boost/beast/core/bind_handler.hpp>

#include "common/log.hpp"
#include "common/redact.hpp"

namespace jvb::http::detail {
namespace {

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
  LOG_DEBUG("http", "websocket {} open: {}", id_, redactSecrets(target_));
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
  } else if (state_ == State::kOpen && !admitMessage()) {
    const uint64_t n = ++counters().rateLimited;
    if (!rateLogged_) {
      rateLogged_ = true;
      LOG_WARN("http",
               "websocket {}: more than {} messages a second, the excess dropped and counted ({} "
               "so far, all sockets); not logged again for this socket",
               id_, limits().maxMessagesPerSecond, n);
    }
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

bool WsSession::admitMessage() {
  const auto& lim = limits();
  if (lim.maxMessagesPerSecond == 0) {
    return true;
  }
  // A GCRA (as media/rate_limit.hpp): one message per interval on average,
  // maxMessageBurst intervals ahead at most.
  const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)) /
                        static_cast<Clock::rep>(lim.maxMessagesPerSecond);
  const auto tolerance = interval * static_cast<Clock::rep>(lim.maxMessageBurst);
  const auto now = Clock::now();
  const auto t = std::max(messageTat_, now);
  if (t - now > tolerance) {
    return false;
  }
  messageTat_ = t + interval;
  return true;
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

}  // namespace jvb::http::detail
