// The hot loop's stages one by one, for the stages the other benchmark files
// do not cover (demux: demux_bench, RTP parse and level read:
// rtp_views_bench, SRTP unprotect/protect: srtp_session_bench, the whole
// fan-out to 500: fanout_bench):
//  - the speech-activity update per received packet (levelChanged), the
//    loudest-only routing query (shouldRoute), and the 300 ms decision, in a
//    conference of 500 speakers;
//  - one sendmmsg(2) batch of 64 audio datagrams to loopback, next to the
//    same 64 datagrams sent with one sendto(2) each (the kernel's share).
#include <benchmark/benchmark.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "bench/audio_packet.hpp"
#include "media/speech_activity.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using jvb::media::SpeechActivity;
using jvb::media::SpeechActivityConfig;

constexpr size_t kSpeakers = 500;

struct Conference {
  SpeechActivity speech;
  std::vector<SpeechActivity::Handle> handles;
  explicit Conference(bool loudestOnly) : speech(config(loudestOnly)) {
    for (size_t i = 0; i < kSpeakers; ++i) {
      handles.push_back(speech.addSpeaker("ep" + std::to_string(i)));
    }
  }
  static SpeechActivityConfig config(bool loudestOnly) {
    SpeechActivityConfig c;
    c.routeLoudestOnly = loudestOnly;
    return c;
  }
};

// One packet's level into the conference's speech activity: the per-packet
// cost the router pays for every audio packet received (500 speakers in turn,
// levels varying, 20 ms apart per speaker).
void BM_SpeechLevelChanged(benchmark::State& state) {
  Conference conf(true);
  auto now = SpeechActivity::Clock::now();
  size_t i = 0;
  uint8_t level = 0;
  for (auto _ : state) {
    conf.speech.levelChanged(conf.handles[i], level, now);
    if (++i == kSpeakers) {
      i = 0;
      now += std::chrono::milliseconds(20);
    }
    level = static_cast<uint8_t>((level + 37) & 0x7F);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SpeechLevelChanged);

// The loudest-only question asked for every received packet.
void BM_SpeechShouldRoute(benchmark::State& state) {
  Conference conf(true);
  auto now = SpeechActivity::Clock::now();
  for (size_t round = 0; round < 50; ++round, now += std::chrono::milliseconds(20)) {
    for (size_t i = 0; i < kSpeakers; ++i) {
      conf.speech.levelChanged(conf.handles[i], static_cast<uint8_t>(10 + i % 100), now);
    }
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(conf.speech.shouldRoute(conf.handles[i]));
    i = i + 1 == kSpeakers ? 0 : i + 1;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SpeechShouldRoute);

// The dominant-speaker decision, run every 300 ms per conference.
void BM_SpeechDecide(benchmark::State& state) {
  Conference conf(true);
  auto now = SpeechActivity::Clock::now();
  for (auto _ : state) {
    state.PauseTiming();
    for (size_t round = 0; round < 15; ++round, now += std::chrono::milliseconds(20)) {
      for (size_t i = 0; i < kSpeakers; ++i) {
        conf.speech.levelChanged(conf.handles[i], static_cast<uint8_t>((i * 13 + round) & 0x7F),
                                 now);
      }
    }
    state.ResumeTiming();
    benchmark::DoNotOptimize(conf.speech.decide(now));
  }
}
BENCHMARK(BM_SpeechDecide)->Unit(benchmark::kMicrosecond);

struct Sockets {
  asio::io_context io;
  udp::socket sender{io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::vector<udp::socket> receivers;
  std::vector<udp::endpoint> dests;
  Sockets() {
    sender.set_option(asio::socket_base::send_buffer_size(4 << 20));
    for (size_t i = 0; i < 64; ++i) {
      receivers.emplace_back(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      dests.push_back(receivers.back().local_endpoint());
    }
  }
};

// 64 already-protected audio datagrams (136 B) to 64 loopback receivers.
void BM_SendmmsgBatch(benchmark::State& state) {
  Sockets s;
  const auto pkt = jvb::bench::audioPacket();
  std::array<std::array<uint8_t, 136>, 64> slabs{};
  std::array<mmsghdr, 64> msgs{};
  std::array<iovec, 64> iov{};
  for (size_t k = 0; k < 64; ++k) {
    std::copy(pkt.begin(), pkt.end(), slabs[k].begin());
    iov[k] = iovec{slabs[k].data(), slabs[k].size()};
    msgs[k].msg_hdr.msg_name = s.dests[k].data();
    msgs[k].msg_hdr.msg_namelen = static_cast<socklen_t>(s.dests[k].size());
    msgs[k].msg_hdr.msg_iov = &iov[k];
    msgs[k].msg_hdr.msg_iovlen = 1;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(::sendmmsg(s.sender.native_handle(), msgs.data(), 64, 0));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 64);
}
BENCHMARK(BM_SendmmsgBatch)->Unit(benchmark::kMicrosecond);

// The same 64 datagrams with one sendto(2) each.
void BM_SendtoEach(benchmark::State& state) {
  Sockets s;
  const auto pkt = jvb::bench::audioPacket();
  std::array<uint8_t, 136> slab{};
  std::copy(pkt.begin(), pkt.end(), slab.begin());
  for (auto _ : state) {
    for (size_t k = 0; k < 64; ++k) {
      benchmark::DoNotOptimize(::sendto(s.sender.native_handle(), slab.data(), slab.size(), 0,
                                        s.dests[k].data(),
                                        static_cast<socklen_t>(s.dests[k].size())));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 64);
}
BENCHMARK(BM_SendtoEach)->Unit(benchmark::kMicrosecond);

}  // namespace
