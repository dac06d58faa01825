#pragma once
// Internal to sctp/: the process-wide usrsctp runtime that every Association
// shares, implemented in runtime.cpp with sctp::Library (library.hpp), which
// initializes usrsctp. It holds the AF_CONN addresses the associations
// register and the lookup from usrsctp's output callback to the association
// behind an address, the deferral of packets and destruction until the
// outermost call into this library returns, and the timer drive
// (Association::handleTimers). Also wouldBlock(), for usrsctp's errno.
//
// Threading: single-threaded by contract (association.hpp): every call into
// this library comes from one thread, and nothing happens between calls.
// Only Library's construction and destruction are serialized by a mutex.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>

namespace jvb::sctp::detail {

// What the usrsctp trampolines and the deferral machinery see of an
// association.
class Node {
 public:
  virtual ~Node() = default;
  // An outgoing packet (checksum filled in).
  virtual void output(std::span<const uint8_t> packet) = 0;
  // One incoming packet, outside any usrsctp call.
  virtual void input(std::span<const uint8_t> packet) = 0;
  // usrsctp's timers ran: deliver what they queued.
  virtual void afterTimers() = 0;

  bool dead = false;  // destroyed by the owner; no callback may run
};

// Marks a call into this library; the outermost one, on return, feeds the
// packets deferred by sendToDtls and frees the associations destroyed
// meanwhile, when no association frame is on the stack any more.
class Entry {
 public:
  Entry();
  ~Entry();
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
};

// --- AF_CONN addresses -------------------------------------------------------

// A new AF_CONN address value for an association: never reused.
[[nodiscard]] uintptr_t newAddress();

// The opaque pointer usrsctp knows an address by (sconn_addr, conninput).
inline void* toAddr(uintptr_t id) {
  return reinterpret_cast<void*>(id);
}

// Registers the address with usrsctp (usrsctp_register_address) and routes
// usrsctp's output for it to `node`.
void registerNode(uintptr_t id, Node* node);

// Stops routing the address: usrsctp's output for it finds no one from now
// on (usrsctp may still send an ABORT while the sockets close).
void unlinkNode(uintptr_t id);

// usrsctp_deregister_address, once the address's sockets are closed.
void deregisterAddress(uintptr_t id);

// The owner destroyed the association: marks it dead and unlinks it now,
// and deletes it when the outermost call into this library returns.
void destroyLater(uintptr_t id, Node* node);

// --- calls from inside sendToDtls --------------------------------------------

// Whether a sendToDtls callback is running (usrsctp holds its locks).
[[nodiscard]] bool insideOutput();

// Queues an incoming packet for the address, fed to its association once the
// outermost call into this library returns; false when the queue is full.
bool deferInput(uintptr_t id, std::span<const uint8_t> packet);

// Whether a usrsctp call on a non-blocking socket failed only for now.
inline bool wouldBlock(int err) {
  return err == EWOULDBLOCK || err == EAGAIN || err == EINPROGRESS;
}

}  // namespace jvb::sctp::detail
