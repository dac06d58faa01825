#include "media/media_router.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <variant>

#include "common/log.hpp"
#include "dtls/context.hpp"
#include "dtls/session.hpp"
#include "ice/stun.hpp"
#include "media/media_counters.hpp"
#include "media/media_router_state.hpp"
#include "rtp/demux.hpp"
#include "rtp/rtp_packet.hpp"
#include "sctp/association.hpp"

#include <openssl/rand.h>

namespace jvb::media {

namespace {

constexpr std::chrono::milliseconds kTick{20};
constexpr std::chrono::seconds kStatsInterval{1};

std::vector<dtls::RemoteFingerprint> fingerprintsOf(const EndpointSpec& e) {
  std::vector<dtls::RemoteFingerprint> out;
  for (const auto& f : e.remoteFingerprints) {
    out.push_back({f.hash, f.value});
  }
  return out;
}

}  // namespace

using media_detail::bump;

size_t MediaRouter::TupleHash::operator()(const UdpEndpoint& e) const noexcept {
  size_t h = std::hash<uint16_t>{}(e.port());
  const auto a = e.address();
  if (a.is_v4()) {
    h ^= std::hash<uint32_t>{}(a.to_v4().to_uint()) * 0x9E3779B97F4A7C15ULL;
  } else {
    const auto b = a.to_v6().to_bytes();
    uint64_t x = 0;
    uint64_t y = 0;
    std::memcpy(&x, b.data(), 8);
    std::memcpy(&y, b.data() + 8, 8);
    h ^= std::hash<uint64_t>{}(x ^ (y * 0x9E3779B97F4A7C15ULL));
  }
  return h;
}

MediaRouter::MediaRouter(boost::asio::io_context& io, ice::UdpPort& port, const dtls::Context& dtls,
                         MediaCounters& counters, SpeechActivityConfig speech)
    : io_(io),
      port_(port),
      dtls_(dtls),
      counters_(counters),
      timer_(io),
      stunTimer_(io),
      speechConfig_(std::move(speech)) {
  std::array<uint8_t, 4> r{};
  RAND_bytes(r.data(), static_cast<int>(r.size()));
  bridgeSsrc_ = (uint32_t{r[0]} << 24) | (uint32_t{r[1]} << 16) | (uint32_t{r[2]} << 8) | r[3];
  std::array<uint8_t, 8> seed{};
  RAND_bytes(seed.data(), static_cast<int>(seed.size()));
  std::memcpy(&rewriteSeed_, seed.data(), sizeof(rewriteSeed_));
  const UdpEndpoint v4(boost::asio::ip::address_v4::loopback(), 9);
  const UdpEndpoint v6(boost::asio::ip::address_v6::loopback(), 9);
  fanout4_ = std::make_unique<FanOut>(port_.nativeHandleFor(v4));
  fanout6_ = std::make_unique<FanOut>(port_.nativeHandleFor(v6));
  // Room for the tuples of a large room up front: no rehash while it joins.
  byTuple_.reserve(4096);
  armTimer();
}

MediaRouter::~MediaRouter() {
  timer_.cancel();
  stunTimer_.cancel();
}

size_t MediaRouter::connectedCount() const {
  return static_cast<size_t>(
      std::count_if(endpoints_.begin(), endpoints_.end(),
                    [](const auto& kv) { return kv.second->rtpOut.has_value(); }));
}

void MediaRouter::apply(Command command) {
  std::visit(
      [this](auto&& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, cmd::UpsertEndpoint>) {
          upsertEndpoint(std::move(c.spec));
        } else if constexpr (std::is_same_v<T, cmd::RemoveEndpoint>) {
          removeEndpoint(c.endpoint);
        } else if constexpr (std::is_same_v<T, cmd::SetSubscription>) {
          setAudioSubscription(c.endpoint, std::move(c.subscription), std::move(c.included));
        } else if constexpr (std::is_same_v<T, cmd::SetExtensionProfiles>) {
          setExtensionProfiles(std::move(c.profiles));
        } else if constexpr (std::is_same_v<T, cmd::SendChannelMessage>) {
          sendChannelMessage(c.endpoint, c.text);
        } else if constexpr (std::is_same_v<T, cmd::SetStunServers>) {
          setStunServers(std::move(c));
        }
      },
      std::move(command));
}

