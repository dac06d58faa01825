#include "media/speech_activity.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace jvb::media {

namespace {

constexpr int kMaxLevel = 127;
constexpr int kImmediateBands = 13;                                              // N1
constexpr int kBandWidth = (kMaxLevel + kImmediateBands - 1) / kImmediateBands;  // 10
constexpr int kMediumLength = 5;                                                 // N2
constexpr int kLongLength = 10;                                                  // N3
constexpr int kMediumThreshold = 7;
constexpr int kLongThreshold = 4;
constexpr uint32_t kMinLevelWindow = 15000 / 20;  // 15 s of 20 ms levels
constexpr double kMinScore = 1e-10;
constexpr double kC1 = 3;
constexpr double kC2 = 2;
constexpr double kC3 = 0;
static_assert(SpeechActivity::kHistoryLength == kMediumLength * kLongLength);

double binomial(int n, int k) {
  double c = 1;
  for (int i = 1; i <= k; ++i) {
    c = c * (n - k + i) / i;
  }
  return c;
}

// ln C(n,v) + v ln p + (n - v) ln(1 - p) - ln lambda + lambda v, p = 0.5.
double speechScore(int v, int n, double lambda) {
  const double s =
      std::log(std::round(binomial(n, v))) + n * std::log(0.5) - std::log(lambda) + lambda * v;
  return std::max(s, kMinScore);
}

struct ScoreTables {
  double immediate[kImmediateBands]{};
  double medium[kMediumLength + 1]{};
  double longTerm[kLongLength + 1]{};

  ScoreTables() {
    for (int v = 0; v < kImmediateBands; ++v) {
      immediate[v] = speechScore(v, kImmediateBands, 0.78);
    }
    for (int v = 0; v <= kMediumLength; ++v) {
      medium[v] = speechScore(v, kMediumLength, 24);
    }
    for (int v = 0; v <= kLongLength; ++v) {
      longTerm[v] = speechScore(v, kLongLength, 47);
    }
  }
};

const ScoreTables& tables() {
  static const ScoreTables t;
  return t;
}

}  // namespace

SpeechActivity::SpeechActivity(const SpeechActivityConfig& config)
    : config_(config),
      numLoudest_(config.routeLoudestOnly && config.numLoudest > 0
                      ? static_cast<size_t>(config.numLoudest)
                      : 0),
      recentCap_(config.recentSpeakersCount == std::numeric_limits<size_t>::max()
                     ? config.recentSpeakersCount
                     : config.recentSpeakersCount + 1) {
  config_.energyAlphaPct = std::clamp(config_.energyAlphaPct, 0, 100);
  (void)tables();
}

SpeechActivity::Handle SpeechActivity::addSpeaker(std::string endpointId) {
  Handle h;
  if (!free_.empty()) {
    h = free_.back();
    free_.pop_back();
  } else {
    h = static_cast<Handle>(speakers_.size());
    speakers_.emplace_back();
    // Room for every speaker, so that the per-packet and decision paths
    // never grow a vector.
    free_.reserve(speakers_.size());
    order_.reserve(speakers_.size());
    recent_.reserve(std::min(recentCap_, speakers_.size()));
    loudest_.reserve(std::min(numLoudest_, speakers_.size()) + 1);
  }
  Speaker& s = speakers_[h];
  s = Speaker{};
  s.active = true;
  s.endpointId = std::move(endpointId);
  ++activeCount_;
  return h;
}

bool SpeechActivity::removeSpeaker(Handle speaker) {
  if (!valid(speaker)) {
    return false;
  }
  std::erase(loudest_, speaker);
  std::erase(order_, speaker);
  bool changed = false;
  if (dominant_ == speaker) {
    changed = true;
    dominant_ = kNone;
    if (!order_.empty()) {
      dominant_ = order_.front();
      ++dominantChanges_;
      ++speakers_[dominant_].becameDominant;
    }
  }
  refreshRecent();
  speakers_[speaker] = Speaker{};
  free_.push_back(speaker);
  --activeCount_;
  return changed;
}

bool SpeechActivity::valid(Handle speaker) const noexcept {
  return speaker < speakers_.size() && speakers_[speaker].active;
}

void SpeechActivity::pushLevel(Speaker& s, uint8_t level) noexcept {
  s.head = s.head == 0 ? static_cast<uint32_t>(kHistoryLength - 1) : s.head - 1;
  s.levels[s.head] = level;
}

void SpeechActivity::updateMinLevel(Speaker& s, uint8_t level) noexcept {
  if (level == 0) {
    return;
  }
  if (s.minLevel == 0 || s.minLevel > level) {
    s.minLevel = level;
    s.nextMinLevel = 0;
    s.nextMinLevelWindow = 0;
  } else if (s.nextMinLevel == 0) {
    s.nextMinLevel = level;
    s.nextMinLevelWindow = 1;
  } else {
    s.nextMinLevel = std::min(s.nextMinLevel, level);
    if (++s.nextMinLevelWindow >= kMinLevelWindow) {
      // Geometric mean: the floor rises slowly.
      const double raised = std::sqrt(static_cast<double>(s.minLevel) * s.nextMinLevel);
      s.minLevel = static_cast<uint8_t>(std::clamp(raised, 0.0, static_cast<double>(kMaxLevel)));
      s.nextMinLevel = 0;
      s.nextMinLevelWindow = 0;
    }
  }
}

void SpeechActivity::catchUpIdle(Speaker& s, Clock::time_point now) noexcept {
  if (!s.hasLevel || now - s.lastLevelTime <= kLevelIdleTimeout) {
    return;
  }
  const auto due = std::min<int64_t>((now - s.lastLevelTime) / kLevelIdleTimeout,
                                     static_cast<int64_t>(kHistoryLength));
  while (s.idleZeros < static_cast<uint32_t>(due)) {
    pushLevel(s, 0);
    ++s.idleZeros;
  }
}

