#pragma once
// The conferences' audio exports (Colibri2 <connects>), JVB's Exporter and
// ExporterWrapper (jvb/.../export/*.kt): per <connect>, a WebSocket to its
// URL (the <http-header>s on the upgrade) that gets the conference's
// forwarded audio in mediajson (control/mediajson.hpp: start, then media
// events; info on open, sources when the connect names exports or requests,
// session-end on removal), optional ping/pong with a timeout, and reconnects
// with JVB's backoff (first at once, then base-delay doubling to max-delay;
// the attempt count is reset only by a connection that stayed up for
// stable-connection-threshold; max-reconnect-attempts, unset: no limit). A
// connect that goes away, or its conference's expiry, sends session-end and
// closes with 1001.
//
// Packets come from the media thread through the export ring
// (media/export_ring.hpp), drained here every 20 ms while some conference
// has an export; the media thread copies packets only for such conferences
// (MediaCompiler::setConferenceExport). Incoming messages are parsed and
// counted (pong ends the ping timeout; transcription results, media, info and
// the rest are counted, not acted on).
//
// Threading: the control thread. A ConferenceListener (after the media
// compiler, whose handles it uses).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "control/conference.hpp"
#include "control/media_compiler.hpp"
#include "control/mediajson.hpp"
#include "media/export_ring.hpp"

namespace jvb::control {

// One WebSocket connection (app/ gives http::WebSocketClient).
class ExportSocket {
 public:
  virtual ~ExportSocket() = default;
  virtual bool send(std::string text) = 0;  // false: not open, or its queue is full
  virtual void close(uint16_t code, std::string reason) = 0;
};
struct ExportSocketCallbacks {
  std::function<void()> opened;
  std::function<void(std::string)> text;
  std::function<void(int code, std::string reason)> closed;  // once; also a failed connect
};
using ExportConnector = std::function<std::unique_ptr<ExportSocket>(
    const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
    ExportSocketCallbacks callbacks)>;

// videobridge.exporter (JVB's reference.conf).
struct ExporterOptions {
  std::optional<int> maxReconnectAttempts;  // max-reconnect-attempts, unset: no limit
  std::chrono::milliseconds baseDelay{1000};
  std::chrono::milliseconds maxDelay{30000};
  std::chrono::milliseconds stableConnectionThreshold{30000};
  std::string version;  // the info event's
  std::string region;   // videobridge.region, empty: none
};

struct ExporterCounters {  // JVB's exporter_* metrics, and ours
  uint64_t starts = 0;
  uint64_t packetsSent = 0;
  uint64_t websocketFailures = 0;
  uint64_t websocketInternalErrors = 0;  // closed with 1011
  uint64_t reconnects = 0;
  uint64_t transcriptsReceived = 0;
  uint64_t transcriptsRelayed = 0;  // endpoints that got one
  uint64_t mediaEventsReceived = 0;
  uint64_t infoReceived = 0;
  uint64_t otherMessagesReceived = 0;
  uint64_t parseFailures = 0;
  uint64_t pingTimeouts = 0;
  uint64_t sendDropped = 0;    // the socket's queue was full
  uint64_t unknownSource = 0;  // an SSRC no longer signalled
  uint64_t ringDropped = 0;    // the export ring was full (media thread)
  uint64_t ringOversize = 0;   // larger than a slot
  uint64_t ringPushed = 0;
  size_t exporters = 0;
  size_t connected = 0;
};

class Exporters : public ConferenceListener {
 public:
  Exporters(boost::asio::io_context& io, std::shared_ptr<media::ExportRing> ring,
            MediaCompiler& compiler, const ConferenceRegistry& registry, ExportConnector connector,
            ExporterOptions options);
  ~Exporters() override;
  Exporters(const Exporters&) = delete;
  Exporters& operator=(const Exporters&) = delete;

  void endpointChanged(const std::string& meetingId, const Endpoint& endpoint) override;
  void endpointExpired(const std::string& meetingId, const std::string& endpointId) override;
  void conferenceExpired(const std::string& meetingId) override;
  void connectsChanged(const std::string& meetingId, const Conference& conference) override;

  // Where a peer's transcription results go: JVB broadcasts each to the
  // conference's endpoints as {"colibriClass":"EndpointMessage","to":"",
  // "msgPayload":<the event>,"from":"transcriber"} (Conference.java
  // handleTranscriptionResult); `message` is that text; returns how many
  // endpoints got it.
  void setTranscriptionSink(
      std::function<size_t(const std::string& meetingId, const std::string& message)> sink) {
    transcriptionSink_ = std::move(sink);
  }

  // Drains the ring now (the timer does it every 20 ms).
  void drain();
  // Stops every export (shutdown).
  void stopAll();

  [[nodiscard]] ExporterCounters counters() const;

  static std::chrono::milliseconds reconnectDelay(int attempt, const ExporterOptions& o);

 private:
  class Exporter;
  struct Lookup {
    std::string tag;
    std::string endpointId;
    std::map<uint8_t, mediajson::MediaFormat> formats;  // the sender's audio payload types
  };
  struct ConferenceExports {
    std::map<std::string, std::unique_ptr<Exporter>> byId;
    std::unordered_map<uint32_t, std::optional<Lookup>> sources;  // by SSRC, cleared on change
  };

  void armDrain();
  void removeConference(const std::string& meetingId);

  boost::asio::io_context& io_;
  std::shared_ptr<media::ExportRing> ring_;
  MediaCompiler& compiler_;
  const ConferenceRegistry& registry_;
  ExportConnector connector_;
  ExporterOptions options_;
  boost::asio::steady_timer drainTimer_;
  bool draining_ = false;
  std::map<std::string, ConferenceExports> conferences_;  // by meeting-id
  ExporterCounters counters_;
  std::function<size_t(const std::string&, const std::string&)> transcriptionSink_;
};

}  // namespace jvb::control
