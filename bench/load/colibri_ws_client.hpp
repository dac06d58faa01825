#pragma once
// The endpoint side of colibri-ws for the load tool (README "Bridge channel"):
// one Boost.Beast WebSocket client per endpoint, on the media engine's
// io_context, so that every callback runs on the media thread, in the same
// event loop as the endpoint's RTP. It connects to the URL of the endpoint's
// Colibri2 transport (ws:// only: the load script runs the bridge with
// websockets.tls = false), reads text messages until stopped and hands each to
// onMessage. It never writes; Beast answers the bridge's pings.
//
// Also the parsing of what the load tool reads from the bridge channel (the
// colibriClass, and AudioSourcesMap's mappedSources).
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jvb::load {

struct WsUrl {
  std::string host;  // an IP literal (IPv6 without brackets)
  uint16_t port = 0;
  std::string target;      // path and query
  std::string hostHeader;  // host[:port] as written in the URL
};

// "ws://127.0.0.1:9090/colibri-ws/<server>/<conf>/<ep>?pwd=..."; nullopt with
// `why` set for anything else (wss://, a host name, no port).
std::optional<WsUrl> parseWsUrl(std::string_view url, std::string& why);

// One entry of AudioSourcesMap.mappedSources.
struct MappedSource {
  std::string source;
  std::string owner;
  uint32_t ssrc = 0;
};

struct BridgeMessage {
  std::string colibriClass;          // empty when malformed
  std::vector<MappedSource> mapped;  // AudioSourcesMap only
  int badEntries = 0;                // AudioSourcesMap entries without source/owner/32-bit ssrc
  bool malformed = false;            // not a JSON object with a string colibriClass
};

BridgeMessage parseBridgeMessage(std::string_view text);

class ColibriWsClient {
 public:
  struct Callbacks {
    std::function<void()> onOpen;                       // handshake done
    std::function<void(std::string_view)> onMessage;    // one text message
    std::function<void(const std::string&)> onFailure;  // connect/handshake/read failed
  };

  // Does nothing until start(). `io` runs every handler; the client must be
  // destroyed on that io_context's thread, or after it stopped.
  ColibriWsClient(boost::asio::io_context& io, WsUrl url,
                  std::chrono::milliseconds handshakeTimeout, Callbacks callbacks);
  ~ColibriWsClient();
  ColibriWsClient(const ColibriWsClient&) = delete;
  ColibriWsClient& operator=(const ColibriWsClient&) = delete;

  void start();
  // Closes the TCP connection at once; no callback afterwards.
  void stop();

  [[nodiscard]] bool open() const;
  [[nodiscard]] uint64_t messages() const;
  [[nodiscard]] uint64_t binaryMessages() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jvb::load
