#pragma once
// The process-wide usrsctp state, reference-counted: the first live Library
// calls usrsctp_init_nothreads() (no timer or receive threads: the owner
// drives timers with Association::handleTimers()) and sets the sysctls a
// WebRTC peer expects; the last one to go calls usrsctp_finish().
//
// Every Association holds a Library, so nothing else is required; main() may
// hold one more for the process lifetime to keep usrsctp from being
// re-initialized whenever the last association goes away. Creating and
// destroying Libraries repeatedly (tests) is fine. When usrsctp_finish()
// refuses (sockets it has not freed yet), usrsctp stays initialized and the
// next Library reuses it.
//
// NOTE: usrsctp 0.9.5 still starts one thread of its own in
// usrsctp_init_nothreads(): the "iterator" thread. It sleeps on a condition
// variable until an address change (each usrsctp_register_address /
// deregister_address, once handleTimers() runs the address work-queue timer)
// asks it to walk the bound-all endpoints for ASCONF; every Association's
// socket is bound to its own AF_CONN address, so it touches none of them and
// never calls our callbacks. usrsctp_finish() joins it. No timer or receive
// thread runs.
//
// Implemented in runtime.cpp, with the rest of the process-wide usrsctp state
// (runtime.hpp).
//
// Thread-safety: construction and destruction are serialized by a mutex;
// everything else about usrsctp is single-threaded (see association.hpp).

namespace jvb::sctp {

class Library {
 public:
  Library();
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  Library(Library&&) = delete;
  Library& operator=(Library&&) = delete;

  // Whether usrsctp is initialized now.
  [[nodiscard]] static bool initialized();
  // How many times usrsctp_init_nothreads() ran in this process (tests).
  [[nodiscard]] static unsigned initCount();
};

}  // namespace jvb::sctp
