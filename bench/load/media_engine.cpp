#include "media_engine.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <cstring>
#include <map>
#include <span>

#include "dtls/session.hpp"
#include "ice/ice_agent.hpp"
#include "rtp/audio_level.hpp"
#include "rtp/bytes.hpp"
#include "rtp/demux.hpp"
#include "rtp/header_extensions.hpp"
#include "rtp/rtcp_builder.hpp"
#include "rtp/rtp_packet.hpp"
#include "speech.hpp"
#include "srtp/session.hpp"

namespace jvb::load {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {

constexpr uint8_t kOpusPt = 111;
constexpr uint8_t kAudioLevelId = 1;
constexpr std::array<uint8_t, 4> kMagic = {'J', 'V', 'B', 'L'};
constexpr size_t kStampSize = 4 + 4 + 8 + 4 + 1 + 1;  // magic, endpoint, ns, frame, flags, level
constexpr int kSlots = 10;                            // 2 ms slots of the 20 ms frame
constexpr auto kSlot = std::chrono::milliseconds(2);
constexpr auto kTick = std::chrono::milliseconds(10);
// Every endpoint sends an RTCP receiver report about once a second, as a
// WebRTC receiver does (RFC 3550 section 6.2), staggered by endpoint.
constexpr auto kRtcpInterval = std::chrono::milliseconds(1000);
constexpr int kMaxReadsPerWakeup = 64;
constexpr uint8_t kMidId = 10;  // sdes:mid, as negotiated (colibri2_client.cpp)
constexpr uint32_t kNoFrame = UINT32_MAX;
constexpr size_t kMaxSuspects = 64;  // per receiver, awaiting a late mapping

enum FrameFlag : uint8_t { kSent = 1, kLoudest = 2, kSilent = 4 };

}  // namespace

struct MediaEngine::Peer {
  Peer(asio::io_context& io, int i) : index(i), socket(io) {}
  int index;
  uint32_t generation = 0;
  bool stable = true;  // counted as a receiver (soak: not a churn slot)
  Local local;
  udp::socket socket;
  udp::endpoint bridge;
  std::unique_ptr<ice::IceAgent> agent;
  std::unique_ptr<dtls::Session> dtls;
  std::optional<srtp::Session> in;
  std::optional<srtp::Session> out;
  bool dtlsStarted = false;
  bool done = false;  // ICE + DTLS + SRTP up
  std::chrono::steady_clock::time_point nextRtcp{};
  bool dead = false;  // failed
  int64_t connectedAtNs = 0;
  // Rewriting.
  std::unique_ptr<ColibriWsClient> channel;
  std::string wsUrl;
  int64_t channelAtNs = 0;    // ServerHello received
  bool reconnecting = false;  // soak: a new colibri-ws awaits its ServerHello
  uint32_t rxDropped = 0;     // SO_RXQ_OVFL: datagrams the kernel dropped here
  struct RxSsrc {
    bool announced = false;
    bool awaitingFirst = false;  // announced, no packet of that owner since
    int owner = -1;              // endpoint index
    int64_t announcedNs = 0;     // CLOCK_REALTIME, as the kernel's receive stamps
    uint32_t nextSeq = 0;        // last sequence number + 1; 0: none yet
    uint32_t lastTs = 0;
  };
  std::unordered_map<uint32_t, RxSsrc> rx;  // by SSRC, announced or seen
  struct Suspect {
    uint32_t ssrc = 0;
    int sender = -1;
    int64_t arrivedNs = 0;
  };
  std::vector<Suspect> suspects;  // unannounced/wrong-owner packets, for announcedLateNs
  alignas(16) std::array<uint8_t, 2048> buf{};
};

struct MediaEngine::SenderState {
  std::optional<SpeechModel> model;
  uint16_t seq = 0;
  uint32_t timestamp = 0;
  std::vector<uint8_t> flags;  // per frame
};

MediaEngine::MediaEngine(EngineConfig cfg, const dtls::Context& dtls)
    : cfg_(std::move(cfg)),
      fingerprint_(dtls.localFingerprint()),
      dtls_(dtls),
      tick_(io_),
      sendTimer_(io_) {
  stable_ = cfg_.stable < 0 ? cfg_.endpoints : std::min(cfg_.stable, cfg_.endpoints);
  peers_.reserve(static_cast<size_t>(cfg_.endpoints));
  readyTag_ = std::make_unique<std::atomic<uint32_t>[]>(static_cast<size_t>(cfg_.endpoints));
  for (int i = 0; i < cfg_.endpoints; ++i) {
    auto p = makePeer(i, 0);
    endpointIndex_.emplace(p->local.id, i);
    locals_.push_back(p->local);
    generations_.push_back(0);
    peers_.push_back(std::move(p));
  }
  const size_t senders = cfg_.senderEndpoint.size();
  senders_.resize(senders);
  slots_.resize(kSlots);
  for (size_t s = 0; s < senders; ++s) {
    if (cfg_.senderSpeaks[s]) {
      senders_[s].model.emplace(static_cast<uint32_t>(s), static_cast<uint32_t>(cfg_.speakers),
                                cfg_.framesPerSlot, cfg_.seed);
    }
    senders_[s].seq = static_cast<uint16_t>(cfg_.seed + s * 7919);
    slots_[s % kSlots].push_back(static_cast<int>(s));
  }
  lastSeq_.assign(static_cast<size_t>(cfg_.endpoints) * senders, 0);
  if (cfg_.rewriting) {
    firstFrame_.assign(static_cast<size_t>(cfg_.endpoints) * senders, kNoFrame);
  }
}

MediaEngine::~MediaEngine() {
  stop();
}

std::unique_ptr<MediaEngine::Peer> MediaEngine::makePeer(int i, uint32_t generation) {
  const auto loopback = asio::ip::make_address_v4("127.0.0.1");
  const uint32_t runTag = cfg_.ssrcBase & 0xFFFF;
  auto p = std::make_unique<Peer>(io_, i);
  p->generation = generation;
  p->stable = i < stable_;
  p->socket.open(udp::v4());
  p->socket.bind(udp::endpoint(loopback, 0));
  p->socket.non_blocking(true);
  const int on = 1;
  setsockopt(p->socket.native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
  // Datagrams the kernel dropped at this socket (receive buffer full: this
  // thread starved by the host), so that such loss is told apart from the
  // bridge's; and 2 MiB of buffer (about 10 s of a receiver's audio), as a
  // loaded host can hold this single thread off for seconds.
  setsockopt(p->socket.native_handle(), SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof(on));
  const int rcvbuf = 2 * 1024 * 1024;
  setsockopt(p->socket.native_handle(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (generation == 0) {
    p->local.id = fmt::format("{:04x}{:04x}", runTag, i);
    p->local.ssrc = cfg_.ssrcBase + static_cast<uint32_t>(i);
  } else {
    // A new participant: a new id and a new SSRC (after every endpoint's, never 0).
    p->local.id = fmt::format("{:04x}{:04x}r{}", runTag, i, generation);
    static_assert(sizeof(uint32_t) == 4);
    uint32_t ssrc = cfg_.ssrcBase + static_cast<uint32_t>(cfg_.endpoints) +
                    static_cast<uint32_t>(i) * 65536U + generation;
    p->local.ssrc = ssrc == 0 ? 1 : ssrc;
  }
  p->local.ice = ice::generateCredentials();
  p->local.port = p->socket.local_endpoint().port();
  return p;
}

const MediaEngine::Local& MediaEngine::local(int endpoint) const {
  return locals_.at(static_cast<size_t>(endpoint));
}

uint32_t MediaEngine::recycle(int endpoint) {
  const auto i = static_cast<size_t>(endpoint);
  const uint32_t gen = ++generations_.at(i);
  std::unique_ptr<Peer> fresh = makePeer(endpoint, gen);
  locals_[i] = fresh->local;
  asio::post(io_, [this, i, fresh = std::move(fresh)]() mutable {
    auto& slot = peers_[i];
    Peer& old = *slot;
    old.dead = true;  // counts no more, fails no more
    boost::system::error_code ignored;
    old.socket.close(ignored);
    if (old.channel) {
      old.channel->stop();
    }
    endpointIndex_.erase(old.local.id);
    endpointIndex_.emplace(fresh->local.id, static_cast<int>(i));
    retiredPeers_.emplace_back(Clock::now(), std::move(slot));
    slot = std::move(fresh);
  });
  return gen;
}

bool MediaEngine::ready(int endpoint, uint32_t generation) const {
  return readyTag_[static_cast<size_t>(endpoint)].load(std::memory_order_acquire) == generation + 1;
}

void MediaEngine::markReady(Peer& p) {
  if (p.done && (!cfg_.rewriting || p.channelAtNs != 0)) {
    readyTag_[static_cast<size_t>(p.index)].store(p.generation + 1, std::memory_order_release);
  }
}

void MediaEngine::reconnectChannel(int endpoint) {
  asio::post(io_, [this, endpoint] {
    Peer& p = *peers_.at(static_cast<size_t>(endpoint));
    if (p.dead || !p.channel || p.wsUrl.empty() || p.reconnecting) {
      return;
    }
    p.channel->stop();
    retiredChannels_.emplace_back(Clock::now(), std::move(p.channel));
    p.reconnecting = true;
    reconnectsStarted_.fetch_add(1, std::memory_order_relaxed);
    openChannel(p, p.wsUrl);
  });
}

void MediaEngine::start() {
  if (running_) {
    return;
  }
  running_ = true;
  armTick();
  thread_ = std::thread([this] { io_.run(); });
}

void MediaEngine::stop() {
  if (!running_) {
    return;
  }
  io_.stop();
  thread_.join();
  running_ = false;
}

std::string MediaEngine::firstFailure() const {
  std::lock_guard lock(failureMutex_);
  return firstFailure_;
}

void MediaEngine::fail(Peer& p, const std::string& why) {
  if (p.dead) {
    return;
  }
  p.dead = true;
  failed_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(failureMutex_);
  if (firstFailure_.empty()) {
    firstFailure_ = fmt::format("endpoint {} ({}): {}", p.index, p.local.id, why);
  }
}

void MediaEngine::connect(int endpoint, BridgeTransport t, uint32_t generation) {
  asio::post(io_, [this, endpoint, generation, t = std::move(t)]() mutable {
    Peer& p = *peers_.at(static_cast<size_t>(endpoint));
    if (p.agent || p.generation != generation || p.dead) {
      return;
    }
    // Loopback only: the first 127.0.0.1-style UDP candidate, else ::1.
    const ice::Candidate* chosen = nullptr;
    for (const auto& c : t.candidates) {
      boost::system::error_code ec;
      const auto a = asio::ip::make_address(c.ip, ec);
      if (ec || c.protocol != "udp" || !a.is_loopback() || !a.is_v4()) {
        continue;
      }
      chosen = &c;
      break;
    }
    if (chosen == nullptr) {
      fail(p, fmt::format("the bridge offered no 127.0.0.1 UDP candidate ({} candidates); run it "
                          "with videobridge.ice.udp.bind-address = \"127.0.0.1\"",
                          t.candidates.size()));
      return;
    }
    p.bridge = udp::endpoint(asio::ip::make_address(chosen->ip), chosen->port);
    Peer* raw = &p;
    p.agent = std::make_unique<ice::IceAgent>(
        p.local.ice,
        [raw](std::span<const uint8_t> d, const udp::endpoint& to) {
          boost::system::error_code ec;
          raw->socket.send_to(asio::buffer(d.data(), d.size()), to, 0, ec);
        },
        ice::IceConfig{}, ice::Role::kControlled);
    p.agent->setRemoteCredentials(t.ufrag, t.pwd);
    p.agent->addRemoteCandidate(*chosen);
    dtls::SessionOptions opts;
    opts.handshakeTimeout = cfg_.handshakeTimeout;
    opts.logTag = p.local.id;
    try {
      p.dtls = std::make_unique<dtls::Session>(
          dtls_, dtls::Role::kClient,
          std::vector<dtls::RemoteFingerprint>{{t.fingerprintHash, t.fingerprint}},
          [raw](std::span<const uint8_t> d) {
            boost::system::error_code ec;
            const auto to = raw->agent->selectedRemote().value_or(raw->bridge);
            raw->socket.send_to(asio::buffer(d.data(), d.size()), to, 0, ec);
          },
          opts);
    } catch (const std::exception& e) {
      fail(p, fmt::format("DTLS session: {}", e.what()));
      return;
    }
    p.socket.async_wait(udp::socket::wait_read, [this, raw](const boost::system::error_code& ec) {
      if (!ec) {
        onReadable(*raw);
      }
    });
    p.agent->tick(Clock::now());
    if (cfg_.rewriting) {
      openChannel(p, t.webSocketUrl);
    }
  });
}

void MediaEngine::openChannel(Peer& p, const std::string& url) {
  if (url.empty()) {
    fail(p,
         "SSRC rewriting needs colibri-ws, and the bridge's transport had no <web-socket url/> "
         "(videobridge.websockets.enabled; scripts/load.sh --rewriting sets it up)");
    return;
  }
  std::string why;
  auto u = parseWsUrl(url, why);
  if (!u) {
    fail(p, why);
    return;
  }
  p.wsUrl = url;
  Peer* raw = &p;
  ColibriWsClient::Callbacks cb;
  cb.onOpen = [this] { ++acc_.rw.channelsOpen; };
  cb.onMessage = [this, raw](std::string_view text) { onChannelMessage(*raw, text); };
  cb.onFailure = [this, raw](const std::string& failure) { fail(*raw, failure); };
  p.channel =
      std::make_unique<ColibriWsClient>(io_, std::move(*u), cfg_.handshakeTimeout, std::move(cb));
  p.channel->start();
}

void MediaEngine::onChannelMessage(Peer& p, std::string_view text) {
  auto& rw = acc_.rw;
  ++rw.messages;
  const BridgeMessage m = parseBridgeMessage(text);
  if (m.malformed) {
    ++rw.malformedMessages;
    return;
  }
  if (m.colibriClass == "ServerHello") {
    ++rw.serverHellos;
    if (p.channelAtNs == 0) {
      p.channelAtNs = nowNs();
      channelsReady_.fetch_add(1, std::memory_order_relaxed);
      markReady(p);
    }
    if (p.reconnecting) {
      p.reconnecting = false;
      reconnectsDone_.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  if (m.colibriClass != "AudioSourcesMap") {
    return;
  }
  ++rw.mapsReceived;
  rw.mapEntries += m.mapped.size() + static_cast<uint64_t>(m.badEntries);
  if (m.badEntries > 0) {
    rw.badMappings += static_cast<uint64_t>(m.badEntries);
    if (rw.firstBadMapping.empty()) {
      rw.firstBadMapping =
          fmt::format("to {}: an entry without source, owner and a 32-bit ssrc in {}", p.local.id,
                      std::string(text.substr(0, 300)));
    }
  }
  const int64_t now = realtimeNs();
  for (const auto& e : m.mapped) {
    applyMapping(p, e, now);
  }
}

void MediaEngine::applyMapping(Peer& p, const MappedSource& m, int64_t now) {
  auto& rw = acc_.rw;
  const auto it = endpointIndex_.find(m.owner);
  const char* bad = nullptr;
  if (it == endpointIndex_.end()) {
    bad = "owner is no endpoint of this conference";
  } else if (m.source != m.owner + "-a0") {
    bad = "source is not the owner's audio source";
  } else if (it->second == p.index) {
    bad = "the receiver's own source";
  }
  if (bad != nullptr) {
    ++rw.badMappings;
    if (rw.firstBadMapping.empty()) {
      rw.firstBadMapping = fmt::format("to {}: ssrc {} source '{}' owner '{}': {}", p.local.id,
                                       m.ssrc, m.source, m.owner, bad);
    }
    return;
  }
  const int owner = it->second;
  auto& s = p.rx[m.ssrc];
  if (!s.announced) {
    ++rw.mappings;
    s.awaitingFirst = true;  // the new SSRC's delay is measured for new mappings only
  } else if (s.owner != owner) {
    ++rw.remaps;
    s.awaitingFirst = false;
  } else {
    ++rw.repeated;
    return;
  }
  s.announced = true;
  s.owner = owner;
  s.announcedNs = now;
  // Packets that came before this mapping and that it explains.
  auto& sus = p.suspects;
  for (size_t i = 0; i < sus.size();) {
    if (sus[i].ssrc == m.ssrc && sus[i].sender == owner) {
      rw.announcedLateNs.add(static_cast<uint64_t>(std::max<int64_t>(0, now - sus[i].arrivedNs)));
      sus[i] = sus.back();
      sus.pop_back();
    } else {
      ++i;
    }
  }
}

void MediaEngine::checkRewritten(Peer& p, const rtp::ConstRtpPacketView& view, int sender,
                                 int64_t arrivedNs) {
  auto& rw = acc_.rw;
  const uint32_t ssrc = view.ssrc();
  auto& s = p.rx[ssrc];
  bool suspect = false;
  if (!s.announced) {
    ++rw.unannounced;
    if (ssrc == cfg_.ssrcBase + static_cast<uint32_t>(sender)) {
      ++rw.notRewritten;
    }
    suspect = true;
  } else if (s.owner != sender) {
    ++rw.wrongOwner;
    suspect = true;
  } else if (s.awaitingFirst) {
    s.awaitingFirst = false;
    rw.mapToFirstPacketNs.add(
        static_cast<uint64_t>(std::max<int64_t>(0, arrivedNs - s.announcedNs)));
  }
  if (suspect && p.suspects.size() < kMaxSuspects) {
    p.suspects.push_back(Peer::Suspect{ssrc, sender, arrivedNs});
  }
  // Continuity per SSRC, whoever it carries.
  const uint16_t seq = view.sequenceNumber();
  const uint32_t ts = view.timestamp();
  if (s.nextSeq == 0) {
    s.nextSeq = uint32_t{seq} + 1;
    s.lastTs = ts;
  } else {
    const auto delta = static_cast<uint16_t>(seq - static_cast<uint16_t>(s.nextSeq));
    if (delta < 0x8000) {
      acc_.seqGaps += delta;
      if (static_cast<int32_t>(ts - s.lastTs) < 0) {
        ++rw.tsBackwards;
      }
      s.nextSeq = uint32_t{seq} + 1;
      s.lastTs = ts;
    } else {
      ++rw.seqBackwards;
    }
  }
  if (view.findExtension(kMidId)) {
    ++rw.midExtension;
  }
  const auto body = view.extensionData();
  size_t offset = 0;
  while (const auto e = rtp::nextExtensionElement(body, view.extensionProfile(), offset)) {
    if (e->id != kAudioLevelId) {
      ++rw.otherExtensions;
      break;
    }
  }
}

void MediaEngine::onReadable(Peer& p) {
  udp::endpoint from;
  const int fd = p.socket.native_handle();
  for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
    // recvmsg for the kernel's receive time (SO_TIMESTAMPNS, CLOCK_REALTIME):
    // latency then excludes the time a packet waited in our own socket queue.
    iovec iov{p.buf.data(), p.buf.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(uint32_t))>
        control{};
    msghdr msg{};
    msg.msg_name = from.data();
    msg.msg_namelen = static_cast<socklen_t>(from.capacity());
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0) {
      break;
    }
    from.resize(msg.msg_namelen);
    int64_t kernelNs = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
        kernelNs = int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        uint32_t dropped = 0;  // the socket's total so far
        std::memcpy(&dropped, CMSG_DATA(c), sizeof(dropped));
        if (dropped > p.rxDropped) {
          acc_.socketDrops += dropped - p.rxDropped;
          if (p.stable) {
            acc_.stableSocketDrops += dropped - p.rxDropped;
          }
          p.rxDropped = dropped;
        }
      }
    }
    const std::span<uint8_t> d(p.buf.data(), static_cast<size_t>(n));
    switch (rtp::classify(d)) {
      case rtp::PacketKind::kRtp:
        handleRtp(p, d, kernelNs);
        break;
      case rtp::PacketKind::kRtcp:
        if (!p.in) {
          ++acc_.earlyMedia;
        } else if (p.in->unprotectRtcp(d).ok()) {
          ++acc_.rtcpReceived;
        } else {
          ++acc_.rtcpDecryptFailures;
        }
        break;
      case rtp::PacketKind::kStun: {
        const auto now = Clock::now();
        p.agent->handleStun(d, from, now);
        updateState(p, now);
        break;
      }
      case rtp::PacketKind::kDtls: {
        const auto now = Clock::now();
        p.dtls->handleDatagram(d, now);
        updateState(p, now);
        break;
      }
      default:
        ++acc_.malformed;
        break;
    }
  }
  Peer* raw = &p;
  p.socket.async_wait(udp::socket::wait_read, [this, raw](const boost::system::error_code& ec) {
    if (!ec) {
      onReadable(*raw);
    }
  });
}

void MediaEngine::handleRtp(Peer& p, std::span<uint8_t> d, int64_t kernelNs) {
  if (!p.in) {
    ++acc_.earlyMedia;
    return;
  }
  const auto r = p.in->unprotectRtp(d);
  if (!r.ok()) {
    switch (r.status) {
      case srtp::Status::kAuthFailure:
        ++acc_.decryptAuth;
        break;
      case srtp::Status::kReplay:
        ++acc_.decryptReplay;
        break;
      default:
        ++acc_.decryptOther;
        break;
    }
    return;
  }
  const int64_t now = realtimeNs();
  const auto view = rtp::ConstRtpPacketView::parse(std::span<const uint8_t>(d.data(), r.length));
  if (!view) {
    ++acc_.malformed;
    return;
  }
  ++acc_.rtpReceived;
  rx_.fetch_add(1, std::memory_order_relaxed);
  const auto payload = view->payload();
  const int64_t arrived = kernelNs != 0 ? kernelNs : now;
  // Without rewriting the SSRC names the sender, and the payload must agree;
  // with it the SSRC is the bridge's, and the payload names the sender.
  uint32_t idx = 0;
  if (cfg_.rewriting) {
    if (payload.size() < kStampSize || std::memcmp(payload.data(), kMagic.data(), 4) != 0) {
      ++acc_.corrupt;
      return;
    }
    idx = rtp::bytes::load32(payload.data() + 4);
    if (idx >= static_cast<uint32_t>(cfg_.endpoints) || cfg_.senderOf[idx] < 0) {
      ++acc_.corrupt;
      return;
    }
  } else {
    idx = view->ssrc() - cfg_.ssrcBase;
    if (idx >= static_cast<uint32_t>(cfg_.endpoints) || cfg_.senderOf[idx] < 0) {
      ++acc_.unknownSsrc;
      return;
    }
  }
  if (static_cast<int>(idx) == p.index) {
    ++acc_.ownAudio;
    return;
  }
  if (!p.stable) {
    // A churn slot's endpoint: it may get media before its colibri-ws opened
    // (its maps are then dropped by the bridge, and all sent on open), and it
    // does not stay: counted, not checked for delivery.
    churnRx_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const auto sender = static_cast<size_t>(cfg_.senderOf[idx]);
  if (!cfg_.rewriting &&
      (payload.size() < kStampSize || std::memcmp(payload.data(), kMagic.data(), 4) != 0 ||
       rtp::bytes::load32(payload.data() + 4) != idx)) {
    ++acc_.corrupt;
    return;
  }
  const uint64_t sentNs = rtp::bytes::load64(payload.data() + 8);
  const uint32_t frame = rtp::bytes::load32(payload.data() + 16);
  if (!rtp::readAudioLevel(*view, kAudioLevelId)) {
    ++acc_.missingLevel;
  }
  const size_t pair = static_cast<size_t>(p.index) * senders_.size() + sender;
  if (cfg_.rewriting) {
    checkRewritten(p, *view, static_cast<int>(idx), arrived);
    firstFrame_[pair] = std::min(firstFrame_[pair], frame);
  } else {
    auto& last = lastSeq_[pair];
    const uint16_t seq = view->sequenceNumber();
    if (last == 0) {
      last = uint32_t{seq} + 1;
    } else {
      const auto delta = static_cast<uint16_t>(seq - static_cast<uint16_t>(last));
      if (delta < 0x8000) {
        acc_.seqGaps += delta;
        last = uint32_t{seq} + 1;
      } else {
        ++acc_.reordered;
      }
    }
  }
  auto& counts = deliveries_;
  if (counts.empty() || frame >= frames_) {
    ++acc_.outsideWindow;
    return;
  }
  auto& c = counts[sender][frame];
  if (c < UINT16_MAX) {
    ++c;
  }
  const auto sent = static_cast<int64_t>(sentNs);
  if (arrived >= sent) {
    acc_.latencyNs.add(static_cast<uint64_t>(arrived - sent));
  }
  if (now >= sent) {
    acc_.toolLatencyNs.add(static_cast<uint64_t>(now - sent));
  }
}

void MediaEngine::updateState(Peer& p, Clock::time_point now) {
  if (p.dead || !p.agent) {
    return;
  }
  const auto ice = p.agent->state();
  if (ice == ice::IceState::kFailed || ice == ice::IceState::kDisconnected) {
    fail(p, fmt::format("ICE {} ({})", ice::iceStateName(ice),
                        ice::iceFailureName(p.agent->failure())));
    return;
  }
  if (p.done) {
    return;
  }
  if (ice == ice::IceState::kConnected && !p.dtlsStarted) {
    p.dtlsStarted = true;
    p.dtls->start(now);
  }
  const auto ds = p.dtls->state();
  if (ds == dtls::State::kFailed || ds == dtls::State::kClosed) {
    fail(p, fmt::format("DTLS {}: {}", dtls::stateName(ds), p.dtls->failureReason()));
    return;
  }
  if (ds == dtls::State::kConnected && p.dtls->srtpKeys()) {
    try {
      p.in = srtp::Session::inbound(*p.dtls->srtpKeys());
      p.out = srtp::Session::outbound(*p.dtls->srtpKeys());
    } catch (const std::exception& e) {
      fail(p, fmt::format("SRTP: {}", e.what()));
      return;
    }
    p.done = true;
    p.connectedAtNs = nowNs();
    connected_.fetch_add(1, std::memory_order_relaxed);
    markReady(p);
  }
}

void MediaEngine::armTick() {
  tick_.expires_after(kTick);
  tick_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      onTick();
    }
  });
}

