#include "control/bridge_channels.hpp"

#include "common/log.hpp"
#include "control/media_compiler.hpp"

namespace jvb::control {

namespace {
constexpr uint16_t kCloseGoingAway = 1001;  // RFC 6455: the endpoint expired
constexpr uint16_t kCloseReplaced = 4000;   // an application code: a newer socket took over
}  // namespace

BridgeChannels::BridgeChannels(const ConferenceRegistry& conferences, std::string serverId,
                               MediaCompiler* media, BridgeChannelOptions options)
    : conferences_(conferences),
      serverId_(std::move(serverId)),
      media_(media),
      hub_(BridgeChannelHub::Hooks{
               [this](const std::string& meetingId, const std::string& endpointId,
                      const media::AudioSubscription& subscription) {
                 if (media_ != nullptr) {
                   media_->setAudioSubscription(meetingId, endpointId, subscription);
                 }
               },
               {},
               [this](const std::string& meetingId, const std::string& endpointId) {
                 sendAllMappings(meetingId, endpointId);
               }},
           std::move(options)) {}

void BridgeChannels::audioSlotsChanged(const std::string& meetingId,
                                       const std::vector<media::AudioSlotMapping>& changes) {
  std::map<std::string, std::vector<channel::MappedSource>> announce;
  for (const auto& c : changes) {
    if (conferences_.findEndpoint(meetingId, c.receiver) == nullptr) {
      continue;  // expired while the event was on its way
    }
    auto& slots = mappings_[Key{meetingId, c.receiver}];
    if (c.freed) {
      slots.erase(c.slot);
      continue;
    }
    channel::MappedSource m{c.source, c.owner, c.ssrc, c.mid};
    slots[c.slot] = m;
    announce[c.receiver].push_back(std::move(m));
  }
  for (const auto& [receiver, mapped] : announce) {
    mappingsAnnounced_ += mapped.size();
    if (hub_.sendTo(meetingId, receiver, channel::audioSourcesMap(mapped))) {
      ++mapsSent_;
    } else {
      ++mapsDropped_;  // no channel yet: the full map goes out when one opens
    }
  }
}

void BridgeChannels::sendAllMappings(const std::string& meetingId, const std::string& endpointId) {
  auto it = mappings_.find(Key{meetingId, endpointId});
  if (it == mappings_.end() || it->second.empty()) {
    return;
  }
  std::vector<channel::MappedSource> all;
  all.reserve(it->second.size());
  for (const auto& [slot, m] : it->second) {
    all.push_back(m);
  }
  if (hub_.sendTo(meetingId, endpointId, channel::audioSourcesMap(all))) {
    ++mapsSent_;
    ++fullMapsSent_;
  } else {
    ++mapsDropped_;
  }
}

ColibriWsVerdict BridgeChannels::authorize(std::string_view target) {
  auto v = authorizeColibriWs(target, serverId_, conferences_);
  if (v.status != 101) {
    ++socketsRefused_;
    LOG_INFO("channel", "colibri-ws refused ({} {}): {}", v.status, v.reason,
             target.substr(0, target.find('?')));
  }
  return v;
}

void BridgeChannels::socketOpened(std::string_view target, Socket socket) {
  // Checked again: the conference may have gone between upgrade and open.
  const auto v = authorizeColibriWs(target, serverId_, conferences_);
  if (v.status != 101) {
    socket.close(kCloseGoingAway, v.reason);
    return;
  }
  const Key key{v.meetingId, v.endpointId};
  if (auto old = socketOf_.find(key); old != socketOf_.end()) {
    auto it = sockets_.find(old->second);
    if (it != sockets_.end()) {
      ++socketsReplaced_;
      auto previous = std::move(it->second.socket);
      hub_.detach(v.meetingId, v.endpointId, ChannelTransport::kWebSocket, previous.id);
      sockets_.erase(it);
      previous.close(kCloseReplaced, "replaced");
    }
  }
  const uint64_t id = socket.id;
  socketOf_[key] = id;
  auto send = socket.send;
  sockets_[id] = OpenSocket{v.meetingId, v.endpointId, std::move(socket)};
  LOG_DEBUG("channel", "{}/{}: colibri-ws open", v.meetingId, v.endpointId);
  hub_.attach(v.meetingId, v.endpointId, ChannelTransport::kWebSocket, id,
              [this, send](const std::string& text) {
                ++wsOut_;
                send(text);
                return true;
              });
}

void BridgeChannels::socketMessage(uint64_t socketId, std::string_view text) {
  auto it = sockets_.find(socketId);
  if (it == sockets_.end()) {
    return;
  }
  ++wsIn_;
  // Copies: the hub may close this very socket while handling the message.
  const std::string meetingId = it->second.meetingId;
  const std::string endpointId = it->second.endpointId;
  hub_.onMessage(meetingId, endpointId, ChannelTransport::kWebSocket, text);
}

void BridgeChannels::socketClosed(uint64_t socketId) {
  auto it = sockets_.find(socketId);
  if (it == sockets_.end()) {
    return;
  }
  const Key key{it->second.meetingId, it->second.endpointId};
  hub_.detach(key.first, key.second, ChannelTransport::kWebSocket, socketId);
  if (auto s = socketOf_.find(key); s != socketOf_.end() && s->second == socketId) {
    socketOf_.erase(s);
  }
  sockets_.erase(it);
}

void BridgeChannels::channelOpened(const std::string& meetingId, const std::string& endpointId,
                                   uint64_t channelId) {
  if (conferences_.findEndpoint(meetingId, endpointId) == nullptr) {
    return;  // expired while the event was on its way
  }
  hub_.attach(meetingId, endpointId, ChannelTransport::kSctp, channelId,
              [this, meetingId, endpointId](const std::string& text) {
                if (media_ == nullptr) {
                  return false;
                }
                ++sctpOut_;
                return media_->sendChannelMessage(meetingId, endpointId, text);
              });
}

void BridgeChannels::channelMessage(const std::string& meetingId, const std::string& endpointId,
                                    std::string_view text) {
  ++sctpIn_;
  hub_.onMessage(meetingId, endpointId, ChannelTransport::kSctp, text);
}

void BridgeChannels::channelClosed(const std::string& meetingId, const std::string& endpointId,
                                   uint64_t channelId) {
  hub_.detach(meetingId, endpointId, ChannelTransport::kSctp, channelId);
}

void BridgeChannels::dominantSpeakerChanged(const std::string& meetingId,
                                            const std::string& dominant,
                                            const std::vector<std::string>& previous,
                                            bool silence) {
  hub_.dominantSpeakerChanged(meetingId, dominant, previous, silence);
}

void BridgeChannels::connectivityChanged(const std::string& meetingId,
                                         const std::string& endpointId, bool active) {
  hub_.connectivityChanged(meetingId, endpointId, active);
}

void BridgeChannels::endpointExpired(const std::string& meetingId, const std::string& endpointId) {
  hub_.endpointExpired(meetingId, endpointId);
  mappings_.erase(Key{meetingId, endpointId});
  auto s = socketOf_.find(Key{meetingId, endpointId});
  if (s == socketOf_.end()) {
    return;
  }
  auto it = sockets_.find(s->second);
  socketOf_.erase(s);
  if (it != sockets_.end()) {
    auto socket = std::move(it->second.socket);
    sockets_.erase(it);
    socket.close(kCloseGoingAway, "endpoint expired");
  }
}

void BridgeChannels::conferenceExpired(const std::string& meetingId) {
  hub_.conferenceExpired(meetingId);
  for (auto it = mappings_.lower_bound(Key{meetingId, std::string()});
       it != mappings_.end() && it->first.first == meetingId;) {
    it = mappings_.erase(it);
  }
}

BridgeChannelTotals BridgeChannels::totals() const {
  BridgeChannelTotals t;
  t.dataChannelMessagesReceived = sctpIn_;
  t.dataChannelMessagesSent = sctpOut_;
  t.webSocketMessagesReceived = wsIn_;
  t.webSocketMessagesSent = wsOut_;
  const auto& c = hub_.counters();
  t.details = {{"websockets_open", sockets_.size()},
               {"websockets_refused", socketsRefused_},
               {"websockets_replaced", socketsReplaced_},
               {"messages_in", c.messagesIn},
               {"messages_out", c.messagesOut},
               {"malformed", c.malformed},
               {"unknown_class", c.unknownClass},
               {"endpoint_messages_relayed", c.endpointMessagesRelayed},
               {"endpoint_stats_relayed", c.endpointStatsRelayed},
               {"dominant_speaker_events", c.dominantSpeakerEvents},
               {"connectivity_status_events", c.connectivityEvents},
               {"connectivity_status_replayed", c.connectivityReplayed},
               {"send_failures", c.sendFailures},
               {"audio_sources_maps_sent", mapsSent_},
               {"audio_sources_full_maps_sent", fullMapsSent_},
               {"audio_sources_maps_dropped", mapsDropped_},
               {"audio_sources_mappings_announced", mappingsAnnounced_}};
  return t;
}

}  // namespace jvb::control
