#include "rtp/rtcp_views.hpp"

namespace jvb::rtp {

namespace {

// The items of the SDES chunk at the start of `rest`: their byte length (up to,
// not including, the END octet) and the chunk's total padded length. nullopt
// when an item or the padding overruns `rest`.
struct ChunkLayout {
  size_t itemsSize = 0;
  size_t chunkSize = 0;
};

std::optional<ChunkLayout> chunkLayout(std::span<const uint8_t> rest) noexcept {
  if (rest.size() < 4) {
    return std::nullopt;
  }
  size_t offset = 4;
  while (true) {
    if (offset >= rest.size()) {
      return std::nullopt;  // no END octet
    }
    if (rest[offset] == sdes_item::kEnd) {
      break;
    }
    if (rest.size() - offset < 2 || rest[offset + 1] > rest.size() - offset - 2) {
      return std::nullopt;
    }
    offset += 2 + size_t{rest[offset + 1]};
  }
  // RFC 3550 section 6.5: the list ends with one or more null octets up to
  // the next 32-bit boundary (chunks start 32-bit aligned).
  const size_t chunkSize = (offset + 1 + 3) & ~size_t{3};
  if (chunkSize > rest.size()) {
    return std::nullopt;
  }
  return ChunkLayout{offset - 4, chunkSize};
}

}  // namespace

ReportBlock readReportBlock(std::span<const uint8_t, kReportBlockSize> b) noexcept {
  ReportBlock r;
  r.ssrc = bytes::load32(&b[0]);
  r.fractionLost = b[4];
  // 24-bit two's complement (RFC 3550 section 6.4.1: "signed").
  const uint32_t lost = bytes::load24(&b[5]);
  r.cumulativeLost =
      (lost & 0x800000) != 0 ? static_cast<int32_t>(lost) - 0x1000000 : static_cast<int32_t>(lost);
  r.extendedHighestSequence = bytes::load32(&b[8]);
  r.jitter = bytes::load32(&b[12]);
  r.lastSr = bytes::load32(&b[16]);
  r.delaySinceLastSr = bytes::load32(&b[20]);
  return r;
}

std::optional<SenderReportView> SenderReportView::from(const RtcpPacketView& p) noexcept {
  const auto body = p.body();
  if (p.type() != rtcp_type::kSr ||
      body.size() < 4 + kSenderInfoSize + p.count() * kReportBlockSize) {
    return std::nullopt;
  }
  return SenderReportView(body, p.count());
}

SenderInfo SenderReportView::senderInfo() const noexcept {
  return {bytes::load64(&body_[4]), bytes::load32(&body_[12]), bytes::load32(&body_[16]),
          bytes::load32(&body_[20])};
}

std::optional<ReportBlock> SenderReportView::reportBlock(size_t index) const noexcept {
  if (index >= count_) {
    return std::nullopt;
  }
  return readReportBlock(
      body_.subspan(4 + kSenderInfoSize + index * kReportBlockSize).first<kReportBlockSize>());
}

std::optional<ReceiverReportView> ReceiverReportView::from(const RtcpPacketView& p) noexcept {
  const auto body = p.body();
  if (p.type() != rtcp_type::kRr || body.size() < 4 + p.count() * kReportBlockSize) {
    return std::nullopt;
  }
  return ReceiverReportView(body, p.count());
}

std::optional<ReportBlock> ReceiverReportView::reportBlock(size_t index) const noexcept {
  if (index >= count_) {
    return std::nullopt;
  }
  return readReportBlock(body_.subspan(4 + index * kReportBlockSize).first<kReportBlockSize>());
}

std::optional<SdesItem> SdesChunk::find(uint8_t type) const noexcept {
  for (const SdesItem item : *this) {
    if (item.type == type) {
      return item;
    }
  }
  return std::nullopt;
}

std::optional<SdesView> SdesView::from(const RtcpPacketView& p) noexcept {
  if (p.type() != rtcp_type::kSdes) {
    return std::nullopt;
  }
  const auto body = p.body();
  std::span<const uint8_t> rest = body;
  for (size_t i = 0; i < p.count(); ++i) {
    const auto layout = chunkLayout(rest);
    if (!layout) {
      return std::nullopt;
    }
    rest = rest.subspan(layout->chunkSize);
  }
  return SdesView(body, p.count());
}

SdesChunk SdesView::Iterator::operator*() const noexcept {
  // NOTE: SdesView::from() checked every chunk, so the layout is there.
  const auto layout = chunkLayout(rest_);
  return {bytes::load32(&rest_[0]), rest_.subspan(4, layout ? layout->itemsSize : 0)};
}

SdesView::Iterator& SdesView::Iterator::operator++() noexcept {
  const auto layout = chunkLayout(rest_);
  rest_ = rest_.subspan(layout ? layout->chunkSize : rest_.size());
  --left_;
  return *this;
}

std::optional<ByeView> ByeView::from(const RtcpPacketView& p) noexcept {
  const auto body = p.body();
  if (p.type() != rtcp_type::kBye || body.size() < 4 * size_t{p.count()}) {
    return std::nullopt;
  }
  const auto rest = body.subspan(4 * size_t{p.count()});
  if (!rest.empty() && rest[0] > rest.size() - 1) {
    return std::nullopt;  // reason length overruns the packet
  }
  return ByeView(body, p.count());
}

std::optional<std::string_view> ByeView::reason() const noexcept {
  const auto rest = body_.subspan(4 * size_t{count_});
  if (rest.empty()) {
    return std::nullopt;
  }
  const auto text = rest.subspan(1, rest[0]);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): parser
  return std::string_view(reinterpret_cast<const char*>(text.data()), text.size());
}

std::optional<FeedbackView> FeedbackView::from(const RtcpPacketView& p) noexcept {
  const auto body = p.body();
  if ((p.type() != rtcp_type::kRtpfb && p.type() != rtcp_type::kPsfb) || body.size() < 8) {
    return std::nullopt;
  }
  return FeedbackView(body, p.type(), p.count());
}

std::optional<AppView> AppView::from(const RtcpPacketView& p) noexcept {
  const auto body = p.body();
  if (p.type() != rtcp_type::kApp || body.size() < 8) {
    return std::nullopt;
  }
  return AppView(body, p.count());
}

}  // namespace jvb::rtp
