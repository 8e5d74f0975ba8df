// compile(), drops() and cut_set() on hand-built plans: the userspace half of every sever
// decision, checked without privilege. The BPF half is checked against drops() in priv_net.
#include <gtest/gtest.h>

#include <set>

#include "net/compile.hpp"
#include "support/fault_specs.hpp"

namespace inj::net {
namespace {

using plan::Direction;
using plan::Fault;
using plan::Plan;
using plan::Selector;

Cidr C(const char* s) { return *Cidr::parse(s); }
IpAddr A(const char* s) { return *IpAddr::parse(s); }

// Three zones, one subnet each; zone a has two power domains. a-1 and b-1 are dual-stack.
Plan three_zones() {
    Plan p;
    p.name = "t";
    auto& t = p.topology;
    t.zones = {{"a", {"a1", "a2"}, {}, C("198.18.1.0/24"), C("2001:2:0:1::/64"), {}},
               {"b", {"b1"}, {}, C("198.18.2.0/24"), C("2001:2:0:2::/64"), {}},
               {"c", {"c1"}, {}, C("198.18.3.0/24"), std::nullopt, {}}};
    t.power_domains = {{"a1", "a", {}}, {"a2", "a", {}}, {"b1", "b", {}}, {"c1", "c", {}}};
    t.hosts = {{"a-1", "a", "a1", {C("198.18.1.2/24"), C("2001:2:0:1::2/64")}, {}, {}},
               {"a-2", "a", "a2", {C("198.18.1.3/24")}, {}, {}},
               {"b-1", "b", "b1", {C("198.18.2.2/24"), C("2001:2:0:2::2/64")}, {}, {}},
               {"c-1", "c", "c1", {C("198.18.3.2/24")}, {}, {}}};
    return p;
}

Fault sever(std::string name, Selector target, Selector peer, Direction d = Direction::both, double share = 1.0) {
    Fault f;
    f.name = std::move(name);
    f.spec = plan::SeverSpec{};
    f.target = std::move(target);
    f.peer = std::move(peer);
    set_side_direction(f, d);
    set_side_share(f, share);
    return f;
}
Selector zones(std::vector<std::string> z) {
    Selector s;
    s.zones = std::move(z);
    return s;
}
Selector pds(std::vector<std::string> z) {
    Selector s;
    s.power_domains = std::move(z);
    return s;
}
Selector hosts(std::vector<std::string> z) {
    Selector s;
    s.hosts = std::move(z);
    return s;
}
Selector cidrs(std::vector<Cidr> c) {
    Selector s;
    s.cidrs = std::move(c);
    return s;
}
Selector rest() {
    Selector s;
    s.rest = true;
    return s;
}

Tables compile_ok(const Plan& p) {
    auto t = compile(p);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message());
    return t.ok() ? std::move(t.value()) : Tables{};
}

bool D(const Tables& t, const char* s, const char* d, uint64_t armed = 1) { return drops(t, A(s), A(d), armed); }

TEST(NetCompile, ZoneSeverBothAgainstRest) {
    Plan p = three_zones();
    p.method = {sever("cut-a", zones({"a"}), rest())};
    Tables t = compile_ok(p);
    ASSERT_EQ(t.rules.size(), 1u);
    EXPECT_EQ(t.rules[0].flags, NF_RULE_CUT_FWD | NF_RULE_CUT_REV);
    EXPECT_EQ(t.rules[0].share, 0xffffffffu);
    EXPECT_EQ(t.installed, 1u);
    EXPECT_EQ(t.rule_of_fault, std::vector<int>{0});
    // 3 zone subnets + 2 zone subnet6 + 6 host addresses.
    EXPECT_EQ(t.prefixes.size(), 11u);

    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.2.2"));      // a -> b
    EXPECT_TRUE(D(t, "198.18.2.2", "198.18.1.3"));      // b -> a
    EXPECT_TRUE(D(t, "198.18.1.77", "198.18.3.2"));     // zone-level address of a -> c
    EXPECT_FALSE(D(t, "198.18.2.2", "198.18.3.2"));     // b -> c: neither side is a
    EXPECT_FALSE(D(t, "198.18.1.2", "198.18.1.3"));     // inside a
    EXPECT_FALSE(D(t, "198.18.1.2", "198.18.2.2", 0));  // disarmed
    EXPECT_FALSE(D(t, "198.18.9.9", "198.18.1.2"));     // unknown source (the control position)
    EXPECT_FALSE(D(t, "198.18.1.2", "192.0.2.1"));      // unknown destination
    EXPECT_TRUE(D(t, "2001:2:0:1::2", "2001:2:0:2::2"));
    EXPECT_FALSE(drops(t, A("198.18.1.2"), A("2001:2:0:2::2"), 1));  // no packet mixes families
}

TEST(NetCompile, DirectionFromAndTo) {
    Plan p = three_zones();
    p.method = {sever("from", zones({"a"}), zones({"b"}), Direction::from),
                sever("to", zones({"a"}), zones({"b"}), Direction::to)};
    Tables t = compile_ok(p);
    ASSERT_EQ(t.rules.size(), 2u);
    EXPECT_EQ(t.rules[0].flags, NF_RULE_CUT_FWD);
    EXPECT_EQ(t.rules[1].flags, NF_RULE_CUT_REV);
    EXPECT_EQ(t.installed, 3u);
    // from: target -> peer dropped only.
    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.2.2", 1));
    EXPECT_FALSE(D(t, "198.18.2.2", "198.18.1.2", 1));
    // to: peer -> target dropped only.
    EXPECT_FALSE(D(t, "198.18.1.2", "198.18.2.2", 2));
    EXPECT_TRUE(D(t, "198.18.2.2", "198.18.1.2", 2));
    // Explicit peer: c is untouched.
    EXPECT_FALSE(D(t, "198.18.1.2", "198.18.3.2", 3));
    EXPECT_FALSE(D(t, "198.18.3.2", "198.18.1.2", 3));
    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.2.2", 3));
    EXPECT_TRUE(D(t, "198.18.2.2", "198.18.1.2", 3));
}

TEST(NetCompile, PowerDomainAgainstRestIsPerEntry) {
    Plan p = three_zones();
    p.method = {sever("pd", pds({"a1"}), rest())};
    Tables t = compile_ok(p);
    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.1.3"));   // a1 -> a2, same zone
    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.2.2"));   // a1 -> b
    EXPECT_TRUE(D(t, "198.18.1.99", "198.18.1.2"));  // zone-level a -> a1: not covered, so rest
    EXPECT_FALSE(D(t, "198.18.1.3", "198.18.2.2"));  // a2 -> b
    EXPECT_TRUE(D(t, "2001:2:0:2::2", "2001:2:0:1::2"));
}

// Cut sets between host groups add up to the host-pair cut sets, and the indexed lookup and
// the masks in each endpoint agree with a scan of every prefix and the domains table.
TEST(NetCompile, GroupCutsAddUpToHostPairsAndLookupsMatchAScan) {
    Plan p = three_zones();
    for (int i = 3; i < 40; ++i)
        p.topology.hosts.push_back({"x-" + std::to_string(i),
                                    i % 2 ? "a" : "b",
                                    i % 2 ? (i % 3 ? "a1" : "a2") : "b1",
                                    {Cidr{(i % 2 ? C("198.18.1.0/24") : C("198.18.2.0/24")).nth(i + 10), 24}},
                                    {},
                                    {}});
    p.method = {sever("pd", pds({"a1"}), rest()), sever("h", hosts({"b-1", "x-4"}), zones({"c"}), Direction::from),
                sever("cidr", cidrs({C("198.18.1.0/28")}), zones({"b"}))};
    Tables t = compile_ok(p);
    auto groups = host_groups(p, t);
    EXPECT_LT(groups.size(), p.topology.hosts.size());
    for (size_t fi = 0; fi < p.method.size(); ++fi) {
        uint64_t sum = 0;
        for (auto& c : group_cuts(p, t, groups, fi)) sum += c.host_pairs;
        EXPECT_EQ(sum, cut_set(p, t, fi).size()) << p.method[fi].name;
        EXPECT_GT(sum, 0u);
    }
    Tables scan = t;
    scan.indexed = 0;  // no index: lookup() scans
    auto at = [](const Tables& tt, const IpAddr& a) {
        auto* x = lookup(tt, a);
        return x ? x - tt.prefixes.data() : -1;
    };
    for (auto& h : p.topology.hosts)
        for (auto& a : h.addresses) {
            for (const char* s : {"198.18.1.5", "198.18.1.200", "198.18.3.9", "198.19.0.1", "2001:2:0:1::9"}) {
                auto* x = lookup(t, a.addr);
                EXPECT_EQ(at(t, a.addr), at(scan, a.addr)) << a.addr.str();
                EXPECT_EQ(at(t, A(s)), at(scan, A(s))) << s;
                ASSERT_NE(x, nullptr);
                uint64_t l = 0, r = 0;
                for (uint32_t id : {x->ep.zone, x->ep.pd, x->ep.host, x->ep.entry})
                    if (t.domains.count(id)) l |= t.domains.at(id).left, r |= t.domains.at(id).right;
                EXPECT_EQ(x->ep.left, l);
                EXPECT_EQ(x->ep.right, r);
            }
        }
}

TEST(NetCompile, HostToHost) {
    Plan p = three_zones();
    p.method = {sever("h", hosts({"b-1"}), hosts({"c-1"}))};
    Tables t = compile_ok(p);
    EXPECT_TRUE(D(t, "198.18.2.2", "198.18.3.2"));
    EXPECT_TRUE(D(t, "198.18.3.2", "198.18.2.2"));
    EXPECT_FALSE(D(t, "198.18.2.2", "198.18.1.2"));
    EXPECT_FALSE(D(t, "198.18.2.3", "198.18.3.2"));  // another address of zone b
}

TEST(NetCompile, Ipv6HostSelector) {
    Plan p = three_zones();
    p.method = {sever("h6", hosts({"a-1"}), hosts({"b-1"}))};
    Tables t = compile_ok(p);
    EXPECT_TRUE(D(t, "2001:2:0:1::2", "2001:2:0:2::2"));
    EXPECT_TRUE(D(t, "2001:2:0:2::2", "2001:2:0:1::2"));
    EXPECT_FALSE(D(t, "2001:2:0:1::9", "2001:2:0:2::2"));  // zone a, not host a-1
    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.2.2"));
    auto* pre = lookup(t, A("2001:2:0:1::2"));
    ASSERT_NE(pre, nullptr);
    EXPECT_EQ(pre->cidr.prefix, 128);
}

TEST(NetCompile, CidrSelectorsSplitAndContain) {
    Plan p = three_zones();
    p.method = {sever("half-a", cidrs({C("198.18.1.0/25")}), rest()),
                sever("b-net", cidrs({C("198.18.2.0/24")}), cidrs({C("198.18.3.2/32")})),
                sever("outside", cidrs({C("198.19.0.0/16")}), rest())};
    Tables t = compile_ok(p);
    // The /25 became an entry of zone a; nothing was added for 198.19/16.
    auto* half = lookup(t, A("198.18.1.100"));
    ASSERT_NE(half, nullptr);
    EXPECT_EQ(half->cidr, C("198.18.1.0/25"));
    auto* whole = lookup(t, A("198.18.1.200"));
    ASSERT_NE(whole, nullptr);
    EXPECT_EQ(whole->cidr, C("198.18.1.0/24"));
    EXPECT_EQ(half->ep.zone, whole->ep.zone);
    EXPECT_NE(half->ep.entry, whole->ep.entry);
    EXPECT_EQ(lookup(t, A("198.19.1.1")), nullptr);
    EXPECT_EQ(t.prefixes.size(), 12u);

    // Rule 0: the lower half of a against everything else, including the upper half of a.
    EXPECT_TRUE(D(t, "198.18.1.100", "198.18.1.200", 1));
    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.2.2", 1));     // host a-1 lies in the /25
    EXPECT_FALSE(D(t, "198.18.1.2", "198.18.1.3", 1));    // both in the /25
    EXPECT_FALSE(D(t, "198.18.1.200", "198.18.2.2", 1));  // upper half is rest, as is b
    // Rule 1: an exact existing prefix marks it and the hosts inside it.
    EXPECT_TRUE(D(t, "198.18.2.2", "198.18.3.2", 2));
    EXPECT_TRUE(D(t, "198.18.2.50", "198.18.3.2", 2));
    EXPECT_FALSE(D(t, "198.18.2.50", "198.18.3.3", 2));
    // Rule 2: nothing of the topology lies in 198.19/16, so it cuts nothing.
    EXPECT_FALSE(D(t, "198.18.1.2", "198.18.2.2", 4));
}

TEST(NetCompile, SplitEntryKeepsMarksOfWiderCidrs) {
    // A later fault splits a /28 off zone b's /24: the first fault, which names the whole /24,
    // must still cover the /28's addresses.
    Plan p = three_zones();
    p.method = {sever("b", cidrs({C("198.18.2.0/24")}), zones({"c"})),
                sever("b-small", cidrs({C("198.18.2.16/28")}), zones({"c"}))};
    Tables t = compile_ok(p);
    EXPECT_TRUE(D(t, "198.18.2.20", "198.18.3.2", 1));
    EXPECT_TRUE(D(t, "198.18.2.20", "198.18.3.2", 2));
    EXPECT_FALSE(D(t, "198.18.2.40", "198.18.3.2", 2));
}

TEST(NetCompile, ShareIsScaledAndComparedToFlowHash) {
    Plan p = three_zones();
    p.method = {sever("gray", zones({"a"}), zones({"b"}), Direction::both, 0.5),
                sever("none", zones({"a"}), zones({"c"}), Direction::both, 0.0)};
    Tables t = compile_ok(p);
    EXPECT_EQ(t.rules[0].share, 0x7fffffffu);
    EXPECT_EQ(t.rules[1].share, 0u);
    EXPECT_EQ(scale_share(1.0), 0xffffffffu);
    EXPECT_TRUE(drops(t, A("198.18.1.2"), A("198.18.2.2"), 1, 0x10u));
    EXPECT_FALSE(drops(t, A("198.18.1.2"), A("198.18.2.2"), 1, 0x90000000u));
    EXPECT_FALSE(drops(t, A("198.18.1.2"), A("198.18.3.2"), 2, 1u));
    EXPECT_TRUE(drops(t, A("198.18.1.2"), A("198.18.2.2"), 1));  // no hash: "some flows"
}

TEST(NetCompile, OtherFaultKindsGetNoRule) {
    Plan p = three_zones();
    Fault disk;
    disk.name = "disk";
    disk.spec = plan::DegradeStorageSpec{};
    disk.target = zones({"a"});
    p.method = {disk, sever("s", zones({"b"}), rest())};
    Tables t = compile_ok(p);
    EXPECT_EQ(t.rule_of_fault, (std::vector<int>{-1, 0}));
    EXPECT_EQ(t.rules.size(), 1u);
    EXPECT_TRUE(cut_set(p, t, 0).empty());
    EXPECT_EQ(t.control_domain, 0u);  // no power_loss: the control link stays unknown
    EXPECT_EQ(lookup(t, A("198.19.255.1")), nullptr);
}

Fault degrade(std::string name, Selector target, Selector peer, plan::LinkDegrade d) {
    Fault f = sever(std::move(name), std::move(target), std::move(peer));
    f.spec = plan::DegradeLinkSpec{};
    std::get<plan::DegradeLinkSpec>(f.spec).link = d;
    return f;
}

TEST(NetCompile, DegradeLinkIsARuleWithItsEntry) {
    Plan p = three_zones();
    plan::LinkDegrade d;
    d.loss = 0.25;
    d.delay = std::chrono::milliseconds(30);
    d.jitter = std::chrono::milliseconds(5);
    d.rate_bps = 10'000'000;
    d.corrupt = 0.5;
    d.duplicate = 1.0;
    d.protocol = 6;
    d.port_lo = 2379;
    d.port_hi = 2380;
    p.method = {sever("s", zones({"c"}), rest()), degrade("wan", zones({"a"}), zones({"b"}), d)};
    Tables t = compile_ok(p);
    ASSERT_EQ(t.rule_of_fault, (std::vector<int>{0, 1}));
    ASSERT_EQ(t.degrades.size(), 2u);
    const nf_rule& r = t.rules[1];
    EXPECT_EQ(r.flags, NF_RULE_DEGRADE | NF_RULE_CUT_FWD | NF_RULE_CUT_REV);
    EXPECT_EQ(r.proto, 6);
    EXPECT_EQ(r.port_lo, 2379);
    EXPECT_EQ(r.port_hi, 2380);
    EXPECT_EQ(t.rules[0].port_lo, 0);  // a sever matches every port
    EXPECT_EQ(t.rules[0].port_hi, 65535);
    const nf_degrade& e = t.degrades[1];
    EXPECT_EQ(e.loss, scale_share(0.25));
    EXPECT_EQ(e.loss_enter, 0u);
    EXPECT_EQ(e.delay_ns, 30'000'000u);
    EXPECT_EQ(e.jitter_ns, 5'000'000u);
    EXPECT_EQ(e.corrupt, scale_share(0.5));
    EXPECT_EQ(e.duplicate, 0xffffffffu);
    EXPECT_EQ(e.rate_mark, NF_MARK_MAGIC | NF_MARK_RATE | 2u);
    EXPECT_EQ(e.delay_ifindex, 0u);  // the engine fills it when it uses the delay line
    EXPECT_EQ(t.degrades[0].rate_mark, 0u);
    // It cuts nobody off (blast radius), but degrades exactly the a <-> b pairs.
    EXPECT_FALSE(drops(t, A("198.18.1.2"), A("198.18.2.2"), 2));
    EXPECT_TRUE(cut_set(p, t, 1).empty());
    EXPECT_EQ(degraded_set(p, t, 1), (std::vector<std::pair<std::string, std::string>>{
                                         {"a-1", "b-1"}, {"a-2", "b-1"}, {"b-1", "a-1"}, {"b-1", "a-2"}}));
}

TEST(NetCompile, BurstyLossBecomesAGilbertModelWithTheAskedRate) {
    Plan p = three_zones();
    plan::LinkDegrade d;
    d.loss = 0.1;
    d.loss_burst = 4;
    p.method = {degrade("wan", zones({"a"}), zones({"b"}), d)};
    Tables t = compile_ok(p);
    const nf_degrade& e = t.degrades[0];
    EXPECT_EQ(e.loss, 0u);
    double exit = e.loss_exit / 4294967295.0, enter = e.loss_enter / 4294967295.0;
    EXPECT_NEAR(exit, 0.25, 1e-6);                   // mean stay in the lossy state: 4 packets
    EXPECT_NEAR(enter / (enter + exit), 0.1, 1e-6);  // stationary share of lossy packets
}

Fault power_loss(std::string name, Selector target) {
    Fault f;
    f.name = std::move(name);
    f.spec = plan::PowerLossSpec{};
    f.target = std::move(target);
    f.peer.rest = true;
    return f;
}

// The control position's end of the lab's control link (lab.cpp puts the root end at .1).
const char* kControl = "198.19.255.1";
const char* kControl6 = "2001:2:0:ffff::1";

TEST(NetCompile, PowerLossDarkensTheZoneToEveryoneAndControl) {
    Plan p = three_zones();
    p.method = {power_loss("fire", zones({"a"}))};
    Tables t = compile_ok(p);
    ASSERT_EQ(t.rules.size(), 1u);
    EXPECT_EQ(t.rule_of_fault, std::vector<int>{0});
    // Both ways, and judged where packets arrive too (an agent's dark host: netfault_isolate).
    EXPECT_EQ(t.rules[0].flags, NF_RULE_CUT_FWD | NF_RULE_CUT_REV | NF_RULE_ISOLATE);
    EXPECT_EQ(t.rules[0].share, 0xffffffffu);
    ASSERT_NE(t.control_domain, 0u);
    EXPECT_EQ(t.domain_names.at(t.control_domain), "control");
    // One domain per zone on the peer side plus control: the cost does not grow with hosts.
    size_t right = 0;
    for (auto& [id, d] : t.domains) right += (d.right & 1) ? 1 : 0;
    EXPECT_EQ(right, 4u);

    // Dark hosts answer nobody, both ways: other zones, control, their own zone.
    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.2.2"));
    EXPECT_TRUE(D(t, "198.18.2.2", "198.18.1.2"));
    EXPECT_TRUE(D(t, "198.18.1.2", kControl));
    EXPECT_TRUE(D(t, kControl, "198.18.1.3"));
    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.1.3"));
    EXPECT_TRUE(D(t, "2001:2:0:1::2", kControl6));
    EXPECT_TRUE(D(t, "2001:2:0:2::2", "2001:2:0:1::2"));
    // Everyone else keeps talking, to each other and to control.
    EXPECT_FALSE(D(t, "198.18.2.2", "198.18.3.2"));
    EXPECT_FALSE(D(t, "198.18.2.2", kControl));
    EXPECT_FALSE(D(t, kControl, "198.18.3.2"));
    // Disarmed: nothing.
    EXPECT_FALSE(D(t, "198.18.1.2", kControl, 0));
    EXPECT_FALSE(D(t, "198.18.1.2", "198.18.2.2", 0));

    using Pairs = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(cut_set(p, t, 0), (Pairs{{"a-1", "a-2"},
                                       {"a-1", "b-1"},
                                       {"a-1", "c-1"},
                                       {"a-2", "a-1"},
                                       {"a-2", "b-1"},
                                       {"a-2", "c-1"},
                                       {"b-1", "a-1"},
                                       {"b-1", "a-2"},
                                       {"c-1", "a-1"},
                                       {"c-1", "a-2"}}));
}

TEST(NetCompile, PowerLossOfOneDomainOrHostSparesItsZoneNeighbours) {
    Plan p = three_zones();
    p.method = {power_loss("pd", pds({"a1"})), power_loss("host", hosts({"c-1"}))};
    Tables t = compile_ok(p);
    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.1.3", 1));   // a-1 (dark) -> a-2
    EXPECT_TRUE(D(t, "198.18.1.3", "198.18.1.2", 1));   // a-2 -> a-1 (dark)
    EXPECT_FALSE(D(t, "198.18.1.3", "198.18.2.2", 1));  // a-2 -> b-1: both powered
    EXPECT_FALSE(D(t, "198.18.1.3", kControl, 1));
    EXPECT_TRUE(D(t, "198.18.1.2", kControl, 1));
    EXPECT_TRUE(D(t, kControl, "198.18.3.2", 2));  // rule 1: c-1 only
    EXPECT_FALSE(D(t, kControl, "198.18.1.2", 2));
}

TEST(NetCompile, SeverRulesNeverTouchControl) {
    // With the control link in the tables (a power_loss is present), a sever against the rest
    // of the lab, or with a CIDR wide enough to hold the control link, still leaves control out.
    Plan p = three_zones();
    p.method = {power_loss("fire", zones({"c"})), sever("pd", pds({"a1"}), rest()),
                sever("wide", zones({"b"}), cidrs({C("198.18.0.0/15")}))};
    Tables t = compile_ok(p);
    EXPECT_FALSE(D(t, "198.18.1.2", kControl, 2));
    EXPECT_FALSE(D(t, kControl, "198.18.1.2", 2));
    EXPECT_FALSE(D(t, "198.18.2.2", kControl, 4));
    EXPECT_FALSE(D(t, kControl, "198.18.2.2", 4));
    EXPECT_TRUE(D(t, "198.18.2.2", "198.18.1.2", 4));
    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.2.2", 2));
    const Tables::Prefix* c = lookup(t, A(kControl));
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(c->control);
    EXPECT_EQ(t.domains.at(c->ep.zone).right, 1u);  // only the power rule lists control
}

TEST(NetCompile, CutSetOfThreeZones) {
    Plan p = three_zones();
    p.method = {sever("a-out", zones({"a"}), rest(), Direction::from), sever("b-c", zones({"b"}), zones({"c"}))};
    Tables t = compile_ok(p);
    using Pairs = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(cut_set(p, t, 0), (Pairs{{"a-1", "b-1"}, {"a-1", "c-1"}, {"a-2", "b-1"}, {"a-2", "c-1"}}));
    EXPECT_EQ(cut_set(p, t, 1), (Pairs{{"b-1", "c-1"}, {"c-1", "b-1"}}));
    EXPECT_TRUE(cut_set(p, t, 7).empty());
}

TEST(NetCompile, DomainIdsAreDistinctAndNamed) {
    Plan p = three_zones();
    p.method = {sever("s", zones({"a"}), rest())};
    Tables t = compile_ok(p);
    std::set<uint32_t> entries;
    for (auto& pre : t.prefixes) {
        EXPECT_NE(pre.ep.zone, 0u);
        EXPECT_NE(pre.ep.entry, 0u);
        EXPECT_TRUE(entries.insert(pre.ep.entry).second);
        EXPECT_EQ(t.domain_names.at(pre.ep.entry), "entry:" + pre.cidr.str());
    }
    EXPECT_EQ(t.domain_names.count(0), 0u);
    EXPECT_EQ(t.domain_names.size(), 3 + 4 + 4 + t.prefixes.size());
    EXPECT_EQ(t.domain_names.begin()->second, "zone:a");
}

TEST(NetCompile, MoreThan64SeverFaultsIsAnError) {
    Plan p = three_zones();
    for (int i = 0; i < 64; ++i) p.method.push_back(sever("f" + std::to_string(i), zones({"a"}), rest()));
    auto ok = compile(p);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok.value().installed, ~0ull);
    EXPECT_EQ(ok.value().rule_of_fault[63], 63);
    p.method.push_back(sever("f64", zones({"a"}), rest()));
    auto bad = compile(p);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message().find("f64"), std::string::npos) << bad.error().message();
}

