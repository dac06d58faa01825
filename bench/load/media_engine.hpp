#pragma once
// The N endpoints of a load run on ONE thread (one Asio io_context): each has
// its own UDP socket on 127.0.0.1, a controlled ICE agent, a DTLS client and
// SRTP sessions, built from the project's ice/dtls/srtp/rtp code (as
// tests/media/media_router_harness.hpp's Client). Senders send one Opus-sized
// RTP packet every 20 ms with the ssrc-audio-level extension (id 1) and a
// payload carrying the send time (CLOCK_REALTIME, the clock of the kernel's
// receive timestamps), the sender's index and frame number; every receiver
// decrypts and checks each packet.
//
// With `rewriting` (SSRC rewriting, ssrc-rewriting.md), every endpoint also
// opens its colibri-ws (ColibriWsClient, on the same io_context: its messages
// are handled on the media thread, in one event loop with the RTP) and learns
// which bridge-chosen SSRC carries whom only from AudioSourcesMap; a received
// packet's SSRC must have been announced to that receiver, with the owner
// whose index the payload carries. The sender of a packet is then taken from
// its payload, so loss is counted per sender and frame as without rewriting.
//
// Threading: the constructor, start(), stop() and results() belong to the
// owner's thread; connect() and startSending() may be called from any thread
// (they post to the media thread); the counters are relaxed atomics.
#include <time.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "colibri_ws_client.hpp"
#include "dtls/context.hpp"
#include "histogram.hpp"
#include "ice/credentials.hpp"
#include "rtp/rtp_packet.hpp"

