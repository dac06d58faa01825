// Replacement global operator new/delete for the ice_test binary. Kept in a
// translation unit of its own so that no caller sees (and inlines) them.
#include "alloc_counter.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> gCounting{false};
std::atomic<size_t> gAllocations{0};
}  // namespace

void* operator new(size_t n) {
  if (gCounting.load(std::memory_order_relaxed)) {
    gAllocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  return operator new(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
  std::free(p);
}

namespace jvb::test {

void startCountingAllocations() {
  gAllocations = 0;
  gCounting = true;
}

size_t stopCountingAllocations() {
  gCounting = false;
  return gAllocations.load();
}

}  // namespace jvb::test
