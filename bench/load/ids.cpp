#include "ids.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <array>

namespace jvb::load {

uint64_t randomU64() {
  std::array<unsigned char, 8> b{};
  RAND_bytes(b.data(), static_cast<int>(b.size()));
  uint64_t v = 0;
  for (unsigned char c : b) {
    v = (v << 8) | c;
  }
  return v;
}

std::string uuid() {
  const uint64_t a = randomU64();
  const uint64_t b = randomU64();
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xFFFF, a & 0xFFF,
                     0x8000 | ((b >> 48) & 0x3FFF), b & 0xFFFFFFFFFFFFULL);
}

}  // namespace jvb::load