namespace jvb::load {

using Clock = std::chrono::steady_clock;

inline int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// CLOCK_REALTIME, the clock of the kernel's receive timestamps: send stamps
// use it so that latency can be taken at the kernel's receive time.
inline int64_t realtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// What the bridge answered for one endpoint (its side of the transport).
struct BridgeTransport {
  std::string ufrag;
  std::string pwd;
  std::vector<ice::Candidate> candidates;
  std::string fingerprintHash;
  std::string fingerprint;
  std::string setup;
  std::string webSocketUrl;  // <web-socket url/> of the transport; empty without colibri-ws
};

struct EngineConfig {
  int endpoints = 0;
  // Per endpoint: its index among the senders, or -1 (muted).
  std::vector<int> senderOf;
  // Per sender: the endpoint, and whether it talks (else it sends silence).
  std::vector<int> senderEndpoint;
  std::vector<bool> senderSpeaks;
  int speakers = 0;  // senders that talk (the first `speakers` senders)
  uint32_t ssrcBase = 0;
  int payloadBytes = 80;
  uint32_t framesPerSlot = 150;  // loudest rotation, in 20 ms frames
  uint64_t seed = 1;
  std::chrono::milliseconds handshakeTimeout{20000};
  // SSRC rewriting: colibri-ws per endpoint, SSRCs learnt from AudioSourcesMap.
  bool rewriting = false;
  // Rewriting: frames just before a receiver's first packet of a sender that
  // the bridge may hold back as a new SSRC's delay (new-ssrc-delay + slack);
  // missing there, they are "withheld", not loss.
  uint32_t withheldWindowFrames = 0;
  // Soak (churn): only endpoints 0..stable-1 count as receivers for delivery
  // and loss; the others (churn slots, muted) are replaced while the run goes
  // on and their packets are only counted. -1: every endpoint.
  int stable = -1;
  // Soak: a frame's deliveries are final (finalized(), below) this many
  // frames after it was due.
  uint32_t finalizeLagFrames = 100;
};

// Soak: delivery to the stable receivers, summed over the frames finalized so
// far (every stable sender's frames older than finalizeLagFrames).
struct StableTotals {
  uint64_t frames = 0;  // finalized frames (all senders)
  uint64_t sent = 0;    // of those, sent
  uint64_t expected = 0;
  uint64_t delivered = 0;
  uint64_t lost = 0;
  uint64_t withheld = 0;
};

// Per sender, after the run.
struct SenderResult {
  int endpoint = 0;
  uint32_t ssrc = 0;
  bool speaks = false;
  uint64_t sent = 0;
  uint64_t sentLoudest = 0;  // while it was the designated loudest
  uint64_t sentSilent = 0;   // level 127
  uint64_t deliveries = 0;   // packets of it received, summed over receivers
  uint64_t deliveriesLoudest = 0;
  uint64_t notRouted = 0;  // packets that reached no receiver
  uint64_t lost = 0;       // deliveries missing from packets that were routed (or all, see Routing)
  uint64_t withheld = 0;   // rewriting: deliveries held back as a new SSRC's (not loss)
};

// SSRC rewriting: what the receivers learnt over colibri-ws and what they checked.
struct RewritingResults {
  uint64_t channelsOpen = 0;       // endpoints whose colibri-ws handshake completed
  uint64_t serverHellos = 0;       // ServerHello messages
  uint64_t messages = 0;           // text messages, all channels
  uint64_t malformedMessages = 0;  // not JSON with a colibriClass (or a bad AudioSourcesMap)
  uint64_t mapsReceived = 0;       // AudioSourcesMap messages
  uint64_t mapEntries = 0;         // their mappedSources entries
  uint64_t mappings = 0;           // (receiver, SSRC) announced for the first time
  uint64_t remaps = 0;             // an announced SSRC announced again with another owner
  uint64_t repeated = 0;           // the same mapping again (e.g. the full map on open)
  uint64_t badMappings = 0;        // unknown owner, not the owner's source, the receiver's own
  uint64_t unannounced = 0;        // packets on an SSRC not (yet) announced to the receiver
  uint64_t notRewritten = 0;       // of those: on the sender's original SSRC
  uint64_t wrongOwner = 0;         // packets whose payload's sender is not the announced owner
  uint64_t seqBackwards = 0;       // per (receiver, SSRC): older sequence number than the last
  uint64_t tsBackwards = 0;        // per (receiver, SSRC): timestamp back while seq went on
  uint64_t midExtension = 0;       // packets carrying sdes:mid (id 10)
  uint64_t otherExtensions = 0;    // packets carrying an extension other than the audio level
  uint64_t withheld = 0;           // deliveries held back as new SSRCs' (sum over senders)
  // A new mapping -> the first packet on it (kernel receive time): the bridge's
  // new-SSRC delay as the receiver sees it.
  Histogram mapToFirstPacketNs;
  // An unannounced or wrong-owner packet -> the mapping that would have
  // explained it, when one came later.
  Histogram announcedLateNs;
  std::string firstBadMapping;  // for the report
};

struct EngineResults {
  // Send stamp -> the kernel's receive timestamp (SO_TIMESTAMPNS): the bridge's
  // forwarding plus loopback, without our own receive queueing.
  Histogram latencyNs;
  // Send stamp -> our receive handler: also counts the time the packet waited
  // for this (single) media thread.
  Histogram toolLatencyNs;
  uint64_t rtpSent = 0;
  uint64_t sendErrors = 0;
  uint64_t rtpReceived = 0;  // decrypted
  uint64_t rtcpReceived = 0;
  uint64_t decryptAuth = 0;
  uint64_t decryptReplay = 0;
  uint64_t decryptOther = 0;
  uint64_t rtcpDecryptFailures = 0;
  uint64_t earlyMedia = 0;     // RTP/RTCP before this endpoint had SRTP keys
  uint64_t malformed = 0;      // not RTP after decryption
  uint64_t unknownSsrc = 0;    // SSRC of no sender of this conference
  uint64_t ownAudio = 0;       // an endpoint received its own SSRC
  uint64_t corrupt = 0;        // payload stamp missing or not matching the SSRC
  uint64_t missingLevel = 0;   // no audio-level extension (id 1)
  uint64_t seqGaps = 0;        // per (receiver, sender): sequence numbers skipped
  uint64_t reordered = 0;      // per (receiver, sender): older than the last one
  uint64_t outsideWindow = 0;  // frames beyond the run's (not counted)
  // Datagrams the kernel dropped at our sockets (SO_RXQ_OVFL: receive buffer
  // full, this thread starved), all and at stable receivers.
  uint64_t socketDrops = 0;
  uint64_t stableSocketDrops = 0;
  std::vector<SenderResult> senders;
  std::vector<int64_t> connectedAtNs;  // per endpoint; 0 = never
  std::vector<int64_t> channelAtNs;    // rewriting: per endpoint, ServerHello received; 0 = never
  RewritingResults rw;
};

class MediaEngine {
 public:
  struct Local {
    std::string id;
    uint32_t ssrc = 0;
    ice::Credentials ice;
    uint16_t port = 0;
  };

