#pragma once
// Typed views of the RTCP packets an audio bridge sees: SR, RR, SDES, BYE,
// RTPFB/PSFB (RFC 4585) and APP. Each from() checks the packet type and that
// the layout its count field announces fits the body; nullopt otherwise. No
// allocation, never throws; every accessor stays inside the packet.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>

#include "rtp/rtcp_packet.hpp"

namespace jvb::rtp {

// RFC 3550 section 6.4.1: 24 bytes per report block.
struct ReportBlock {
  uint32_t ssrc = 0;
  uint8_t fractionLost = 0;
  int32_t cumulativeLost = 0;  // 24-bit signed on the wire
  uint32_t extendedHighestSequence = 0;
  uint32_t jitter = 0;
  uint32_t lastSr = 0;            // middle 32 bits of the last SR's NTP time
  uint32_t delaySinceLastSr = 0;  // 1/65536 s
};
inline constexpr size_t kReportBlockSize = 24;

struct SenderInfo {
  uint64_t ntpTimestamp = 0;
  uint32_t rtpTimestamp = 0;
  uint32_t packetCount = 0;
  uint32_t octetCount = 0;
};
inline constexpr size_t kSenderInfoSize = 20;

[[nodiscard]] ReportBlock readReportBlock(std::span<const uint8_t, kReportBlockSize> b) noexcept;

class SenderReportView {
 public:
  [[nodiscard]] static std::optional<SenderReportView> from(const RtcpPacketView& p) noexcept;
  [[nodiscard]] uint32_t senderSsrc() const noexcept { return bytes::load32(&body_[0]); }
  [[nodiscard]] SenderInfo senderInfo() const noexcept;
  [[nodiscard]] size_t reportCount() const noexcept { return count_; }
  [[nodiscard]] std::optional<ReportBlock> reportBlock(size_t index) const noexcept;
  // Profile-specific extension after the report blocks (may be empty).
  [[nodiscard]] std::span<const uint8_t> extension() const noexcept {
    return body_.subspan(4 + kSenderInfoSize + count_ * kReportBlockSize);
  }

 private:
  SenderReportView(std::span<const uint8_t> body, uint8_t count) noexcept
      : body_(body), count_(count) {}
  std::span<const uint8_t> body_;
  uint8_t count_ = 0;
};

class ReceiverReportView {
 public:
  [[nodiscard]] static std::optional<ReceiverReportView> from(const RtcpPacketView& p) noexcept;
  [[nodiscard]] uint32_t senderSsrc() const noexcept { return bytes::load32(&body_[0]); }
  [[nodiscard]] size_t reportCount() const noexcept { return count_; }
  [[nodiscard]] std::optional<ReportBlock> reportBlock(size_t index) const noexcept;
  [[nodiscard]] std::span<const uint8_t> extension() const noexcept {
    return body_.subspan(4 + count_ * kReportBlockSize);
  }

 private:
  ReceiverReportView(std::span<const uint8_t> body, uint8_t count) noexcept
      : body_(body), count_(count) {}
  std::span<const uint8_t> body_;
  uint8_t count_ = 0;
};

// SDES item types (RFC 3550 section 6.5).
namespace sdes_item {
inline constexpr uint8_t kEnd = 0;
inline constexpr uint8_t kCname = 1;
inline constexpr uint8_t kName = 2;
inline constexpr uint8_t kTool = 6;
inline constexpr uint8_t kPriv = 8;
inline constexpr uint8_t kMid = 15;  // RFC 8843 section 15
}  // namespace sdes_item

struct SdesItem {
  uint8_t type = 0;
  std::span<const uint8_t> value;
  [[nodiscard]] std::string_view text() const noexcept {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): parser
    return {reinterpret_cast<const char*>(value.data()), value.size()};
  }
};

// One SDES chunk: an SSRC/CSRC and its items (without the END terminator).
class SdesChunk {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = SdesItem;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = SdesItem;
    Iterator() = default;
    [[nodiscard]] SdesItem operator*() const noexcept {
      return {rest_[0], rest_.subspan(2, rest_[1])};
    }
    Iterator& operator++() noexcept {
      rest_ = rest_.subspan(2 + size_t{rest_[1]});
      return *this;
    }
    [[nodiscard]] bool operator==(const Iterator& o) const noexcept {
      return rest_.data() == o.rest_.data() && rest_.size() == o.rest_.size();
    }

   private:
    friend class SdesChunk;
    explicit Iterator(std::span<const uint8_t> rest) noexcept : rest_(rest) {}
    std::span<const uint8_t> rest_;
  };

  [[nodiscard]] uint32_t ssrc() const noexcept { return ssrc_; }
  [[nodiscard]] Iterator begin() const noexcept { return Iterator(items_); }
  [[nodiscard]] Iterator end() const noexcept { return Iterator(items_.subspan(items_.size())); }
  // The first item of `type`, e.g. sdes_item::kCname.
  [[nodiscard]] std::optional<SdesItem> find(uint8_t type) const noexcept;

 private:
  friend class SdesView;
  SdesChunk(uint32_t ssrc, std::span<const uint8_t> items) noexcept : ssrc_(ssrc), items_(items) {}
  uint32_t ssrc_ = 0;
  std::span<const uint8_t> items_;  // well-formed items only (checked by SdesView::from)
};

