#pragma once
// The whole media path on one thread, shared by tests/media/whole_path_alloc_test.cpp
// and bench/whole_path_bench.cpp: a media::MediaRouter driven directly (no
// MediaLoop) with one Jicofo-shaped conference built through the real
// control::MediaCompiler (its commands applied to the router at once), every
// endpoint keyed without a handshake (MediaRouter::keyEndpointForTesting)
// and bound to a loopback UDP socket of its own, and senders whose SRTP
// (and SRTCP) datagrams are prepared ahead into preallocated buffers, so
// that what runs per datagram is the router's onDatagram() alone.
//
// Endpoints as Jicofo signals them (tests/media/media_router_harness.hpp
// bridgeEndpoint()): opus PT 111, ssrc-audio-level id 1 and sdes:mid id 10,
// one audio source each; no remote candidates, so ICE sends no checks and
// the keyed 5-tuple is where the bridge sends. Senders come first
// (peers()[0, senders)), then the receivers.
//
// Threading: the thread that constructs it, which plays both the control
// and the media thread.
#include <openssl/rand.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "control/conference.hpp"
#include "control/media_compiler.hpp"
#include "dtls/certificate.hpp"
#include "dtls/context.hpp"
#include "ice/credentials.hpp"
#include "ice/udp_port.hpp"
#include "media/media_counters.hpp"
#include "media/media_router.hpp"
#include "rtp/rtcp_builder.hpp"
#include "rtp/rtcp_views.hpp"
#include "srtp/library.hpp"
#include "srtp/session.hpp"
#include "srtp/srtp_keys.hpp"

namespace jvb::bench {

namespace rig_detail {
namespace asio = boost::asio;
using asio::ip::udp;
}  // namespace rig_detail

// libsrtp's process-wide state (one srtp::Library at a time), for the
// process's lifetime.
inline const srtp::Library& rigSrtpLibrary() {
  static const srtp::Library lib;
  return lib;
}

struct RigOptions {
  srtp::Profile profile = srtp::Profile::kAeadAes128Gcm;
  size_t receivers = 500;
  size_t senders = 3;
  // Which receivers are created with the ssrc-rewriting capability: none,
  // every other one, or all (senders never).
  enum class Rewriting : uint8_t { kNone, kHalf, kAll };
  Rewriting rewriting = Rewriting::kNone;
  bool routeLoudestOnly = false;
  // A sender's SRTCP sender report + SDES after every this many of its RTP
  // packets; 0: RTP only.
  size_t rtcpEvery = 0;
  // Opus RED (RFC 2198, distance 1): the senders negotiate RED and send it,
  // every third receiver negotiates it (gets it as sent), the others get it
  // stripped to the primary encoding (rtp/red.hpp).
  bool red = false;
};

// One prepared datagram from a sender, protected for the bridge.
struct RigDatagram {
  static constexpr size_t kMaxSize = 256;
  alignas(4) std::array<uint8_t, kMaxSize> bytes{};
  uint16_t size = 0;
  uint16_t sender = 0;  // index into RouterRig::peers()
  bool rtcp = false;
};

class RouterRig {
 public:
  using udp = rig_detail::udp;
  static constexpr const char* kMeetingId = "6f1c2d3e-aaaa-bbbb-cccc-0123456789ab";
  static constexpr const char* kAudioLevelUri = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
  static constexpr const char* kSdesMidUri = "urn:ietf:params:rtp-hdrext:sdes:mid";
  // RTP plaintext: 12-byte header, one extension word (audio level id 1,
  // sdes:mid id 10 = "0"), 100 bytes of Opus stand-in (bench/audio_packet.hpp's size).
  static constexpr size_t kRtpPlainSize = 120;
  // With RigOptions::red: the RED payload type, and the 100 bytes are a
  // 4-byte redundant block header, the primary header, 45 bytes of the
  // previous frame and the 50-byte primary frame.
  static constexpr uint8_t kRedPt = 63;
  static constexpr size_t kRedPrimarySize = 50;

