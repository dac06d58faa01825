#pragma once
// The counters that alloc_preload.cpp (an LD_PRELOAD library, loaded into the
// bridge by scripts/load.sh) keeps in a file mapped MAP_SHARED, and
// jvb-audio-load reads from outside the process while the bridge runs. Every
// counter is an aligned uint64_t, written and read with relaxed atomics.
#include <cstdint>

namespace jvb::load {

inline constexpr char kAllocCountsMagic[8] = {'J', 'V', 'B', 'A', 'L', 'L', 'O', 'C'};
inline constexpr uint32_t kAllocCountsVersion = 1;
// The thread whose calls are also counted apart (media/media_loop.cpp names it).
inline constexpr char kAllocMediaThread[] = "jvb-media";

struct AllocCounts {
  char magic[8];     // kAllocCountsMagic once the counters are valid (written last)
  uint32_t version;  // kAllocCountsVersion
  uint32_t pid;      // the process that counts
  // Calls of malloc, calloc, realloc, aligned_alloc, posix_memalign, memalign,
  // valloc, pvalloc (operator new and OpenSSL's allocations go through malloc),
  // and the bytes they asked for; free of a non-null pointer.
  uint64_t allocs;
  uint64_t bytes;
  uint64_t frees;
  // The same, on threads named kAllocMediaThread only.
  uint64_t mediaAllocs;
  uint64_t mediaBytes;
  uint64_t mediaFrees;
  uint64_t reserved[8];
};
static_assert(sizeof(AllocCounts) == 128);

}  // namespace jvb::load
