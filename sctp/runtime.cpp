// The process-wide usrsctp runtime (runtime.hpp): usrsctp's initialization
// (sctp::Library), the AF_CONN address registry behind usrsctp's output
// callback, the deferral machinery and the timer drive
// (Association::handleTimers).
#include "sctp/runtime.hpp"

#include <usrsctp.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "sctp/association.hpp"
#include "sctp/library.hpp"

namespace jvb::sctp {

namespace detail {

namespace {

constexpr size_t kMaxSettleRounds = 100000;
constexpr size_t kMaxDeferredInputs = 4096;

struct DeferredInput {
  uintptr_t id;
  std::vector<uint8_t> packet;
};

// Process-wide state; single-threaded by contract (association.hpp).
struct Global {
  std::unordered_map<uintptr_t, Node*> live;  // registered address -> association
  uintptr_t nextId = 1;                       // never reused
  int depth = 0;                              // nested calls into this library
  int outputDepth = 0;                        // inside a sendToDtls callback
  std::deque<DeferredInput> deferredInputs;   // handlePacket() from inside sendToDtls
  std::vector<Node*> graveyard;               // destroyed while depth > 0
  std::optional<Association::TimePoint> lastTick;
};

Global& global() {
  static Global g;
  return g;
}

Node* find(uintptr_t id) {
  auto& live = global().live;
  const auto it = live.find(id);
  return it == live.end() || it->second->dead ? nullptr : it->second;
}

void settle() {
  Global& g = global();
  ++g.depth;
  for (size_t round = 0; round < kMaxSettleRounds && !g.deferredInputs.empty(); ++round) {
    DeferredInput in = std::move(g.deferredInputs.front());
    g.deferredInputs.pop_front();
    if (Node* node = find(in.id)) {
      node->input(in.packet);
    }
  }
  g.deferredInputs.clear();
  while (!g.graveyard.empty()) {
    std::vector<Node*> graves;
    graves.swap(g.graveyard);
    for (Node* node : graves) {
      delete node;  // closes its sockets; their output finds no one
    }
  }
  --g.depth;
}

uintptr_t fromAddr(void* addr) {
  return reinterpret_cast<uintptr_t>(addr);
}

// usrsctp's conn_output: `addr` is the value an Association registered with
// usrsctp_register_address().
int connOutput(void* addr, void* buffer, size_t length, uint8_t /*tos*/, uint8_t /*setDf*/) {
  Node* node = find(fromAddr(addr));
  if (node == nullptr || buffer == nullptr || length < 12) {
    return 0;  // an association already gone (usrsctp may still send its ABORT)
  }
  // CRC32c offload is on (init() below): usrsctp leaves the checksum (bytes
  // 8..11 of the common header) zero; peers check it, so set it here.
  auto* bytes = static_cast<uint8_t*>(buffer);
  std::memset(bytes + 8, 0, 4);
  const uint32_t crc = usrsctp_crc32c(bytes, length);
  std::memcpy(bytes + 8, &crc, 4);
  ++global().outputDepth;
  node->output({bytes, length});
  --global().outputDepth;
  return 0;
}

}  // namespace

Entry::Entry() {
  ++global().depth;
}

Entry::~Entry() {
  if (--global().depth == 0) {
    settle();
  }
}

uintptr_t newAddress() {
  return global().nextId++;
}

void registerNode(uintptr_t id, Node* node) {
  usrsctp_register_address(toAddr(id));
  global().live.emplace(id, node);
}

void unlinkNode(uintptr_t id) {
  global().live.erase(id);
}

void deregisterAddress(uintptr_t id) {
  usrsctp_deregister_address(toAddr(id));
}

void destroyLater(uintptr_t id, Node* node) {
  node->dead = true;
  global().live.erase(id);
  global().graveyard.push_back(node);  // freed by the outermost Entry
}

bool insideOutput() {
  return global().outputDepth > 0;
}

bool deferInput(uintptr_t id, std::span<const uint8_t> packet) {
  auto& deferred = global().deferredInputs;
  if (deferred.size() >= kMaxDeferredInputs) {
    return false;
  }
  deferred.push_back({id, {packet.begin(), packet.end()}});
  return true;
}

}  // namespace detail

// --- usrsctp initialization (sctp::Library) ----------------------------------

namespace {

std::mutex gMutex;
unsigned gRefs = 0;
bool gUp = false;
unsigned gInits = 0;

// usrsctp's debug output (only with its sysctl debug_on, which we leave off).
__attribute__((format(printf, 1, 2))) void debugPrintf(const char* format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  LOG_TRACE("sctp", "usrsctp: {}", line);
}

void init() {
  // Port 0: no UDP encapsulation; packets leave through connOutput (AF_CONN).
  usrsctp_init_nothreads(0, &detail::connOutput, &debugPrintf);
  // As WebRTC stacks do: no ECN (the DTLS layer below carries no ECN bits),
  // and no CRC32c check on input (DTLS already authenticates every packet).
  // connOutput fills in the checksum of outgoing packets itself, since
  // peers (browsers, aiortc) verify it.
  usrsctp_sysctl_set_sctp_ecn_enable(0);
  usrsctp_enable_crc32c_offload();
  ++gInits;
  // A fresh usrsctp: the next handleTimers() only sets the reference.
  detail::global().lastTick.reset();
}

bool finish() {
  // usrsctp_finish() refuses while an endpoint is not freed yet; closing
  // with SO_LINGER 0 frees them at once, but give its timers a few turns.
  for (int i = 0; i < 50; ++i) {
    if (usrsctp_finish() == 0) {
      return true;
    }
    usrsctp_handle_timers(10);
  }
  LOG_WARN("sctp", "usrsctp_finish refused; usrsctp stays initialized");
  return false;
}

}  // namespace

Library::Library() {
  const std::lock_guard lock(gMutex);
  if (gRefs++ == 0 && !gUp) {
    init();
    gUp = true;
  }
}

Library::~Library() {
  const std::lock_guard lock(gMutex);
  if (--gRefs == 0 && gUp && finish()) {
    gUp = false;
  }
}

bool Library::initialized() {
  const std::lock_guard lock(gMutex);
  return gUp;
}

unsigned Library::initCount() {
  const std::lock_guard lock(gMutex);
  return gInits;
}

// --- the timer drive ---------------------------------------------------------

void Association::handleTimers(TimePoint now) {
  const detail::Entry entry;
  auto& g = detail::global();
  if (g.outputDepth > 0 || !Library::initialized()) {
    return;
  }
  uint32_t elapsed = 0;
  if (g.lastTick && now > *g.lastTick) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - *g.lastTick);
    elapsed = static_cast<uint32_t>(std::min<int64_t>(ms.count(), 3600 * 1000));
    *g.lastTick += ms;  // keep the sub-millisecond remainder
  } else {
    g.lastTick = now;
  }
  if (elapsed > 0) {
    usrsctp_handle_timers(elapsed);
  }
  std::vector<uintptr_t> ids;
  ids.reserve(g.live.size());
  for (const auto& [id, node] : g.live) {
    ids.push_back(id);
  }
  for (const uintptr_t id : ids) {
    if (detail::Node* node = detail::find(id)) {
      node->afterTimers();
    }
  }
}

}  // namespace jvb::sctp