void MediaRouter::upsertEndpoint(EndpointSpec spec) {
  auto it = endpoints_.find(spec.endpoint);
  const bool created = it == endpoints_.end();
  if (created) {
    auto m = std::make_unique<Media>();
    m->tag = spec.meetingId + "/" + spec.id;
    m->created = Clock::now();
    Media* raw = m.get();
    m->ice = std::make_unique<ice::IceAgent>(
        spec.localIce,
        [this](std::span<const uint8_t> d, const UdpEndpoint& to) {
          if (port_.sendTo(d, to)) {
            bump(counters_.packetsSent);
            counters_.bytesSent.fetch_add(d.size(), std::memory_order_relaxed);
          }
        },
        iceConfig_, spec.iceControlling ? ice::Role::kControlling : ice::Role::kControlled);
    m->ice->onStateChange(
        [this, raw](ice::IceState, ice::IceFailure) { onIceState(*raw, Clock::now()); });
    byUfrag_[spec.localIce.ufrag] = raw;
    auto& conf =
        conferences_.try_emplace(spec.conference, spec.conference, spec.meetingId, speechConfig_)
            .first->second;
    raw->conf = &conf;
    raw->speaker = conf.speech.addSpeaker(spec.id);
    conf.members.push_back(raw);
    raw->stats.id = spec.id;
    if (spec.ssrcRewriting) {
      // Decided once, from the create request (as JVB).
      rewriteSeed_ += 0x9E3779B97F4A7C15ULL;
      m->rewrite = std::make_unique<AudioSsrcCache>(rewriteConfig_, spec.rtpMidDemux, rewriteSeed_);
      LOG_DEBUG("media", "{}: SSRC rewriting on (ssrc-limit.audio {}, mid demux {})", m->tag,
                rewriteConfig_.limit, spec.rtpMidDemux);
    }
    it = endpoints_.emplace(spec.endpoint, std::move(m)).first;
    publishLiveCounts();
    LOG_DEBUG("media", "{}: endpoint added (ufrag {})", raw->tag, spec.localIce.ufrag);
  }
  Media& m = *it->second;
  syncSources(*m.conf, m, spec.sources);
  flushMappings(m.conf->meetingId);
  m.spec = std::move(spec);
  m.spec.ssrcRewriting = m.rewrite != nullptr;  // fixed at create
  m.spec.rtpMidDemux = m.rewrite != nullptr && m.rewrite->midDemux();
  if (!m.spec.remoteUfrag.empty() && !m.spec.remotePwd.empty()) {
    m.ice->setRemoteCredentials(m.spec.remoteUfrag, m.spec.remotePwd);
  }
  for (const auto& c : m.spec.remoteCandidates) {
    m.ice->addRemoteCandidate(c);
  }
  if (m.dtls && !m.spec.remoteFingerprints.empty()) {
    m.dtls->setRemoteFingerprints(fingerprintsOf(m.spec));
  }
  startSctp(m);  // when <sctp/> came after DTLS was up
}

