#include "media/media_router.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <variant>

#include "common/log.hpp"
#include "dtls/context.hpp"
#include "dtls/session.hpp"
#include "media/media_counters.hpp"
#include "media/media_router_state.hpp"
#include "rtp/audio_level.hpp"
#include "rtp/demux.hpp"
#include "rtp/red.hpp"
#include "rtp/rtp_packet.hpp"
#include "sctp/association.hpp"

#include <openssl/rand.h>

namespace jvb::media {

namespace {

constexpr std::chrono::milliseconds kTick{20};
constexpr std::chrono::seconds kStatsInterval{1};
// The bridge channel over SCTP (README "Misbehaving peers"): JVB uses one
// data channel per endpoint (sctp.max-channels = 1); a few more are
// accepted and ignored, the rest refused. Incoming messages are bounded as
// on colibri-ws (64 KiB), and at most 100 of them a second (with a burst of
// 200) go to the control thread; a client sends a handful per second.
constexpr size_t kMaxDataChannels = 8;
constexpr size_t kMaxChannelMessage = 64 * 1024;
constexpr std::chrono::milliseconds kChannelMessageInterval{10};  // 100 a second
constexpr int kChannelMessageBurst = 200;

// The payload type of a stripped RED packet for a receiver: the primary
// block's, as JVB leaves it, except that a primary in the sender's Opus
// payload type goes out under the receiver's Opus payload type should the
// two have negotiated different ones.
uint8_t primaryPayloadType(const PayloadTypes& sender, const PayloadTypes& receiver,
                           uint8_t blockPt) {
  if (blockPt == sender.opus && receiver.opus != PayloadTypes::kNone) {
    return receiver.opus;
  }
  return blockPt;
}

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
        } else if constexpr (std::is_same_v<T, cmd::SetConferenceExport>) {
          setConferenceExport(c.conference, c.enabled);
        } else if constexpr (std::is_same_v<T, cmd::SetStunServers>) {
          setStunServers(std::move(c));
        }
      },
      std::move(command));
}

void MediaRouter::setRateLimit(const EndpointRateLimit& limit) {
  if (limit.packetsPerSecond == 0) {
    rateInterval_ = {};
    rateTolerance_ = {};
    return;
  }
  rateInterval_ = std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(
      std::chrono::nanoseconds(std::chrono::seconds(1)).count() / limit.packetsPerSecond));
  rateTolerance_ = rateInterval_ * limit.burst;
}

