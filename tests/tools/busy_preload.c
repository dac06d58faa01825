// Test hook (LD_PRELOAD): keeps jvb-audio's media thread busy on demand, so a
// test can watch a saturated media thread reach the stress level without
// real load. While the file named by JVB_TEST_BUSY_FILE exists, every
// epoll_wait of the thread named "jvb-media" (Asio's reactor wait) spins on
// the CPU for 2 ms and then polls without blocking, so the thread never
// sleeps. Other threads, and the media thread without the file, are
// untouched. Built only for non-sanitizer builds (ASan must come first).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

typedef int (*epoll_wait_fn)(int, struct epoll_event*, int, int);

static __thread int is_media = -1;  // -1: not looked at yet

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int epoll_wait(int fd, struct epoll_event* events, int max, int timeout) {
  static epoll_wait_fn real = NULL;
  if (real == NULL) {
    real = (epoll_wait_fn)dlsym(RTLD_NEXT, "epoll_wait");
  }
  if (is_media < 0) {
    char name[32] = {0};
    pthread_getname_np(pthread_self(), name, sizeof name);
    // The name is set once the thread runs; before that, look again later.
    if (name[0] != '\0' && strcmp(name, "jvb-audio") != 0) {
      is_media = strcmp(name, "jvb-media") == 0;
    }
  }
  const char* flag = getenv("JVB_TEST_BUSY_FILE");
  if (is_media == 1 && flag != NULL && access(flag, F_OK) == 0) {
    const double until = now_s() + 0.002;
    volatile unsigned long spin = 0;
    while (now_s() < until) {
      ++spin;
    }
    return real(fd, events, max, 0);
  }
  return real(fd, events, max, timeout);
}
