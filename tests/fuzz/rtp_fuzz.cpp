// libFuzzer target: the single-port demultiplexer must classify any datagram
// without reading out of bounds.
#include <cstddef>
#include <cstdint>

#include "rtp/demux.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto kind = jvb::rtp::classify({data, size});
  (void)jvb::rtp::kindName(kind);
  return 0;
}
