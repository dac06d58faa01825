#include "control/exporters.hpp"

#include <algorithm>
#include <cmath>

#include "common/log.hpp"

namespace jvb::control {

namespace {
constexpr auto kDrainInterval = std::chrono::milliseconds(20);
constexpr const char* kApplication = "jvb-audio";
}  // namespace

// One <connect>: its socket, its serializer (one per connection, as JVB
// makes a new MediaJsonSerializer on every open), reconnects and pings.
class Exporters::Exporter {
 public:
  using Clock = std::chrono::steady_clock;
  Exporter(Exporters& owner, std::string meetingId, std::string id, ConnectRequest connect)
      : owner_(owner),
        meetingId_(std::move(meetingId)),
        id_(std::move(id)),
        connect_(std::move(connect)),
        reconnectTimer_(owner.io_),
        pingTimer_(owner.io_),
        pingTimeout_(owner.io_),
        alive_(std::make_shared<bool>(true)) {}
  ~Exporter() {
    *alive_ = false;
    socket_.reset();
  }
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  void start() {
    ++owner_.counters_.starts;
    LOG_INFO("export", "conference {}: connect {} ({}) to {}", meetingId_, id_, connect_.type,
             connect_.url);
    open();
  }

  void stop() {
    stopped_ = true;
    reconnectTimer_.cancel();
    stopPing();
    if (socket_) {
      if (open_) {
        socket_->send(mediajson::sessionEndEvent());
      }
      socket_->close(1001, "closing");  // Jetty's CloseStatus.SHUTDOWN
      socket_.reset();
    }
    open_ = false;
  }

  // exports/requests changed (the only live update JVB allows).
  void update(const ConnectRequest& c) {
    connect_.exports = c.exports;
    connect_.requests = c.requests;
    if (open_) {
      sendSources();
    }
  }

  [[nodiscard]] bool connected() const { return open_; }
  [[nodiscard]] bool sameConnection(const ConnectRequest& c) const {
    return c.url == connect_.url && c.type == connect_.type && c.audio == connect_.audio &&
           c.httpHeaders == connect_.httpHeaders && c.ping == connect_.ping;
  }

  // Exporter.wants: connected, and the source is exported (an empty list: all).
  [[nodiscard]] bool wants(const std::string& tag) const {
    return open_ &&
           (connect_.exports.empty() || std::find(connect_.exports.begin(), connect_.exports.end(),
                                                  tag) != connect_.exports.end());
  }

  void encode(const mediajson::Packet& p, const std::string& tag, const std::string& endpointId,
              const mediajson::MediaFormat& format) {
    if (serializer_) {
      serializer_->encode(p, tag, endpointId, format);
      ++owner_.counters_.packetsSent;
    }
  }

 private:
  void open() {
    auto alive = alive_;
    ExportSocketCallbacks cb;
    cb.opened = [this, alive] {
      if (*alive) {
        onOpen();
      }
    };
    cb.text = [this, alive](std::string text) {
      if (*alive) {
        onText(text);
      }
    };
    cb.closed = [this, alive](int code, std::string reason) {
      if (*alive) {
        onClosed(code, reason);
      }
    };
    socket_ = owner_.connector_(connect_.url, connect_.httpHeaders, std::move(cb));
  }

  void onOpen() {
    open_ = true;
    openedAt_ = Clock::now();
    LOG_INFO("export", "conference {}: connect {} open", meetingId_, id_);
    serializer_.emplace([this](std::string text) {
      if (socket_ && !socket_->send(std::move(text))) {
        ++owner_.counters_.sendDropped;
      }
    });
    reconnectTimer_.cancel();
    startPing();
    if (!connect_.exports.empty() || !connect_.requests.empty()) {
      sendSources();
    }
    socket_->send(
        mediajson::infoEvent(kApplication, owner_.options_.version, owner_.options_.region));
  }

  void onText(const std::string& text) {
    const auto in = mediajson::parseIncoming(text);
    auto& k = owner_.counters_;
    switch (in.kind) {
      case mediajson::Incoming::Kind::kMalformed:
        ++k.parseFailures;
        break;
      case mediajson::Incoming::Kind::kPong:
        if (in.id == lastPingId_) {
          pingTimeout_.cancel();
        } else {
          LOG_WARN("export", "conference {}: connect {}: pong id {}, expected {}", meetingId_, id_,
                   in.id, lastPingId_);
        }
        break;
      case mediajson::Incoming::Kind::kTranscriptionResult:
        ++k.transcriptsReceived;
        if (owner_.transcriptionSink_) {
          k.transcriptsRelayed +=
              owner_.transcriptionSink_(meetingId_, mediajson::transcriptionMessage(text));
        }
        break;
      case mediajson::Incoming::Kind::kMedia:
        ++k.mediaEventsReceived;  // translated audio: not injected by this bridge
        break;
      case mediajson::Incoming::Kind::kInfo:
        ++k.infoReceived;
        LOG_INFO("export", "conference {}: connect {}: info {}", meetingId_, id_,
                 text.substr(0, 512));
        break;
      case mediajson::Incoming::Kind::kOther:
        ++k.otherMessagesReceived;
        break;
    }
  }

