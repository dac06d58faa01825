#pragma once
// The media router tests' rig (media_router_test.cpp, media_router_rewrite_test.cpp):
// the bridge's MediaLoop on 127.0.0.1 and client endpoints built from the
// project's own client-side pieces (a controlled ICE agent, a DTLS client,
// SRTP sessions) on their own UDP sockets.
#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include "control/media_compiler.hpp"
#include "dtls/session.hpp"
#include "ice/credentials.hpp"
#include "ice/ice_agent.hpp"
#include "ice/stun.hpp"
#include "media/media_loop.hpp"
#include "media/media_router.hpp"
#include "rtp/audio_level.hpp"
#include "rtp/demux.hpp"
#include "rtp/rtcp_builder.hpp"
#include "rtp/rtcp_views.hpp"
#include "rtp/rtp_packet.hpp"
#include "srtp/library.hpp"
#include "srtp/session.hpp"

namespace jvb::router_test {

namespace asio = boost::asio;
using asio::ip::udp;
using namespace jvb;
using Clock = std::chrono::steady_clock;

inline const srtp::Library& srtpLibrary() {
  static const srtp::Library lib;
  return lib;
}

// One WebRTC-like client: a UDP socket, a controlled ICE agent, a DTLS
// client, and SRTP once keyed.
struct Client {
  asio::io_context& io;
  udp::socket socket;
  udp::endpoint bridge;
  ice::Credentials creds = ice::generateCredentials();
  dtls::Certificate cert = dtls::Certificate::generate();
  dtls::Context ctx{cert};
  std::unique_ptr<ice::IceAgent> agent;
  std::unique_ptr<dtls::Session> dtls;
  std::optional<srtp::Session> in, out;
  std::vector<std::vector<uint8_t>> received;  // decrypted RTP
  std::vector<std::vector<uint8_t>> rtcp;      // decrypted RTCP
  bool dtlsStarted = false;
  ice::IceConfig iceConfig;  // of the client's agent (a test may shorten consent)

