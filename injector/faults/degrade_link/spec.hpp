// degrade_link: what a degraded link does to the packets it matches (each part optional).
#pragma once

#include <cstdint>

#include "common/duration.hpp"
#include "plan/base.hpp"

namespace inj::plan {

struct LinkDegrade {
    double loss = 0.0;        // probability a packet is dropped
    double loss_burst = 1.0;  // mean run of consecutive losses (1: independent losses)
    Duration delay{0};        // added one-way latency
    Duration jitter{0};       // delay varies uniformly within delay +- jitter
    uint64_t rate_bps = 0;    // bandwidth cap, bits per second (0: none)
    double corrupt = 0.0;     // probability a packet has a byte flipped (bad checksum)
    double duplicate = 0.0;   // probability a packet is sent twice
    int protocol = 0;         // IPPROTO_TCP/UDP/ICMP(V6); 0: every protocol
    uint16_t port_lo = 0;     // ports (either end's) the fault applies to; 0-65535: all
    uint16_t port_hi = 65535;
    Mark mark;
};

struct DegradeLinkSpec : SpecBase {
    static constexpr const char* kind = "degrade_link";
    static constexpr bool takes_peer = true;
    static constexpr bool host_target = false;
    Direction direction = Direction::both;
    double share = 1.0;  // share of flows degraded
    LinkDegrade link;
    std::optional<NetEffect> net() const { return NetEffect{NetEffect::Kind::degrade, direction, share, &link}; }
};

}  // namespace inj::plan
