// libFuzzer target: arbitrary datagrams into a fresh server-role
// dtls::Session per input (the bridge's usual role: browsers answer
// setup='active'). The session must never crash, leak, emit a datagram over
// the MTU, or report keys without being connected.
//
// Input: a sequence of datagrams, each a 2-byte big-endian length followed
// by that many bytes; when the length does not fit what is left, the rest is
// one datagram. A bare recorded ClientHello (16 FE ..) therefore parses as
// one datagram. Seeds: tests/fuzz/corpus/dtls_fuzz/ (written by
// JVB_DTLS_WRITE_SEEDS=<dir> dtls_test --gtest_filter='*Seeds*').
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "common/log.hpp"
#include "dtls/certificate.hpp"
#include "dtls/context.hpp"
#include "dtls/session.hpp"

namespace {

using jvb::dtls::Session;

struct Fixture {
  jvb::dtls::Certificate bridge = jvb::dtls::Certificate::generate("jvb-fuzz");
  jvb::dtls::Certificate endpoint = jvb::dtls::Certificate::generate("endpoint");
  jvb::dtls::Context ctx{bridge};
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  jvb::log::setLevel(jvb::log::Level::kOff);
  (void)fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  const size_t mtu = f.ctx.mtu();
  Session session(f.ctx, jvb::dtls::Role::kServer, {{"sha-256", f.endpoint.fingerprintSha256()}},
                  [mtu](std::span<const uint8_t> d) {
                    if (d.empty() || d.size() > mtu) {
                      std::abort();
                    }
                  });
  session.setOnApplicationData([](std::span<const uint8_t>) {});
  auto now = Session::TimePoint{} + std::chrono::hours(1);
  session.start(now);

  std::span<const uint8_t> in(data, size);
  while (!in.empty()) {
    std::span<const uint8_t> datagram = in;
    if (in.size() >= 2) {
      const size_t framed = (size_t{in[0]} << 8) | in[1];
      if (framed <= in.size() - 2) {
        datagram = in.subspan(2, framed);
      }
    }
    in = in.subspan(datagram.data() - in.data() + datagram.size());
    session.handleDatagram(datagram, now);
    now += std::chrono::milliseconds(1);
    if (session.srtpKeys().has_value() != (session.state() == jvb::dtls::State::kConnected)) {
      std::abort();
    }
  }
  session.onTimer(now + std::chrono::seconds(2));
  (void)session.sendApplicationData(std::span<const uint8_t>(data, size < 64 ? size : 64));
  session.onTimer(now + std::chrono::seconds(31));  // past the handshake deadline
  if (session.state() == jvb::dtls::State::kConnecting) {
    std::abort();
  }
  session.close();
  return 0;
}