void MediaEngine::onTick() {
  const auto now = Clock::now();
  for (auto& pp : peers_) {
    Peer& p = *pp;
    if (!p.agent || p.dead) {
      continue;
    }
    if (const auto w = p.agent->nextWakeup(); w && *w <= now) {
      p.agent->tick(now);
    }
    if (const auto t = p.dtls->nextTimeout(); t && *t <= now) {
      p.dtls->onTimer(now);
    }
    updateState(p, now);
    if (p.done && now >= p.nextRtcp) {
      if (p.nextRtcp != Clock::time_point{}) {
        sendReceiverReport(p);
      }
      p.nextRtcp = now + kRtcpInterval / 2 +
                   std::chrono::milliseconds(static_cast<int64_t>(p.index * 37) % 1000);
    }
  }
  // Replaced peers and channels: their handlers have run after 2 s.
  const auto retire = [now](auto& list) {
    while (!list.empty() && now - list.front().first > std::chrono::seconds(2)) {
      list.erase(list.begin());
    }
  };
  retire(retiredPeers_);
  retire(retiredChannels_);
  if (!deliveries_.empty()) {
    const auto due = static_cast<uint32_t>(std::min<uint64_t>(sendTick_ / kSlots, frames_));
    if (due > cfg_.finalizeLagFrames) {
      finalizeUpTo(due - cfg_.finalizeLagFrames);
    }
  }
  armTick();
}

