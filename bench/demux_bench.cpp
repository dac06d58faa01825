// RFC 7983 classification of one datagram: the first thing every packet on
// the media port goes through.
#include <benchmark/benchmark.h>

#include <array>

#include "rtp/demux.hpp"

namespace {

void BM_Classify(benchmark::State& state) {
  std::array<std::array<uint8_t, 64>, 4> pkts{};
  pkts[0][0] = 0x80;
  pkts[0][1] = 111;  // RTP
  pkts[1][0] = 0x80;
  pkts[1][1] = 200;  // RTCP
  pkts[2][0] = 0x00;
  pkts[2][1] = 0x01;  // STUN
  pkts[3][0] = 23;    // DTLS
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(jvb::rtp::classify(pkts[i & 3]));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Classify);

}  // namespace
