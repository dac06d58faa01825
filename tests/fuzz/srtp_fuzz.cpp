// libFuzzer target: srtp::Session::unprotectRtp/unprotectRtcp on arbitrary
// bytes with a fixed key, for both profiles, on fresh sessions (so a run is
// deterministic). With the first byte odd, the rest is first protected by the
// matching outbound session, one byte chosen by the input is flipped (or
// none), and the result unprotected: an untouched packet must round-trip, a
// touched one must be refused. Nothing may crash.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "srtp/library.hpp"
#include "srtp/session.hpp"

namespace {

using namespace jvb::srtp;  // NOLINT(google-build-using-namespace): fuzzer

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

Keys fixedKeys(Profile profile) {
  Keys k;
  k.profile = profile;
  k.local.size = k.remote.size = keyLength(profile) + saltLength(profile);
  for (size_t i = 0; i < k.local.size; ++i) {
    k.local.bytes[i] = static_cast<uint8_t>(0xA0 + i);
    k.remote.bytes[i] = static_cast<uint8_t>(0xA0 + i);  // inbound reads what outbound wrote
  }
  return k;
}

constexpr size_t kMaxInput = 2048;
alignas(8) std::array<uint8_t, kMaxInput + kMaxRtcpTrailer> gBuf;

void unprotectOnly(Session& in, std::span<const uint8_t> bytes, bool rtcp) {
  std::memcpy(gBuf.data(), bytes.data(), bytes.size());
  const auto packet = std::span(gBuf).first(bytes.size());
  const Result r = rtcp ? in.unprotectRtcp(packet) : in.unprotectRtp(packet);
  check(r.ok() ? r.length <= bytes.size() : r.length == 0);
}

void roundTrip(Session& out, Session& in, std::span<const uint8_t> plain, bool rtcp, size_t flip) {
  std::memcpy(gBuf.data(), plain.data(), plain.size());
  const Result p = rtcp ? out.protectRtcp(gBuf, plain.size()) : out.protectRtp(gBuf, plain.size());
  if (!p.ok()) {
    return;
  }
  check(p.length == plain.size() + (rtcp ? out.rtcpTrailer() : out.rtpTrailer()));
  const bool flipped = flip < p.length;
  if (flipped) {
    gBuf[flip] ^= 0x5A;
  }
  const auto packet = std::span(gBuf).first(p.length);
  const Result u = rtcp ? in.unprotectRtcp(packet) : in.unprotectRtp(packet);
  if (!flipped) {
    check(u.ok() && u.length == plain.size());
    check(std::memcmp(gBuf.data(), plain.data(), plain.size()) == 0);
  } else if (u.ok()) {
    // A flip can only pass if it landed where nothing is authenticated
    // and the length stayed (there is no such place in either profile).
    check(false);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Library library;  // built once, before any Session, as in main()
  if (size < 2 || size > kMaxInput) {
    return 0;
  }
  const uint8_t mode = data[0];
  const std::span<const uint8_t> rest(data + 1, size - 1);
  for (const Profile profile : {Profile::kAeadAes128Gcm, Profile::kAes128CmHmacSha1_80}) {
    const Keys keys = fixedKeys(profile);
    Session in = Session::inbound(keys);
    if ((mode & 1) == 0) {
      unprotectOnly(in, rest, false);
      unprotectOnly(in, rest, true);
      unprotectOnly(in, rest, false);  // same bytes again: replay paths
    } else {
      Session out = Session::outbound(keys);
      const size_t flip = (mode & 2) != 0 ? size_t{data[size - 1]} : SIZE_MAX;
      roundTrip(out, in, rest, (mode & 4) != 0, flip);
    }
  }
  return 0;
}
