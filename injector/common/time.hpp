// monotonic_ns(): the clock every deadline handed to the kernel uses (the Clock seam for code
// that waits on a timeline is in common/clock.hpp).
#pragma once

#include <cstdint>

namespace inj {

// CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns() reads, so a deadline computed here means
// the same instant to the BPF programs.
uint64_t monotonic_ns();

}  // namespace inj
