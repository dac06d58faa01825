#include "http/websocket_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <optional>
#include <variant>

#include "common/log.hpp"

namespace jvb::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

bool parseWebSocketUrl(const std::string& url, WebSocketUrl& out) {
  std::string rest;
  if (url.rfind("ws://", 0) == 0) {
    out.tls = false;
    rest = url.substr(5);
  } else if (url.rfind("wss://", 0) == 0) {
    out.tls = true;
    rest = url.substr(6);
  } else {
    return false;
  }
  const size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!out.target.empty() && out.target[0] == '?') {
    out.target.insert(out.target.begin(), '/');
  }
  if (const size_t at = authority.rfind('@'); at != std::string::npos) {
    authority = authority.substr(at + 1);  // user info is not sent
  }
  out.port = out.tls ? "443" : "80";
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) {
      return false;
    }
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        return false;
      }
      out.port = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      out.port = authority.substr(colon + 1);
    }
  }
  if (out.host.empty() || out.port.empty() ||
      out.port.find_first_not_of("0123456789") != std::string::npos || out.port.size() > 5) {
    return false;
  }
  return true;
}

namespace {

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

class Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, WebSocketUrl url, WebSocketClient::Options options,
       WebSocketClient::Callbacks callbacks)
      : io_(io),
        url_(std::move(url)),
        options_(std::move(options)),
        callbacks_(std::move(callbacks)),
        resolver_(io) {}

  void start() {
    if (url_.tls) {
      tls_.emplace(asio::ssl::context::tls_client);
      tls_->set_default_verify_paths();
      tls_->set_verify_mode(asio::ssl::verify_peer);
      ws_.emplace<TlsWs>(io_, *tls_);
    } else {
      ws_.emplace<PlainWs>(io_);
    }
    resolver_.async_resolve(
        url_.host, url_.port,
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          self->onResolve(ec, std::move(results));
        });
  }

  bool send(std::string text) {
    if (!open_ || closing_ || queue_.size() >= options_.maxQueuedMessages ||
        queuedBytes_ + text.size() > options_.maxQueuedBytes) {
      return false;
    }
    queuedBytes_ += text.size();
    queue_.push_back(std::move(text));
    if (!writing_) {
      doWrite();
    }
    return true;
  }

  void close(uint16_t code, std::string reason) {
    callbacks_ = {};
    if (finished_) {
      return;
    }
    if (!open_) {
      abort();
      return;
    }
    closing_ = true;
    closeCode_ = code;
    closeReason_ = std::move(reason);
    if (!writing_) {
      sendClose();
    }
  }

  void rejectUrl() { fail(1006, "invalid URL"); }

  // The handle went away: no more callbacks, and the socket ends.
  void detach() {
    callbacks_ = {};
    if (!finished_ && !closing_) {
      abort();
    }
  }

 private:
  template <typename F>
  void withWs(F&& f) {
    std::visit(
        [&](auto& ws) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(ws)>, std::monostate>) {
            f(ws);
          }
        },
        ws_);
  }

  beast::tcp_stream& tcpStream() {
    if (auto* t = std::get_if<TlsWs>(&ws_)) {
      return beast::get_lowest_layer(*t);
    }
    return beast::get_lowest_layer(std::get<PlainWs>(ws_));
  }

  void fail(int code, const std::string& reason) {
    if (finished_) {
      return;
    }
    finished_ = true;
    open_ = false;
    beast::error_code ignored;
    resolver_.cancel();
    if (!std::holds_alternative<std::monostate>(ws_)) {
      tcpStream().socket().close(ignored);
    }
    if (auto cb = std::move(callbacks_.closed)) {
      callbacks_ = {};
      cb(code, reason);
    }
  }

  void abort() {
    callbacks_ = {};
    fail(1006, "aborted");
  }

  void onResolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) {
      fail(1006, fmt::format("resolve: {}", ec.message()));
      return;
    }
    if (finished_) {
      return;
    }
    tcpStream().expires_after(std::chrono::milliseconds(options_.connectTimeoutMs));
    tcpStream().async_connect(
        results, [self = shared_from_this()](beast::error_code e, const tcp::endpoint&) {
          self->onConnect(e);
        });
  }

  void onConnect(beast::error_code ec) {
    if (ec) {
      fail(1006, fmt::format("connect: {}", ec.message()));
      return;
    }
    if (finished_) {
      return;
    }
    if (auto* t = std::get_if<TlsWs>(&ws_)) {
      auto& ssl = t->next_layer();
      // SSL_set_tlsext_host_name without its old-style cast.
      if (SSL_ctrl(ssl.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                   const_cast<char*>(url_.host.c_str())) != 1) {
        fail(1006, "TLS: SNI");
        return;
      }
      ssl.set_verify_callback(asio::ssl::host_name_verification(url_.host));
      ssl.async_handshake(asio::ssl::stream_base::client,
                          [self = shared_from_this()](beast::error_code e) {
                            if (e) {
                              self->fail(1006, fmt::format("TLS handshake: {}", e.message()));
                              return;
                            }
                            self->handshake();
                          });
      return;
    }
    handshake();
  }

  void handshake() {
    if (finished_) {
      return;
    }
    tcpStream().expires_never();
    std::string hostHeader =
        url_.host.find(':') != std::string::npos ? fmt::format("[{}]", url_.host) : url_.host;
    if (url_.port != (url_.tls ? "443" : "80")) {
      hostHeader += fmt::format(":{}", url_.port);
    }
    withWs([&](auto& ws) {
      websocket::stream_base::timeout t =
          websocket::stream_base::timeout::suggested(beast::role_type::client);
      t.handshake_timeout = std::chrono::milliseconds(options_.connectTimeoutMs);
      ws.set_option(t);
      ws.read_message_max(options_.maxMessageBytes);
      const auto headers = options_.headers;
      ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
        req.set(beast::http::field::user_agent, "jvb-audio");
        for (const auto& [name, value] : headers) {
          req.set(name, value);
        }
      }));
      ws.async_handshake(hostHeader, url_.target, [self = shared_from_this()](beast::error_code e) {
        self->onHandshake(e);
      });
    });
  }

  void onHandshake(beast::error_code ec) {
    if (ec) {
      fail(1006, fmt::format("handshake: {}", ec.message()));
      return;
    }
    if (finished_) {
      return;
    }
    open_ = true;
    doRead();
    if (callbacks_.opened) {
      auto cb = callbacks_.opened;  // may close or destroy us
      cb();
    }
  }

  void doRead() {
    withWs([&](auto& ws) {
      ws.async_read(buffer_,
                    [self = shared_from_this()](beast::error_code e, size_t) { self->onRead(e); });
    });
  }

  void onRead(beast::error_code ec) {
    if (ec) {
      int code = 1006;
      std::string reason = ec.message();
      withWs([&](auto& ws) {
        if (ec == websocket::error::closed) {
          code = ws.reason().code;
          reason = std::string(ws.reason().reason.c_str());
        }
      });
      fail(code, reason);
      return;
    }
    std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    doRead();
    if (callbacks_.text) {
      auto cb = callbacks_.text;
      cb(std::move(text));
    }
  }

  void doWrite() {
    if (queue_.empty()) {
      writing_ = false;
      if (closing_) {
        sendClose();
      }
      return;
    }
    writing_ = true;
    withWs([&](auto& ws) {
      ws.text(true);
      ws.async_write(
          asio::buffer(queue_.front()),
          [self = shared_from_this()](beast::error_code e, size_t) { self->onWrite(e); });
    });
  }

  void onWrite(beast::error_code ec) {
    if (ec) {
      fail(1006, fmt::format("write: {}", ec.message()));
      return;
    }
    queuedBytes_ -= queue_.front().size();
    queue_.pop_front();
    doWrite();
  }

  void sendClose() {
    if (closeSent_ || finished_) {
      return;
    }
    closeSent_ = true;
    withWs([&](auto& ws) {
      ws.async_close(websocket::close_reason(static_cast<websocket::close_code>(closeCode_),
                                             closeReason_.substr(0, 120)),
                     [self = shared_from_this()](beast::error_code) {
                       // The pending read ends with `closed`; make sure it does.
                       self->fail(1000, "closed");
                     });
    });
  }

  asio::io_context& io_;
  WebSocketUrl url_;
  WebSocketClient::Options options_;
  WebSocketClient::Callbacks callbacks_;
  tcp::resolver resolver_;
  std::optional<asio::ssl::context> tls_;
  std::variant<std::monostate, PlainWs, TlsWs> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  size_t queuedBytes_ = 0;
  bool open_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool closeSent_ = false;
  bool finished_ = false;
  uint16_t closeCode_ = 1000;
  std::string closeReason_;
};

class Handle final : public WebSocketClient {
 public:
  explicit Handle(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  ~Handle() override { impl_->detach(); }
  bool send(std::string text) override { return impl_->send(std::move(text)); }
  void close(uint16_t code, std::string reason) override { impl_->close(code, std::move(reason)); }

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace

std::unique_ptr<WebSocketClient> WebSocketClient::connect(asio::io_context& io,
                                                          const std::string& url, Options options,
                                                          Callbacks callbacks) {
  WebSocketUrl parsed;
  if (!parseWebSocketUrl(url, parsed)) {
    auto impl =
        std::make_shared<Impl>(io, WebSocketUrl{}, std::move(options), std::move(callbacks));
    asio::post(io, [impl] { impl->rejectUrl(); });  // no callback from inside connect()
    return std::make_unique<Handle>(std::move(impl));
  }
  auto impl =
      std::make_shared<Impl>(io, std::move(parsed), std::move(options), std::move(callbacks));
  impl->start();
  return std::make_unique<Handle>(std::move(impl));
}

}  // namespace jvb::http