void MediaRouter::removeEndpoint(EndpointHandle endpoint) {
  auto it = endpoints_.find(endpoint);
  if (it == endpoints_.end()) {
    return;
  }
  Media* m = it->second.get();
  if (m->sctp) {
    m->sctp->close();  // ABORT to the client, through DTLS
    if (m->channelStream && events_.channelClosed) {
      events_.channelClosed(m->spec.meetingId, m->spec.id, m->channelId);
    }
    m->sctp.reset();
  }
  if (m->dtls) {
    m->dtls->close();
  }
  byUfrag_.erase(m->spec.localIce.ufrag);
  ConferenceMedia& conf = *m->conf;
  auto& members = conf.members;
  members.erase(std::remove(members.begin(), members.end(), m), members.end());
  syncSources(conf, *m, {});  // the receivers' slots for its sources are freed
  flushMappings(conf.meetingId);
  for (const auto& t : m->tuples) {
    auto b = byTuple_.find(t);
    if (b != byTuple_.end() && b->second == m) {
      byTuple_.erase(b);
    }
  }
  LOG_DEBUG("media", "{}: endpoint removed", m->tag);
  const bool included = !m->included.empty();
  const auto speaker = m->speaker;
  endpoints_.erase(it);
  if (members.empty()) {
    conferences_.erase(conf.handle);
    publishLiveCounts();
    return;
  }
  if (conf.speech.removeSpeaker(speaker)) {
    reportDominant(conf);  // the previous speaker took over
  }
  if (included) {
    recomputeIncludes(conf);
  }
  publishLiveCounts();
}

void MediaRouter::publishLiveCounts() {
  uint64_t speakers = 0;
  for (const auto& [handle, conf] : conferences_) {
    speakers += conf.speech.speakerCount();
  }
  counters_.liveEndpoints.store(endpoints_.size(), std::memory_order_relaxed);
  counters_.liveConferences.store(conferences_.size(), std::memory_order_relaxed);
  counters_.liveSpeakers.store(speakers, std::memory_order_relaxed);
}

bool MediaRouter::sendChannelMessage(EndpointHandle endpoint, const std::string& text) {
  auto it = endpoints_.find(endpoint);
  if (it == endpoints_.end()) {
    return false;
  }
  Media& ep = *it->second;
  if (!ep.sctp || !ep.channelStream) {
    return false;
  }
  return ep.sctp->sendText(*ep.channelStream, text);
}

void MediaRouter::keyEndpointForTesting(EndpointHandle endpoint, const srtp::Keys& keys,
                                        const UdpEndpoint& peer) {
  auto it = endpoints_.find(endpoint);
  if (it == endpoints_.end()) {
    return;
  }
  Media& ep = *it->second;
  ep.rtpIn = srtp::Session::inbound(keys);
  ep.rtpOut = srtp::Session::outbound(keys);
  ep.dtlsReleased = true;  // no DTLS session to keep
  ep.dtlsPeer = peer;
  bindTuple(ep, peer);
}

void MediaRouter::startSctp(Media& ep) {
  if (ep.sctp || !ep.spec.sctp || !ep.dtls || ep.dtls->state() != dtls::State::kConnected) {
    return;
  }
  Media* raw = &ep;
  const uint64_t channelId = nextChannelId_++;
  ep.channelId = channelId;
  ep.channelStream.reset();
  sctp::AssociationCallbacks cb;
  cb.sendToDtls = [raw](std::span<const uint8_t> packet) {
    if (raw->dtls) {
      raw->dtls->sendApplicationData(packet);
    }
  };
  cb.onChannelOpen = [this, raw, channelId](uint16_t stream, const std::string& label,
                                            const std::string& protocol) {
    LOG_DEBUG("media", "{}: data channel '{}' ({}) open on stream {}", raw->tag, label, protocol,
              stream);
    if (raw->channelStream) {
      return;  // JVB uses the first channel (sctp.max-channels = 1)
    }
    raw->channelStream = stream;
    if (events_.channelOpened) {
      events_.channelOpened(raw->spec.meetingId, raw->spec.id, channelId);
    }
  };
  cb.onText = [this, raw](uint16_t stream, std::string_view text) {
    if (raw->channelStream == stream && events_.channelMessage) {
      events_.channelMessage(raw->spec.meetingId, raw->spec.id, std::string(text));
    }
  };
  auto closed = [this, raw, channelId] {
    if (raw->channelStream && raw->channelId == channelId && events_.channelClosed) {
      events_.channelClosed(raw->spec.meetingId, raw->spec.id, channelId);
    }
    raw->channelStream.reset();
  };
  cb.onChannelClosed = [raw, closed](uint16_t stream) {
    if (raw->channelStream == stream) {
      closed();
    }
  };
  cb.onClosed = closed;
  sctp::AssociationOptions options;
  options.dtlsClient = ep.dtls->role() == dtls::Role::kClient;
  options.logTag = ep.tag;
  // Client role: the bridge sends INIT too, as browsers do (both sides
  // initiating is a normal SCTP collision); a peer that only waits for an
  // INIT (aiortc when ICE-controlled) needs it.
  ep.sctp = std::make_unique<sctp::Association>(sctp::Role::kClient, std::move(cb), options);
  ep.sctp->start();
  LOG_DEBUG("media", "{}: SCTP association started", ep.tag);
}