void MediaEngine::sendReceiverReport(Peer& p) {
  std::array<uint8_t, 256> b{};
  const size_t rr = rtp::writeReceiverReport(b, p.local.ssrc, {});
  const size_t sdes = rr == 0 ? 0
                              : rtp::writeSdesCname(std::span<uint8_t>(b).subspan(rr), p.local.ssrc,
                                                    fmt::format("load-{}", p.index));
  if (sdes == 0) {
    return;
  }
  const auto r = p.out->protectRtcp(std::span<uint8_t>(b.data(), b.size()), rr + sdes);
  sendProtected(p, r.ok(), std::span<const uint8_t>(b.data(), r.ok() ? r.length : 0));
}

bool MediaEngine::sendProtected(Peer& p, bool protectedOk, std::span<const uint8_t> datagram) {
  if (!protectedOk) {
    ++acc_.sendErrors;
    return false;
  }
  boost::system::error_code ec;
  const auto to = p.agent->selectedRemote().value_or(p.bridge);
  p.socket.send_to(asio::buffer(datagram.data(), datagram.size()), to, 0, ec);
  if (ec) {
    ++acc_.sendErrors;
    return false;
  }
  return true;
}

void MediaEngine::startSending(Clock::time_point at, uint32_t frames) {
  asio::post(io_, [this, at, frames] {
    frames_ = frames;
    sendStart_ = at;
    sendTick_ = 0;
    deliveries_.assign(senders_.size(), std::vector<uint16_t>(frames, 0));
    for (auto& s : senders_) {
      s.flags.assign(frames, 0);
    }
    if (frames == 0 || senders_.empty()) {
      sendingDone_.store(true, std::memory_order_release);
      return;
    }
    armSend();
  });
}

