#pragma once
// Random values for the load tool's runs (load_run.cpp, soak_run.cpp): the
// meeting id of a conference, the seed and SSRC base of its media.
#include <cstdint>
#include <string>

namespace jvb::load {

// 64 bits from OpenSSL's RAND_bytes.
uint64_t randomU64();

// A random (version 4) UUID, lower-case hex: a conference's meeting id.
std::string uuid();

}  // namespace jvb::load
