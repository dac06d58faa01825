#pragma once
// Speech-like RFC 6464 audio levels (0 = loudest, 127 = silence) for the
// speakers of a load run:
//  - time is cut into rotation slots of `rotate` seconds; in slot t speaker
//    (t mod K) is "the loudest": 8..20 -dBov, with a pause (a near-silent
//    frame) now and then;
//  - the others alternate talking phases (26..40) and quiet phases (50..75)
//    of random length (0.3..2.5 s), with near-silent frames (96..110) now and
//    then;
// so the loudest is always louder than everyone else and the bridge's
// dominant speaker moves every slot. Deterministic per speaker (seeded).
// Non-speakers sending silence use level 127 (kSilence).
#include <cstdint>

namespace jvb::load {

inline constexpr uint8_t kSilence = 127;

class SpeechModel {
 public:
  SpeechModel(uint32_t speaker, uint32_t speakers, uint32_t framesPerSlot, uint64_t seed)
      : speaker_(speaker),
        speakers_(speakers == 0 ? 1 : speakers),
        framesPerSlot_(framesPerSlot == 0 ? 1 : framesPerSlot),
        rng_(seed * 0x9E3779B97F4A7C15ULL + speaker + 1) {}

  struct Frame {
    uint8_t level = kSilence;
    bool voice = false;
    bool loudest = false;  // this speaker is the designated loudest now
  };

  // Frames must be asked for in order (0, 1, 2, ...).
  Frame next(uint32_t frame) {
    Frame f;
    f.loudest = (frame / framesPerSlot_) % speakers_ == speaker_;
    if (phaseLeft_ == 0) {
      talking_ = !talking_;
      phaseLeft_ = 15 + static_cast<uint32_t>(uniform(110));  // 0.3 .. 2.5 s of 20 ms
    }
    --phaseLeft_;
    if (f.loudest) {
      if (uniform(100) < 3) {
        f.level = static_cast<uint8_t>(96 + uniform(15));  // a breath
      } else {
        f.level = static_cast<uint8_t>(8 + uniform(13));
      }
    } else if (uniform(100) < 5) {
      f.level = static_cast<uint8_t>(96 + uniform(15));
    } else if (talking_) {
      f.level = static_cast<uint8_t>(26 + uniform(15));
    } else {
      f.level = static_cast<uint8_t>(50 + uniform(26));
    }
    f.voice = f.level < 90;
    return f;
  }

 private:
  // splitmix64
  uint64_t nextRandom() {
    uint64_t z = (rng_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t uniform(uint64_t n) { return nextRandom() % n; }

  uint32_t speaker_;
  uint32_t speakers_;
  uint32_t framesPerSlot_;
  uint64_t rng_;
  bool talking_ = false;
  uint32_t phaseLeft_ = 0;
};

}  // namespace jvb::load
