// The address ranges the project may use, written down once: the lab range, the part of it the
// plan loader assigns zone subnets from, and the lab's control link. Everything that checks,
// assigns or routes a lab address asks here.
#pragma once

#include <vector>

namespace inj {

struct Cidr;

// The only ranges a lab may use: 198.18.0.0/15 (RFC 2544 benchmarking) and its IPv6 sibling
// 2001:2::/48 (RFC 5180).
const Cidr& lab_range_v4();
const Cidr& lab_range_v6();

// Where zone subnets are assigned when a plan gives none: the bottom half of the lab range
// (198.18.0.0/16), away from the control link at its top.
const Cidr& auto_subnet_range_v4();

// The lab's control link (the runner and its probes sit at its root end): 198.19.255.0/30, and
// 2001:2:0:ffff::/64 of which the lab uses a /126. The root end is .1 (::1), the fabric end .2.
const Cidr& control_net_v4();
const Cidr& control_net_v6();
// Both control prefixes, IPv4 first.
const std::vector<Cidr>& control_prefixes();

}  // namespace inj
