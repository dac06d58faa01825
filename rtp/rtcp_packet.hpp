#pragma once
// RTCP packets (RFC 3550 section 6.4) and compound/reduced-size datagrams
// (RFC 3550 section 6.1, RFC 5506): zero-copy views over the caller's bytes.
//
// NOTE: RtcpCompoundView::parse() validates every packet's version, length
// and padding up front, so iterating a parsed compound cannot fail. Views
// never own bytes and never allocate or throw; typed views (rtcp_views.hpp)
// check their own layout in from().
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>

#include "rtp/bytes.hpp"

namespace jvb::rtp {

// RTCP packet types (IANA "RTP Control Protocol Packet Types").
namespace rtcp_type {
inline constexpr uint8_t kSr = 200;     // RFC 3550 section 6.4.1
inline constexpr uint8_t kRr = 201;     // RFC 3550 section 6.4.2
inline constexpr uint8_t kSdes = 202;   // RFC 3550 section 6.5
inline constexpr uint8_t kBye = 203;    // RFC 3550 section 6.6
inline constexpr uint8_t kApp = 204;    // RFC 3550 section 6.7
inline constexpr uint8_t kRtpfb = 205;  // RFC 4585 section 6.2
inline constexpr uint8_t kPsfb = 206;   // RFC 4585 section 6.3
inline constexpr uint8_t kXr = 207;     // RFC 3611
}  // namespace rtcp_type

inline constexpr size_t kRtcpHeader = 4;

// One RTCP packet: the common header and the bytes its length field covers.
class RtcpPacketView {
 public:
  // The packet at the start of `bytes` (which may hold more packets after it):
  // V = 2, packet type in RFC 5761's RTCP range 192..223, length field within
  // `bytes`, padding count (when P is set) 1..body size.
  [[nodiscard]] static std::optional<RtcpPacketView> parse(std::span<const uint8_t> bytes) noexcept;

  [[nodiscard]] bool hasPadding() const noexcept { return (data_[0] & 0x20) != 0; }
  // The 5-bit field: RC (SR/RR), SC (SDES/BYE), FMT (RTPFB/PSFB), subtype (APP).
  [[nodiscard]] uint8_t count() const noexcept { return data_[0] & 0x1F; }
  [[nodiscard]] uint8_t type() const noexcept { return data_[1]; }
  // The whole packet: header, body and padding ((length + 1) * 4 bytes).
  [[nodiscard]] std::span<const uint8_t> data() const noexcept { return data_; }
  [[nodiscard]] size_t size() const noexcept { return data_.size(); }
  // After the 4-byte header, padding removed.
  [[nodiscard]] std::span<const uint8_t> body() const noexcept {
    return data_.subspan(kRtcpHeader, data_.size() - kRtcpHeader - padding_);
  }

 private:
  friend class RtcpCompoundView;
  RtcpPacketView(std::span<const uint8_t> data, uint8_t padding) noexcept
      : data_(data), padding_(padding) {}

  std::span<const uint8_t> data_;
  uint8_t padding_ = 0;
};

// A compound RTCP datagram (RFC 3550 section 6.1) or a reduced-size one
// (RFC 5506: any packet sequence, e.g. a lone PLI or NACK).
class RtcpCompoundView {
 public:
  // Every packet must parse, their lengths must add up to exactly the
  // datagram, and only the last packet may be padded (RFC 3550 section 6.4.1
  // and appendix A.2). An empty datagram is rejected.
  [[nodiscard]] static std::optional<RtcpCompoundView> parse(
      std::span<const uint8_t> datagram) noexcept;

  // NOTE: only iterators from a parsed compound may be dereferenced (end()
  // and default-constructed ones may not), as with any range.
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = RtcpPacketView;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = RtcpPacketView;

    Iterator() = default;
    [[nodiscard]] RtcpPacketView operator*() const noexcept;
    Iterator& operator++() noexcept;
    Iterator operator++(int) noexcept {
      Iterator old = *this;
      ++*this;
      return old;
    }
    [[nodiscard]] bool operator==(const Iterator& o) const noexcept {
      return rest_.data() == o.rest_.data() && rest_.size() == o.rest_.size();
    }

   private:
    friend class RtcpCompoundView;
    explicit Iterator(std::span<const uint8_t> rest) noexcept : rest_(rest) {}
    std::span<const uint8_t> rest_;  // from the current packet to the end
  };

  [[nodiscard]] Iterator begin() const noexcept { return Iterator(data_); }
  [[nodiscard]] Iterator end() const noexcept { return Iterator(data_.subspan(data_.size())); }
  [[nodiscard]] size_t packetCount() const noexcept { return count_; }
  [[nodiscard]] std::span<const uint8_t> data() const noexcept { return data_; }
  // True when the first packet is neither SR nor RR (RFC 5506 section 3.1).
  [[nodiscard]] bool reducedSize() const noexcept {
    return data_[1] != rtcp_type::kSr && data_[1] != rtcp_type::kRr;
  }

 private:
  RtcpCompoundView(std::span<const uint8_t> data, size_t count) noexcept
      : data_(data), count_(count) {}

  std::span<const uint8_t> data_;
  size_t count_ = 0;
};

}  // namespace jvb::rtp
