#pragma once
// The XMPP side of the control plane: every configured xmpp-client
// connection, the IQ handlers they share (health check, version, ping; the
// Colibri2 handler registers here too), and the brewery presence with the
// colibri stats. Runs on the control io_context: a 10 ms tick drives
// libstrophe (xmpp_run_once, non-blocking) and the clients' timers, so XMPP
// work never waits on, nor is waited on by, the media thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
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

 private:
  void tick();
  void scheduleTick();
  void publishConfiguredCounts();
  std::unique_ptr<MucClient> makeClient(Context& ctx, config::XmppClientConfig cfg);

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
  boost::asio::steady_timer timer_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stopDeadline_{};
  std::function<void()> onStopped_;
};

}  // namespace jvb::xmpp