void MediaEngine::armSend() {
  sendTimer_.expires_at(sendStart_ + kSlot * static_cast<int64_t>(sendTick_));
  sendTimer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      onSend();
    }
  });
}

void MediaEngine::onSend() {
  const auto now = Clock::now();
  const uint64_t total = uint64_t{frames_} * kSlots;
  // Catches up with every slot that is due (bounded by the run's total).
  while (sendTick_ < total && sendStart_ + kSlot * static_cast<int64_t>(sendTick_) <= now) {
    const auto frame = static_cast<uint32_t>(sendTick_ / kSlots);
    for (int s : slots_[sendTick_ % kSlots]) {
      sendFrame(s, frame);
    }
    ++sendTick_;
  }
  if (sendTick_ >= total) {
    sendingDone_.store(true, std::memory_order_release);
    return;
  }
  armSend();
}

void MediaEngine::sendFrame(int sender, uint32_t frame) {
  auto& st = senders_[static_cast<size_t>(sender)];
  const int ep = cfg_.senderEndpoint[static_cast<size_t>(sender)];
  Peer& p = *peers_[static_cast<size_t>(ep)];
  if (!p.out || p.dead) {
    ++acc_.sendErrors;
    return;
  }
  SpeechModel::Frame f;
  if (st.model) {
    f = st.model->next(frame);
  }
  alignas(16) std::array<uint8_t, 12 + 8 + 1000 + srtp::kMaxTrailer> b{};
  b[0] = 0x90;  // V=2, X=1
  b[1] = static_cast<uint8_t>(kOpusPt | (frame == 0 ? 0x80 : 0));
  rtp::bytes::store16(&b[2], st.seq);
  rtp::bytes::store32(&b[4], st.timestamp);
  rtp::bytes::store32(&b[8], p.local.ssrc);
  // RFC 8285 one-byte header block, one element: id 1, one byte (RFC 6464).
  b[12] = 0xBE;
  b[13] = 0xDE;
  b[14] = 0;
  b[15] = 1;
  b[16] = static_cast<uint8_t>(kAudioLevelId << 4);
  b[17] = static_cast<uint8_t>((f.voice ? 0x80 : 0) | (f.level & 0x7F));
  uint8_t* pl = &b[20];
  std::memcpy(pl, kMagic.data(), 4);
  rtp::bytes::store32(pl + 4, static_cast<uint32_t>(ep));
  const auto sentNs = static_cast<uint64_t>(realtimeNs());
  rtp::bytes::store64(pl + 8, sentNs);
  rtp::bytes::store32(pl + 16, frame);
  const uint8_t flags = static_cast<uint8_t>(kSent | (f.loudest ? kLoudest : 0) |
                                             (f.level == kSilence ? kSilent : 0));
  pl[20] = flags;
  pl[21] = f.level;
  for (size_t i = kStampSize; i < static_cast<size_t>(cfg_.payloadBytes); ++i) {
    pl[i] = static_cast<uint8_t>(frame * 31 + i);  // filler (encrypted anyway)
  }
  const size_t len = 20 + static_cast<size_t>(cfg_.payloadBytes);
  const auto r = p.out->protectRtp(std::span<uint8_t>(b.data(), b.size()), len);
  ++st.seq;
  st.timestamp += 960;  // 20 ms at 48 kHz
  if (!sendProtected(p, r.ok(), std::span<const uint8_t>(b.data(), r.ok() ? r.length : 0))) {
    return;
  }
  st.flags[frame] = flags;
  ++acc_.rtpSent;
  tx_.fetch_add(1, std::memory_order_relaxed);
}

