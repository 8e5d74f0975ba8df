// Egress setup on the fabric's host ports for degrade_link: HTB classes for rate caps (one per
// fault, selected by the mark the classifier sets, through a u32 filter), sch_fq for EDT latency,
// and software checksums on the hosts for corruption. Done at prepare, inert until a rule is
// armed (unmarked traffic goes straight through), removed at release; the lab's namespaces take
// anything left with them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace inj::net {

struct RateCap {
    int rule = 0;
    uint64_t bps = 0;
};

// The tc batch lines for the ports (also what the audit records). fq: EDT latency in use (every
// class, and unclassified traffic, goes through sch_fq).
std::vector<std::string> shaper_lines(const std::vector<std::string>& ports, const std::vector<RateCap>& caps, bool fq);
// Runs them with `tc -batch` inside the namespace at netns_path.
Result<void> shaper_install(const std::string& netns_path, const std::vector<std::string>& lines);
// Deletes the root qdisc of each port (errors for ports already without one are ignored).
Result<void> shaper_remove(const std::string& netns_path, const std::vector<std::string>& ports);

// Turns transmit checksum offload of `ifname` in the namespace at netns_path off (on = false) or
// on: with it off, the host computes checksums in software and receivers verify them, so a
// corrupted packet is seen as a checksum failure (with offload, veth peers trust each other).
Result<void> set_tx_checksum(const std::string& netns_path, const std::string& ifname, bool on);

}  // namespace inj::net
