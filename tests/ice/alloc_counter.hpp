#pragma once
// Counts global operator new calls between start and stop (this test
// binary replaces operator new/delete in alloc_counter.cpp).
#include <cstddef>

namespace jvb::test {

void startCountingAllocations();
// Returns the number of allocations since startCountingAllocations().
size_t stopCountingAllocations();

}  // namespace jvb::test