  Client(asio::io_context& ctxIo, udp::endpoint bridgeAddr)
      : io(ctxIo),
        socket(ctxIo, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        bridge(bridgeAddr) {
    socket.non_blocking(true);
  }

  uint16_t port() const { return socket.local_endpoint().port(); }

  void connect(const control::Endpoint& bridgeSide, const std::string& bridgeFingerprint) {
    agent = std::make_unique<ice::IceAgent>(
        creds,
        [this](std::span<const uint8_t> d, const udp::endpoint& to) {
          boost::system::error_code ec;
          socket.send_to(asio::buffer(d.data(), d.size()), to, 0, ec);
        },
        iceConfig, ice::Role::kControlled);
    agent->setRemoteCredentials(bridgeSide.localIce.ufrag, bridgeSide.localIce.pwd);
    ice::Candidate c;
    c.foundation = "1";
    c.priority = ice::candidatePriority(ice::CandidateType::kHost, 65535);
    c.ip = "127.0.0.1";
    c.port = bridge.port();
    c.type = "host";
    agent->addRemoteCandidate(c);
    dtls = std::make_unique<dtls::Session>(
        ctx, dtls::Role::kClient,
        std::vector<dtls::RemoteFingerprint>{{"sha-256", bridgeFingerprint}},
        [this](std::span<const uint8_t> d) {
          boost::system::error_code ec;
          socket.send_to(asio::buffer(d.data(), d.size()), bridge, 0, ec);
        });
  }

  // Drains the socket and runs timers once.
  void poll() {
    const auto now = Clock::now();
    std::array<uint8_t, 2048> buf{};
    for (int i = 0; i < 64; ++i) {
      udp::endpoint from;
      boost::system::error_code ec;
      const size_t n = socket.receive_from(asio::buffer(buf), from, 0, ec);
      if (ec) {
        break;
      }
      const std::span<const uint8_t> d(buf.data(), n);
      switch (rtp::classify(d)) {
        case rtp::PacketKind::kStun:
          agent->handleStun(d, from, now);
          break;
        case rtp::PacketKind::kDtls:
          dtls->handleDatagram(d, now);
          break;
        case rtp::PacketKind::kRtp:
          if (in) {
            std::vector<uint8_t> p(d.begin(), d.end());
            const auto r = in->unprotectRtp(std::span<uint8_t>(p.data(), p.size()));
            if (r.ok()) {
              p.resize(r.length);
              received.push_back(std::move(p));
            }
          }
          break;
        case rtp::PacketKind::kRtcp:
          if (in) {
            std::vector<uint8_t> p(d.begin(), d.end());
            const auto r = in->unprotectRtcp(std::span<uint8_t>(p.data(), p.size()));
            if (r.ok()) {
              p.resize(r.length);
              rtcp.push_back(std::move(p));
            }
          }
          break;
        default:
          break;
      }
    }
    agent->tick(now);
    if (agent->state() == ice::IceState::kConnected && !dtlsStarted) {
      dtlsStarted = true;
      dtls->start(now);
    }
    if (auto t = dtls->nextTimeout(); t && *t <= now) {
      dtls->onTimer(now);
    }
    if (!out && dtls->state() == dtls::State::kConnected && dtls->srtpKeys()) {
      in = srtp::Session::inbound(*dtls->srtpKeys());
      out = srtp::Session::outbound(*dtls->srtpKeys());
    }
  }

  void sendRtp(uint32_t ssrc, uint8_t pt, uint16_t seq, const std::string& payload) {
    std::array<uint8_t, 1500> p{};
    p[0] = 0x80;
    p[1] = pt;
    p[2] = static_cast<uint8_t>(seq >> 8);
    p[3] = static_cast<uint8_t>(seq);
    p[8] = static_cast<uint8_t>(ssrc >> 24);
    p[9] = static_cast<uint8_t>(ssrc >> 16);
    p[10] = static_cast<uint8_t>(ssrc >> 8);
    p[11] = static_cast<uint8_t>(ssrc);
    std::memcpy(p.data() + 12, payload.data(), payload.size());
    const auto r = out->protectRtp(std::span<uint8_t>(p.data(), p.size()), 12 + payload.size());
    ASSERT_TRUE(r.ok());
    socket.send_to(asio::buffer(p.data(), r.length), bridge);
  }
};

// Opus-like audio with the RFC 6464 level (0 loudest .. 127 silence) under
// header-extension id 1, as routing tests need.
inline void sendAudio(Client& c, udp::endpoint bridge, uint32_t ssrc, uint16_t seq, uint8_t level) {
  std::array<uint8_t, 256> p{};
  p[0] = 0x90;  // X=1
  p[1] = 111;
  p[2] = static_cast<uint8_t>(seq >> 8);
  p[3] = static_cast<uint8_t>(seq);
  p[4] = static_cast<uint8_t>(seq >> 4);  // timestamp: 960 per packet would do; any rises
  p[8] = static_cast<uint8_t>(ssrc >> 24);
  p[9] = static_cast<uint8_t>(ssrc >> 16);
  p[10] = static_cast<uint8_t>(ssrc >> 8);
  p[11] = static_cast<uint8_t>(ssrc);
  p[12] = 0xBE;
  p[13] = 0xDE;
  p[15] = 1;     // one word of elements
  p[16] = 0x10;  // id 1, len 1
  p[17] = static_cast<uint8_t>(0x80 | level);
  std::memset(p.data() + 20, 0x5A, 60);
  const auto r = c.out->protectRtp(std::span<uint8_t>(p.data(), p.size()), 80);
  ASSERT_TRUE(r.ok());
  c.socket.send_to(asio::buffer(p.data(), r.length), bridge);
}

inline uint32_t ssrcOf(const std::vector<uint8_t>& packet) {
  const auto view = rtp::ConstRtpPacketView::parse(packet);
  return view ? view->ssrc() : 0;
}

inline control::Endpoint bridgeEndpoint(const std::string& id, const Client& c, uint32_t ssrc) {
  control::Endpoint e;
  e.id = id;
  e.localIce = ice::generateCredentials();
  e.iceControlling = true;
  e.remoteUfrag = c.creds.ufrag;
  e.remotePwd = c.creds.pwd;
  ice::Candidate cand;
  cand.foundation = "1";
  cand.priority = ice::candidatePriority(ice::CandidateType::kHost, 65535);
  cand.ip = "127.0.0.1";
  cand.port = c.port();
  cand.type = "host";
  e.remoteCandidates = {cand};
  e.remoteFingerprints = {{"sha-256", c.cert.fingerprintSha256(), "active"}};
  e.remoteDtlsSetup = "active";
  e.dtlsSetup = "passive";
  control::PayloadType opus;
  opus.id = 111;
  opus.name = "opus";
  opus.clockrate = 48000;
  opus.channels = 2;
  e.audioPayloadTypes = {opus};
  e.acceptsAudio = true;
  e.audioSources[ssrc] = control::AudioSource{id + "-a0", false};
  return e;
}

template <typename Pred>
bool pump(std::vector<Client*> clients, Pred done, int limitMs = 10000) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(limitMs);
  while (Clock::now() < deadline) {
    for (auto* c : clients)
      c->poll();
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

class MediaRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    (void)srtpLibrary();
    opts_.bindAddress = "127.0.0.1";
    opts_.port = 0;
    media_ = std::make_unique<media::MediaLoop>(opts_, cert_);
    media_->start();
    compiler_ = std::make_unique<control::MediaCompiler>(
        [this](media::Command c) { return media_->send(std::move(c)); });
    bridgeAddr_ = udp::endpoint(asio::ip::make_address("127.0.0.1"), media_->udpPort());
  }
  void TearDown() override { media_->stop(); }

