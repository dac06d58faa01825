#pragma once
// One SCTP association over DTLS (RFC 8261) carrying WebRTC data channels
// (RFC 8831) opened with DCEP (RFC 8832), over usrsctp. For the bridge
// channel (jvb-interfaces.md section 4.1): SCTP port 5000 on both sides, the
// bridge is the SCTP server, the client opens one ordered reliable channel
// "JVB data channel" with protocol "http://jitsi.org/protocols/colibri".
//
// Packets. usrsctp runs with AF_CONN addresses: every Association registers
// a unique opaque value (never reused) with usrsctp_register_address(), and
// usrsctp's output callback looks it up to hand each outgoing SCTP packet to
// sendToDtls (with its CRC32c filled in). Incoming DTLS application data goes
// to handlePacket(). A server listens and accepts the association the peer
// opens (a later INIT after the first association died replaces it; an INIT
// from a peer that lost its state restarts it, forgetting the channels); a
// client connects.
//
// Threading. usrsctp is initialized without threads of its own (see
// library.hpp): every Association of the process and handleTimers() must be
// used from one thread (the bridge's media thread), and nothing happens
// between calls. Timers advance only when the owner calls handleTimers()
// (the bridge: every 20 ms), which runs every association's retransmission,
// SACK and heartbeat timers.
//
// Callbacks. sendToDtls is called synchronously from inside usrsctp (from
// handlePacket, handleTimers, the send methods, start and close). While it
// runs, calls into any Association are restricted: handlePacket() copies the
// packet and processes it once the outermost call into this library returns
// (so a sendToDtls that feeds the peer Association directly works), the
// send/open/close methods refuse (false), and destruction is deferred as
// below. Every other callback is made outside usrsctp, from handlePacket()
// or handleTimers(); there any method may be called.
//
// Lifetime. The destructor silences the association at once (no callback
// runs afterwards, not even sendToDtls with the ABORT) and frees the usrsctp
// socket; call close() first to tell the peer. An Association may be
// destroyed from inside any of its own callbacks (or another's): the
// teardown is then deferred until the outermost call into this library
// returns, and the callback's own captures stay alive until then. Views
// passed to callbacks are valid only during the call.
//
// Errors. Construction throws std::runtime_error when usrsctp refuses a
// socket. Nothing else throws; exceptions thrown by callbacks are caught,
// logged and counted.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sctp/dcep.hpp"

namespace jvb::sctp {

// The SCTP role: a client sends the INIT, a server waits for one.
enum class Role : uint8_t { kClient, kServer };

struct AssociationOptions {
  uint16_t localPort = 5000;
  uint16_t remotePort = 5000;
  // Stream ids for channels this side opens (RFC 8832 section 6): the DTLS
  // client uses even ids, the DTLS server odd ones. Unset: the DTLS role is
  // taken to equal the SCTP role.
  std::optional<bool> dtlsClient;
  // Outbound streams requested and inbound streams allowed in the INIT.
  uint16_t streams = 1024;
  // Largest SCTP packet handed to sendToDtls: it must fit one DTLS record of
  // a 1200-byte datagram (dtls::Session::maxApplicationDataSize(): 1163 with
  // AES-128-GCM, 1171 with ChaCha20-Poly1305). 512..65535.
  uint32_t mtu = 1160;
  // Largest message sendText/sendBinary accept (RFC 8841 section 6: 64 KiB
  // when the peer signals no a=max-message-size, as Jicofo does not).
  size_t maxMessageSize = 64 * 1024;
  // Larger incoming messages are discarded and counted as dropped (and
  // oversized).
  size_t maxIncomingMessageSize = 256 * 1024;
  // Channels open at once at most: a DATA_CHANNEL_OPEN past it is not
  // acknowledged, its stream is reset and it is counted (channelsRefused).
  // Each channel keeps its label and protocol (up to 64 KiB each in DCEP).
  size_t maxChannels = 1024;
  // Retransmission timeout bounds (SCTP_RTOINFO). RFC 4960's 1 s minimum
  // and 60 s maximum are tuned down as WebRTC stacks do (libdatachannel:
  // 1000 / 200 / 10000 ms), so a lost message costs less than a second.
  // NOTE: usrsctp retransmits a chunk only once its age on the real clock
  // (gettimeofday) exceeds the RTO, whatever handleTimers() is told.
  std::chrono::milliseconds rtoInitial{1000};
  std::chrono::milliseconds rtoMin{200};
  std::chrono::milliseconds rtoMax{10000};
  // Prefixed to this association's log lines (e.g. the endpoint id).
  std::string logTag;
};

struct AssociationCallbacks {
  // One outgoing SCTP packet for the DTLS layer (required). Called from
  // inside usrsctp: see "Callbacks" above.
  std::function<void(std::span<const uint8_t> packet)> sendToDtls;
  // The association is up (COMM_UP).
  std::function<void()> onConnected;
  // A channel is open: on the side that accepts it when DATA_CHANNEL_OPEN
  // arrives (after the ACK went out), on the side that opened it when the
  // DATA_CHANNEL_ACK arrives.
  std::function<void(uint16_t streamId, const std::string& label, const std::string& protocol)>
      onChannelOpen;
  // A string message (PPID 51; PPID 56 as an empty string).
  std::function<void(uint16_t streamId, std::string_view text)> onText;
  // A binary message (PPID 53; PPID 57 as empty).
  std::function<void(uint16_t streamId, std::span<const uint8_t> data)> onBinary;
  // The peer closed a channel (reset its outgoing stream); ours is reset too.
  std::function<void(uint16_t streamId)> onChannelClosed;
  // The association was aborted, shut down by the peer, or timed out; not
  // called for close() or destruction.
  std::function<void()> onClosed;
};

class Association {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  struct Counters {
    uint64_t packetsIn = 0;        // handed to handlePacket
    uint64_t packetsOut = 0;       // handed to sendToDtls
    uint64_t messagesIn = 0;       // text/binary messages delivered to onText/onBinary
    uint64_t messagesOut = 0;      // text/binary messages accepted by usrsctp
    uint64_t malformed = 0;        // runt packets, bad DCEP messages
    uint64_t dropped = 0;          // incoming messages discarded: too large, unknown stream or PPID
    uint64_t oversized = 0;        // of dropped: over maxIncomingMessageSize
    uint64_t channelsRefused = 0;  // DATA_CHANNEL_OPENs past maxChannels
    uint64_t sendFailures = 0;     // outgoing messages refused: too large, not open, buffer full
    uint64_t callbackErrors = 0;   // exceptions thrown by callbacks
  };

