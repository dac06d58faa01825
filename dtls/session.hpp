#pragma once
// One DTLS-SRTP association (RFC 5764) with one endpoint, over OpenSSL: the
// handshake that authenticates the peer by its signalled certificate
// fingerprint and exports the SRTP master keys, then (optionally) DTLS
// application data for SCTP data channels (RFC 8261).
//
// Datagrams, not streams. Incoming datagrams go through a memory BIO, one at
// a time (the caller has already demultiplexed DTLS from STUN/RTP by the first
// byte, RFC 7983). Outgoing bytes go through a custom BIO_METHOD whose every
// BIO_write is exactly one datagram handed to the send callback: during the
// handshake OpenSSL layers its own buffering BIO on top and flushes it
// whenever the next handshake fragment would not fit the MTU (it consults
// BIO_wpending), so a flight leaves as few datagrams of whole records, each
// no larger than Context::mtu() (RFC 6347 section 4.1.1); after the
// handshake each record (application data, alert) is written, hence sent,
// alone. Every public call flushes before returning, so nothing lingers.
//
// Time. No threads, no sleeping: the owner arms one timer at nextTimeout()
// and calls onTimer() when it fires. The handshake deadline is measured with
// the `now` values the owner passes. Retransmissions (RFC 6347 section
// 4.2.4) use OpenSSL's DTLS timer, which runs on the real clock
// (gettimeofday): nextTimeout() converts OpenSSL's remaining time into the
// owner's clock at each call, and onTimer() retransmits only once OpenSSL
// agrees the timer has expired (it rounds anything under 15 ms to expired).
//
// Thread-safety: none. Every call, including the callbacks it makes, happens
// on the owner's (media) thread. Callbacks must not destroy the Session, and
// the send callback must not call back into it.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dtls/context.hpp"
#include "dtls/fingerprint.hpp"
#include "srtp/srtp_keys.hpp"

namespace jvb::dtls {

// Our DTLS role. From Colibri2's setup attribute on the remote fingerprint
// (RFC 8842 section 5.1): remote 'active' -> we are the server, remote
// 'passive' -> we are the client.
enum class Role : uint8_t { kClient, kServer };

enum class State : uint8_t {
  kNew,         // constructed, start() not called yet
  kConnecting,  // handshake in progress
  kConnected,   // handshake done, peer authenticated, SRTP keys exported
  kFailed,      // see failureReason(); terminal
  kClosed,      // close() called or close_notify received; terminal
};
std::string_view stateName(State state);
std::string_view roleName(Role role);

struct SessionOptions {
  // Give up on a handshake that has not completed this long after start()
  // (JVB: 30 s).
  std::chrono::milliseconds handshakeTimeout{30000};
  // First retransmission timeout, doubled on each retransmission up to 60 s
  // (RFC 6347 section 4.2.4.1).
  std::chrono::milliseconds initialRetransmit{1000};
  // Prefixed to this session's log lines (e.g. the endpoint id).
  std::string logTag;
};

struct SessionStats {
  uint64_t datagramsReceived = 0;  // handed to OpenSSL
  uint64_t datagramsIgnored = 0;   // empty, oversized, or arriving in a terminal state
  uint64_t datagramsSent = 0;
  uint64_t bytesSent = 0;
  uint64_t retransmissions = 0;  // timer expiries that resent a flight
  uint64_t applicationDataReceived = 0;
  uint64_t applicationDataSent = 0;
  uint64_t sendErrors = 0;  // the send callback threw
  // Renegotiations refused once connected: a ClientHello or HelloRequest in
  // the established epoch (OpenSSL answers no_renegotiation), or a new
  // ClientHello from the start (epoch 0, not handed to OpenSSL).
  uint64_t renegotiationsRefused = 0;
};

// Whether a DTLS datagram holds a plaintext (epoch 0) ClientHello record
// (RFC 6347 sections 4.1, 4.2.2). Never reads past the datagram.
[[nodiscard]] bool containsClientHello(std::span<const uint8_t> datagram) noexcept;

class Session {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  using SendFn = std::function<void(std::span<const uint8_t> datagram)>;
  using DataFn = std::function<void(std::span<const uint8_t> data)>;
  using StateFn = std::function<void(State state)>;

  // `remoteFingerprints` are those signalled for the endpoint (any of
  // sha-256/sha-1/sha-384/sha-512 may match). `send` is called once per
  // outgoing datagram. Throws std::invalid_argument / std::runtime_error.
  Session(const Context& context, Role role, std::vector<RemoteFingerprint> remoteFingerprints,
          SendFn send, SessionOptions options = {});
  ~Session();
  // Move-only. A moved-from Session may only be destroyed or assigned to.
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Decrypted DTLS application data (SCTP packets), once connected.
  void setOnApplicationData(DataFn fn);
  // Every state transition, after it happened.
  void setOnStateChange(StateFn fn);
  // Replaces the signalled fingerprints (a later Colibri2 transport update);
  // effective for a peer certificate not yet checked.
  void setRemoteFingerprints(std::vector<RemoteFingerprint> fingerprints);

  // Begins the handshake (after ICE connects): a client sends its
  // ClientHello, a server waits for one. Arms the handshake deadline. A
  // server that receives a datagram before start() starts implicitly.
  void start(TimePoint now);
  // One incoming DTLS datagram (first byte 20..63, RFC 7983). Never throws;
  // malformed records are dropped by OpenSSL (RFC 6347 section 4.1.2.7) and
  // a fatal handshake error moves the session to kFailed.
  void handleDatagram(std::span<const uint8_t> datagram, TimePoint now);
  // Call at (or after) nextTimeout(): retransmits, or fails the handshake
  // once its deadline has passed.
  void onTimer(TimePoint now);
  // When onTimer() should next be called; nullopt when nothing is pending.
  [[nodiscard]] std::optional<TimePoint> nextTimeout() const;

  // Sends one DTLS record of application data. False when not connected,
  // when `data` is empty or larger than maxApplicationDataSize(), or when
  // OpenSSL refuses it.
  bool sendApplicationData(std::span<const uint8_t> data);
  // Largest application-data payload that still fits one datagram of the
  // MTU with the negotiated cipher; 0 before the handshake completes.
  [[nodiscard]] size_t maxApplicationDataSize() const;

  // Sends close_notify when connected (RFC 5246 section 7.2.1) and moves to
  // kClosed. No-op in a terminal state.
  void close();

  [[nodiscard]] Role role() const;
  [[nodiscard]] State state() const;
  // Why the session failed (or closed); empty otherwise.
  [[nodiscard]] const std::string& failureReason() const;
  // The SRTP master keys, set exactly when the state reaches kConnected.
  [[nodiscard]] const std::optional<srtp::Keys>& srtpKeys() const;
  // The negotiated cipher suite (OpenSSL name), once connected.
  [[nodiscard]] const std::string& cipherName() const;
  [[nodiscard]] const SessionStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jvb::dtls