class SdesView {
 public:
  // Checks all SC chunks: each one's items end with END inside the body, and
  // its padding to the next 32-bit boundary fits. Bytes after the last chunk
  // are ignored.
  [[nodiscard]] static std::optional<SdesView> from(const RtcpPacketView& p) noexcept;

  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = SdesChunk;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = SdesChunk;
    Iterator() = default;
    [[nodiscard]] SdesChunk operator*() const noexcept;
    Iterator& operator++() noexcept;
    [[nodiscard]] bool operator==(const Iterator& o) const noexcept { return left_ == o.left_; }

   private:
    friend class SdesView;
    Iterator(std::span<const uint8_t> rest, size_t left) noexcept : rest_(rest), left_(left) {}
    std::span<const uint8_t> rest_;
    size_t left_ = 0;  // chunks from here to the end
  };

  [[nodiscard]] size_t chunkCount() const noexcept { return count_; }
  [[nodiscard]] Iterator begin() const noexcept { return {body_, count_}; }
  [[nodiscard]] Iterator end() const noexcept { return {{}, 0}; }

 private:
  SdesView(std::span<const uint8_t> body, uint8_t count) noexcept : body_(body), count_(count) {}
  std::span<const uint8_t> body_;
  uint8_t count_ = 0;
};

class ByeView {
 public:
  [[nodiscard]] static std::optional<ByeView> from(const RtcpPacketView& p) noexcept;
  [[nodiscard]] size_t ssrcCount() const noexcept { return count_; }
  [[nodiscard]] std::optional<uint32_t> ssrc(size_t index) const noexcept {
    if (index >= count_) {
      return std::nullopt;
    }
    return bytes::load32(&body_[4 * index]);
  }
  // The optional "reason for leaving" (RFC 3550 section 6.6).
  [[nodiscard]] std::optional<std::string_view> reason() const noexcept;

 private:
  ByeView(std::span<const uint8_t> body, uint8_t count) noexcept : body_(body), count_(count) {}
  std::span<const uint8_t> body_;
  uint8_t count_ = 0;
};

// FMT values (IANA "FMT Values for RTPFB / PSFB Payload Types").
namespace rtpfb_fmt {
inline constexpr uint8_t kNack = 1;          // RFC 4585 section 6.2.1
inline constexpr uint8_t kTransportCc = 15;  // draft-holmer-rmcat-transport-wide-cc
}  // namespace rtpfb_fmt
namespace psfb_fmt {
inline constexpr uint8_t kPli = 1;   // RFC 4585 section 6.3.1
inline constexpr uint8_t kFir = 4;   // RFC 5104 section 4.3.1
inline constexpr uint8_t kAfb = 15;  // RFC 4585 section 6.4 (REMB)
}  // namespace psfb_fmt

struct NackItem {
  uint16_t pid = 0;  // first lost sequence number
  uint16_t blp = 0;  // bitmask of the 16 following ones
};

// RTPFB (205) or PSFB (206), RFC 4585 section 6.1.
class FeedbackView {
 public:
  [[nodiscard]] static std::optional<FeedbackView> from(const RtcpPacketView& p) noexcept;
  [[nodiscard]] uint8_t type() const noexcept { return type_; }
  [[nodiscard]] uint8_t fmt() const noexcept { return fmt_; }
  [[nodiscard]] uint32_t senderSsrc() const noexcept { return bytes::load32(&body_[0]); }
  [[nodiscard]] uint32_t mediaSsrc() const noexcept { return bytes::load32(&body_[4]); }
  [[nodiscard]] std::span<const uint8_t> fci() const noexcept { return body_.subspan(8); }
  [[nodiscard]] bool isPli() const noexcept {
    return type_ == rtcp_type::kPsfb && fmt_ == psfb_fmt::kPli;
  }
  [[nodiscard]] bool isNack() const noexcept {
    return type_ == rtcp_type::kRtpfb && fmt_ == rtpfb_fmt::kNack;
  }
  // Generic NACK FCI entries (4 bytes each); 0 unless isNack().
  [[nodiscard]] size_t nackCount() const noexcept { return isNack() ? fci().size() / 4 : 0; }
  [[nodiscard]] std::optional<NackItem> nackItem(size_t index) const noexcept {
    if (index >= nackCount()) {
      return std::nullopt;
    }
    const uint8_t* p = &body_[8 + 4 * index];
    return NackItem{bytes::load16(p), bytes::load16(p + 2)};
  }

 private:
  FeedbackView(std::span<const uint8_t> body, uint8_t type, uint8_t fmt) noexcept
      : body_(body), type_(type), fmt_(fmt) {}
  std::span<const uint8_t> body_;
  uint8_t type_ = 0;
  uint8_t fmt_ = 0;
};

// APP (204), RFC 3550 section 6.7.
class AppView {
 public:
  [[nodiscard]] static std::optional<AppView> from(const RtcpPacketView& p) noexcept;
  [[nodiscard]] uint8_t subtype() const noexcept { return subtype_; }
  [[nodiscard]] uint32_t ssrc() const noexcept { return bytes::load32(&body_[0]); }
  [[nodiscard]] std::string_view name() const noexcept {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): parser
    return {reinterpret_cast<const char*>(&body_[4]), 4};
  }
  [[nodiscard]] std::span<const uint8_t> data() const noexcept { return body_.subspan(8); }

 private:
  AppView(std::span<const uint8_t> body, uint8_t subtype) noexcept
      : body_(body), subtype_(subtype) {}
  std::span<const uint8_t> body_;
  uint8_t subtype_ = 0;
};

}  // namespace jvb::rtp