StableTotals MediaEngine::finalized() const {
  StableTotals t;
  t.frames = totals_.frames.load(std::memory_order_relaxed);
  t.sent = totals_.sent.load(std::memory_order_relaxed);
  t.expected = totals_.expected.load(std::memory_order_relaxed);
  t.delivered = totals_.delivered.load(std::memory_order_relaxed);
  t.lost = totals_.lost.load(std::memory_order_relaxed);
  t.withheld = totals_.withheld.load(std::memory_order_relaxed);
  return t;
}

void MediaEngine::finalizeAll() {
  asio::post(io_, [this] { finalizeUpTo(frames_); });
}

// The stable receivers' deliveries of frames [finalizedFrames_, frame), as
// results() counts them with routing "all" (a frame no stable receiver got is
// lost unless silent).
void MediaEngine::finalizeUpTo(uint32_t frame) {
  frame = std::min(frame, frames_);
  if (deliveries_.empty() || frame <= finalizedFrames_) {
    return;
  }
  const size_t nSenders = senders_.size();
  const uint64_t receivers = static_cast<uint64_t>(std::max(stable_ - 1, 0));
  StableTotals d;
  for (uint32_t f = finalizedFrames_; f < frame; ++f) {
    for (size_t s = 0; s < nSenders; ++s) {
      ++d.frames;
      const uint8_t flags = senders_[s].flags[f];
      if ((flags & kSent) == 0) {
        continue;
      }
      const int ep = cfg_.senderEndpoint[s];
      uint64_t withheld = 0;
      if (cfg_.rewriting) {
        for (int rcv = 0; rcv < stable_; ++rcv) {
          const uint32_t first = firstFrame_[static_cast<size_t>(rcv) * nSenders + s];
          if (rcv != ep && first != kNoFrame && first > f &&
              first - f <= cfg_.withheldWindowFrames) {
            ++withheld;
          }
        }
      }
      const uint64_t expected = ep < stable_ ? receivers - withheld : 0;
      const uint64_t c = deliveries_[s][f];
      ++d.sent;
      d.expected += expected;
      d.delivered += std::min<uint64_t>(c, expected);
      d.withheld += withheld;
      if (c == 0 && (flags & kSilent) != 0) {
        d.expected -= expected;  // silence may go unrouted
      } else if (c < expected) {
        d.lost += expected - c;
      }
    }
  }
  finalizedFrames_ = frame;
  totals_.frames.fetch_add(d.frames, std::memory_order_relaxed);
  totals_.sent.fetch_add(d.sent, std::memory_order_relaxed);
  totals_.expected.fetch_add(d.expected, std::memory_order_relaxed);
  totals_.delivered.fetch_add(d.delivered, std::memory_order_relaxed);
  totals_.lost.fetch_add(d.lost, std::memory_order_relaxed);
  totals_.withheld.fetch_add(d.withheld, std::memory_order_relaxed);
}