  MediaEngine(EngineConfig cfg, const dtls::Context& dtls);
  ~MediaEngine();
  MediaEngine(const MediaEngine&) = delete;
  MediaEngine& operator=(const MediaEngine&) = delete;

  void start();
  // Stops and joins the media thread (idempotent).
  void stop();

  // Any thread. Starts ICE (towards the first loopback IPv4 candidate) and,
  // once it connects, the DTLS handshake; with rewriting, also the colibri-ws.
  // `generation`: the endpoint's (recycle()); a transport for an older one is
  // ignored.
  void connect(int endpoint, BridgeTransport transport, uint32_t generation = 0);

  // Soak, owner thread, after start(): endpoint slot `endpoint` (a muted churn
  // slot) gets a new endpoint: a new id, ICE credentials and UDP socket (its
  // local(), at once); on the media thread the old one is closed (socket,
  // colibri-ws; kept 2 s for its pending handlers) and counts no more. Returns
  // the new generation.
  uint32_t recycle(int endpoint);
  // Whether `endpoint`'s generation `generation` is up: ICE, DTLS, SRTP and,
  // with rewriting, its colibri-ws with ServerHello. Any thread.
  [[nodiscard]] bool ready(int endpoint, uint32_t generation) const;
  // Soak, any thread: closes `endpoint`'s colibri-ws and opens a new one on
  // the same URL (as lib-jitsi-meet reconnects its bridge channel). Done when
  // its ServerHello comes (channelReconnects()); a failure fails the endpoint.
  void reconnectChannel(int endpoint);
  [[nodiscard]] uint64_t channelReconnectsStarted() const {
    return reconnectsStarted_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] uint64_t channelReconnects() const {
    return reconnectsDone_.load(std::memory_order_relaxed);
  }
  // Soak: packets received by the churn slots' endpoints (not checked for loss).
  [[nodiscard]] uint64_t churnReceived() const { return churnRx_.load(std::memory_order_relaxed); }
  // Soak: delivery to the stable receivers over the finalized frames. Any thread.
  [[nodiscard]] StableTotals finalized() const;
  // Any thread: finalizes every frame (after the sending ended and in-flight
  // packets landed).
  void finalizeAll();
  // Any thread. Senders send frames 0..frames-1, frame f at `at` + f * 20 ms
  // (senders spread over the 20 ms).
  void startSending(Clock::time_point at, uint32_t frames);

  [[nodiscard]] const Local& local(int endpoint) const;
  [[nodiscard]] const std::string& fingerprint() const { return fingerprint_; }

  [[nodiscard]] int connected() const { return connected_.load(std::memory_order_relaxed); }
  [[nodiscard]] int failed() const { return failed_.load(std::memory_order_relaxed); }
  // Rewriting: endpoints whose colibri-ws is open and got ServerHello.
  [[nodiscard]] int channelsReady() const { return channelsReady_.load(std::memory_order_relaxed); }
  [[nodiscard]] uint64_t rtpReceived() const { return rx_.load(std::memory_order_relaxed); }
  [[nodiscard]] uint64_t rtpSent() const { return tx_.load(std::memory_order_relaxed); }
  [[nodiscard]] bool sendingDone() const { return sendingDone_.load(std::memory_order_acquire); }
  // The first failure ("<endpoint>: ICE failed: ..."), empty if none.
  [[nodiscard]] std::string firstFailure() const;

