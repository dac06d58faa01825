#pragma once
// One XMPP client connection per videobridge.apis.xmpp-client.configs entry,
// joined to every brewery room of its MUC_JIDS (jicoco's MucClient, in the
// shape the seed's tech Prosody needs):
//  - TCP to HOSTNAME:PORT, SASL as USERNAME@DOMAIN with its own resource
//    "jvb-audio-<id>-<MUC_NICKNAME>" (so several bridges can share one account,
//    and a restarted bridge replaces its old session), STARTTLS as
//    SECURITY_MODE asks, certificate checks off with
//    DISABLE_CERTIFICATE_VERIFICATION; no XEP-0198 (see connectionFlags());
//  - XEP-0199 pings every jvb-audio.xmpp.ping-interval (30 s) with a reconnect
//    when one goes unanswered for ping-timeout (15 s), the socket shut down
//    at once rather than closed gracefully (see abortStream());
//  - the join counts as done once sent, unless an error comes back: the
//    seed's mod_firewall rule drops the join self-presence (its first status
//    code is 100 or 201, not 110);
//  - presence with the colibri stats re-sent when a value changed (checked
//    every presence interval) and at least once a minute, never per event;
//  - nickname conflict (409) logged clearly and retried;
//  - reconnect with exponential backoff (1 s .. 4 s) and re-join.
// Threading: control thread only.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/bridge_config.hpp"
#include "xmpp/connection_error.hpp"
#include "xmpp/iq_dispatcher.hpp"
#include "xmpp/strophe.hpp"

namespace jvb::xmpp {

class MucClient {
 public:
  using Clock = std::chrono::steady_clock;
  // The current <stats xmlns='http://jitsi.org/protocol/colibri'/>, a
  // signature of its values other than the stress figures, and the stress
  // level. Presence is re-sent when the signature changes or the stress moved
  // by kStressStep since the last presence: CPU load jitters all the time, and
  // Jicofo's selection does not need it finer than that.
  struct PresenceStats {
    StanzaPtr element;
    std::string signature;
    double stress = 0.0;
  };
  using StatsSource = std::function<PresenceStats(xmpp_ctx_t*)>;
  static constexpr double kStressStep = 0.1;

  struct Timing {
    std::chrono::milliseconds presenceInterval{5000};
    std::chrono::milliseconds presenceRefresh{
        25000};  // keep-alive (jvb-audio.xmpp.presence-keepalive)
    std::chrono::milliseconds pingInterval{30000};
    std::chrono::milliseconds pingTimeout{15000};
    std::chrono::milliseconds backoffMin{1000};
    // Capped low: after a Prosody restart the bridge must be back in the brewery
    // within seconds (Jicofo re-selects bridges as soon as they reappear).
    std::chrono::milliseconds backoffMax{4000};
  };

  MucClient(Context& ctx, config::XmppClientConfig cfg, const IqDispatcher& iqs, StatsSource stats,
            Timing timing);
  ~MucClient();
  MucClient(const MucClient&) = delete;
  MucClient& operator=(const MucClient&) = delete;

  // Drives timers: (re)connect, pings, presence. Call on every loop turn.
  void tick(Clock::time_point now);
  // Sends presence now to every joined room (e.g. shutdown state changed).
  void publishPresenceNow();
  // Leaves the rooms and closes the stream (non-blocking; the loop must keep
  // running briefly for the bytes to go out).
  void stop();

  [[nodiscard]] bool connected() const { return state_ == State::kConnected; }
  [[nodiscard]] int roomsJoined() const;
  // Since construction: stanzas received (after the stream is up) and sent,
  // and established connections lost.
  [[nodiscard]] uint64_t stanzasReceived() const { return stanzasIn_; }
  [[nodiscard]] uint64_t stanzasSent() const { return stanzasOut_; }
  [[nodiscard]] uint64_t disconnects() const { return disconnects_; }
  [[nodiscard]] const std::string& id() const { return cfg_.id; }
  [[nodiscard]] const config::XmppClientConfig& config() const { return cfg_; }
  [[nodiscard]] int mucCount() const { return static_cast<int>(cfg_.mucJids.size()); }
  [[nodiscard]] bool stopped() const { return stopRequested_ && state_ == State::kIdle; }

 private:
  enum class State { kIdle, kConnecting, kConnected };
  struct Room {
    std::string jid;  // bare room JID
    bool joined = false;
    Clock::time_point retryAt{};
    int conflicts = 0;
  };
  struct ConnRelease {
    void operator()(xmpp_conn_t* c) const { xmpp_conn_release(c); }
  };

  static void onConnEvent(xmpp_conn_t* conn, xmpp_conn_event_t event, int error,
                          xmpp_stream_error_t* streamError, void* self);
  static int onIq(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* self);
  static int onPresence(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* self);
  static int onPingReply(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* self);
  static int onAnyStanza(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* self);
  void send(xmpp_conn_t* conn, xmpp_stanza_t* stanza);

  void connect(Clock::time_point now);
  void handleDisconnect(Clock::time_point now, const std::string& why);
  void joinRooms(Clock::time_point now);
  void sendPresence(Room& room, bool join);
  void maybePublishPresence(Clock::time_point now);
  void maybePing(Clock::time_point now);
  void abortStream();
  long connectionFlags() const;
  [[nodiscard]] ConnectionFacts facts() const;
  static int socketOptions(xmpp_conn_t* conn, void* sock);

  uint64_t stanzasIn_ = 0;
  uint64_t stanzasOut_ = 0;
  uint64_t disconnects_ = 0;
  Context& ctx_;
  config::XmppClientConfig cfg_;
  const IqDispatcher& iqs_;
  StatsSource stats_;
  Timing timing_;
  std::string resource_;
  std::unique_ptr<xmpp_conn_t, ConnRelease> conn_;
  State state_ = State::kIdle;
  bool stopRequested_ = false;
  bool discardConn_ = false;
  bool established_ = false;  // this attempt reached XMPP_CONN_CONNECT
  bool aborted_ = false;      // abortStream() ended this connection
  int sockFd_ = -1;           // the connection's socket while libstrophe has it open
  std::vector<Room> rooms_;
  std::chrono::milliseconds backoff_;
  Clock::time_point nextConnectAt_{};
  Clock::time_point connectedAt_{};
  Clock::time_point lastPresenceCheck_{};
  Clock::time_point lastPresenceSent_{};
  std::string lastSignature_;
  double lastStress_ = 0.0;
  std::string pendingPingId_;
  Clock::time_point lastPingSent_{};
  uint64_t pingCounter_ = 0;
  uint64_t connectEpoch_ = 0;  // per connect(): a deferred reply goes out on its own connection
};

}  // namespace jvb::xmpp