EngineResults MediaEngine::results(bool routedOnly) const {
  EngineResults out = acc_;
  const uint64_t receivers = static_cast<uint64_t>(stable_ - 1);
  const size_t nSenders = senders_.size();
  for (size_t s = 0; s < nSenders; ++s) {
    SenderResult r;
    r.endpoint = cfg_.senderEndpoint[s];
    r.ssrc = cfg_.ssrcBase + static_cast<uint32_t>(r.endpoint);
    r.speaks = cfg_.senderSpeaks[s];
    const auto& flags = senders_[s].flags;
    // Rewriting: per frame, the receivers for which it lies in the window
    // before their first packet of this sender (a new SSRC's delay).
    std::vector<int32_t> withheldDelta;
    if (cfg_.rewriting && !flags.empty()) {
      withheldDelta.assign(flags.size() + 1, 0);
      for (int rcv = 0; rcv < stable_; ++rcv) {
        const uint32_t first = firstFrame_[static_cast<size_t>(rcv) * nSenders + s];
        if (rcv == r.endpoint || first == kNoFrame || first >= flags.size()) {
          continue;
        }
        const uint32_t from =
            first > cfg_.withheldWindowFrames ? first - cfg_.withheldWindowFrames : 0;
        ++withheldDelta[from];
        --withheldDelta[first];
      }
    }
    int64_t withheldNow = 0;
    for (size_t f = 0; f < flags.size(); ++f) {
      if (!withheldDelta.empty()) {
        withheldNow += withheldDelta[f];
      }
      if ((flags[f] & kSent) == 0) {
        continue;
      }
      const uint64_t c = deliveries_.empty() ? 0 : deliveries_[s][f];
      const auto withheld = static_cast<uint64_t>(withheldNow);
      const uint64_t expected = receivers - withheld;
      ++r.sent;
      r.deliveries += c;
      r.withheld += withheld;
      if ((flags[f] & kLoudest) != 0) {
        ++r.sentLoudest;
        r.deliveriesLoudest += c;
      }
      if ((flags[f] & kSilent) != 0) {
        ++r.sentSilent;
      }
      if (c == 0) {
        if (expected == 0) {
          continue;  // held back from every receiver (a new SSRC's delay)
        }
        ++r.notRouted;
        if (!routedOnly && (flags[f] & kSilent) == 0) {
          r.lost += expected;
        }
      } else if (c < expected) {
        r.lost += expected - c;
      }
    }
    out.rw.withheld += r.withheld;
    out.senders.push_back(r);
  }
  for (const auto& p : peers_) {
    out.connectedAtNs.push_back(p->connectedAtNs);
    out.channelAtNs.push_back(p->channelAtNs);
  }
  return out;
}

std::string MediaEngine::pendingSummary() const {
  std::map<std::string, int> counts;
  for (const auto& p : peers_) {
    if (p->done && (!cfg_.rewriting || p->channelAtNs != 0)) {
      continue;
    }
    if (p->done) {
      ++counts[p->channel && p->channel->open() ? "colibri-ws open without ServerHello"
                                                : "colibri-ws connecting"];
    } else if (!p->agent) {
      ++counts["no bridge transport yet"];
    } else if (p->agent->state() != ice::IceState::kConnected) {
      ++counts[fmt::format("ICE {}", ice::iceStateName(p->agent->state()))];
    } else {
      ++counts[fmt::format("DTLS {}", dtls::stateName(p->dtls->state()))];
    }
  }
  std::string out;
  for (const auto& [what, n] : counts) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", what, n);
  }
  return out;
}

}  // namespace jvb::load
