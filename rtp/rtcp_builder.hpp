#pragma once
// Writers for the RTCP packets the bridge originates, into a caller-provided
// buffer (a per-worker send slab): no allocation, never throws. Each returns
// the bytes written, or 0 when the buffer is too small or the input cannot be
// encoded (more than 31 report blocks, a CNAME over 255 bytes); the buffer is
// then left untouched.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "rtp/rtcp_views.hpp"

namespace jvb::rtp {

inline constexpr size_t kMaxReportBlocks = 31;  // the 5-bit RC field

// RR (RFC 3550 section 6.4.2): 8 + 24 * blocks bytes.
[[nodiscard]] size_t writeReceiverReport(std::span<uint8_t> out, uint32_t senderSsrc,
                                         std::span<const ReportBlock> blocks) noexcept;

// SR (RFC 3550 section 6.4.1): 28 + 24 * blocks bytes.
[[nodiscard]] size_t writeSenderReport(std::span<uint8_t> out, uint32_t senderSsrc,
                                       const SenderInfo& info,
                                       std::span<const ReportBlock> blocks) noexcept;

// SDES with one chunk holding one CNAME item (RFC 3550 section 6.5.1), the
// minimum every compound RTCP packet carries (section 6.1).
[[nodiscard]] size_t writeSdesCname(std::span<uint8_t> out, uint32_t ssrc,
                                    std::string_view cname) noexcept;

}  // namespace jvb::rtp
