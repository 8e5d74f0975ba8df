// The monotonic clock every deadline uses: the clock bpf_ktime_get_ns() reads in the kernel,
// so a deadline computed here means the same instant to the BPF programs.
#include <ctime>

#include "runner/engine.hpp"

namespace inj {

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace inj