void MediaRouter::bindTuple(Media& ep, const UdpEndpoint& from) {
  auto [it, inserted] = byTuple_.try_emplace(from, &ep);  // no node built when bound
  if (inserted) {
    ep.tuples.push_back(from);
  } else if (it->second != &ep) {
    // The address moved to another endpoint (a NAT rebinding, or a test
    // reusing ports): the last authenticated check wins.
    auto& old = it->second->tuples;
    old.erase(std::remove(old.begin(), old.end(), from), old.end());
    it->second = &ep;
    ep.tuples.push_back(from);
  }
}

void MediaRouter::onDatagram(std::span<uint8_t> datagram, const UdpEndpoint& from) {
  const auto kind = rtp::classify(datagram);
  const auto now = Clock::now();
  if (kind == rtp::PacketKind::kStun) {
    onStun(datagram, from, now);
    return;
  }
  auto it = byTuple_.find(from);
  if (it == byTuple_.end()) {
    // No endpoint owns this 5-tuple: no state, counted by class.
    counters_.droppedUnknownSource[static_cast<size_t>(kind)].fetch_add(1,
                                                                        std::memory_order_relaxed);
    return;
  }
  Media& ep = *it->second;
  switch (kind) {
    case rtp::PacketKind::kDtls:
      if (ep.dtlsReleased) {
        bump(counters_.dtlsAfterRelease);  // see releaseDtlsIfDone()
        return;
      }
      ep.dtlsPeer = from;
      // A ClientHello may come before our side of ICE has nominated: the
      // 5-tuple already passed a check, so serve it.
      if (ensureDtls(ep, now)) {
        ep.lastIncoming = now;
        ep.dtls->handleDatagram(datagram, now);
      }
      return;
    case rtp::PacketKind::kRtp:
      onRtp(ep, datagram, now);
      return;
    case rtp::PacketKind::kRtcp:
      onRtcp(ep, datagram, now);
      return;
    default:
      counters_.droppedUnknownSource[static_cast<size_t>(kind)].fetch_add(
          1, std::memory_order_relaxed);
      return;
  }
}

void MediaRouter::onStun(std::span<const uint8_t> datagram, const UdpEndpoint& from,
                         Clock::time_point now) {
  Media* ep = nullptr;
  if (auto it = byTuple_.find(from); it != byTuple_.end()) {
    ep = it->second;
  } else if (auto ufrag = ice::stun::peekLocalUfrag(datagram)) {
    if (auto u = byUfrag_.find(*ufrag); u != byUfrag_.end()) {
      ep = u->second;
    }
  } else {
    // A response to one of our Binding requests to a STUN server (its
    // address is not a peer's), or to one of our checks from an address not
    // bound yet.
    if (stunMapper_ && onStunServerDatagram(datagram, from, now)) {
      return;
    }
    for (auto& [handle, m] : endpoints_) {
      if (m->ice->knowsRemote(from)) {
        ep = m.get();
        break;
      }
    }
  }
  if (ep == nullptr) {
    // For no endpoint of ours: no state, counted with the strangers.
    bump(counters_.droppedUnknownSource[static_cast<size_t>(rtp::PacketKind::kStun)]);
    return;
  }
  const auto result = ep->ice->handleStun(datagram, from, now);
  if (result == ice::IceAgent::Result::kRejected) {
    bump(counters_.stunRejected);
    return;
  }
  ep->lastIncoming = now;
  if (ep->ice->isValidRemote(from)) {
    bindTuple(*ep, from);
  }
}

