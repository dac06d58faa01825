#pragma once
// The XMPP side of the control plane: every configured xmpp-client
// connection, the IQ handlers they share (health check, version, ping; the
// Colibri2 handler registers here too), and the brewery presence with the
// colibri stats. Runs on the control io_context, so XMPP work never waits
// on, nor is waited on by, the media thread:
//  - each connected client's socket is watched with Asio (async_wait on a
//    dup of libstrophe's descriptor): when bytes arrive, libstrophe runs
//    (xmpp_run_once, non-blocking) until the socket is drained, at most
//    kMaxPassesPerTurn passes (256 KiB) per loop turn before the other
//    handlers (HTTP) get a turn;
//  - cheap IQs (health check, version, ping) are answered as they are read;
//    Colibri2 requests are queued (IqDispatcher::addDeferred) and handled in
//    bounded batches, one batch per loop turn, in arrival order, so a join
//    burst never delays a health check read behind it, nor /about/health;
//  - a 10 ms tick drives the clients' timers (reconnect, pings, presence),
//    libstrophe's, a connection being set up, and catches anything the
//    readiness path left.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "config/bridge_config.hpp"
#include "control/bridge_state.hpp"
#include "xmpp/iq_dispatcher.hpp"
#include "xmpp/muc_client.hpp"
#include "xmpp/strophe.hpp"

namespace jvb::xmpp {

// The stats published in brewery presence: what Jicofo reads (selection,
// health, shutdown, versions, regions), not the whole map, to keep stanzas
// small. current_timestamp is left out: it would make every presence new.
inline constexpr const char* kPresenceStats[] = {"stress_level",  "average_participant_stress",
                                                 "conferences",   "participants",
                                                 "endpoints",     "graceful_shutdown",
                                                 "shutting_down", "drain",
                                                 "healthy",       "version",
                                                 "release",       "region",
                                                 "relay_id"};

// Builds <stats xmlns='http://jitsi.org/protocol/colibri'> with one
// <stat name value/> per presence stat present in `stats`, values in Java's
// toString form; returns it with a signature of the values (stress figures
// left out of it) and the stress level.
MucClient::PresenceStats buildStatsElement(xmpp_ctx_t* ctx, const nlohmann::json& stats);

// The health-check, version and ping handlers, as JVB answers them.
void registerBaseHandlers(IqDispatcher& iqs, std::function<control::Health()> health);

class XmppService {
 public:
  using StatsFn = std::function<nlohmann::json()>;
  using HealthFn = std::function<control::Health()>;

  XmppService(boost::asio::io_context& control, const config::BridgeConfig& cfg,
              control::BridgeState& state, StatsFn stats, HealthFn health);
  ~XmppService();

  IqDispatcher& iqs() { return iqs_; }
  void start();
  // Leaves the rooms and closes the streams, then calls `done` (at most
  // `limit` later, even if a server does not answer).
  void stop(std::chrono::milliseconds limit, std::function<void()> done);
  void publishPresenceNow();

  // Colibri2 requests queued at most (more: resource-constraint errors).
  static constexpr size_t kMaxDeferred = 4096;
  // Per batch (one loop turn): at most this many requests, or this long.
  static constexpr int kDeferredBatch = 16;
  static constexpr std::chrono::milliseconds kDeferredBudget{4};

 private:
  // Asio readiness on one client's socket (a dup, so that libstrophe closing
  // its descriptor never leaves Asio holding a reused number).
  struct Watch {
    std::unique_ptr<boost::asio::posix::stream_descriptor> fd;
    uint64_t generation = 0;  // Context::socketGeneration() it was made for
    uint64_t serial = 0;      // per attach: stale completions are ignored
  };
  // What the Colibri2 queue did, logged every kReportEvery when it was used.
  struct QueueReport {
    std::vector<uint32_t> waitUs;    // arrival -> handler starts
    std::vector<uint32_t> handleUs;  // handler + reply built
    size_t maxDepth = 0;
    std::chrono::steady_clock::time_point since{};
  };

  void tick();
  void syncWatch(size_t i);
  void closeWatch(size_t i);
  void armWatch(size_t i);
  void onReadable(size_t i, uint64_t serial);
  void pump(size_t i);
  // Runs libstrophe passes for context i until its socket is drained (true)
  // or `maxPasses` ran (false).
  bool drain(size_t i, int maxPasses);
  bool acceptDeferred(IqDispatcher::Deferred& d);
  void scheduleDeferred();
  void runDeferred();
  void report(std::chrono::steady_clock::time_point now);

  boost::asio::io_context& io_;
  std::shared_ptr<int> life_ = std::make_shared<int>(0);  // posted handlers check it
  const config::BridgeConfig& cfg_;
  control::BridgeState& state_;
  StatsFn stats_;
  IqDispatcher iqs_;
  std::vector<std::unique_ptr<Context>> contexts_;  // one per client, declared first: outlives it
  std::vector<std::unique_ptr<MucClient>> clients_;
  std::vector<Watch> watches_;  // one per client
  std::deque<IqDispatcher::Deferred> deferred_;
  bool deferredPosted_ = false;
  QueueReport report_;
  boost::asio::steady_timer timer_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stopDeadline_{};
  std::function<void()> onStopped_;
};

}  // namespace jvb::xmpp
