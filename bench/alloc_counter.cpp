// Replaces global operator new/delete in the benchmark binary that links it,
// so a benchmark can report heap allocations per forwarded packet. A separate
// translation unit: GCC flags malloc/free pairs it sees inlined next to new.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace jvb::bench {
std::atomic<uint64_t> gAllocations{0};
}  // namespace jvb::bench

void* operator new(std::size_t n) {
  jvb::bench::gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return operator new(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