TEST(NetCompile, Errors) {
    Plan p = three_zones();
    p.method = {sever("s", zones({"nowhere"}), rest())};
    auto r = compile(p);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("nowhere"), std::string::npos);

    p = three_zones();
    p.topology.hosts[1].addresses.clear();
    EXPECT_FALSE(compile(p).ok());

    p = three_zones();
    p.topology.hosts[1].cidrs = {C("198.18.2.0/24")};  // zone b's subnet again
    r = compile(p);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("declared by both"), std::string::npos);

    p = three_zones();
    p.method = {sever("s", rest(), zones({"a"}))};
    EXPECT_FALSE(compile(p).ok());
}

// Cascades: a link fed by a dark power domain is one more rule of the same fault; a zone switch
// fed by it puts its whole zone on the fault's target side (cut from everyone, its own zone too).
TEST(NetCompile, PowerLossCutsTheLinksAndSwitchesItFeeds) {
    Plan p = three_zones();
    p.topology.links.push_back({"b", "c", "a2", {}});
    p.method = {power_loss("pd", pds({"a2"}))};
    Tables t = compile_ok(p);
    ASSERT_EQ(t.rules.size(), 2u);
    EXPECT_EQ(t.rule_of_fault, std::vector<int>{0});
    EXPECT_EQ(t.fault_mask, std::vector<uint64_t>{0b11});
    // The link's rule cuts like a sever: every protocol and port (the BPF side filters on them).
    EXPECT_EQ(t.rules[1].flags, NF_RULE_CUT_FWD | NF_RULE_CUT_REV);
    EXPECT_EQ(t.rules[1].proto, 0);
    EXPECT_EQ(t.rules[1].port_lo, 0);
    EXPECT_EQ(t.rules[1].port_hi, 65535);
    uint64_t all = t.fault_mask[0];
    EXPECT_TRUE(D(t, "198.18.2.2", "198.18.3.2", all));  // b-1 -> c-1: the link is dark
    EXPECT_TRUE(D(t, "198.18.3.2", "198.18.2.2", all));
    EXPECT_FALSE(D(t, "198.18.1.2", "198.18.2.2", all));  // a-1 (a1 keeps power) -> b-1
    EXPECT_TRUE(D(t, "198.18.1.3", "198.18.2.2", all));   // a-2 itself is dark
    EXPECT_FALSE(D(t, "198.18.2.2", "198.18.3.2", 1));    // the link is only cut with its rule
    auto cut = cut_set(p, t, 0);
    std::set<std::pair<std::string, std::string>> pairs(cut.begin(), cut.end());
    EXPECT_TRUE(pairs.count({"b-1", "c-1"}));
    EXPECT_TRUE(pairs.count({"c-1", "b-1"}));
    EXPECT_FALSE(pairs.count({"a-1", "b-1"}));

    // The same domain feeding b's switch instead: b-1 is cut from everyone.
    p.topology.links.clear();
    p.topology.zones[1].switch_power_domain = "a2";
    t = compile_ok(p);
    ASSERT_EQ(t.rules.size(), 1u);
    EXPECT_TRUE(D(t, "198.18.2.2", "198.18.3.2"));
    EXPECT_TRUE(D(t, "198.18.1.2", "198.18.2.2"));
    EXPECT_TRUE(D(t, "198.19.255.1", "198.18.2.2"));  // control loses b-1 too
    EXPECT_FALSE(D(t, "198.18.1.2", "198.18.3.2"));   // a-1 -> c-1 untouched
    // A host-list power_loss darkens hosts, not domains: no cascade.
    p.method = {power_loss("host", hosts({"a-2"}))};
    t = compile_ok(p);
    EXPECT_FALSE(D(t, "198.18.2.2", "198.18.3.2"));
}

}  // namespace
}  // namespace inj::net
