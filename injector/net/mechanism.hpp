// Which kernel mechanism carries each part of a plan's degrade_link faults on this machine,
// chosen at preflight from what the kernel can do: latency by EDT (skb->tstamp + sch_fq) where
// sch_fq exists, else by the delay line (tap + userspace); rate caps by HTB classes selected
// with a u32 filter on the mark the classifier sets. A plan that needs a missing one is refused.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "plan/model.hpp"

namespace inj::net {

// What this kernel offers, probed once per process in a throwaway network namespace.
struct Capabilities {
    bool fq = false;      // sch_fq (EDT pacing)
    bool htb = false;     // sch_htb with the u32 classifier (its mark match)
    bool tun = false;     // /dev/net/tun (the delay line's taps)
    bool probed = false;  // false: the probe itself could not run (not root)
};
const Capabilities& capabilities();

struct Mechanisms {
    enum class Latency { none, edt, delay_line };
    Latency latency = Latency::none;
    bool rate = false;     // HTB on the egress ports
    bool corrupt = false;  // hosts send with software checksums so receivers check them
    // One line per mechanism in use, for `injector plan` and the run log.
    std::vector<std::string> describe() const;
};

// "loss 5% (bursts of 4), latency 50ms +- 5ms, rate 10mbit, ... on tcp port 2380" for reports.
std::string describe_degrade(const plan::LinkDegrade& d);

// The mechanisms the plan's degrade_link faults need, or an error naming what the kernel lacks.
Result<Mechanisms> choose_mechanisms(const plan::Plan& plan, const Capabilities& caps);
// The same with this machine's capabilities, probed only when the plan has a degrade_link fault.
Result<Mechanisms> choose_mechanisms(const plan::Plan& plan);

}  // namespace inj::net
