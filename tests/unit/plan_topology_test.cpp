// Plan loader: zones, power domains, hosts, references, addresses and their assignment.
#include "plan_test_util.hpp"

using namespace inj;
using namespace inj::plan;
using namespace inj::plan::test;

namespace {
std::string addr(const Host& h, size_t i = 0) { return i < h.addresses.size() ? h.addresses[i].str() : "none"; }
}  // namespace

TEST(PlanTopology, ZonesGetDefaultPowerDomainNamedAfterThem) {
    Plan p = load_ok(kBase);
    ASSERT_EQ(p.topology.power_domains.size(), 3u);
    EXPECT_EQ(p.topology.zones[1].power_domains, std::vector<std::string>{"z2"});
    EXPECT_EQ(p.topology.power_domain("z2")->zone, "z2");
    EXPECT_EQ(p.topology.host("h2")->power_domain, "z2");
}

TEST(PlanTopology, DuplicateZoneName) {
    std::string y = with(kBase, "{ name: z3 }", "{ name: z2 }");
    auto r = load(y);
    expect_error(r, pos(y, "z2", 1), "topology.zones[2].name", "duplicate zone name 'z2' (first at line 5)");
}

TEST(PlanTopology, DuplicateHostName) {
    std::string y = with(kBase, "{ name: h3, zone: z3 }", "{ name: h2, zone: z3 }");
    auto r = load(y);
    expect_error(r, pos(y, "h2", 1), "topology.hosts[2].name", "duplicate host name 'h2'");
}

TEST(PlanTopology, HostNamedControlIsReserved) {
    std::string y = with(kBase, "{ name: h3,", "{ name: control,");
    auto r = load(y);
    expect_error(r, pos(y, "control"), "topology.hosts[2].name", "'control' is reserved");
}

TEST(PlanTopology, HostWithUnknownZone) {
    std::string y = with(kBase, "{ name: h3, zone: z3 }", "{ name: h3, zone: z9 }");
    auto r = load(y);
    expect_error(r, pos(y, "z9"), "topology.hosts[2].zone", "unknown zone 'z9' (zones: z1, z2, z3)");
}

TEST(PlanTopology, HostWithUnknownPowerDomain) {
    std::string y = with(kBase, "{ name: h3, zone: z3 }", "{ name: h3, zone: z3, power_domain: nope }");
    auto r = load(y);
    expect_error(r, pos(y, "nope"), "topology.hosts[2].power_domain", "unknown power domain 'nope'");
}

TEST(PlanTopology, HostPowerDomainMustBelongToItsZone) {
    std::string y = with(kBase, "{ name: h3, zone: z3 }", "{ name: h3, zone: z3, power_domain: z1 }");
    auto r = load(y);
    expect_error(r, pos_in(y, "power_domain: z1", "z1"), "topology.hosts[2].power_domain",
                 "power domain 'z1' belongs to zone 'z1', not to the host's zone 'z3'");
}

TEST(PlanTopology, PowerDomainBelongsToExactlyOneZone) {
    std::string y = with(kBase, "{ name: z2 }", "{ name: z2, power_domains: [a, b] }");
    y = with(y, "{ name: z3 }", "{ name: z3, power_domains: [b] }");
    y = with(y, "{ name: h2, zone: z2 }", "{ name: h2, zone: z2, power_domain: a }");
    auto r = load(y);
    expect_error(r, pos_in(y, "power_domains: [b]", "b]"), "topology.zones[2].power_domains[0]",
                 "power domain 'b' already belongs to zone 'z2'");
}

TEST(PlanTopology, HostNeedsPowerDomainWhenItsZoneHasSeveral) {
    std::string y = with(kBase, "{ name: z2 }", "{ name: z2, power_domains: [a, b] }");
    auto r = load(y);
    expect_error(r, pos(y, "{ name: h2"), "topology.hosts[1].power_domain", "zone 'z2' has several (a, b)");
}

