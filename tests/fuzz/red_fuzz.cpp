// libFuzzer target: the RFC 2198 RED parser (rtp/red.hpp) on arbitrary
// payloads, and the in-place strip on arbitrary RTP packets, directly and
// after the SSRC-rewritten copy. Crashes, sanitizer reports and broken
// invariants (trap) are findings.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "rtp/audio_rewrite.hpp"
#include "rtp/red.hpp"
#include "rtp/rtp_packet.hpp"

namespace {

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

void checkPrimary(std::span<const uint8_t> payload, const jvb::rtp::RedPrimary& r) {
  check(size_t{r.offset} + r.size == payload.size());
  check(r.offset >= 1 + 4 * size_t{r.redundantBlocks});
  check(r.payloadType < 128);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > jvb::rtp::kRtpMaxPacket) {
    return 0;
  }
  const std::span<const uint8_t> in(data, size);
  // The bytes as a RED payload.
  if (const auto r = jvb::rtp::parseRed(in)) {
    checkPrimary(in, *r);
  }
  // The bytes as a whole RTP packet whose payload may be RED.
  const auto view = jvb::rtp::ConstRtpPacketView::parse(in);
  if (!view) {
    return 0;
  }
  const auto red = jvb::rtp::parseRed(view->payload());
  if (!red) {
    return 0;
  }
  checkPrimary(view->payload(), *red);
  static std::array<uint8_t, jvb::rtp::kRtpMaxPacket + 64> buf;
  std::memcpy(buf.data(), data, size);
  size_t n = jvb::rtp::stripRedInPlace(std::span<uint8_t>(buf.data(), size), size, *red, 111);
  check(n == view->headerSize() + red->size + view->paddingSize());
  auto out = jvb::rtp::ConstRtpPacketView::parse(std::span<const uint8_t>(buf.data(), n));
  check(out.has_value());
  check(out->payloadType() == 111);
  check(out->payload().size() == red->size);
  check(std::memcmp(out->payload().data(), view->payload().data() + red->offset, red->size) == 0);
  // The SSRC-rewriting receiver's copy, then stripped.
  const jvb::rtp::AudioRewrite rw{0x1234, 7, 99, 1, 2, 3, "m"};
  n = jvb::rtp::writeRewrittenAudio(buf, *view, rw);
  if (n != 0) {
    n = jvb::rtp::stripRedInPlace(std::span<uint8_t>(buf.data(), n), n, *red, 96);
    check(n != 0);
    out = jvb::rtp::ConstRtpPacketView::parse(std::span<const uint8_t>(buf.data(), n));
    check(out.has_value() && out->payloadType() == 96 && out->payload().size() == red->size);
  }
  return 0;
}