void MediaRouter::setStunServers(cmd::SetStunServers command) {
  stunTimer_.cancel();
  stunMapper_.reset();
  if (command.servers.empty()) {
    return;
  }
  stunMapper_ = std::make_unique<ice::StunMapper>(std::move(command.servers), command.timing);
  pollStun();
}

void MediaRouter::pollStun() {
  if (!stunMapper_) {
    return;
  }
  const auto next = stunMapper_->poll(
      Clock::now(),
      [this](std::span<const uint8_t> d, const UdpEndpoint& to) {
        if (port_.sendTo(d, to)) {
          bump(counters_.packetsSent);
          counters_.bytesSent.fetch_add(d.size(), std::memory_order_relaxed);
          bump(counters_.stunMappingRequests);
        }
      },
      [this](const ice::StunMapper::Outcome& o) {
        bump(counters_.stunMappingTimeouts);
        if (events_.stunMapping) {
          events_.stunMapping(StunMappingResult{stunMapper_->servers()[o.server], std::nullopt, 0});
        }
      });
  stunTimer_.expires_at(next);
  stunTimer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      pollStun();
    }
  });
}

bool MediaRouter::onStunServerDatagram(std::span<const uint8_t> datagram, const UdpEndpoint& from,
                                       Clock::time_point now) {
  if (!stunMapper_->isServer(from)) {
    return false;
  }
  bool rejected = false;
  const auto outcome = stunMapper_->onDatagram(datagram, from, now, &rejected);
  if (!outcome) {
    bump(counters_.stunMappingRejected);
    return true;
  }
  bump(counters_.stunMappingResponses);
  if (events_.stunMapping) {
    // The server as configured (`from` may be its IPv4-mapped form).
    events_.stunMapping(StunMappingResult{stunMapper_->servers()[outcome->server], outcome->mapped,
                                          outcome->errorCode});
  }
  return true;
}

void MediaRouter::onIceState(Media& ep, Clock::time_point now) {
  const auto state = ep.ice->state();
  if (state != ep.lastIceState) {
    ep.lastIceState = state;
    if (state == ice::IceState::kConnected) {
      bump(counters_.iceSucceeded);
      LOG_INFO("media", "{}: ICE connected to {}:{}", ep.tag,
               ep.ice->selectedRemote() ? ep.ice->selectedRemote()->address().to_string() : "?",
               ep.ice->selectedRemote() ? ep.ice->selectedRemote()->port() : 0);
      if (auto r = ep.ice->selectedRemote()) {
        bindTuple(ep, *r);
      }
    } else if (state == ice::IceState::kDisconnected || state == ice::IceState::kFailed) {
      bump(counters_.iceFailed);
      LOG_WARN("media", "{}: ICE {}", ep.tag,
               state == ice::IceState::kFailed ? "failed" : "disconnected (consent expired)");
    }
  }
  if (state == ice::IceState::kConnected) {
    ensureDtls(ep, now);
  }
}

