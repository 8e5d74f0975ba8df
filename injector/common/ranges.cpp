// The one copy of the lab and control address ranges (see ranges.hpp).
#include "common/ranges.hpp"

#include "common/netaddr.hpp"

namespace inj {

namespace {
// The literals are fixed and valid: a failed parse here is a typo the unit tests catch.
Cidr must_parse(const char* text) { return *Cidr::parse(text); }
}  // namespace

const Cidr& lab_range_v4() {
    static const Cidr c = must_parse("198.18.0.0/15");
    return c;
}
const Cidr& lab_range_v6() {
    static const Cidr c = must_parse("2001:2::/48");
    return c;
}
const Cidr& auto_subnet_range_v4() {
    static const Cidr c = must_parse("198.18.0.0/16");
    return c;
}
const Cidr& control_net_v4() {
    static const Cidr c = must_parse("198.19.255.0/30");
    return c;
}
const Cidr& control_net_v6() {
    static const Cidr c = must_parse("2001:2:0:ffff::/64");
    return c;
}
const std::vector<Cidr>& control_prefixes() {
    static const std::vector<Cidr> p{control_net_v4(), control_net_v6()};
    return p;
}

}  // namespace inj
