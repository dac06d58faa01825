#pragma once
// A log-linear histogram of non-negative integer samples (nanoseconds here):
// exact below 64, then 64 buckets per power of two, so a percentile is off by
// less than 1/64 of its value. Fixed size, no allocation per sample.
#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace jvb::load {

class Histogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr size_t kBuckets = kSub + (64 - kSubBits) * kSub;

  void add(uint64_t v) {
    ++counts_[index(v)];
    ++count_;
    sum_ += static_cast<double>(v);
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
  }
  void merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) {
      counts_[i] += o.counts_[i];
    }
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }

  [[nodiscard]] uint64_t count() const { return count_; }
  [[nodiscard]] uint64_t max() const { return count_ == 0 ? 0 : max_; }
  [[nodiscard]] uint64_t min() const { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] double mean() const {
    return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_);
  }
  // The smallest bucket bound with at least q of the samples at or below it
  // (q in [0, 1]), capped at the true maximum; 0 when empty.
  [[nodiscard]] uint64_t percentile(double q) const {
    if (count_ == 0) {
      return 0;
    }
    const double want = std::clamp(q, 0.0, 1.0) * static_cast<double>(count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > 0 && static_cast<double>(seen) >= want) {
        return std::min(upperBound(i), max_);
      }
    }
    return max_;
  }

 private:
  static size_t index(uint64_t v) {
    if (v < kSub) {
      return static_cast<size_t>(v);
    }
    const int e = 63 - std::countl_zero(v);  // v in [2^e, 2^(e+1)), e >= kSubBits
    const uint64_t sub = (v >> (e - kSubBits)) - kSub;
    return static_cast<size_t>(kSub + static_cast<uint64_t>(e - kSubBits) * kSub + sub);
  }
  static uint64_t upperBound(size_t i) {
    if (i < kSub) {
      return i;
    }
    const uint64_t e = (i - kSub) / kSub + kSubBits;
    const uint64_t sub = (i - kSub) % kSub;
    const uint64_t width = uint64_t{1} << (e - kSubBits);
    return (kSub + sub) * width + (width - 1);
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  double sum_ = 0.0;
  uint64_t max_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
};

// Nanoseconds (a histogram's samples, a percentile) as milliseconds.
inline double ms(uint64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

}  // namespace jvb::load