  Association(Role role, AssociationCallbacks callbacks, AssociationOptions options = {});
  ~Association();
  Association(const Association&) = delete;
  Association& operator=(const Association&) = delete;
  Association(Association&&) = delete;
  Association& operator=(Association&&) = delete;

  // Server: listen (a packet arriving earlier starts it implicitly). Client:
  // send the INIT. Call once DTLS is connected. Idempotent.
  void start();
  // One SCTP packet (DTLS application data).
  void handlePacket(std::span<const uint8_t> packet);

  // Opens a channel with DATA_CHANNEL_OPEN on the lowest free stream id of
  // this side's parity; the id, or nullopt when not connected, no stream is
  // free, or the label/protocol is too long. Messages may be sent at once
  // (ordered until the ACK arrives, RFC 8832 section 6).
  std::optional<uint16_t> openChannel(const std::string& label, const std::string& protocol,
                                      dcep::ChannelType type = dcep::ChannelType::kReliable,
                                      uint32_t reliabilityParameter = 0);
  // Resets the channel's outgoing stream (RFC 8831 section 6.7) and forgets
  // it; false when it is not open.
  bool closeChannel(uint16_t streamId);

  // Sends one message on an open channel: false when the channel is not
  // open, the message is larger than maxMessageSize, or usrsctp's send
  // buffer is full. An empty message goes as PPID 56/57.
  bool sendText(uint16_t streamId, std::string_view text);
  bool sendBinary(uint16_t streamId, std::span<const uint8_t> data);
  // Sends one ordered reliable message with any PPID on any stream, without
  // DCEP bookkeeping or size limit: for tests, fuzzing and load tools.
  bool sendRaw(uint16_t streamId, uint32_t ppid, std::span<const uint8_t> data);

  // Aborts the association (the ABORT goes out through sendToDtls) and stops
  // listening. No onClosed. Terminal.
  void close();

  [[nodiscard]] Role role() const;
  [[nodiscard]] bool connected() const;
  // Whether a channel is open on the stream (opened by either side).
  [[nodiscard]] bool channelOpen(uint16_t streamId) const;
  // Streams usable in both directions (0 before the association is up).
  [[nodiscard]] uint16_t streamCount() const;
  [[nodiscard]] Counters counters() const;

  // Runs usrsctp's timers for the time elapsed since the previous call (the
  // first call only sets the reference), then delivers what they produced.
  // Call periodically (e.g. every 20 ms) while any Association exists.
  static void handleTimers(TimePoint now);

 private:
  struct Impl;
  Impl* impl_;  // owned; its teardown may be deferred (see "Lifetime")
};

}  // namespace jvb::sctp
