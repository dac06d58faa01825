#pragma once
// Internal to sctp/: the usrsctp output trampoline that library.cpp hands to
// usrsctp_init_nothreads() and association.cpp implements.
#include <cstddef>
#include <cstdint>

namespace jvb::sctp::detail {

// usrsctp's conn_output: `addr` is the value an Association registered with
// usrsctp_register_address().
int connOutput(void* addr, void* buffer, size_t length, uint8_t tos, uint8_t setDf);

// Called by library.cpp after each usrsctp_init_nothreads().
void onLibraryInit();

}  // namespace jvb::sctp::detail