  struct Peer {
    std::string id;  // 8 hex chars, as Jicofo's endpoint ids
    uint32_t ssrc = 0;
    bool rewriting = false;
    bool red = false;  // negotiated RED (RigOptions::red)
    media::EndpointHandle handle = 0;
    srtp::Keys keys;        // the bridge's side of the association
    udp::socket socket;     // non-blocking; read only by tests
    udp::endpoint address;  // the keyed 5-tuple's remote side
    Peer(boost::asio::io_context& io, std::string i)
        : id(std::move(i)), socket(io, udp::endpoint(boost::asio::ip::address_v4::loopback(), 0)) {
      socket.non_blocking(true);
      address = socket.local_endpoint();
    }
  };

  explicit RouterRig(const RigOptions& options)
      : options_(options), router_(io_, *port_, dtls_, counters_, speechConfig(options)) {
    (void)rigSrtpLibrary();
    peers_.reserve(options.senders + options.receivers);
    for (size_t i = 0; i < options.senders + options.receivers; ++i) {
      std::array<char, 16> id{};
      std::snprintf(id.data(), id.size(), "%08x",
                    static_cast<unsigned>(0x3a5c91e7u + i * 2654435761u));
      auto& p = *peers_.emplace_back(std::make_unique<Peer>(sinkIo_, id.data()));
      p.ssrc = 0x10000000u + static_cast<uint32_t>(i) * 7919u;
      p.rewriting =
          i >= options.senders &&
          (options.rewriting == RigOptions::Rewriting::kAll ||
           (options.rewriting == RigOptions::Rewriting::kHalf && (i - options.senders) % 2 == 1));
      p.red = options.red && (i < options.senders || (i - options.senders) % 3 == 0);
      compiler_.endpointChanged(kMeetingId, endpointOf(p));
    }
    for (auto& p : peers_) {
      const auto handle = compiler_.handleOf(kMeetingId, p->id);
      if (!handle) {
        throw std::logic_error("router rig: endpoint not compiled");
      }
      p->handle = *handle;
      p->keys = randomKeys(options.profile);
      router_.keyEndpointForTesting(p->handle, p->keys, p->address);
    }
    for (size_t s = 0; s < options.senders; ++s) {
      senders_.push_back(Sender{srtp::Session::outbound(mirrored(peers_[s]->keys))});
    }
  }

  RouterRig(const RouterRig&) = delete;
  RouterRig& operator=(const RouterRig&) = delete;

  static srtp::Keys randomKeys(srtp::Profile profile) {
    srtp::Keys k;
    k.profile = profile;
    k.local.size = k.remote.size = srtp::keyLength(profile) + srtp::saltLength(profile);
    RAND_bytes(k.local.bytes.data(), static_cast<int>(k.local.size));
    RAND_bytes(k.remote.bytes.data(), static_cast<int>(k.remote.size));
    return k;
  }
  // The endpoint's side of the association.
  static srtp::Keys mirrored(const srtp::Keys& k) {
    return srtp::Keys{k.profile, k.remote, k.local};
  }

  // The next `rounds` rounds, appended to `out` (whose capacity the caller
  // reserves): per round one RTP packet from each sender in turn, and a
  // sender report + SDES after each sender's every rtcpEvery-th packet.
  void prepare(std::vector<RigDatagram>& out, size_t rounds) {
    for (size_t r = 0; r < rounds; ++r) {
      for (uint16_t s = 0; s < senders_.size(); ++s) {
        prepareRtp(out.emplace_back(), s);
        if (options_.rtcpEvery != 0 && senders_[s].packets % options_.rtcpEvery == 0) {
          prepareRtcp(out.emplace_back(), s);
        }
      }
    }
  }

  // Copies `d` into the reused receive buffer (the router decrypts in
  // place): what onDatagram() is then given, with from(d).
  std::span<uint8_t> load(const RigDatagram& d) {
    std::memcpy(rx_.data(), d.bytes.data(), d.size);
    return {rx_.data(), d.size};
  }
  [[nodiscard]] const udp::endpoint& from(const RigDatagram& d) const {
    return peers_[d.sender]->address;
  }
  void deliver(const RigDatagram& d) { router_.onDatagram(load(d), from(d)); }

