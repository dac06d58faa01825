#pragma once
// Speech activity of one conference: the dominant speaker, the recent
// speakers and the loudest ranking used by `videobridge.loudest`. Matches
// jitsi-utils DominantSpeakerIdentification.java (itself after Volfin and
// Cohen, "Dominant Speaker Identification for Multipoint Videoconferencing")
// and JVB ConferenceSpeechActivity.java / Conference.levelChanged.
//
// Levels: RFC 6464 -dBov (0 loudest, 127 silence), used as 127 - dBov. Each
// speaker keeps its last 50 levels (one per 20 ms packet) and a noise floor:
// the first non-zero level, lowered at once by any lower one and raised every
// 750 non-zero levels to the geometric mean of the floor and the window's
// minimum. Levels below floor + 10 count as 0, so a perfectly steady tone
// becomes its own floor and reads as silence.
//
// Decision (decide(), every 300 ms): levels are quantized to 13 bands (level
// / 10); the immediate count is the newest band, the medium count the number
// of the newest 5 bands above 7, the long count the number of the 10 groups
// of 5 (the whole history) with all 5 above 7. Each count v of n gets the
// score ln C(n,v) + n ln 0.5 - ln L + L v (L = 0.78, 24, 47; floored at
// 1e-10). A speaker takes over when ln(score / dominant's score) exceeds 3,
// 2 and 0 on the three scales; among several, the largest medium ratio wins
// (ties: lowest handle). A speaker without a level for more than 40 ms gets
// a zero level per 40 ms of silence.
//
// Differences from JVB: with no dominant speaker, candidates compete against
// silence (JVB nominates an arbitrary speaker, so one is elected at once even
// in silence); removing the dominant speaker makes the previous one dominant
// (what JVB's conference reports, while its DSI keeps the departed one).
// Silence detection (off by default in JVB) is not implemented.
//
// Loudest ranking (only with routeLoudestOnly, as JVB): per-speaker energy
// (alpha * level + (100 - alpha) * energy + 50) / 100 over the floored
// levels; each level re-inserts its speaker into a list of at most numLoudest
// by energy (after equal ones), dropping entries with no level for
// energyExpireTime.
//
// Media thread only. levelChanged, shouldRoute and decide do not allocate.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jvb::media {

// `videobridge.loudest` and `videobridge.speech-activity` settings.
struct SpeechActivityConfig {
  bool routeLoudestOnly = false;
  int numLoudest = 3;
  bool alwaysRouteDominant = true;
  std::chrono::milliseconds energyExpireTime{150};
  int energyAlphaPct = 50;
  size_t recentSpeakersCount = 10;
};

class SpeechActivity {
 public:
  using Clock = std::chrono::steady_clock;
  using Handle = uint32_t;

  static constexpr std::chrono::milliseconds kDecisionInterval{300};
  static constexpr std::chrono::milliseconds kLevelIdleTimeout{40};
  static constexpr size_t kHistoryLength = 50;

  explicit SpeechActivity(const SpeechActivityConfig& config = {});

  // The handle stays valid until removeSpeaker; freed handles are reused.
  Handle addSpeaker(std::string endpointId);
  // Returns true when the dominant speaker changed (the removed speaker was
  // dominant; the previous recent speaker, if any, becomes dominant).
  bool removeSpeaker(Handle speaker);

  // One received audio level (RFC 6464 value as on the wire). Levels older
  // than the speaker's last one are ignored. Unknown handles are ignored.
  void levelChanged(Handle speaker, uint8_t dBov, Clock::time_point now) noexcept;
  // Runs one decision; returns true when the dominant speaker changed.
  bool decide(Clock::time_point now) noexcept;

  [[nodiscard]] std::optional<Handle> dominant() const noexcept;
  // Dominant first, then earlier dominant speakers, most recent first: at most
  // recentSpeakersCount + 1 entries (the dominant plus recentSpeakersCount, as
  // JVB's RecentSpeakersList).
  [[nodiscard]] const std::vector<Handle>& recentSpeakers() const noexcept { return recent_; }
  // Valid until the next addSpeaker or removeSpeaker; empty for unknown handles.
  [[nodiscard]] std::string_view endpointId(Handle speaker) const noexcept;

  // Whether a packet from `speaker` is forwarded under `videobridge.loudest`.
  [[nodiscard]] bool shouldRoute(Handle speaker) const noexcept;
  [[nodiscard]] bool isAmongLoudest(Handle speaker) const noexcept;
  // The smoothed energy (0..127) of the loudest ranking.
  [[nodiscard]] int energy(Handle speaker) const noexcept;

  // Times the dominant speaker changed to some speaker (conference total).
  [[nodiscard]] uint64_t dominantSpeakerChanges() const noexcept { return dominantChanges_; }
  // Times `speaker` became dominant.
  [[nodiscard]] uint64_t speakerChanges(Handle speaker) const noexcept;
  [[nodiscard]] size_t speakerCount() const noexcept { return activeCount_; }
  [[nodiscard]] const SpeechActivityConfig& config() const noexcept { return config_; }

 private:
  static constexpr Handle kNone = UINT32_MAX;

  struct Speaker {
    bool active = false;
    bool hasLevel = false;
    std::string endpointId;
    std::array<uint8_t, kHistoryLength> levels{};  // ring buffer, newest at `head`
    uint32_t head = 0;
    uint8_t minLevel = 0;  // noise floor; 0 = none yet
    uint8_t nextMinLevel = 0;
    uint32_t nextMinLevelWindow = 0;
    uint32_t idleZeros = 0;  // zero levels added since the last real level
    int energy = 0;
    Clock::time_point lastLevelTime{};
    uint64_t becameDominant = 0;
  };
  struct Scores {
    double immediate;
    double medium;
    double longTerm;
  };

  [[nodiscard]] bool valid(Handle speaker) const noexcept;
  static void pushLevel(Speaker& speaker, uint8_t level) noexcept;
  static void updateMinLevel(Speaker& speaker, uint8_t level) noexcept;
  static void catchUpIdle(Speaker& speaker, Clock::time_point now) noexcept;
  static Scores scores(const Speaker& speaker) noexcept;
  void updateLoudest(Handle speaker, Clock::time_point now) noexcept;
  void makeDominant(Handle speaker) noexcept;
  void refreshRecent() noexcept;

  SpeechActivityConfig config_;
  size_t numLoudest_;
  size_t recentCap_;
  std::vector<Speaker> speakers_;
  std::vector<Handle> free_;
  size_t activeCount_ = 0;
  std::vector<Handle> loudest_;  // by energy, loudest first
  std::vector<Handle> order_;    // every speaker ever dominant, most recent first
  std::vector<Handle> recent_;   // the first recentCap_ of order_
  Handle dominant_ = kNone;
  uint64_t dominantChanges_ = 0;
};

}  // namespace jvb::media