void SpeechActivity::levelChanged(Handle speaker, uint8_t dBov, Clock::time_point now) noexcept {
  if (!valid(speaker)) {
    return;
  }
  Speaker& s = speakers_[speaker];
  if (s.hasLevel && now < s.lastLevelTime) {
    return;
  }
  catchUpIdle(s, now);
  const auto level = static_cast<uint8_t>(dBov >= kMaxLevel ? 0 : kMaxLevel - dBov);
  s.hasLevel = true;
  s.lastLevelTime = now;
  s.idleZeros = 0;
  pushLevel(s, level);
  updateMinLevel(s, level);

  const int floored = level >= s.minLevel + kBandWidth ? level : 0;
  const int alpha = config_.energyAlphaPct;
  s.energy = (alpha * floored + (100 - alpha) * s.energy + 50) / 100;
  if (numLoudest_ > 0) {
    updateLoudest(speaker, now);
  }
}

void SpeechActivity::updateLoudest(Handle speaker, Clock::time_point now) noexcept {
  const Clock::time_point oldestValid = now - config_.energyExpireTime;
  std::erase_if(loudest_,
                [&](Handle h) { return h == speaker || speakers_[h].lastLevelTime < oldestValid; });
  const int energy = speakers_[speaker].energy;
  size_t rank = 0;
  while (rank < loudest_.size() && speakers_[loudest_[rank]].energy >= energy) {
    ++rank;
  }
  if (rank < numLoudest_) {
    // Capacity is reserved (numLoudest + 1): no allocation.
    loudest_.insert(loudest_.begin() + static_cast<std::ptrdiff_t>(rank), speaker);
    if (loudest_.size() > numLoudest_) {
      loudest_.pop_back();
    }
  }
}

SpeechActivity::Scores SpeechActivity::scores(const Speaker& s) noexcept {
  const int floor = s.minLevel + kBandWidth;
  int mediums[kLongLength] = {};
  for (size_t i = 0; i < kHistoryLength; ++i) {
    const int level = s.levels[(s.head + i) % kHistoryLength];
    const int band = (level < floor ? 0 : level) / kBandWidth;
    if (band > kMediumThreshold) {
      ++mediums[i / kMediumLength];
    }
  }
  const int newest = s.levels[s.head];
  const int immediate = (newest < floor ? 0 : newest) / kBandWidth;
  int longCount = 0;
  for (int m : mediums) {
    if (m > kLongThreshold) {
      ++longCount;
    }
  }
  const ScoreTables& t = tables();
  return {t.immediate[immediate], t.medium[mediums[0]], t.longTerm[longCount]};
}

bool SpeechActivity::decide(Clock::time_point now) noexcept {
  for (Speaker& s : speakers_) {
    if (s.active) {
      catchUpIdle(s, now);
    }
  }
  // With no dominant speaker, candidates compete against silence.
  const Scores incumbent =
      dominant_ == kNone ? Scores{kMinScore, kMinScore, kMinScore} : scores(speakers_[dominant_]);
  Handle winner = kNone;
  double winnerC2 = kC2;
  for (Handle h = 0; h < speakers_.size(); ++h) {
    if (!speakers_[h].active || h == dominant_) {
      continue;
    }
    const Scores c = scores(speakers_[h]);
    const double c1 = std::log(c.immediate / incumbent.immediate);
    const double c2 = std::log(c.medium / incumbent.medium);
    const double c3 = std::log(c.longTerm / incumbent.longTerm);
    if (c1 > kC1 && c2 > kC2 && c3 > kC3 && c2 > winnerC2) {
      winner = h;
      winnerC2 = c2;
    }
  }
  if (winner == kNone) {
    return false;
  }
  makeDominant(winner);
  return true;
}

void SpeechActivity::makeDominant(Handle speaker) noexcept {
  dominant_ = speaker;
  ++dominantChanges_;
  ++speakers_[speaker].becameDominant;
  auto it = std::find(order_.begin(), order_.end(), speaker);
  if (it == order_.end()) {
    order_.push_back(speaker);  // capacity reserved in addSpeaker
    it = order_.end() - 1;
  }
  std::rotate(order_.begin(), it, it + 1);
  refreshRecent();
}

void SpeechActivity::refreshRecent() noexcept {
  const size_t n = std::min(recentCap_, order_.size());
  recent_.assign(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(n));
}

std::optional<SpeechActivity::Handle> SpeechActivity::dominant() const noexcept {
  if (dominant_ == kNone) {
    return std::nullopt;
  }
  return dominant_;
}

std::string_view SpeechActivity::endpointId(Handle speaker) const noexcept {
  return valid(speaker) ? std::string_view(speakers_[speaker].endpointId) : std::string_view();
}

bool SpeechActivity::isAmongLoudest(Handle speaker) const noexcept {
  return std::find(loudest_.begin(), loudest_.end(), speaker) != loudest_.end();
}

bool SpeechActivity::shouldRoute(Handle speaker) const noexcept {
  if (!config_.routeLoudestOnly) {
    return true;
  }
  if (config_.alwaysRouteDominant && speaker == dominant_) {
    return true;
  }
  return isAmongLoudest(speaker);
}

int SpeechActivity::energy(Handle speaker) const noexcept {
  return valid(speaker) ? speakers_[speaker].energy : 0;
}

uint64_t SpeechActivity::speakerChanges(Handle speaker) const noexcept {
  return valid(speaker) ? speakers_[speaker].becameDominant : 0;
}

}  // namespace jvb::media