void MediaRouter::misbehaved(Media& ep, Misbehaviour kind, std::atomic<uint64_t>& counter,
                             std::string_view what, uint64_t detail) {
  bump(counter);
  const uint32_t bit = 1u << static_cast<unsigned>(kind);
  if ((ep.misbehaviourLogged & bit) != 0) {
    return;  // logged once per endpoint and kind: never per packet
  }
  if (ep.misbehaviourLogged == 0) {
    bump(counters_.misbehavingEndpoints);
  }
  ep.misbehaviourLogged |= bit;
  LOG_WARN("media", "{}: {} ({}): dropped and counted; not logged again for this endpoint", ep.tag,
           what, detail);
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
    m->ice->onSelectedMoved([this, raw](const UdpEndpoint& from, const UdpEndpoint& to) {
      onIceMoved(*raw, from, to);
    });
    byUfrag_[spec.localIce.ufrag] = raw;
    auto& conf =
        conferences_.try_emplace(spec.conference, spec.conference, spec.meetingId, speechConfig_)
            .first->second;
    raw->conf = &conf;
    if (conf.members.empty()) {
      conf.exporting = std::find(exportingConferences_.begin(), exportingConferences_.end(),
                                 spec.conference) != exportingConferences_.end();
    }
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
  if (m.spec.iceRestart) {
    updateIceRestart(m, *m.spec.iceRestart, Clock::now());
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
  dropUfrag(*m, m->ice.get());
  dropUfrag(*m, m->pendingIce.get());
  dropUfrag(*m, m->retiringIce.get());
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
    // Its handle is never used again (a conference that gets endpoints
    // again gets a new one, and its export is set for that).
    std::erase(exportingConferences_, conf.handle);
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
    if (raw->channelStream != stream || !events_.channelMessage) {
      return;
    }
    if (!admit(raw->messageTat, Clock::now(), kChannelMessageInterval,
               kChannelMessageInterval * kChannelMessageBurst)) {
      misbehaved(*raw, Misbehaviour::kSctpMessages, counters_.sctpMessagesDropped,
                 "data-channel messages over the rate cap (messages/s)",
                 std::chrono::seconds(1) / kChannelMessageInterval);
      return;
    }
    events_.channelMessage(raw->spec.meetingId, raw->spec.id, std::string(text));
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
  options.maxChannels = kMaxDataChannels;
  options.maxIncomingMessageSize = kMaxChannelMessage;
  ep.sctpDroppedSeen = 0;
  ep.sctpRefusedSeen = 0;
  // Client role: the bridge sends INIT too, as browsers do (both sides
  // initiating is a normal SCTP collision); a peer that only waits for an
  // INIT (aiortc when ICE-controlled) needs it.
  ep.sctp = std::make_unique<sctp::Association>(sctp::Role::kClient, std::move(cb), options);
  ep.sctp->start();
  LOG_DEBUG("media", "{}: SCTP association started", ep.tag);
}

void MediaRouter::noteSctp(Media& ep) {
  if (!ep.sctp) {
    return;
  }
  const auto k = ep.sctp->counters();
  if (k.channelsRefused != ep.sctpRefusedSeen) {
    const uint64_t n = k.channelsRefused - ep.sctpRefusedSeen;
    ep.sctpRefusedSeen = k.channelsRefused;
    counters_.sctpChannelsRefused.fetch_add(n - 1, std::memory_order_relaxed);
    misbehaved(ep, Misbehaviour::kSctpChannels, counters_.sctpChannelsRefused,
               "data channels opened past the cap (cap)", kMaxDataChannels);
  }
  if (k.oversized != ep.sctpDroppedSeen) {
    const uint64_t n = k.oversized - ep.sctpDroppedSeen;
    ep.sctpDroppedSeen = k.oversized;
    counters_.sctpMessagesDropped.fetch_add(n - 1, std::memory_order_relaxed);
    misbehaved(ep, Misbehaviour::kSctpMessages, counters_.sctpMessagesDropped,
               "data-channel messages over the size cap (bytes)", kMaxChannelMessage);
  }
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
  // RTP under a payload type the endpoint did not signal for audio (video:
  // accepted, never forwarded) is dropped by routeOf before decryption at
  // the cost of this check, so it does not take the cap's budget: a client
  // that also sends video must not lose its audio to the cap.
  const bool nonAudioRtp = kind == rtp::PacketKind::kRtp && datagram.size() >= 2 &&
                           !ep.spec.payloadTypes.contains(datagram[1] & 0x7f);
  if (rateInterval_.count() != 0 && !nonAudioRtp &&
      !admit(ep.rateTat, now, rateInterval_, rateTolerance_)) {
    // Before any decryption: a flood costs a hash lookup and this.
    misbehaved(ep, Misbehaviour::kRateLimited, counters_.rateLimited,
               "datagrams over the per-endpoint packet-rate cap (packets/s)",
               std::chrono::seconds(1) / rateInterval_);
    return;
  }
  switch (kind) {
    case rtp::PacketKind::kDtls:
      if ((ep.rtpIn || ep.dtlsReleased) && dtls::containsClientHello(datagram)) {
        // A new handshake over a keyed association (RFC 5764 has none: a
        // new DTLS session is a new endpoint in Colibri2): refused, and the
        // established session and its SRTP go on.
        misbehaved(ep, Misbehaviour::kDtlsRenegotiation, counters_.dtlsRenegotiationRefused,
                   "a DTLS ClientHello after the handshake (bytes)", datagram.size());
        return;
      }
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
        // An encrypted renegotiation (a ClientHello or HelloRequest in the
        // session's epoch): OpenSSL refuses it (SSL_OP_NO_RENEGOTIATION).
        if (ep.dtls) {
          const uint64_t refused = ep.dtls->stats().renegotiationsRefused;
          if (refused != ep.dtlsRefusedSeen) {
            ep.dtlsRefusedSeen = refused;
            misbehaved(ep, Misbehaviour::kDtlsRenegotiation, counters_.dtlsRenegotiationRefused,
                       "a DTLS renegotiation (refused so far)", refused);
          }
        }
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
  ep.dtls->setOnApplicationData([this, raw](std::span<const uint8_t> data) {
    if (raw->sctp) {
      raw->sctp->handlePacket(data);
      noteSctp(*raw);
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
    // Authenticated, and still no RTP packet (its padding count, which is
    // encrypted, runs past the payload).
    bump(counters_.rtpDropped);
    misbehaved(ep, Misbehaviour::kMalformedRtp, counters_.rtpMalformed,
               "malformed RTP after SRTP: padding (bytes)", res.length);
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
  // RFC 2198 RED from this sender: parsed once; receivers that did not
  // negotiate RED get the primary encoding (JVB's AudioRedHandler, policy
  // NOOP: the others get it as sent), a malformed one is not sent to them.
  // A padding-only packet (Chromium's bandwidth probes, under the RED
  // payload type once RED is its send codec) carries no RED: it goes on as
  // sent to RED receivers, like any padding-only packet, and not to the
  // others (nothing to strip, a payload type they did not negotiate; JVB
  // discards padding-only packets for everyone, PaddingTermination.kt).
  const bool redPt = ep.spec.payloadTypes.isRed(view->payloadType());
  const bool redPadding = redPt && view->payload().empty() && view->paddingSize() > 0;
  const bool isRed = redPt && !redPadding;
  std::optional<rtp::RedPrimary> red;
  if (redPadding) {
    bump(counters_.redPaddingOnly);
  }
  if (isRed) {
    bump(counters_.redReceived);
    red = rtp::parseRed(view->payload());
    if (!red) {
      bump(counters_.redMalformed);
      LOG_DEBUG("media", "{}: malformed RED packet (ssrc {}, seq {})", ep.tag, view->ssrc(),
                view->sequenceNumber());
    }
  }
  // Per copy, summed here and published once per packet.
  uint64_t redStripped = 0;
  uint64_t redInvalid = 0;
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
    // The receiver's copy of a RED packet: as sent, or its primary block.
    rtp::RedStrip strip;
    const rtp::RedStrip* stripRed = nullptr;
    if (redPadding && !rx.spec.payloadTypes.hasRed()) {
      continue;
    }
    if (isRed && !rx.spec.payloadTypes.hasRed()) {
      if (!red) {
        ++redInvalid;
        continue;  // before its slot cache sees it: nothing else changes
      }
      strip.primary = *red;
      strip.payloadType =
          primaryPayloadType(ep.spec.payloadTypes, rx.spec.payloadTypes, red->payloadType);
      stripRed = &strip;
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
      if (fanout.addRewritten(*view, spec, *rx.rtpOut, *to, stripRed)) {
        rx.rewrite->onSent(rw.slot, stripRed != nullptr ? red->size : view->payload().size());
        ++copies;
        redStripped += stripRed != nullptr ? 1 : 0;
      }
      continue;
    }
    // Header-extension IDs for this receiver: the pair's map, compiled on
    // the control thread (sdes:mid stripped; other IDs mapped by URI).
    if (fanout.add(plain, *rx.rtpOut, *to, profiles_.map(ep.spec.extProfile, rx.spec.extProfile),
                   stripRed)) {
      ++copies;
      redStripped += stripRed != nullptr ? 1 : 0;
    }
  }
  ep.stats.forwarded += copies;
  if (isRed) {
    counters_.redDecapsulated.fetch_add(redStripped, std::memory_order_relaxed);
    counters_.redForwarded.fetch_add(copies - redStripped, std::memory_order_relaxed);
    counters_.redInvalidDropped.fetch_add(redInvalid, std::memory_order_relaxed);
  }
  if (conf.exporting && exportRing_ != nullptr) {
    // The conference's export (Colibri2 <connects>): a copy into a
    // preallocated slot; the control thread encodes and sends it.
    const auto level = ep.spec.levelId != 0 ? rtp::readAudioLevel(*view, ep.spec.levelId)
                                            : std::optional<rtp::AudioLevel>{};
    // A RED packet goes out as its primary Opus block (the transcriber reads
    // Opus); a malformed one is not exported.
    const auto payload = view->payload();
    if (!source->synthetic && (!isRed || red)) {
      const auto data = isRed ? payload.subspan(red->offset, red->size) : payload;
      const uint8_t pt = isRed && ep.spec.payloadTypes.opus != media::PayloadTypes::kNone
                             ? ep.spec.payloadTypes.opus
                             : view->payloadType();
      exportRing_->push(conf.handle, view->ssrc(), view->sequenceNumber(), view->timestamp(), pt,
                        level ? static_cast<int8_t>(level->level) : int8_t{-1},
                        level && level->voice, data);
    }
  }
  flushMappings(conf.meetingId);  // before the packets, as JVB does
  flushFanOut();
}

void MediaRouter::setConferenceExport(ConferenceHandle conference, bool enabled) {
  auto& list = exportingConferences_;
  list.erase(std::remove(list.begin(), list.end(), conference), list.end());
  if (enabled) {
    list.push_back(conference);
  }
  if (auto it = conferences_.find(conference); it != conferences_.end()) {
    it->second.exporting = enabled;
  }
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
    if (m->pendingIce) {
      m->pendingIce->tick(now);
      settleIceRestart(*m, now);  // also the restart timeout
    }
    if (m->retiringIce && now >= m->retireAt) {
      LOG_DEBUG("media", "{}: ICE ufrag {} no longer answered (transition window over)", m->tag,
                m->retiringIce->localCredentials().ufrag);
      dropUfrag(*m, m->retiringIce.get());
      m->retiringIce.reset();
    }
    if (m->dtls) {
      if (auto t = m->dtls->nextTimeout(); t && *t <= now) {
        m->dtls->onTimer(now);
      }
    }
  }
  armTimer();
}

}  // namespace jvb::media