  void onClosed(int code, const std::string& reason) {
    const bool wasOpen = open_;
    open_ = false;
    serializer_.reset();
    socket_.reset();
    stopPing();
    if (wasOpen && Clock::now() - openedAt_ > owner_.options_.stableConnectionThreshold) {
      attempts_ = 0;  // a stable connection resets the backoff
    }
    if (code == 1011) {
      ++owner_.counters_.websocketInternalErrors;
    }
    if (!wasOpen || code == 1006) {
      ++owner_.counters_.websocketFailures;
    }
    LOG_INFO("export", "conference {}: connect {} closed ({} {})", meetingId_, id_, code, reason);
    if (!stopped_) {
      scheduleReconnect();
    }
  }

  void scheduleReconnect() {
    const int attempt = ++attempts_;
    if (owner_.options_.maxReconnectAttempts && attempt > *owner_.options_.maxReconnectAttempts) {
      LOG_WARN("export", "conference {}: connect {}: max reconnection attempts ({}) reached",
               meetingId_, id_, *owner_.options_.maxReconnectAttempts);
      return;
    }
    const auto delay = reconnectDelay(attempt, owner_.options_);
    LOG_INFO("export", "conference {}: connect {}: reconnection attempt {} in {} ms", meetingId_,
             id_, attempt, delay.count());
    reconnectTimer_.expires_after(delay);
    auto alive = alive_;
    reconnectTimer_.async_wait([this, alive](const boost::system::error_code& ec) {
      if (ec || !*alive || stopped_) {
        return;
      }
      ++owner_.counters_.reconnects;
      open();
    });
  }

  void sendSources() {
    socket_->send(mediajson::sourcesEvent(connect_.exports, connect_.requests));
  }

  // <ping interval timeout/>: a ping every interval; no matching pong
  // within timeout closes (1000 "Ping timeout") and reconnects.
  void startPing() {
    if (!connect_.ping || connect_.ping->first <= 0) {
      return;
    }
    stopPing();
    armPing();
  }

  void armPing() {
    pingTimer_.expires_after(std::chrono::milliseconds(connect_.ping->first));
    auto alive = alive_;
    pingTimer_.async_wait([this, alive](const boost::system::error_code& ec) {
      if (ec || !*alive || !open_) {
        return;
      }
      const int id = ++nextPingId_;
      if (socket_->send(mediajson::pingEvent(id))) {
        lastPingId_ = id;
        pingTimeout_.expires_after(std::chrono::milliseconds(std::max(0, connect_.ping->second)));
        pingTimeout_.async_wait([this, alive](const boost::system::error_code& e) {
          if (e || !*alive || !open_) {
            return;
          }
          ++owner_.counters_.pingTimeouts;
          LOG_WARN("export", "conference {}: connect {}: ping timeout, reconnecting", meetingId_,
                   id_);
          stopPing();
          if (socket_) {
            socket_->close(1000, "Ping timeout");
          }
          onClosed(1000, "Ping timeout");
        });
      }
      armPing();
    });
  }

  void stopPing() {
    pingTimer_.cancel();
    pingTimeout_.cancel();
  }

