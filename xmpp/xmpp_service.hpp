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
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
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

  // JVB's /colibri/muc-client REST (XmppConnection.kt): connections added and
  // removed at run time. A new id connects at once; an id that exists with
  // the same hostname, port, domain and username is left alone; with other
  // values it is replaced (stopped, then connected anew).
  enum class AddOutcome { kAdded, kUnchanged, kReplaced };
  AddOutcome addClient(config::XmppClientConfig cfg);
  // Leaves the rooms and closes the stream of that connection; false if no
  // connection has that id.
  bool removeClient(const std::string& id);
  [[nodiscard]] std::vector<std::string> clientIds() const;

  // Colibri2 requests queued at most (more: resource-constraint errors).
  static constexpr size_t kMaxDeferred = 4096;
  // Per batch (one loop turn): at most this many requests, or this long.
  static constexpr int kDeferredBatch = 16;
  static constexpr std::chrono::milliseconds kDeferredBudget{4};

 private:
  // Asio readiness on one client's socket (a dup, so that libstrophe closing
  // its descriptor never leaves Asio holding a reused number).
  struct Watch {
    Context* context = nullptr;
    std::unique_ptr<boost::asio::posix::stream_descriptor> fd;
    uint64_t generation = 0;  // Context::socketGeneration() it was made for
    uint64_t serial = 0;      // per attach or close (serials_): stale completions are ignored
  };
  // What the Colibri2 queue did, logged every kReportEvery when it was used.
  struct QueueReport {
    std::vector<uint32_t> waitUs;    // arrival -> handler starts
    std::vector<uint32_t> handleUs;  // handler + reply built
    size_t maxDepth = 0;
    std::chrono::steady_clock::time_point since{};
  };

  void tick();
  void scheduleTick();
  void publishConfiguredCounts();
  std::unique_ptr<MucClient> makeClient(Context& ctx, config::XmppClientConfig cfg);
  // Watches, by client: attached to its current socket while it is
  // connected, dropped when it is removed.
  void syncWatches();
  void syncWatch(const MucClient* client, Context& ctx);
  void closeWatch(Watch& w);
  void armWatch(const MucClient* client, Watch& w);
  void pump(const MucClient* client, uint64_t serial);
  // Runs libstrophe passes for one connection until its socket is drained
  // (true) or `maxPasses` ran (false).
  static bool drain(Context& ctx, const MucClient& client, int maxPasses);
  void drainAll();
  bool acceptDeferred(IqDispatcher::Deferred& d);
  // Drops the queued requests of a connection that goes away.
  void dropDeferred(const Context& ctx);
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
  // Removed at run time, still closing their streams (each client before its
  // context), and what removed clients had counted.
  struct Retiring {
    std::unique_ptr<Context> context;
    std::unique_ptr<MucClient> client;
    std::chrono::steady_clock::time_point deadline;
  };
  std::vector<Retiring> retiring_;
  uint64_t retiredIn_ = 0;
  uint64_t retiredOut_ = 0;
  uint64_t retiredLost_ = 0;
  bool ticking_ = false;
  std::map<const MucClient*, Watch> watches_;
  uint64_t serials_ = 0;
  // After the clients: destroyed first (a queued request's reply refers to
  // its client).
  std::deque<IqDispatcher::Deferred> deferred_;
  bool deferredPosted_ = false;
  QueueReport report_;
  boost::asio::steady_timer timer_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stopDeadline_{};
  std::function<void()> onStopped_;
};

}  // namespace jvb::xmpp
