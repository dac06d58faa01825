#pragma once
// SSRC rewriting for one receiving endpoint (JVB's AudioSsrcCache,
// jvb/src/main/kotlin/org/jitsi/videobridge/SsrcCache.kt): the receiver gets
// audio on at most `limit` bridge-chosen send SSRCs ("slots"), whatever the
// number of senders, and learns which sender a slot carries from the
// bridge channel's AudioSourcesMap.
//
// JVB's rules, kept:
//  - a slot is assigned on the first packet of a source that has none;
//    while the pool is not full a new slot is made (random SSRC, unique
//    among this receiver's; with rtp-mid-demux the mid "a<n>" in creation
//    order), else the least recently used slot changes owner, keeping its
//    SSRC, mid and RTP state;
//  - sequence numbers and timestamps stay continuous for the receiver:
//    deltas are fixed once per binding. A slot with no history passes the
//    source's values through; a source this receiver was sent before
//    continues from its own last values (it jumps forward by what the
//    receiver missed); a source never sent before is taken to follow the
//    slot's last packet by one packet and 960 samples (20 ms of Opus);
//  - sender reports are rewritten only for sources that hold a slot, with
//    the slot's SSRC, the timestamp delta and the counts of what was sent
//    on that SSRC (RtcpSrUpdater.kt); none before the slot sent anything.
//
// Where JVB hurts clients, on purpose different (README "SSRC rewriting"):
//  - `remapMinIdle`: a full pool's slot changes owner only when its owner
//    has not used it for that long. JVB evicts on every packet of a
//    non-resident source, so more routed senders than slots thrash every
//    slot and every packet sends a map; here the newcomer waits (its
//    packets for this receiver are dropped and counted) until a slot is
//    idle. 0 restores JVB's behaviour.
//  - `newSsrcDelay`: a slot with a new SSRC carries media only this long
//    after it was announced. The client must renegotiate (a new m-line)
//    before it can take packets on it; packets that come first are lost or,
//    in Chromium without mid demux, latch onto the wrong m-line (lib-jitsi-
//    meet's RemoteAudioWedgeDetector.ts). A remap of a known SSRC needs no
//    renegotiation and carries media at once.
//  - a slot freed because its source went away (endpoint expired, source
//    removed) keeps its SSRC and mid and is the first one reused, so the
//    client's m-lines stay bounded by `limit` (lib-jitsi-meet keeps an
//    m-line after its owner leaves; JVB allocates a fresh SSRC each time).
//
// Sources are named by small integers (the media router's conference-wide
// source indices). Per packet: no allocation, no lock; reserveSources() and
// the constructor allocate (control commands only).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace jvb::media {

struct SsrcRewriteConfig {
  size_t limit = 50;  // videobridge.ssrc-limit.audio
  std::chrono::steady_clock::duration newSsrcDelay = std::chrono::milliseconds(200);
  std::chrono::steady_clock::duration remapMinIdle = std::chrono::milliseconds(500);
};

class AudioSsrcCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint32_t kNoSource = UINT32_MAX;
  // JVB's guess for the packet before a source's first one (20 ms of Opus).
  static constexpr uint32_t kGuessedTimestampStep = 960;

  struct Slot {
    uint32_t ssrc = 0;
    std::string mid;  // "a<n>" with mid demux, else empty (fits the small-string buffer)
    uint32_t source = kNoSource;
    bool announced = false;   // its SSRC was announced at least once
    bool hasHistory = false;  // something was sent on it
    uint16_t lastSeq = 0;     // the last values sent on it
    uint32_t lastTs = 0;
    uint16_t seqDelta = 0;  // for the current binding
    uint32_t tsDelta = 0;
    Clock::time_point lastUsed{};
    Clock::time_point liveAt{};  // new SSRC: no media before this
    uint64_t packets = 0;        // sent on this SSRC, all owners
    uint64_t octets = 0;         // payload octets, as RFC 3550 counts them
  };

  struct Counters {
    uint64_t slotsCreated = 0;
    uint64_t remappings = 0;      // a slot got another owner
    uint64_t delayedPackets = 0;  // held back by newSsrcDelay
    uint64_t noSlotDropped = 0;   // no slot could be had (remapMinIdle)
  };

  enum class Outcome { kSend, kDelayed, kNoSlot };
  struct Rewrite {
    Outcome outcome = Outcome::kNoSlot;
    int slot = -1;
    uint32_t ssrc = 0;
    uint16_t sequenceNumber = 0;
    uint32_t timestamp = 0;
    bool mappingChanged = false;  // `slot` has a new owner: announce it
  };

  struct SenderReport {
    uint32_t ssrc = 0;
    uint32_t rtpTimestamp = 0;
    uint32_t packetCount = 0;
    uint32_t octetCount = 0;
  };

  // `seed` feeds the SSRC generator; `midDemux` gives slots mids.
  AudioSsrcCache(const SsrcRewriteConfig& config, bool midDemux, uint64_t seed);

  // Makes room for source indices below `count` (control path).
  void reserveSources(size_t count);

  // One packet of `source` (seq, ts as sent) for this receiver. kSend: write
  // it with the returned SSRC, sequence number and timestamp, then call
  // onSent(). Never allocates.
  Rewrite rewrite(uint32_t source, uint16_t seq, uint32_t ts, Clock::time_point now) noexcept;
  void onSent(int slot, size_t payloadOctets) noexcept;

  // A sender report of `source`, for this receiver; nullopt: drop it.
  [[nodiscard]] std::optional<SenderReport> rewriteSenderReport(
      uint32_t source, uint32_t rtpTimestamp) const noexcept;

  // `source` is gone: its slot (if any) becomes free, keeping SSRC, mid and
  // history for the next owner, and what this receiver knew of the source is
  // forgotten (the index may name another source later). Returns the freed
  // slot, or -1.
  int releaseSource(uint32_t source) noexcept;

  [[nodiscard]] std::span<const Slot> slots() const { return slots_; }
  [[nodiscard]] size_t slotsInUse() const;
  [[nodiscard]] const Counters& counters() const { return counters_; }
  [[nodiscard]] bool midDemux() const { return midDemux_; }
  [[nodiscard]] size_t limit() const { return config_.limit; }

 private:
  struct Received {
    bool seen = false;     // something of it was sent to this receiver
    bool bound = false;    // deltas computed for the current binding
    uint16_t lastSeq = 0;  // its last values as sent by the source
    uint32_t lastTs = 0;
    int slot = -1;
  };

  int assignSlot(uint32_t source, Clock::time_point now) noexcept;
  uint32_t freshSsrc() noexcept;

  SsrcRewriteConfig config_;
  bool midDemux_;
  uint64_t rng_;
  std::vector<Slot> slots_;         // reserved to `limit` up front
  std::vector<Received> received_;  // by source index
  Counters counters_;
};

}  // namespace jvb::media