  // After stop(): counters, per sender accounting, latency. `routedOnly`:
  // packets no receiver got are not loss (route-loudest-only may drop them);
  // otherwise only silence (level 127) may go unrouted.
  [[nodiscard]] EngineResults results(bool routedOnly) const;
  // After stop(): "ICE checking 3, DTLS connecting 2" for endpoints that did
  // not connect (with rewriting also "colibri-ws connecting 1").
  [[nodiscard]] std::string pendingSummary() const;

 private:
  struct Peer;
  void onReadable(Peer& p);
  void handleRtp(Peer& p, std::span<uint8_t> d, int64_t kernelNs);
  // Rewriting: checks a packet of `sender` (endpoint index) against p's announced SSRCs.
  void checkRewritten(Peer& p, const rtp::ConstRtpPacketView& view, int sender, int64_t arrivedNs);
  void openChannel(Peer& p, const std::string& url);
  void onChannelMessage(Peer& p, std::string_view text);
  void applyMapping(Peer& p, const MappedSource& m, int64_t now);
  void updateState(Peer& p, Clock::time_point now);
  void fail(Peer& p, const std::string& why);
  void markReady(Peer& p);
  std::unique_ptr<Peer> makePeer(int index, uint32_t generation);
  void finalizeUpTo(uint32_t frame);
  void armTick();
  void onTick();
  void armSend();
  void onSend();
  void sendFrame(int sender, uint32_t frame);

  EngineConfig cfg_;
  boost::asio::io_context io_;
  std::string fingerprint_;
  const dtls::Context& dtls_;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::vector<Local> locals_;          // owner thread's copy (recycle() replaces one)
  std::vector<uint32_t> generations_;  // owner thread
  // Per endpoint: generation + 1 once that generation is up (0: none).
  std::unique_ptr<std::atomic<uint32_t>[]> readyTag_;
  // Replaced peers and colibri-ws clients, kept until their handlers ran.
  std::vector<std::pair<Clock::time_point, std::unique_ptr<Peer>>> retiredPeers_;
  std::vector<std::pair<Clock::time_point, std::unique_ptr<ColibriWsClient>>> retiredChannels_;
  int stable_ = 0;  // endpoints counted as receivers
  boost::asio::steady_timer tick_;
  boost::asio::steady_timer sendTimer_;
  std::thread thread_;
  bool running_ = false;

  // Sending (media thread).
  Clock::time_point sendStart_{};
  uint32_t frames_ = 0;
  uint64_t sendTick_ = 0;
  struct SenderState;
  void sendReceiverReport(Peer& p);
  // Sends an SRTP/SRTCP datagram to the bridge; counts a failed protect or send.
  bool sendProtected(Peer& p, bool protectedOk, std::span<const uint8_t> datagram);
  std::vector<SenderState> senders_;
  std::vector<std::vector<int>> slots_;  // sender indices per 2 ms slot of the 20 ms frame

  // Verification (media thread).
  // deliveries_[sender][frame]: receivers that got that packet.
  std::vector<std::vector<uint16_t>> deliveries_;
  // Per (receiver, sender): last sequence number + 1 (0 = none yet).
  std::vector<uint32_t> lastSeq_;
  // Rewriting, per (receiver, sender): the first frame received (kNoFrame: none).
  std::vector<uint32_t> firstFrame_;
  std::unordered_map<std::string, int> endpointIndex_;  // endpoint id -> index
  EngineResults acc_;

  std::atomic<int> connected_{0};
  std::atomic<int> failed_{0};
  std::atomic<int> channelsReady_{0};
  std::atomic<uint64_t> rx_{0};
  std::atomic<uint64_t> tx_{0};
  std::atomic<bool> sendingDone_{false};
  std::atomic<uint64_t> reconnectsStarted_{0};
  std::atomic<uint64_t> reconnectsDone_{0};
  std::atomic<uint64_t> churnRx_{0};
  // Finalized frames (media thread writes, any thread reads).
  uint32_t finalizedFrames_ = 0;
  struct AtomicTotals {
    std::atomic<uint64_t> frames{0}, sent{0}, expected{0}, delivered{0}, lost{0}, withheld{0};
  } totals_;
  mutable std::mutex failureMutex_;
  std::string firstFailure_;
};

}  // namespace jvb::load
