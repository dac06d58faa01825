// Heap bytes per endpoint, component by component (target: < 64 KiB of bridge
// memory per endpoint). Each line creates K objects the way the bridge does,
// brings them to their steady state, and reports the growth of the heap in
// use (mallinfo2, all arenas) divided by K. Not a Google Benchmark: it
// measures bytes, not time.
#include <malloc.h>
#include <openssl/rand.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dtls/certificate.hpp"
#include "dtls/context.hpp"
#include "dtls/session.hpp"
#include "ice/credentials.hpp"
#include "ice/ice_agent.hpp"
#include "ice/udp_port.hpp"
#include "media/speech_activity.hpp"
#include "srtp/library.hpp"
#include "srtp/session.hpp"
#include "tests/dtls/dtls_test_util.hpp"

namespace {

using namespace jvb;
constexpr size_t kCount = 200;

size_t heapInUse() {
  malloc_trim(0);
  return mallinfo2().uordblks;
}

void report(const char* what, size_t before, size_t after) {
  std::printf("%-58s %8.1f KiB\n", what,
              static_cast<double>(after - before) / 1024.0 / static_cast<double>(kCount));
}

}  // namespace

int main() {
  const srtp::Library srtpLibrary;
  std::printf("heap in use per endpoint, %zu of each\n", kCount);
  double total = 0;
  auto add = [&total](const char* what, size_t before, size_t after) {
    report(what, before, after);
    total += static_cast<double>(after - before) / 1024.0 / static_cast<double>(kCount);
  };

  {  // ICE: the bridge's controlling agent with one remote candidate.
    const size_t before = heapInUse();
    std::vector<std::unique_ptr<ice::IceAgent>> agents;
    for (size_t i = 0; i < kCount; ++i) {
      agents.push_back(std::make_unique<ice::IceAgent>(
          ice::generateCredentials(),
          [](std::span<const uint8_t>, const ice::UdpPort::Endpoint&) {}, ice::IceConfig{},
          ice::Role::kControlling));
      agents.back()->setRemoteCredentials("abcd", "0123456789abcdefghijkl");
      ice::Candidate c;
      c.foundation = "1";
      c.priority = 2122260223;
      c.ip = "127.0.0.1";
      c.port = static_cast<uint16_t>(10000 + i);
      c.type = "host";
      agents.back()->addRemoteCandidate(c);
    }
    add("ice::IceAgent (libnice StunAgent included)", before, heapInUse());
  }

  {  // DTLS: the bridge's (server) side of a completed handshake; the client
     // sides are freed before measuring.
    dtls::test::Peer bridge;
    dtls::test::Peer client;
    const size_t before = heapInUse();
    std::vector<std::unique_ptr<dtls::test::BackToBack>> links;
    for (size_t i = 0; i < kCount; ++i) {
      links.push_back(std::make_unique<dtls::test::BackToBack>(client, bridge));
      links.back()->startBoth();
      links.back()->pump();
      if (links.back()->server.state() != dtls::State::kConnected) {
        std::printf("DTLS handshake %zu did not complete\n", i);
        return 1;
      }
    }
    const size_t both = heapInUse();
    std::printf("%-58s %8.1f KiB\n", "dtls::Session, client + server (for reference)",
                static_cast<double>(both - before) / 1024.0 / static_cast<double>(kCount));
    std::printf("%-58s %8.1f KiB\n", "  so one side, about",
                static_cast<double>(both - before) / 2048.0 / static_cast<double>(kCount));
    total += static_cast<double>(both - before) / 2048.0 / static_cast<double>(kCount);
  }

  {  // SRTP: one inbound and one outbound session per endpoint.
    const size_t before = heapInUse();
    std::vector<srtp::Session> sessions;
    sessions.reserve(2 * kCount);
    for (size_t i = 0; i < kCount; ++i) {
      srtp::Keys k;
      k.profile = srtp::Profile::kAes128CmHmacSha1_80;
      k.local.size = k.remote.size = 30;
      RAND_bytes(k.local.bytes.data(), 30);
      RAND_bytes(k.remote.bytes.data(), 30);
      sessions.push_back(srtp::Session::inbound(k));
      sessions.push_back(srtp::Session::outbound(k));
    }
    add("srtp::Session inbound + outbound (AES_CM_128_HMAC_SHA1_80)", before, heapInUse());
  }

  {  // Speech activity: one speaker per endpoint.
    media::SpeechActivity speech;
    const size_t before = heapInUse();
    for (size_t i = 0; i < kCount; ++i) {
      speech.addSpeaker("endpoint-" + std::to_string(i));
    }
    add("media::SpeechActivity speaker", before, heapInUse());
  }
  std::printf("%-58s %8.1f KiB\n", "sum of the above", total);
  return 0;
}
