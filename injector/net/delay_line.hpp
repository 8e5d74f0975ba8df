// The delay line: latency for degrade_link on kernels without sch_fq (no EDT) and without
// sch_netem. The classifier redirects a delayed packet to a tap device owned by this process;
// a thread reads it, holds it for delay +- jitter and writes it back, and the tap's tcx program
// (netfault_reinject) sends it on from the port it first came in on, marked so it is not delayed
// twice. Dies safe: the taps are not persistent, so they vanish with the process (and with them
// every redirect target), and the classifier's links die with it too.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace inj::net {

class DelayLine {
public:
    // One tap per delay rule. Packets of a tap leave in the order they came (jitter never
    // reorders a link, as on a real path), each no earlier than its own delay +- jitter.
    struct Spec {
        int rule = 0;
        uint64_t delay_ns = 0;
        uint64_t jitter_ns = 0;
    };
    struct Stats {
        uint64_t frames = 0;       // frames delayed and sent on
        uint64_t overflow = 0;     // dropped because the line was full (kMaxQueued)
        uint64_t late_ns_max = 0;  // worst lateness of a release behind its due time
    };
    static constexpr size_t kMaxQueued = 200000;  // per tap: about 300 MB of full-size frames

    // Creates the taps inside the namespace at netns_path ("nfdl<rule>"), brings them up and
    // starts the thread.
    static Result<std::unique_ptr<DelayLine>> start(const std::string& netns_path, const std::vector<Spec>& specs);
    ~DelayLine();  // stops the thread; frames still held are sent on at once, then the taps go
    DelayLine(const DelayLine&) = delete;
    DelayLine& operator=(const DelayLine&) = delete;

    // ifindex / name of rule's tap inside the namespace, 0 / "" when the rule has none.
    int ifindex(int rule) const;
    std::string ifname(int rule) const;
    Stats stats(int rule) const;

private:
    struct Line;
    DelayLine() = default;
    void run() noexcept;
    void flush_all() noexcept;

    std::vector<std::unique_ptr<Line>> lines_;
    Fd epoll_fd_;
    Fd stop_fd_;  // eventfd: wakes the thread to stop
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace inj::net