  Exporters& owner_;
  std::string meetingId_;
  std::string id_;
  ConnectRequest connect_;
  std::unique_ptr<ExportSocket> socket_;
  std::optional<mediajson::Serializer> serializer_;
  boost::asio::steady_timer reconnectTimer_;
  boost::asio::steady_timer pingTimer_;
  boost::asio::steady_timer pingTimeout_;
  std::shared_ptr<bool> alive_;  // callbacks and timers check it
  bool open_ = false;
  bool stopped_ = false;
  int attempts_ = 0;
  int nextPingId_ = 0;
  int lastPingId_ = 0;
  Clock::time_point openedAt_{};
};

Exporters::Exporters(boost::asio::io_context& io, std::shared_ptr<media::ExportRing> ring,
                     MediaCompiler& compiler, const ConferenceRegistry& registry,
                     ExportConnector connector, ExporterOptions options)
    : io_(io),
      ring_(std::move(ring)),
      compiler_(compiler),
      registry_(registry),
      connector_(std::move(connector)),
      options_(std::move(options)),
      drainTimer_(io) {}

Exporters::~Exporters() {
  stopAll();
}

std::chrono::milliseconds Exporters::reconnectDelay(int attempt, const ExporterOptions& o) {
  // Exporter.getDelayMs: 0, base, base * 2, ... at most max.
  if (attempt <= 1) {
    return std::chrono::milliseconds(0);
  }
  const double d = static_cast<double>(o.baseDelay.count()) * std::pow(2.0, attempt - 2);
  return std::chrono::milliseconds(
      static_cast<int64_t>(std::min(d, static_cast<double>(o.maxDelay.count()))));
}

void Exporters::endpointChanged(const std::string& meetingId, const Endpoint&) {
  if (auto it = conferences_.find(meetingId); it != conferences_.end()) {
    it->second.sources.clear();
  }
}

void Exporters::endpointExpired(const std::string& meetingId, const std::string&) {
  if (auto it = conferences_.find(meetingId); it != conferences_.end()) {
    it->second.sources.clear();
  }
}

void Exporters::conferenceExpired(const std::string& meetingId) {
  removeConference(meetingId);
}

void Exporters::removeConference(const std::string& meetingId) {
  auto it = conferences_.find(meetingId);
  if (it == conferences_.end()) {
    return;
  }
  for (auto& [id, e] : it->second.byId) {
    e->stop();
  }
  conferences_.erase(it);
  compiler_.setConferenceExport(meetingId, false);
}

void Exporters::connectsChanged(const std::string& meetingId, const Conference& conference) {
  if (conference.connects.empty()) {
    removeConference(meetingId);
    return;
  }
  ConferenceExports& ce = conferences_[meetingId];
  for (auto it = ce.byId.begin(); it != ce.byId.end();) {
    if (conference.connects.count(it->first) == 0) {
      LOG_INFO("export", "conference {}: stopping connect {}", meetingId, it->first);
      it->second->stop();
      it = ce.byId.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [id, c] : conference.connects) {
    auto it = ce.byId.find(id);
    if (it == ce.byId.end()) {
      auto e = std::make_unique<Exporter>(*this, meetingId, id, c);
      Exporter& ref = *e;
      ce.byId.emplace(id, std::move(e));
      ref.start();
    } else if (!it->second->sameConnection(c)) {
      // expire + create of the same id in one request, with a new URL,
      // type, headers or ping: a new exporter.
      it->second->stop();
      it->second = std::make_unique<Exporter>(*this, meetingId, id, c);
      it->second->start();
    } else {
      it->second->update(c);
    }
  }
  compiler_.setConferenceExport(meetingId, true);
  if (!draining_) {
    ring_->drain([](const media::ExportPacket&) {});  // left from an earlier export
    draining_ = true;
    armDrain();
  }
}

void Exporters::armDrain() {
  drainTimer_.expires_after(kDrainInterval);
  drainTimer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    drain();
    if (conferences_.empty()) {
      draining_ = false;
      return;
    }
    armDrain();
  });
}

void Exporters::drain() {
  ring_->drain([this](const media::ExportPacket& p) {
    const std::string* meetingId = compiler_.meetingIdOf(p.conference);
    if (meetingId == nullptr) {
      return;
    }
    auto c = conferences_.find(*meetingId);
    if (c == conferences_.end()) {
      return;
    }
    ConferenceExports& ce = c->second;
    auto [s, fresh] = ce.sources.try_emplace(p.ssrc);
    if (fresh) {
      // The sender and its source by SSRC (cached until the conference's
      // endpoints change).
      if (const Conference* conf = registry_.findByMeetingId(*meetingId)) {
        for (const auto& [epId, ep] : conf->endpoints) {
          auto src = ep.audioSources.find(p.ssrc);
          if (src == ep.audioSources.end()) {
            continue;
          }
          Lookup l;
          l.tag = src->second.name;
          l.endpointId = epId;
          for (const auto& pt : ep.audioPayloadTypes) {
            mediajson::MediaFormat f;
            f.encoding = pt.name;
            std::transform(f.encoding.begin(), f.encoding.end(), f.encoding.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            f.sampleRate = pt.clockrate != 0 ? pt.clockrate : 48000;
            f.channels = pt.channels;
            f.parameters = pt.parameters;
            l.formats[static_cast<uint8_t>(pt.id)] = std::move(f);
          }
          if (!l.tag.empty()) {
            s->second = std::move(l);
          }
          break;
        }
      }
    }
    if (!s->second) {
      ++counters_.unknownSource;  // JVB drops audio of an SSRC with no source name
      return;
    }
    const Lookup& l = *s->second;
    auto f = l.formats.find(p.payloadType);
    if (f == l.formats.end()) {
      ++counters_.unknownSource;
      return;
    }
    mediajson::Packet mp;
    mp.ssrc = p.ssrc;
    mp.sequenceNumber = p.sequenceNumber;
    mp.timestamp = p.timestamp;
    mp.payloadType = p.payloadType;
    if (p.audioLevel >= 0) {
      mp.audioLevel = p.audioLevel;
      mp.vad = p.vad;
    }
    mp.payload = std::span<const uint8_t>(p.payload, p.length);
    for (auto& [id, e] : ce.byId) {
      if (e->wants(l.tag)) {
        e->encode(mp, l.tag, l.endpointId, f->second);
      }
    }
  });
}

void Exporters::stopAll() {
  drainTimer_.cancel();
  draining_ = false;
  std::vector<std::string> ids;
  for (const auto& [id, c] : conferences_) {
    ids.push_back(id);
  }
  for (const auto& id : ids) {
    removeConference(id);
  }
}

ExporterCounters Exporters::counters() const {
  ExporterCounters k = counters_;
  k.ringDropped = ring_->dropped();
  k.ringOversize = ring_->oversize();
  k.ringPushed = ring_->pushed();
  for (const auto& [m, c] : conferences_) {
    k.exporters += c.byId.size();
    for (const auto& [id, e] : c.byId) {
      k.connected += e->connected() ? 1 : 0;
    }
  }
  return k;
}

}  // namespace jvb::control