  // Sends for at least `duration` of real time (20 ms per round, timers
  // run): libsrtp clones its per-SSRC streams, rewriting receivers create
  // their slots and wait out the new-SSRC delay, speech activity decides.
  void warmUp(std::chrono::milliseconds duration = std::chrono::milliseconds(400)) {
    std::vector<RigDatagram> batch;
    batch.reserve(2 * senders_.size());
    const auto end = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < end) {
      batch.clear();
      prepare(batch, 1);
      for (const auto& d : batch) {
        deliver(d);
      }
      io_.poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    io_.poll();
  }

  // Reads and discards whatever the peers' sockets hold.
  void drainSockets() {
    std::array<uint8_t, 2048> buf{};
    for (auto& p : peers_) {
      boost::system::error_code ec;
      while (!ec) {
        (void)p->socket.receive(boost::asio::buffer(buf), 0, ec);
      }
    }
  }

  // Copies of one sender's RTP packet: every other endpoint of the conference.
  [[nodiscard]] size_t copiesPerPacket() const { return peers_.size() - 1; }
  [[nodiscard]] const std::vector<std::unique_ptr<Peer>>& peers() const { return peers_; }
  [[nodiscard]] const RigOptions& options() const { return options_; }
  media::MediaRouter& router() { return router_; }
  media::MediaCounters& counters() { return counters_; }
  boost::asio::io_context& io() { return io_; }

 private:
  struct Sender {
    srtp::Session out;  // the endpoint's outbound session (mirrored keys)
    uint32_t packets = 0;
    uint32_t octets = 0;
  };

  static std::unique_ptr<ice::UdpPort> startedPort(boost::asio::io_context& io) {
    auto port = std::make_unique<ice::UdpPort>(io, "127.0.0.1", 0,
                                               [](std::span<uint8_t>, const udp::endpoint&) {});
    port->start();
    return port;
  }

  static media::SpeechActivityConfig speechConfig(const RigOptions& o) {
    media::SpeechActivityConfig c;
    c.routeLoudestOnly = o.routeLoudestOnly;
    return c;
  }

  // As tests/media/media_router_harness.hpp's bridgeEndpoint(), without a
  // client: remote ICE credentials but no candidates.
  control::Endpoint endpointOf(const Peer& p) const {
    control::Endpoint e;
    e.id = p.id;
    e.statsId = "Participant-" + p.id;
    e.localIce = ice::generateCredentials();
    e.iceControlling = true;
    const auto remote = ice::generateCredentials();
    e.remoteUfrag = remote.ufrag;
    e.remotePwd = remote.pwd;
    e.remoteFingerprints = {{"sha-256", fingerprint_, "active"}};
    e.remoteDtlsSetup = "active";
    e.dtlsSetup = "passive";
    control::PayloadType opus;
    opus.id = 111;
    opus.name = "opus";
    opus.clockrate = 48000;
    opus.channels = 2;
    e.audioPayloadTypes = {opus};
    if (p.red) {
      control::PayloadType red;
      red.id = kRedPt;
      red.name = "red";
      red.clockrate = 48000;
      red.channels = 2;
      e.audioPayloadTypes.insert(e.audioPayloadTypes.begin(), red);
    }
    e.audioHeaderExtensions = {{1, kAudioLevelUri}, {10, kSdesMidUri}};
    e.acceptsAudio = true;
    e.audioSources[p.ssrc] = control::AudioSource{p.id + "-a0", false};
    if (p.rewriting) {
      e.capabilities = {control::kCapSourceNames, control::kCapSsrcRewriting};
    } else {
      e.capabilities = {control::kCapSourceNames};
    }
    return e;
  }

  // Speech-like RFC 6464 levels (0 loudest .. 127 silence): talk spurts
  // between -25 and -55 dBov with a two-packet pause every 40 packets (at
  // most 3 silent packets in a row are forwarded, so all of them are).
  static uint8_t levelOf(uint32_t packet, uint16_t sender) {
    const uint32_t phase = (packet + sender * 13u) % 40u;
    if (phase >= 38) {
      return 127;
    }
    return static_cast<uint8_t>(25 + (phase * 7u + sender * 5u) % 31u);
  }

