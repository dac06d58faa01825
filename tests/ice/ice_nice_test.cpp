// IceAgent against a third-party ICE stack: libnice's NiceAgent, on loopback
// UDP, its GMainContext iterated by the test. Every loop is bounded in
// iterations and wall time.
#include <gtest/gtest.h>
#include <nice/agent.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ice/credentials.hpp"
#include "ice/ice_agent.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using jvb::ice::Candidate;
using jvb::ice::IceAgent;
using jvb::ice::IceConfig;
using jvb::ice::IceFailure;
using jvb::ice::IceState;
using jvb::ice::Role;
using jvb::ice::UdpEndpoint;
using Clock = std::chrono::steady_clock;

// A NiceAgent with one stream of one component on 127.0.0.1.
class NicePeer {
 public:
  explicit NicePeer(bool controlling) : ctx_(g_main_context_new()) {
    agent_ = nice_agent_new(ctx_, NICE_COMPATIBILITY_RFC5245);
    g_object_set(agent_, "controlling-mode", controlling ? TRUE : FALSE, "upnp", FALSE, "ice-tcp",
                 FALSE, nullptr);
    NiceAddress lo;
    nice_address_init(&lo);
    nice_address_set_from_string(&lo, "127.0.0.1");  // libnice skips loopback otherwise
    nice_agent_add_local_address(agent_, &lo);
    stream_ = nice_agent_add_stream(agent_, 1);
    connect("candidate-gathering-done", reinterpret_cast<GCallback>(&NicePeer::onGathered));
    connect("component-state-changed", reinterpret_cast<GCallback>(&NicePeer::onState));
    nice_agent_attach_recv(agent_, stream_, 1, ctx_, &NicePeer::onRecv, this);
    nice_agent_gather_candidates(agent_, stream_);
    for (int i = 0; i < 1000 && !gathered_; ++i) {
      iterate();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~NicePeer() {
    g_object_unref(agent_);
    iterate();
    g_main_context_unref(ctx_);
  }
  NicePeer(const NicePeer&) = delete;
  NicePeer& operator=(const NicePeer&) = delete;

  [[nodiscard]] bool gathered() const { return gathered_; }
  [[nodiscard]] NiceComponentState state() const { return state_; }
  void iterate() {
    for (int i = 0; i < 100 && g_main_context_iteration(ctx_, FALSE); ++i) {
    }
  }

  [[nodiscard]] std::pair<std::string, std::string> credentials() const {
    gchar* ufrag = nullptr;
    gchar* pwd = nullptr;
    nice_agent_get_local_credentials(agent_, stream_, &ufrag, &pwd);
    std::pair<std::string, std::string> out{ufrag != nullptr ? ufrag : "",
                                            pwd != nullptr ? pwd : ""};
    g_free(ufrag);
    g_free(pwd);
    return out;
  }

  // Its gathered candidates, as Colibri2 would carry them.
  [[nodiscard]] std::vector<Candidate> candidates() const {
    std::vector<Candidate> out;
    GSList* list = nice_agent_get_local_candidates(agent_, stream_, 1);
    for (GSList* i = list; i != nullptr; i = i->next) {
      const auto* nc = static_cast<const NiceCandidate*>(i->data);
      std::array<gchar, NICE_ADDRESS_STRING_LEN> ip{};
      nice_address_to_string(&nc->addr, ip.data());
      Candidate c;
      c.foundation = nc->foundation;
      c.priority = nc->priority;
      c.ip = ip.data();
      c.port = static_cast<uint16_t>(nice_address_get_port(&nc->addr));
      c.type = nc->type == NICE_CANDIDATE_TYPE_HOST ? "host" : "srflx";
      c.protocol = nc->transport == NICE_CANDIDATE_TRANSPORT_UDP ? "udp" : "tcp";
      out.push_back(c);
    }
    for (GSList* i = list; i != nullptr; i = i->next) {
      nice_candidate_free(static_cast<NiceCandidate*>(i->data));
    }
    g_slist_free(list);
    return out;
  }

  void setRemote(const std::string& ufrag, const std::string& pwd, const UdpEndpoint& addr,
                 uint32_t priority) {
    nice_agent_set_remote_credentials(agent_, stream_, ufrag.c_str(), pwd.c_str());
    NiceCandidate* c = nice_candidate_new(NICE_CANDIDATE_TYPE_HOST);
    c->stream_id = stream_;
    c->component_id = 1;
    c->transport = NICE_CANDIDATE_TRANSPORT_UDP;
    c->priority = priority;
    g_strlcpy(c->foundation, "1", NICE_CANDIDATE_MAX_FOUNDATION);
    nice_address_set_from_string(&c->addr, addr.address().to_string().c_str());
    nice_address_set_port(&c->addr, addr.port());
    GSList* list = g_slist_append(nullptr, c);
    nice_agent_set_remote_candidates(agent_, stream_, 1, list);
    nice_candidate_free(c);
    g_slist_free(list);
  }

  // The remote address of its selected pair, if any.
  [[nodiscard]] std::optional<UdpEndpoint> selectedRemote() const {
    NiceCandidate* local = nullptr;
    NiceCandidate* remote = nullptr;
    if (nice_agent_get_selected_pair(agent_, stream_, 1, &local, &remote) == FALSE ||
        remote == nullptr) {
      return std::nullopt;
    }
    std::array<gchar, NICE_ADDRESS_STRING_LEN> ip{};
    nice_address_to_string(&remote->addr, ip.data());
    return UdpEndpoint(asio::ip::make_address(ip.data()),
                       static_cast<uint16_t>(nice_address_get_port(&remote->addr)));
  }

 private:
  void connect(const char* signal, GCallback cb) {
    g_signal_connect_data(agent_, signal, cb, this, nullptr, static_cast<GConnectFlags>(0));
  }
  static void onGathered(NiceAgent* /*agent*/, guint /*stream*/, gpointer self) {
    static_cast<NicePeer*>(self)->gathered_ = true;
  }
  static void onState(NiceAgent* /*agent*/, guint /*stream*/, guint /*component*/, guint state,
                      gpointer self) {
    static_cast<NicePeer*>(self)->state_ = static_cast<NiceComponentState>(state);
  }
  static void onRecv(NiceAgent* /*agent*/, guint /*stream*/, guint /*component*/, guint /*len*/,
                     gchar* /*buf*/, gpointer /*self*/) {}

  GMainContext* ctx_;
  NiceAgent* agent_ = nullptr;
  guint stream_ = 0;
  bool gathered_ = false;
  NiceComponentState state_ = NICE_COMPONENT_STATE_DISCONNECTED;
};

// Our agent on a real loopback socket, driven by the test loop.
struct Bridge {
  asio::io_context io;
  udp::socket socket{io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  jvb::ice::Credentials creds = jvb::ice::generateCredentials();
  IceAgent agent;
  std::vector<IceState> states;

  explicit Bridge(IceConfig cfg)
      : agent(
            creds,
            [this](std::span<const uint8_t> d, const UdpEndpoint& to) {
              boost::system::error_code ec;
              socket.send_to(asio::buffer(d.data(), d.size()), to, 0, ec);
            },
            cfg) {
    socket.non_blocking(true);
    agent.onStateChange([this](IceState s, IceFailure) { states.push_back(s); });
  }
  [[nodiscard]] UdpEndpoint local() const { return socket.local_endpoint(); }

  void poll() {
    std::array<uint8_t, 2048> buf{};
    for (int i = 0; i < 100; ++i) {
      udp::endpoint from;
      boost::system::error_code ec;
      const size_t n = socket.receive_from(asio::buffer(buf), from, 0, ec);
      if (ec) {
        break;
      }
      agent.handleStun({buf.data(), n}, from, Clock::now());
    }
    agent.tick(Clock::now());
  }
};

IceConfig fastConfig() {
  IceConfig cfg;
  cfg.ta = std::chrono::milliseconds(20);
  cfg.initialRto = std::chrono::milliseconds(100);
  cfg.maxRto = std::chrono::milliseconds(400);
  cfg.consentInterval = std::chrono::milliseconds(200);
  cfg.consentTimeout = std::chrono::milliseconds(1500);
  return cfg;
}

// Exchanges credentials and candidates as Colibri2/Jingle would.
void introduce(Bridge& bridge, NicePeer& peer) {
  ASSERT_TRUE(peer.gathered());
  const auto [ufrag, pwd] = peer.credentials();
  ASSERT_FALSE(ufrag.empty());
  ASSERT_TRUE(bridge.agent.setRemoteCredentials(ufrag, pwd));
  int added = 0;
  for (const Candidate& c : peer.candidates()) {
    added += bridge.agent.addRemoteCandidate(c) ? 1 : 0;
  }
  ASSERT_GE(added, 1);
  peer.setRemote(bridge.creds.ufrag, bridge.creds.pwd, bridge.local(),
                 jvb::ice::candidatePriority(jvb::ice::CandidateType::kHost, 65535));
}

// Runs both agents until `done` (or `limit` of wall time).
bool runUntil(Bridge& bridge, NicePeer* peer, const std::function<bool()>& done,
              std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (int i = 0; i < 20000 && Clock::now() < deadline; ++i) {
    if (peer != nullptr) {
      peer->iterate();
    }
    bridge.poll();
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

std::optional<UdpEndpoint> peerAddress(const NicePeer& peer) {
  for (const Candidate& c : peer.candidates()) {
    return UdpEndpoint(asio::ip::make_address(c.ip), c.port);
  }
  return std::nullopt;
}

TEST(IceAgentWithLibnice, ControlledPeerConnectsThenConsentExpires) {
  NicePeer peer(false);
  Bridge bridge(fastConfig());
  introduce(bridge, peer);
  const auto peerAddr = peerAddress(peer);
  ASSERT_TRUE(peerAddr.has_value());

  const bool ready = runUntil(
      bridge, &peer,
      [&] {
        return bridge.agent.state() == IceState::kConnected &&
               peer.state() == NICE_COMPONENT_STATE_READY;
      },
      std::chrono::seconds(10));
  ASSERT_TRUE(ready) << "bridge " << jvb::ice::iceStateName(bridge.agent.state()) << ", libnice "
                     << nice_component_state_to_string(peer.state());
  ASSERT_TRUE(bridge.agent.selectedRemote().has_value());
  EXPECT_EQ(*bridge.agent.selectedRemote(), *peerAddr);
  EXPECT_EQ(bridge.agent.role(), Role::kControlling);
  // libnice saw our nomination: its selected pair is our address.
  const auto theirs = peer.selectedRemote();
  ASSERT_TRUE(theirs.has_value());
  EXPECT_EQ(*theirs, bridge.local());

  // Consent checks answered by libnice keep the session past the timeout.
  runUntil(
      bridge, &peer, [] { return false; }, std::chrono::milliseconds(2500));
  EXPECT_EQ(bridge.agent.state(), IceState::kConnected);

  // libnice stops answering (its context is no longer run): consent expires.
  const auto silentFrom = Clock::now();
  const bool lost = runUntil(
      bridge, nullptr, [&] { return bridge.agent.state() == IceState::kDisconnected; },
      std::chrono::seconds(5));
  const auto took = Clock::now() - silentFrom;
  ASSERT_TRUE(lost);
  EXPECT_EQ(bridge.agent.failure(), IceFailure::kConsentExpired);
  EXPECT_GE(took,
            std::chrono::milliseconds(1500 - 300));  // last answer was up to ~1 interval before
  EXPECT_LE(took, std::chrono::milliseconds(1500 + 500));
  EXPECT_FALSE(bridge.agent.selectedRemote().has_value());
  EXPECT_EQ(bridge.states, (std::vector<IceState>{IceState::kChecking, IceState::kConnected,
                                                  IceState::kDisconnected}));
}

// Both sides start controlling (RFC 8445 section 7.3.1.1); the larger
// tie-breaker keeps the role, whichever side that is.
void roleConflict(uint64_t ourTieBreaker, Role expectedRole) {
  NicePeer peer(true);
  IceConfig cfg = fastConfig();
  cfg.tieBreaker = ourTieBreaker;
  Bridge bridge(cfg);
  introduce(bridge, peer);
  const auto peerAddr = peerAddress(peer);
  ASSERT_TRUE(peerAddr.has_value());
  const bool ready = runUntil(
      bridge, &peer,
      [&] {
        return bridge.agent.state() == IceState::kConnected &&
               peer.state() == NICE_COMPONENT_STATE_READY;
      },
      std::chrono::seconds(10));
  ASSERT_TRUE(ready) << "bridge " << jvb::ice::iceStateName(bridge.agent.state()) << ", libnice "
                     << nice_component_state_to_string(peer.state());
  EXPECT_EQ(bridge.agent.role(), expectedRole);
  // (libnice's "controlling-mode" property reports the configured role, not
  // the negotiated one, so its side is judged by its selected pair.)
  EXPECT_EQ(*bridge.agent.selectedRemote(), *peerAddr);
  const auto theirs = peer.selectedRemote();
  ASSERT_TRUE(theirs.has_value());
  EXPECT_EQ(*theirs, bridge.local());
}

TEST(IceAgentWithLibnice, RoleConflictWeKeepControlling) {
  roleConflict(UINT64_MAX, Role::kControlling);
}

TEST(IceAgentWithLibnice, RoleConflictWeBecomeControlled) {
  roleConflict(0, Role::kControlled);
}

}  // namespace
