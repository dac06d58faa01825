#include "colibri_ws_client.hpp"

#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>
#include <nlohmann/json.hpp>

namespace jvb::load {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using asio::ip::tcp;

std::optional<WsUrl> parseWsUrl(std::string_view url, std::string& why) {
  constexpr std::string_view kScheme = "ws://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    why = fmt::format(
        "'{}' is not a ws:// URL (the load tool speaks no TLS: run the bridge with "
        "videobridge.websockets.tls = false)",
        url);
    return std::nullopt;
  }
  const std::string_view rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) {
    why = fmt::format("'{}' has no path", url);
    return std::nullopt;
  }
  WsUrl u;
  const std::string_view authority = rest.substr(0, slash);
  u.hostHeader = std::string(authority);
  u.target = std::string(rest.substr(slash));
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos || close + 1 >= authority.size() ||
        authority[close + 1] != ':') {
      why = fmt::format("'{}': no port after the IPv6 address", url);
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    port = authority.substr(close + 2);
  } else {
    const auto colon = authority.rfind(':');
    if (colon == std::string_view::npos) {
      why = fmt::format("'{}' has no port", url);
      return std::nullopt;
    }
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  unsigned p = 0;
  const auto r = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || p == 0 ||
      p > 65535) {
    why = fmt::format("'{}': bad port '{}'", url, port);
    return std::nullopt;
  }
  boost::system::error_code ec;
  asio::ip::make_address(std::string(host), ec);
  if (ec) {
    why = fmt::format("'{}': the host '{}' is not an IP address", url, host);
    return std::nullopt;
  }
  u.host = std::string(host);
  u.port = static_cast<uint16_t>(p);
  return u;
}

BridgeMessage parseBridgeMessage(std::string_view text) {
  BridgeMessage m;
  const auto j =
      nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    m.malformed = true;
    return m;
  }
  const auto cls = j.find("colibriClass");
  if (cls == j.end() || !cls->is_string()) {
    m.malformed = true;
    return m;
  }
  m.colibriClass = cls->get<std::string>();
  if (m.colibriClass != "AudioSourcesMap") {
    return m;
  }
  const auto sources = j.find("mappedSources");
  if (sources == j.end() || !sources->is_array()) {
    m.malformed = true;
    return m;
  }
  for (const auto& e : *sources) {
    const auto source = e.find("source");
    const auto owner = e.find("owner");
    const auto ssrc = e.find("ssrc");
    if (!e.is_object() || source == e.end() || !source->is_string() || owner == e.end() ||
        !owner->is_string() || ssrc == e.end() || !ssrc->is_number_integer() ||
        (ssrc->is_number_unsigned() ? ssrc->get<uint64_t>() > 0xFFFFFFFFULL
                                    : ssrc->get<int64_t>() < 0)) {
      ++m.badEntries;
      continue;
    }
    m.mapped.push_back(MappedSource{source->get<std::string>(), owner->get<std::string>(),
                                    static_cast<uint32_t>(ssrc->get<uint64_t>())});
  }
  return m;
}

struct ColibriWsClient::Impl {
  Impl(asio::io_context& io, WsUrl u, std::chrono::milliseconds timeout, Callbacks c)
      : ws(io), url(std::move(u)), handshakeTimeout(timeout), cb(std::move(c)) {}

  void start() {
    boost::system::error_code ec;
    const tcp::endpoint to(asio::ip::make_address(url.host, ec), url.port);
    if (ec) {
      fail(fmt::format("colibri-ws: bad address {}: {}", url.host, ec.message()));
      return;
    }
    websocket::stream_base::timeout t{};
    t.handshake_timeout = handshakeTimeout;
    t.idle_timeout = websocket::stream_base::none();  // the bridge pings; Beast answers
    t.keep_alive_pings = false;
    ws.set_option(t);
    ws.read_message_max(4 * 1024 * 1024);
    ws.next_layer().async_connect(to, [this](const boost::system::error_code& e) {
      if (stopped) {
        return;
      }
      if (e) {
        fail(fmt::format("colibri-ws: connect to {}: {}", url.hostHeader, e.message()));
        return;
      }
      ws.async_handshake(response, url.hostHeader, url.target, [this](beast::error_code he) {
        if (stopped) {
          return;
        }
        if (he) {
          fail(fmt::format("colibri-ws: handshake for {} failed: {} (HTTP {})", url.target,
                           he.message(), response.result_int()));
          return;
        }
        isOpen = true;
        if (cb.onOpen) {
          cb.onOpen();
        }
        read();
      });
    });
  }

  void read() {
    if (stopped) {
      return;
    }
    ws.async_read(buffer, [this](beast::error_code ec, std::size_t) {
      if (stopped) {
        return;
      }
      if (ec) {
        isOpen = false;
        if (ec == websocket::error::closed) {
          fail(fmt::format("colibri-ws closed by the bridge (code {}, '{}')", ws.reason().code,
                           std::string(ws.reason().reason.c_str())));
        } else {
          fail(fmt::format("colibri-ws read failed: {}", ec.message()));
        }
        return;
      }
      if (ws.got_text()) {
        ++messages;
        const auto data = buffer.cdata();
        if (cb.onMessage) {
          cb.onMessage(std::string_view(static_cast<const char*>(data.data()), data.size()));
        }
      } else {
        ++binary;
      }
      buffer.consume(buffer.size());
      read();
    });
  }

  void fail(const std::string& why) {
    stop();
    if (cb.onFailure) {
      cb.onFailure(why);
    }
  }

  void stop() {
    if (stopped) {
      return;
    }
    stopped = true;
    isOpen = false;
    boost::system::error_code ignored;
    ws.next_layer().close(ignored);
  }

  websocket::stream<tcp::socket> ws;
  WsUrl url;
  std::chrono::milliseconds handshakeTimeout;
  Callbacks cb;
  websocket::response_type response;
  beast::flat_buffer buffer;
  bool stopped = false;
  bool isOpen = false;
  uint64_t messages = 0;
  uint64_t binary = 0;
};

ColibriWsClient::ColibriWsClient(asio::io_context& io, WsUrl url,
                                 std::chrono::milliseconds handshakeTimeout, Callbacks callbacks)
    : impl_(std::make_unique<Impl>(io, std::move(url), handshakeTimeout, std::move(callbacks))) {}

ColibriWsClient::~ColibriWsClient() {
  impl_->stop();
}

void ColibriWsClient::start() {
  impl_->start();
}

void ColibriWsClient::stop() {
  impl_->stop();
}

bool ColibriWsClient::open() const {
  return impl_->isOpen;
}

uint64_t ColibriWsClient::messages() const {
  return impl_->messages;
}

uint64_t ColibriWsClient::binaryMessages() const {
  return impl_->binary;
}

}  // namespace jvb::load