bool MediaRouter::ensureDtls(Media& ep, Clock::time_point now) {
  if (ep.dtls) {
    return true;
  }
  if (ep.dtlsReleased) {
    return false;
  }
  // DTLS role from Colibri2: our setup 'active' makes us the client; 'passive'
  // (or a setup not known yet) the server, which waits for the ClientHello.
  const auto role = ep.spec.dtlsClient ? dtls::Role::kClient : dtls::Role::kServer;
  Media* raw = &ep;
  try {
    dtls::SessionOptions opts;
    opts.logTag = ep.tag;
    ep.dtls = std::make_unique<dtls::Session>(
        dtls_, role, fingerprintsOf(ep.spec),
        [this, raw](std::span<const uint8_t> d) {
          if (auto to = raw->destination(); to && port_.sendTo(d, *to)) {
            bump(counters_.packetsSent);
            counters_.bytesSent.fetch_add(d.size(), std::memory_order_relaxed);
          }
        },
        opts);
  } catch (const std::exception& e) {
    LOG_ERROR("media", "{}: DTLS session refused: {}", ep.tag, e.what());
    bump(counters_.dtlsFailed);
    return false;
  }
  ep.dtls->setOnApplicationData([raw](std::span<const uint8_t> data) {
    if (raw->sctp) {
      raw->sctp->handlePacket(data);
    }
  });
  ep.dtls->setOnStateChange([this, raw](dtls::State s) {
    if (s == dtls::State::kConnected) {
      onDtlsConnected(*raw);
    } else if (s == dtls::State::kFailed) {
      bump(counters_.dtlsFailed);
      LOG_WARN("media", "{}: DTLS failed: {}", raw->tag, raw->dtls->failureReason());
    }
  });
  ep.dtls->start(now);
  return true;
}

void MediaRouter::releaseDtlsIfDone(Media& ep) {
  // An authenticated SRTP/SRTCP packet from the endpoint proves it finished
  // its side of the handshake (it holds the keys), so no retransmission of
  // our last flight can be asked for any more. Without a data channel the
  // DTLS session has nothing left to carry (DTLS 1.2 in WebRTC never
  // renegotiates or rekeys), and OpenSSL keeps ~60 KiB per session (its DTLS
  // read buffer is never released): with hundreds of endpoints that is most
  // of the bridge's memory. The SRTP sessions hold their own keys.
  if (!ep.dtls || ep.spec.sctp || ep.dtls->state() != dtls::State::kConnected) {
    return;
  }
  ep.dtls.reset();
  ep.dtlsReleased = true;
  bump(counters_.dtlsReleased);
  LOG_DEBUG("media", "{}: DTLS session released (SRTP keyed, no data channel)", ep.tag);
}

void MediaRouter::onDtlsConnected(Media& ep) {
  const auto& keys = ep.dtls->srtpKeys();
  if (!keys) {
    return;
  }
  try {
    ep.rtpIn = srtp::Session::inbound(*keys);
    ep.rtpOut = srtp::Session::outbound(*keys);
  } catch (const std::exception& e) {
    bump(counters_.dtlsFailed);
    LOG_ERROR("media", "{}: SRTP session: {}", ep.tag, e.what());
    return;
  }
  bump(counters_.dtlsSucceeded);
  LOG_INFO("media", "{}: DTLS connected ({}, {})", ep.tag, ep.dtls->cipherName(),
           keys->profile == srtp::Profile::kAeadAes128Gcm ? "SRTP_AEAD_AES_128_GCM"
                                                          : "SRTP_AES128_CM_HMAC_SHA1_80");
  startSctp(ep);
}

