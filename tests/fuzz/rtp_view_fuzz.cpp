// libFuzzer target: RtpPacketView (whole packet and header-only), every
// accessor, extension lookup for every ID, the audio level, and the in-place
// ID rewrites, and the rewritten copy an SSRC-rewriting receiver gets, on
// arbitrary bytes. Crashes, sanitizer reports and broken
// invariants (trap) are findings.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <array>
#include <string_view>

#include "rtp/audio_level.hpp"
#include "rtp/audio_rewrite.hpp"
#include "rtp/rtp_packet.hpp"

namespace {

using jvb::rtp::ConstRtpPacketView;
using jvb::rtp::RtpPacketView;

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

size_t touch(const ConstRtpPacketView& v) {
  size_t sum = v.marker() + v.payloadType() + v.sequenceNumber() + v.timestamp() + v.ssrc() +
               v.hasPadding() + v.csrcCount() + v.extensionProfileId() +
               static_cast<size_t>(v.extensionProfile());
  for (size_t i = 0; i <= 16; ++i) {
    sum += v.csrc(i).value_or(0);
  }
  check(v.headerSize() + v.payload().size() + v.paddingSize() == v.size());
  check(v.extensionData().size() <= v.headerSize());
  for (unsigned id = 0; id < 256; ++id) {
    if (const auto e = v.findExtension(static_cast<uint8_t>(id))) {
      check(e->data() >= v.extensionData().data());
      check(e->data() + e->size() <= v.extensionData().data() + v.extensionData().size());
      sum += e->size();
    }
  }
  if (const auto level = jvb::rtp::readAudioLevel(v, 1)) {
    check(level->level <= 127);
  }
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  volatile size_t sink = 0;
  if (const auto v = ConstRtpPacketView::parse(input)) {
    sink = sink + touch(*v);
  }
  if (const auto h = ConstRtpPacketView::parseHeader(input)) {
    sink = sink + touch(*h);
  }
  (void)jvb::rtp::peekAudioLevel(input, size > 0 ? data[0] & 0x0F : 1);

  // The rewritten copy (rtp/audio_rewrite.hpp): IDs and mid from the input,
  // into an output that may be too small; what it writes must parse, with
  // the slot values, the same payload and only the elements asked for.
  if (const auto v = ConstRtpPacketView::parse(input); v && size >= 4) {
    static constexpr std::string_view kMid = "a12345678901234567";  // up to 18 bytes
    jvb::rtp::AudioRewrite r;
    r.ssrc = 0xA1B2C3D4;
    r.sequenceNumber = 7;
    r.timestamp = 9;
    r.levelFrom = data[0] & 0x0F;
    r.levelTo = data[1];
    r.midId = data[2] & 0x1F;
    r.mid = kMid.substr(0, data[3] % 19);
    std::array<uint8_t, 1600> out{};
    const size_t room = out.size() - (data[3] & 0x3F);
    const size_t n = jvb::rtp::writeRewrittenAudio(std::span<uint8_t>(out.data(), room), *v, r);
    if (n != 0) {
      check(n <= room);
      const auto w = ConstRtpPacketView::parse(std::span<const uint8_t>(out.data(), n));
      check(w.has_value());
      check(w->ssrc() == r.ssrc && w->sequenceNumber() == 7 && w->timestamp() == 9);
      check(w->payload().size() == v->payload().size());
      check(w->paddingSize() == v->paddingSize());
      check(w->payloadType() == v->payloadType() && w->csrcCount() == v->csrcCount());
      if (r.midId != 0) {
        const auto mid = w->findExtension(r.midId);
        check(mid &&
              std::string_view(reinterpret_cast<const char*>(mid->data()), mid->size()) == r.mid);
      }
      sink = sink + touch(*w);
    }
  }

  // Mutations on a copy: setters and ID rewrites keep the layout, so the
  // packet must still parse the same way afterwards.
  std::vector<uint8_t> copy(data, data + size);
  auto v = RtpPacketView::parse(copy);
  if (!v) {
    return 0;
  }
  const size_t header = v->headerSize();
  const size_t payload = v->payload().size();
  v->setSsrc(~v->ssrc());
  v->setSequenceNumber(static_cast<uint16_t>(v->sequenceNumber() + 1));
  v->setTimestamp(v->timestamp() + 960);
  v->setPayloadType(static_cast<uint8_t>(v->payloadType() + 1));
  v->setMarker(!v->marker());
  const uint8_t from = size > 1 ? data[size - 1] : 1;
  const uint8_t to = size > 2 ? data[size - 2] : 2;
  (void)v->rewriteExtensionId(from, to);
  jvb::rtp::ExtensionIdMap map;
  for (size_t i = 0; i + 1 < size && i < 8; i += 2) {
    map.map(data[i], data[i + 1]);
  }
  (void)v->remapExtensionIds(map);
  const auto again = ConstRtpPacketView::parse(copy);
  check(again.has_value());
  check(again->headerSize() == header && again->payload().size() == payload);
  sink = sink + touch(*again);
  return 0;
}