  void prepareRtp(RigDatagram& d, uint16_t s) {
    Sender& snd = senders_[s];
    const uint32_t ssrc = peers_[s]->ssrc;
    const auto seq = static_cast<uint16_t>(1000u + snd.packets);
    const uint32_t ts = 48000u + snd.packets * 960u;
    auto& p = d.bytes;
    p = {};
    p[0] = 0x90;  // V=2, X=1
    p[1] = 111;   // Opus
    p[2] = static_cast<uint8_t>(seq >> 8);
    p[3] = static_cast<uint8_t>(seq);
    for (int i = 0; i < 4; ++i) {
      p[4 + i] = static_cast<uint8_t>(ts >> (24 - 8 * i));
      p[8 + i] = static_cast<uint8_t>(ssrc >> (24 - 8 * i));
    }
    p[12] = 0xBE;  // one-byte header extensions (RFC 8285)
    p[13] = 0xDE;
    p[15] = 1;     // one word
    p[16] = 0x10;  // id 1 (audio level), one byte
    p[17] = static_cast<uint8_t>(0x80 | levelOf(snd.packets, s));
    p[18] = 0xA0;  // id 10 (sdes:mid), one byte
    p[19] = '0';
    for (size_t i = 20; i < kRtpPlainSize; ++i) {
      p[i] = static_cast<uint8_t>(i * 7 + snd.packets);
    }
    if (options_.red) {
      constexpr size_t kRedundant = kRtpPlainSize - 20 - 5 - kRedPrimarySize;
      p[1] = kRedPt;
      p[20] = 0x80 | 111;  // redundant block: Opus, 960 ticks earlier
      p[21] = 960 >> 6;
      p[22] = static_cast<uint8_t>((960 & 0x3F) << 2);
      p[23] = static_cast<uint8_t>(kRedundant);
      p[24] = 111;  // primary: Opus
    }
    const auto r = snd.out.protectRtp(p, kRtpPlainSize);
    if (!r.ok()) {
      throw std::runtime_error("router rig: protectRtp failed");
    }
    d.size = static_cast<uint16_t>(r.length);
    d.sender = s;
    d.rtcp = false;
    ++snd.packets;
    snd.octets += static_cast<uint32_t>(kRtpPlainSize - 20);
  }

  void prepareRtcp(RigDatagram& d, uint16_t s) {
    Sender& snd = senders_[s];
    const uint32_t ssrc = peers_[s]->ssrc;
    d.bytes = {};
    const rtp::SenderInfo info{0xE9A1'0000'0000'0000ULL + (uint64_t{snd.packets} << 16),
                               48000u + snd.packets * 960u, snd.packets, snd.octets};
    const size_t n = rtp::writeSenderReport(d.bytes, ssrc, info, {});
    const size_t sdes =
        rtp::writeSdesCname(std::span<uint8_t>(d.bytes).subspan(n), ssrc, "k3JfQ9xVb2LmT7wz");
    const auto r = snd.out.protectRtcp(d.bytes, n + sdes);
    if (n == 0 || sdes == 0 || !r.ok()) {
      throw std::runtime_error("router rig: sender report not written");
    }
    d.size = static_cast<uint16_t>(r.length);
    d.sender = s;
    d.rtcp = true;
  }

  RigOptions options_;
  boost::asio::io_context io_;
  // Started before the router, which takes its send sockets at construction.
  std::unique_ptr<ice::UdpPort> port_ = startedPort(io_);
  dtls::Certificate cert_ = dtls::Certificate::generate();
  dtls::Context dtls_{cert_};
  std::string fingerprint_ = cert_.fingerprintSha256();
  media::MediaCounters counters_;
  media::MediaRouter router_;
  // The test thread plays the control thread: Colibri2 state goes through
  // the real compiler, its commands applied at once.
  control::MediaCompiler compiler_{[this](media::Command c) {
    router_.apply(std::move(c));
    return true;
  }};
  // The peers' sockets live on a context of their own that never runs: the
  // router's io_context::poll() must not wade through 503 sockets made
  // readable by its own fan-out (the reference's sinks are the same).
  boost::asio::io_context sinkIo_;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::vector<Sender> senders_;
  alignas(4) std::array<uint8_t, ice::UdpPort::kMaxDatagramSize> rx_{};
};

}  // namespace jvb::bench
