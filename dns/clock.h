// dns/clock.h — the monotonic millisecond clock dns/ measures TTLs with.
//
// CLOCK_MONOTONIC in milliseconds (vDSO: no system call). It is the same
// clock a shard loop reads once per turn, so a caller may pass its cached
// "now" (the loop's now_ms()) to MxCache::Lookup and to the resolver where
// this clock would otherwise be read: both count from the same origin.
#pragma once

#include <cstdint>

namespace ringpost::dns {

uint64_t MonotonicMs();

}  // namespace ringpost::dns
