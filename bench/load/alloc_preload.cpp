// libjvb_alloc_preload.so: counts the heap allocations of the process it is
// preloaded into (LD_PRELOAD), for jvb-audio-load's "allocations per forwarded
// packet" (README "Load testing"). Wraps malloc, calloc, realloc, free,
// aligned_alloc, posix_memalign, memalign, valloc, pvalloc and
// malloc_usable_size, forwarding to the next definition (dlsym(RTLD_NEXT):
// glibc's, or another preloaded allocator's, e.g. heaptrack's), and counts the
// calls with relaxed atomics: in total and, apart, on threads named
// "jvb-media".
//
// Environment:
//   JVB_ALLOC_COUNT_FILE  a file the counters are kept in (MAP_SHARED, struct
//                         AllocCounts of alloc_counts.hpp), so that another
//                         process can read them while this one runs. Unset: the
//                         calls are counted but not published.
//   JVB_ALLOC_COUNT_EXE   only a process whose executable has this base name
//                         publishes (default jvb-audio): LD_PRELOAD also reaches
//                         wrappers (taskset, setsid, heaptrack's helpers), which
//                         must not take the file over.
// Calls made while dlsym resolves the next definitions are served from a static
// arena, which is never given back.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "alloc_counts.hpp"

namespace {

using jvb::load::AllocCounts;

using MallocFn = void* (*)(size_t);
using CallocFn = void* (*)(size_t, size_t);
using ReallocFn = void* (*)(void*, size_t);
using FreeFn = void (*)(void*);
using AlignFn = void* (*)(size_t, size_t);
using PosixMemalignFn = int (*)(void**, size_t, size_t);
using UsableSizeFn = size_t (*)(void*);

struct Next {
  MallocFn malloc = nullptr;
  CallocFn calloc = nullptr;
  ReallocFn realloc = nullptr;
  FreeFn free = nullptr;
  AlignFn memalign = nullptr;
  AlignFn alignedAlloc = nullptr;
  PosixMemalignFn posixMemalign = nullptr;
  MallocFn valloc = nullptr;
  MallocFn pvalloc = nullptr;
  UsableSizeFn usableSize = nullptr;
};

Next gNext;                         // written once, before gResolveState becomes kResolved
std::atomic<int> gResolveState{0};  // 0 not yet, 1 resolving, 2 resolved
constexpr int kResolving = 1;
constexpr int kResolved = 2;
__attribute__((tls_model("initial-exec"))) thread_local bool tResolving = false;

// The bootstrap arena: a bump allocator, zero-filled (never reused), 16-byte
// header holding the size.
constexpr size_t kArenaSize = 256 * 1024;
constexpr size_t kHeader = 16;
alignas(64) unsigned char gArena[kArenaSize];
std::atomic<size_t> gArenaUsed{0};

bool inArena(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  const auto base = reinterpret_cast<uintptr_t>(gArena);
  return a >= base && a < base + kArenaSize;
}

void* arenaAlloc(size_t n, size_t align) {
  if (align < kHeader) {
    align = kHeader;
  }
  size_t used = gArenaUsed.load(std::memory_order_relaxed);
  size_t start = 0;
  do {
    start = (used + kHeader + align - 1) / align * align;
    if (start > kArenaSize || n > kArenaSize - start) {
      errno = ENOMEM;
      return nullptr;
    }
  } while (!gArenaUsed.compare_exchange_weak(used, start + n, std::memory_order_relaxed));
  memcpy(gArena + start - sizeof(size_t), &n, sizeof n);
  return gArena + start;
}

size_t arenaSize(const void* p) {
  size_t n = 0;
  memcpy(&n, static_cast<const unsigned char*>(p) - sizeof n, sizeof n);
  return n;
}

template <typename F>
F nextSymbol(const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  F f = nullptr;
  static_assert(sizeof f == sizeof p);
  memcpy(&f, &p, sizeof f);
  return f;
}

// Resolves the next definitions once. A thread that finds another one
// resolving waits for it (only ever at start-up).
void resolve() {
  if (gResolveState.load(std::memory_order_acquire) == kResolved) {
    return;
  }
  int expected = 0;
  if (!gResolveState.compare_exchange_strong(expected, kResolving, std::memory_order_acq_rel)) {
    while (gResolveState.load(std::memory_order_acquire) != kResolved) {
      sched_yield();
    }
    return;
  }
  tResolving = true;
  Next n;
  n.malloc = nextSymbol<MallocFn>("malloc");
  n.calloc = nextSymbol<CallocFn>("calloc");
  n.realloc = nextSymbol<ReallocFn>("realloc");
  n.free = nextSymbol<FreeFn>("free");
  n.memalign = nextSymbol<AlignFn>("memalign");
  n.alignedAlloc = nextSymbol<AlignFn>("aligned_alloc");
  n.posixMemalign = nextSymbol<PosixMemalignFn>("posix_memalign");
  n.valloc = nextSymbol<MallocFn>("valloc");
  n.pvalloc = nextSymbol<MallocFn>("pvalloc");
  n.usableSize = nextSymbol<UsableSizeFn>("malloc_usable_size");
  gNext = n;
  tResolving = false;
  gResolveState.store(kResolved, std::memory_order_release);
}

// --- Counting ------------------------------------------------------------------

constinit AllocCounts gLocal{};  // until (and unless) the file is mapped
std::atomic<AllocCounts*> gCounts{&gLocal};

void add(uint64_t& counter, uint64_t v) {
  __atomic_fetch_add(&counter, v, __ATOMIC_RELAXED);
}

// Whether this thread is named jvb-media: asked once, and again every
// kRecheckEvery calls while it is not (a thread names itself after it starts).
constexpr uint32_t kRecheckEvery = 256;
__attribute__((tls_model("initial-exec"))) thread_local bool tMedia = false;
__attribute__((tls_model("initial-exec"))) thread_local uint32_t tUntilRecheck = 0;

bool onMediaThread() {
  if (tMedia) {
    return true;
  }
  if (tUntilRecheck > 0) {
    --tUntilRecheck;
    return false;
  }
  tUntilRecheck = kRecheckEvery - 1;
  char name[17] = {};
  if (prctl(PR_GET_NAME, name, 0, 0, 0) == 0 &&
      strncmp(name, jvb::load::kAllocMediaThread, sizeof name) == 0) {
    tMedia = true;
  }
  return tMedia;
}

void countAlloc(size_t bytes) {
  AllocCounts& c = *gCounts.load(std::memory_order_acquire);
  add(c.allocs, 1);
  add(c.bytes, bytes);
  if (onMediaThread()) {
    add(c.mediaAllocs, 1);
    add(c.mediaBytes, bytes);
  }
}

void countFree() {
  AllocCounts& c = *gCounts.load(std::memory_order_acquire);
  add(c.frees, 1);
  if (onMediaThread()) {
    add(c.mediaFrees, 1);
  }
}

uint64_t load(const uint64_t& v) {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}

// Maps JVB_ALLOC_COUNT_FILE and moves the counting there (see the top).
__attribute__((constructor)) void publish() {
  resolve();
  const char* path = getenv("JVB_ALLOC_COUNT_FILE");
  if (path == nullptr || *path == '\0') {
    return;
  }
  const char* want = getenv("JVB_ALLOC_COUNT_EXE");
  if (want == nullptr || *want == '\0') {
    want = "jvb-audio";
  }
  char exe[4096];
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) {
    return;
  }
  exe[len] = '\0';
  const char* slash = strrchr(exe, '/');
  if (strcmp(slash == nullptr ? exe : slash + 1, want) != 0) {
    return;
  }
  const int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return;
  }
  void* m = MAP_FAILED;
  if (ftruncate(fd, sizeof(AllocCounts)) == 0) {
    m = mmap(nullptr, sizeof(AllocCounts), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  close(fd);
  if (m == MAP_FAILED) {
    return;
  }
  auto* c = static_cast<AllocCounts*>(m);
  memset(c, 0, sizeof *c);  // whatever an earlier process left
  c->version = jvb::load::kAllocCountsVersion;
  c->pid = static_cast<uint32_t>(getpid());
  c->allocs = load(gLocal.allocs);
  c->bytes = load(gLocal.bytes);
  c->frees = load(gLocal.frees);
  c->mediaAllocs = load(gLocal.mediaAllocs);
  c->mediaBytes = load(gLocal.mediaBytes);
  c->mediaFrees = load(gLocal.mediaFrees);
  gCounts.store(c, std::memory_order_release);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  memcpy(c->magic, jvb::load::kAllocCountsMagic, sizeof c->magic);
}

// `fn` read after resolve().
void* alignedFromNext(AlignFn fn, size_t align, size_t n) {
  if (fn == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  return fn(align, n);
}

}  // namespace

#define JVB_EXPORT __attribute__((visibility("default")))

extern "C" {

JVB_EXPORT void* malloc(size_t n) noexcept {
  countAlloc(n);
  if (tResolving) {
    return arenaAlloc(n, kHeader);
  }
  resolve();
  return gNext.malloc(n);
}

JVB_EXPORT void* calloc(size_t count, size_t size) noexcept {
  size_t bytes = 0;
  const bool overflow = __builtin_mul_overflow(count, size, &bytes);
  countAlloc(overflow ? SIZE_MAX : bytes);
  if (tResolving) {
    if (overflow) {
      errno = ENOMEM;
      return nullptr;
    }
    return arenaAlloc(bytes, kHeader);  // zero: the arena is never reused
  }
  resolve();
  return gNext.calloc(count, size);
}

JVB_EXPORT void* realloc(void* p, size_t n) noexcept {
  // realloc(p, 0) frees (glibc); any other call may allocate, and one with a
  // block gives that block back (one allocation and one free: allocations -
  // frees stays the number of live blocks, which the soak follows).
  if (p != nullptr && n == 0) {
    countFree();
  } else {
    countAlloc(n);
    if (p != nullptr) {
      countFree();
    }
  }
  if (p != nullptr && inArena(p)) {
    void* q = nullptr;
    if (tResolving) {
      q = arenaAlloc(n, kHeader);
    } else {
      resolve();
      q = gNext.malloc(n);
    }
    if (q != nullptr) {
      const size_t old = arenaSize(p);
      memcpy(q, p, old < n ? old : n);
    }
    return q;
  }
  if (tResolving) {
    return arenaAlloc(n, kHeader);  // p is null here: nothing was given out yet
  }
  resolve();
  return gNext.realloc(p, n);
}

JVB_EXPORT void free(void* p) noexcept {
  if (p == nullptr) {
    return;
  }
  countFree();
  if (inArena(p)) {
    return;
  }
  resolve();
  gNext.free(p);
}

JVB_EXPORT void* memalign(size_t align, size_t n) noexcept {
  countAlloc(n);
  if (tResolving) {
    return arenaAlloc(n, align);
  }
  resolve();
  return alignedFromNext(gNext.memalign, align, n);
}

JVB_EXPORT void* aligned_alloc(size_t align, size_t n) noexcept {
  countAlloc(n);
  if (tResolving) {
    return arenaAlloc(n, align);
  }
  resolve();
  return alignedFromNext(gNext.alignedAlloc, align, n);
}

JVB_EXPORT int posix_memalign(void** out, size_t align, size_t n) noexcept {
  countAlloc(n);
  if (tResolving) {
    void* p = arenaAlloc(n, align);
    if (p == nullptr) {
      return ENOMEM;
    }
    *out = p;
    return 0;
  }
  resolve();
  if (gNext.posixMemalign == nullptr) {
    return ENOMEM;
  }
  return gNext.posixMemalign(out, align, n);
}

JVB_EXPORT void* valloc(size_t n) noexcept {
  countAlloc(n);
  if (tResolving) {
    return arenaAlloc(n, 4096);
  }
  resolve();
  return gNext.valloc == nullptr ? nullptr : gNext.valloc(n);
}

JVB_EXPORT void* pvalloc(size_t n) noexcept {
  countAlloc(n);
  if (tResolving) {
    return arenaAlloc((n + 4095) / 4096 * 4096, 4096);
  }
  resolve();
  return gNext.pvalloc == nullptr ? nullptr : gNext.pvalloc(n);
}

JVB_EXPORT size_t malloc_usable_size(void* p) noexcept {
  if (p == nullptr) {
    return 0;
  }
  if (inArena(p)) {
    return arenaSize(p);
  }
  resolve();
  return gNext.usableSize == nullptr ? 0 : gNext.usableSize(p);
}

}  // extern "C"