  std::unique_ptr<Client> addClient(const std::string& id, uint32_t ssrc,
                                    std::vector<control::HeaderExtension> extensions = {},
                                    std::set<std::string> capabilities = {}) {
    auto c = std::make_unique<Client>(io_, bridgeAddr_);
    auto ep = bridgeEndpoint(id, *c, ssrc);
    ep.audioHeaderExtensions = std::move(extensions);
    ep.capabilities = std::move(capabilities);
    bridgeSide_[id] = ep;
    c->iceConfig = clientIce_;
    c->connect(ep, cert_->fingerprintSha256());
    compiler_->endpointChanged("m", ep);
    return c;
  }

  media::MediaOptions opts_;
  std::shared_ptr<const dtls::Certificate> cert_ =
      std::make_shared<const dtls::Certificate>(dtls::Certificate::generate());
  std::unique_ptr<media::MediaLoop> media_;
  // The test thread plays the control thread: Colibri2 state goes through
  // the real compiler.
  std::unique_ptr<control::MediaCompiler> compiler_;
  udp::endpoint bridgeAddr_;
  asio::io_context io_;
  std::map<std::string, control::Endpoint> bridgeSide_;
  ice::IceConfig clientIce_;  // the clients' agents, from addClient() on
};

// The latest report block about `ssrc` in the received compounds, if any. The
// latest, because a report sent before the bridge saw an SR says LSR 0.
inline std::optional<rtp::ReportBlock> findBlock(const Client& c, uint32_t ssrc) {
  std::optional<rtp::ReportBlock> latest;
  for (const auto& d : c.rtcp) {
    const auto compound = rtp::RtcpCompoundView::parse(d);
    if (!compound)
      continue;
    for (const auto& p : *compound) {
      if (const auto rr = rtp::ReceiverReportView::from(p)) {
        for (size_t i = 0; i < rr->reportCount(); ++i) {
          if (const auto b = rr->reportBlock(i); b && b->ssrc == ssrc)
            latest = b;
        }
      }
    }
  }
  return latest;
}

inline std::optional<rtp::SenderInfo> findSenderReport(const Client& c, uint32_t ssrc) {
  for (const auto& d : c.rtcp) {
    const auto compound = rtp::RtcpCompoundView::parse(d);
    if (!compound)
      continue;
    for (const auto& p : *compound) {
      if (const auto sr = rtp::SenderReportView::from(p); sr && sr->senderSsrc() == ssrc) {
        return sr->senderInfo();
      }
    }
  }
  return std::nullopt;
}

}  // namespace jvb::router_test