TEST(PlanTopology, PowerDomainsAcceptedAndResolved) {
    std::string y = with(kBase, "{ name: z2 }", "{ name: z2, power_domains: [a, b] }");
    y = with(y, "{ name: h2, zone: z2 }", "{ name: h2, zone: z2, power_domain: b }");
    Plan p = load_ok(y);
    EXPECT_EQ(p.topology.zones[1].power_domains, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(p.topology.power_domain("b")->zone, "z2");
    EXPECT_EQ(p.topology.host("h2")->power_domain, "b");
}

TEST(PlanTopology, AddressAssignmentFollowsPlanOrder) {
    std::string y =
        with(kBase, "    - { name: h3, zone: z3 }\n", "    - { name: h3, zone: z3 }\n    - { name: h4, zone: z1 }\n");
    Plan p = load_ok(y);
    auto& t = p.topology;
    EXPECT_EQ(t.zones[0].subnet->str(), "198.18.0.0/22");  // given
    EXPECT_EQ(t.zones[1].subnet->str(), "198.18.4.0/22");  // zone 1: 198.18.0.0 + 1*1024
    EXPECT_EQ(t.zones[2].subnet->str(), "198.18.8.0/22");
    EXPECT_EQ(t.zones[1].subnet->nth(1).str(), "198.18.4.1");  // the gateway, never a host
    EXPECT_EQ(addr(*t.host("h1")), "198.18.0.2/22");
    EXPECT_EQ(addr(*t.host("h4")), "198.18.0.3/22");
    EXPECT_EQ(addr(*t.host("h2")), "198.18.4.2/22");
    EXPECT_EQ(addr(*t.host("h3")), "198.18.8.2/22");
}

TEST(PlanTopology, AutoSubnetSkipsAGivenSubnetItWouldOverlap) {
    // z1 claims the /22 that z2 would get by position, so z2 takes the next free one.
    std::string y = with(kBase, "{ name: z1, subnet: 198.18.0.0/22 }", "{ name: z1, subnet: 198.18.4.0/22 }");
    Plan p = load_ok(y);
    EXPECT_EQ(p.topology.zones[1].subnet->str(), "198.18.8.0/22");
    EXPECT_EQ(p.topology.zones[2].subnet->str(), "198.18.12.0/22");
}

TEST(PlanTopology, GivenAddressesAreKeptAndSkippedByAssignment) {
    std::string y = with(kBase, "{ name: h1, zone: z1 }", "{ name: h1, zone: z1, addresses: [198.18.0.3] }");
    y = with(y, "    - { name: h3, zone: z3 }\n",
             "    - { name: h3, zone: z3 }\n    - { name: h4, zone: z1 }\n"
             "    - { name: h5, zone: z1 }\n");
    Plan p = load_ok(y);
    EXPECT_EQ(addr(*p.topology.host("h1")), "198.18.0.3/22");
    EXPECT_EQ(addr(*p.topology.host("h4")), "198.18.0.2/22");
    EXPECT_EQ(addr(*p.topology.host("h5")), "198.18.0.4/22");
}

TEST(PlanTopology, Ipv6AddressesAndPrimaryIpv4First) {
    std::string y = with(kBase, "{ name: z1, subnet: 198.18.0.0/22 }",
                         "{ name: z1, subnet: 198.18.0.0/22, subnet6: \"2001:2:0:1::/64\" }");
    y = with(y, "{ name: h1, zone: z1 }", "{ name: h1, zone: z1, addresses: [\"2001:2:0:1::10\", 198.18.0.10] }");
    y = with(y, "    - { name: h3, zone: z3 }\n", "    - { name: h3, zone: z3 }\n    - { name: h4, zone: z1 }\n");
    Plan p = load_ok(y);
    const Host& h1 = *p.topology.host("h1");
    ASSERT_EQ(h1.addresses.size(), 2u);
    EXPECT_EQ(addr(h1, 0), "198.18.0.10/22");
    EXPECT_EQ(addr(h1, 1), "2001:2:0:1::10/64");
    const Host& h4 = *p.topology.host("h4");  // a dual-stack zone gives both families
    EXPECT_EQ(addr(h4, 0), "198.18.0.2/22");
    EXPECT_EQ(addr(h4, 1), "2001:2:0:1::2/64");
}

TEST(PlanTopology, Ipv6AddressNeedsZoneSubnet6) {
    std::string y = with(kBase, "{ name: h1, zone: z1 }", "{ name: h1, zone: z1, addresses: [\"2001:2::5\"] }");
    auto r = load(y);
    expect_error(r, pos(y, "\"2001:2::5\""), "topology.hosts[0].addresses[0]",
                 "needs its zone 'z1' to declare a subnet6");
}

TEST(PlanTopology, Ipv4AddressNeedsAGivenZoneSubnet) {
    std::string y = with(kBase, "{ name: h2, zone: z2 }", "{ name: h2, zone: z2, addresses: [198.18.4.9] }");
    auto r = load(y);
    expect_error(r, pos(y, "198.18.4.9"), "topology.hosts[1].addresses[0]", "declare a subnet that contains it");
}

TEST(PlanTopology, UnparseableAddress) {
    std::string y = with(kBase, "{ name: h1, zone: z1 }", "{ name: h1, zone: z1, addresses: [198.18.0.300] }");
    auto r = load(y);
    expect_error(r, pos(y, "198.18.0.300"), "topology.hosts[0].addresses[0]",
                 "bad address '198.18.0.300': not an IPv4 or IPv6 address");
}

TEST(PlanTopology, AddressOutsideTheLabRange) {
    std::string y = with(kBase, "{ name: z1, subnet: 198.18.0.0/22 }", "{ name: z1, subnet: 10.0.0.0/22 }");
    auto r = load(y);
    expect_error(r, pos(y, "10.0.0.0/22"), "topology.zones[0].subnet",
                 "10.0.0.0/22 is not a lab address: lab addresses must lie in 198.18.0.0/15 or 2001:2::/48");
}

TEST(PlanTopology, Ipv6OutsideTheLabRange) {
    std::string y = with(kBase, "{ name: z1, subnet: 198.18.0.0/22 }",
                         "{ name: z1, subnet: 198.18.0.0/22, subnet6: \"fd00::/64\" }");
    auto r = load(y);
    expect_error(r, pos(y, "\"fd00::/64\""), "topology.zones[0].subnet6", "not a lab address");
}

TEST(PlanTopology, HostAddressOutsideItsZoneSubnet) {
    std::string y = with(kBase, "{ name: h1, zone: z1 }", "{ name: h1, zone: z1, addresses: [198.18.9.9] }");
    auto r = load(y);
    expect_error(r, pos(y, "198.18.9.9"), "topology.hosts[0].addresses[0]",
                 "lies outside its zone 'z1' subnet 198.18.0.0/22");
}

TEST(PlanTopology, HostMayNotTakeTheGateway) {
    std::string y = with(kBase, "{ name: h1, zone: z1 }", "{ name: h1, zone: z1, addresses: [198.18.0.1] }");
    auto r = load(y);
    expect_error(r, pos(y, "198.18.0.1]"), "topology.hosts[0].addresses[0]", "is reserved in 198.18.0.0/22");
}

TEST(PlanTopology, TwoHostsNeverShareAnAddress) {
    std::string y = with(kBase, "{ name: h1, zone: z1 }", "{ name: h1, zone: z1, addresses: [198.18.0.7] }");
    y = with(y, "    - { name: h3, zone: z3 }\n",
             "    - { name: h3, zone: z3 }\n    - { name: h4, zone: z1, addresses: [198.18.0.7] }\n");
    auto r = load(y);
    expect_error(r, pos(y, "198.18.0.7", 1), "topology.hosts[3].addresses[0]",
                 "198.18.0.7/32 is already host h1 address 198.18.0.7 (line 8)");
}

TEST(PlanTopology, ZoneSubnetsNeverOverlap) {
    std::string y = with(kBase, "{ name: z2 }", "{ name: z2, subnet: 198.18.2.0/24 }");
    auto r = load(y);
    expect_error(r, pos(y, "198.18.2.0/24"), "topology.zones[1].subnet",
                 "198.18.2.0/24 overlaps zone z1 subnet 198.18.0.0/22 (line 4)");
}

TEST(PlanTopology, ZoneCidrMayNotOverlapAnotherZone) {
    std::string y = with(kBase, "{ name: z2 }", "{ name: z2, cidrs: [198.18.0.128/25] }");
    auto r = load(y);
    expect_error(r, pos(y, "198.18.0.128/25"), "topology.zones[1].cidrs[0]", "overlaps zone z1 subnet");
}

TEST(PlanTopology, HostCidrsOfDifferentHostsNeverOverlap) {
    std::string y = with(kBase, "{ name: h1, zone: z1 }", "{ name: h1, zone: z1, cidrs: [198.19.1.0/24] }");
    y = with(y, "{ name: h2, zone: z2 }", "{ name: h2, zone: z2, cidrs: [198.19.1.16/28] }");
    auto r = load(y);
    expect_error(r, pos(y, "198.19.1.16/28"), "topology.hosts[1].cidrs[0]", "overlaps host h1 cidr 198.19.1.0/24");
}

TEST(PlanTopology, SubnetWithHostBitsSet) {
    std::string y = with(kBase, "{ name: z1, subnet: 198.18.0.0/22 }", "{ name: z1, subnet: 198.18.0.5/22 }");
    auto r = load(y);
    expect_error(r, pos(y, "198.18.0.5/22"), "topology.zones[0].subnet", "did you mean 198.18.0.0/22?");
}

TEST(PlanTopology, TooManyHostsForTheSubnet) {
    // A /30 holds the gateway and one host (.2); the second host does not fit.
    std::string y = with(kBase, "{ name: z1, subnet: 198.18.0.0/22 }", "{ name: z1, subnet: 198.18.0.0/30 }");
    y = with(y, "    - { name: h3, zone: z3 }\n", "    - { name: h3, zone: z3 }\n    - { name: h4, zone: z1 }\n");
    auto r = load(y);
    expect_error(r, pos(y, "{ name: h4"), "topology.hosts[3]", "zone 'z1' has no free address left in 198.18.0.0/30");
}

TEST(PlanTopology, A22HoldsExactly1021Hosts) {
    std::string hosts;
    for (int i = 0; i < 1021; ++i) hosts += "    - { name: n" + std::to_string(i) + ", zone: z2 }\n";
    std::string y = with(kBase, "    - { name: h2, zone: z2 }\n", hosts);
    Plan p = load_ok(y);
    EXPECT_EQ(addr(*p.topology.host("n1020")), "198.18.7.254/22");
    auto r =
        load(with(y, "    - { name: h3, zone: z3 }\n", "    - { name: h3, zone: z3 }\n    - { name: x, zone: z2 }\n"));
    ASSERT_FALSE(r.plan);
    EXPECT_NE(dump(r).find("no free address left in 198.18.4.0/22 for host 'x'"), std::string::npos) << dump(r);
}

TEST(PlanTopology, EmptyTopologyIsAnError) {
    std::string y =
        with(kBase, "    - { name: h1, zone: z1 }\n    - { name: h2, zone: z2 }\n    - { name: h3, zone: z3 }\n",
             "    []\n");
    y = with(y, "hosts:\n    []", "hosts: []");
    auto r = load(y);
    expect_error(r, pos(y, "[]"), "topology.hosts", "at least one host");
}

TEST(PlanTopology, ModelKeepsMarks) {
    Plan p = load_ok(kBase);
    EXPECT_EQ(p.topology.zones[1].mark.str(), "t.yaml:" + pos(kBase, "{ name: z2"));
    EXPECT_EQ(p.topology.hosts[2].mark.str(), "t.yaml:" + pos(kBase, "{ name: h3"));
    EXPECT_EQ(p.safety.mark.str(), "t.yaml:" + pos(kBase, "safety:"));
}

TEST(PlanTopology, AddressPrefixMustMatchTheZoneSubnet) {
    std::string y = with(kBase, "{ name: h1, zone: z1 }", "{ name: h1, zone: z1, addresses: [198.18.0.9/24] }");
    expect_error(load(y), pos(y, "198.18.0.9/24"), "topology.hosts[0].addresses[0]",
                 "the prefix length differs from zone 'z1' subnet 198.18.0.0/22; write the bare address");
    Plan p = load_ok(with(kBase, "{ name: h1, zone: z1 }", "{ name: h1, zone: z1, addresses: [198.18.0.9/22] }"));
    EXPECT_EQ(p.topology.hosts[0].addresses[0].str(), "198.18.0.9/22");
}