void MediaRouter::onRtp(Media& ep, std::span<uint8_t> datagram, Clock::time_point now) {
  if (!ep.rtpIn) {
    bump(counters_.rtpDropped);
    return;
  }
  SenderSource* source = nullptr;
  const auto route = routeOf(ep, datagram, now, source);
  if (route == Route::kDrop) {
    return;
  }
  // Decrypted in place, in the receive buffer: nothing else reads it.
  const auto res = ep.rtpIn->unprotectRtp(datagram);
  if (!res.ok()) {
    bump(counters_.srtpFailed);
    return;
  }
  ep.lastIncoming = now;
  const auto plain = std::span<const uint8_t>(datagram.data(), res.length);
  const auto view = rtp::ConstRtpPacketView::parse(plain);
  if (!view) {  // the SSRC is cleartext: still the source routeOf found
    bump(counters_.rtpDropped);
    return;
  }
  source->decrypted = true;
  source->lastDecrypted = view->sequenceNumber();
  releaseDtlsIfDone(ep);
  if (route == Route::kDecryptOnly) {
    return;
  }
  ConferenceMedia& conf = *ep.conf;
  uint64_t copies = 0;
  // Fan out to the other members of the conference.
  for (Media* member : conf.members) {
    Media& rx = *member;
    if (&rx == &ep || !rx.rtpOut || !rx.spec.acceptsAudio) {
      continue;
    }
    // Its ReceiverAudioSubscription: every regular source unless it said
    // otherwise; a synthetic one only when it asked for it by name.
    if ((source->synthetic || rx.subscription.mode != AudioSubscription::Mode::kAll) &&
        !rx.subscription.allows(source->index, source->synthetic)) {
      continue;
    }
    const auto to = rx.destination();
    if (!to) {
      continue;
    }
    auto& fanout = to->address().is_v4() ? *fanout4_ : *fanout6_;
    if (rx.rewrite) {
      // SSRC rewriting: the receiver's slot for this source (JVB's
      // AudioSsrcCache), its own extension IDs, the slot's mid.
      const auto rw =
          rx.rewrite->rewrite(source->index, view->sequenceNumber(), view->timestamp(), now);
      if (rw.mappingChanged) {
        queueMapping(rx, rw.slot, conf);
      }
      if (rw.outcome != AudioSsrcCache::Outcome::kSend) {
        continue;
      }
      const auto& slot = rx.rewrite->slots()[static_cast<size_t>(rw.slot)];
      const rtp::AudioRewrite spec{
          rw.ssrc,         rw.sequenceNumber, rw.timestamp,
          ep.spec.levelId, rx.spec.levelId,   rx.spec.rtpMidDemux ? rx.spec.midId : uint8_t{0},
          slot.mid};
      if (fanout.addRewritten(*view, spec, *rx.rtpOut, *to)) {
        rx.rewrite->onSent(rw.slot, view->payload().size());
        ++copies;
      }
      continue;
    }
    // Header-extension IDs for this receiver: the pair's map, compiled on
    // the control thread (sdes:mid stripped; other IDs mapped by URI).
    if (fanout.add(plain, *rx.rtpOut, *to, profiles_.map(ep.spec.extProfile, rx.spec.extProfile))) {
      ++copies;
    }
  }
  ep.stats.forwarded += copies;
  flushMappings(conf.meetingId);  // before the packets, as JVB does
  flushFanOut();
}

void MediaRouter::flushFanOut() {
  for (auto [f, reported] :
       {std::pair{fanout4_.get(), &reported4_}, std::pair{fanout6_.get(), &reported6_}}) {
    f->flush();
    const auto& t = f->totals();
    const uint64_t sent = t.sent - reported->sent;
    counters_.packetsSent.fetch_add(sent, std::memory_order_relaxed);
    counters_.rtpForwarded.fetch_add(sent, std::memory_order_relaxed);
    counters_.bytesSent.fetch_add(t.bytes - reported->bytes, std::memory_order_relaxed);
    counters_.srtpFailed.fetch_add(t.protectFailures - reported->protectFailures,
                                   std::memory_order_relaxed);
    *reported = t;
  }
}

void MediaRouter::armTimer() {
  timer_.expires_after(kTick);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      tick();
    }
  });
}

void MediaRouter::tick() {
  const auto now = Clock::now();
  sctp::Association::handleTimers(now);
  for (auto& [handle, conf] : conferences_) {
    if (now >= conf.nextDecision) {
      decideSpeakers(conf, now);
    }
  }
  if (now >= nextStats_) {
    nextStats_ = now + kStatsInterval;
    publishAudioStats();
  }
  for (auto& [handle, m] : endpoints_) {
    if (m->rtpOut && now >= m->nextReport) {
      // RFC 3550 section 6.3.5: about once a second, randomised by 0.5..1.5.
      m->nextReport = now + std::chrono::milliseconds(500 + (rtcpJitter_++ * 7919u) % 1000u);
      sendReceiverReport(*m, now);
    }
    m->ice->tick(now);
    if (m->dtls) {
      if (auto t = m->dtls->nextTimeout(); t && *t <= now) {
        m->dtls->onTimer(now);
      }
    }
  }
  armTimer();
}

}  // namespace jvb::media
