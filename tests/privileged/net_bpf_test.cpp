// The netfault program on crafted frames through BPF_PROG_TEST_RUN: verdicts, counters,
// deadlines, directions and shares, without attaching anything. Every verdict is also checked
// against the userspace evaluator drops() on the same tables.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <cstring>

#include "common/netaddr.hpp"
#include "net/classifier.hpp"
#include "net/compile.hpp"
#include "netfault_compat.h"
#include "runner/engine.hpp"
#include "support/fault_specs.hpp"
#include "support/test_support.hpp"

namespace inj::net {
namespace {

using plan::Direction;
using plan::Fault;
using plan::Plan;
using plan::Selector;

constexpr uint64_t kSecond = 1'000'000'000ull;

Cidr C(const char* s) { return *Cidr::parse(s); }
IpAddr A(const char* s) { return *IpAddr::parse(s); }

Plan three_zones() {
    Plan p;
    auto& t = p.topology;
    t.zones = {{"a", {"a1"}, {}, C("198.18.1.0/24"), C("2001:2:0:1::/64"), {}},
               {"b", {"b1"}, {}, C("198.18.2.0/24"), C("2001:2:0:2::/64"), {}},
               {"c", {"c1"}, {}, C("198.18.3.0/24"), std::nullopt, {}}};
    t.power_domains = {{"a1", "a", {}}, {"b1", "b", {}}, {"c1", "c", {}}};
    t.hosts = {{"a-1", "a", "a1", {C("198.18.1.2/24"), C("2001:2:0:1::2/64")}, {}, {}},
               {"b-1", "b", "b1", {C("198.18.2.2/24"), C("2001:2:0:2::2/64")}, {}, {}},
               {"c-1", "c", "c1", {C("198.18.3.2/24")}, {}, {}}};
    return p;
}

Fault sever(std::string name, std::string target_zone, std::string peer_zone, Direction d = Direction::both,
            double share = 1.0) {
    Fault f;
    f.name = std::move(name);
    f.target.zones = {std::move(target_zone)};
    f.peer.zones = {std::move(peer_zone)};
    set_side_direction(f, d);
    set_side_share(f, share);
    return f;
}

// Frame builders. Checksums are left zero: neither the program nor the flow dissector reads them.
std::vector<uint8_t> eth(uint16_t proto) {
    std::vector<uint8_t> f(ETH_HLEN, 0);
    const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 2}, src[6] = {0x02, 0, 0, 0, 0, 1};
    std::memcpy(f.data(), dst, 6);
    std::memcpy(f.data() + 6, src, 6);
    uint16_t p = htons(proto);
    std::memcpy(f.data() + 12, &p, 2);
    return f;
}

std::vector<uint8_t> ipv4_tcp(const char* src, const char* dst, uint16_t sport = 40000, uint16_t dport = 2379) {
    auto f = eth(ETH_P_IP);
    iphdr ip{};
    ip.version = 4;
    ip.ihl = 5;
    ip.ttl = 64;
    ip.protocol = IPPROTO_TCP;
    ip.tot_len = htons(sizeof(iphdr) + sizeof(tcphdr));
    ip.saddr = A(src).v4_be();
    ip.daddr = A(dst).v4_be();
    tcphdr tcp{};
    tcp.source = htons(sport);
    tcp.dest = htons(dport);
    tcp.doff = 5;
    tcp.ack = 1;
    auto* b = reinterpret_cast<uint8_t*>(&ip);
    f.insert(f.end(), b, b + sizeof ip);
    b = reinterpret_cast<uint8_t*>(&tcp);
    f.insert(f.end(), b, b + sizeof tcp);
    return f;
}

std::vector<uint8_t> ipv6_udp(const char* src, const char* dst) {
    auto f = eth(ETH_P_IPV6);
    ip6_hdr ip{};
    ip.ip6_flow = htonl(6u << 28);
    ip.ip6_plen = htons(sizeof(udphdr) + 4);
    ip.ip6_nxt = IPPROTO_UDP;
    ip.ip6_hlim = 64;
    std::memcpy(&ip.ip6_src, A(src).bytes.data(), 16);
    std::memcpy(&ip.ip6_dst, A(dst).bytes.data(), 16);
    udphdr udp{};
    udp.source = htons(5353);
    udp.dest = htons(53);
    udp.len = htons(sizeof(udphdr) + 4);
    auto* b = reinterpret_cast<uint8_t*>(&ip);
    f.insert(f.end(), b, b + sizeof ip);
    b = reinterpret_cast<uint8_t*>(&udp);
    f.insert(f.end(), b, b + sizeof udp);
    f.insert(f.end(), {'p', 'i', 'n', 'g'});
    return f;
}

std::vector<uint8_t> arp_request() {
    auto f = eth(ETH_P_ARP);
    const uint8_t body[28] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 18, 1, 2, 0, 0, 0, 0, 0, 0, 198, 18, 2, 2};
    f.insert(f.end(), body, body + sizeof body);
    return f;
}

class NetBpf : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        plan_ = three_zones();
        plan_.method = {sever("a-b", "a", "b"),                             // rule 0
                        sever("a-c-from", "a", "c", Direction::from),       // rule 1
                        sever("a-c-to", "a", "c", Direction::to),           // rule 2
                        sever("b-c-none", "b", "c", Direction::both, 0.0),  // rule 3
                        sever("b-c-all", "b", "c", Direction::both, 1.0)};  // rule 4
        auto t = compile(plan_);
        ASSERT_TRUE(t.ok()) << t.error().message();
        tables_ = std::move(t.value());
        auto c = Classifier::load();
        ASSERT_TRUE(c.ok()) << c.error().message();
        cls_.emplace(std::move(c.value()));
    }

    void install(uint64_t run_deadline) {
        auto r = cls_->install(tables_, run_deadline);
        ASSERT_TRUE(r.ok()) << r.error().message();
    }
    void arm(int rule, uint64_t deadline) { ASSERT_TRUE(cls_->arm(rule, deadline).ok()); }

    // Through netfault_classify, or another of the object's programs (`prog`).
    int run(const std::vector<uint8_t>& frame, int prog = -1) {
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(), .data_size_in = static_cast<__u32>(frame.size()),
                    .repeat = 1);
        int rc = bpf_prog_test_run_opts(prog >= 0 ? prog : cls_->prog_fd(), &o);
        EXPECT_EQ(rc, 0) << std::strerror(errno);
        return static_cast<int>(o.retval);
    }

    // Runs one frame and checks the BPF verdict against `want_drop` and against drops() with
    // the rules in force given by `in_force`. A share of 0 drops only flows hashing to 0, so
    // the evaluator gets an arbitrary non-zero hash.
    void check(const std::vector<uint8_t>& frame, const char* src, const char* dst, bool want_drop, uint64_t in_force) {
        int v = run(frame);
        EXPECT_EQ(v, want_drop ? NF_TCX_DROP : NF_TCX_NEXT) << src << " -> " << dst;
        EXPECT_EQ(drops(tables_, A(src), A(dst), in_force, 0x1234u), v == NF_TCX_DROP)
            << "evaluator disagrees with BPF on " << src << " -> " << dst;
    }

    nf_rule_stats rs(int rule) {
        auto s = cls_->rule_stats(rule);
        EXPECT_TRUE(s.ok());
        return s.ok() ? s.value() : nf_rule_stats{};
    }
    uint64_t stat(int index) {
        auto s = cls_->stats();
        EXPECT_TRUE(s.ok());
        return s.ok() ? s.value()[index] : ~0ull;
    }

    Plan plan_;
    Tables tables_;
    std::optional<Classifier> cls_;
};

TEST_F(NetBpf, NotInstalledPassesWithoutLookups) {
    check(ipv4_tcp("198.18.1.2", "198.18.2.2"), "198.18.1.2", "198.18.2.2", false, 0);
    EXPECT_EQ(stat(NF_STAT_PACKETS), 1u);
    EXPECT_EQ(stat(NF_STAT_UNKNOWN), 0u);
    EXPECT_EQ(stat(NF_STAT_DROPPED), 0u);
}

TEST_F(NetBpf, Ipv4TcpDroppedWhileArmedPassedWhenDisarmed) {
    uint64_t now = monotonic_ns();
    install(now + 60 * kSecond);
    auto f = ipv4_tcp("198.18.1.2", "198.18.2.2");
    check(f, "198.18.1.2", "198.18.2.2", false, 0);  // installed, disarmed: the idle path
    EXPECT_EQ(rs(0).passed, 0u);
    EXPECT_EQ(rs(0).dropped, 0u);

    arm(0, now + 60 * kSecond);
    check(f, "198.18.1.2", "198.18.2.2", true, 1);
    check(ipv4_tcp("198.18.2.2", "198.18.1.2"), "198.18.2.2", "198.18.1.2", true, 1);
    EXPECT_EQ(rs(0).dropped, 2u);
    EXPECT_EQ(stat(NF_STAT_DROPPED), 2u);
    // a -> c matches none of rule 0's sets.
    check(ipv4_tcp("198.18.1.2", "198.18.3.2"), "198.18.1.2", "198.18.3.2", false, 1);
    EXPECT_EQ(rs(0).passed, 0u);

    ASSERT_TRUE(cls_->disarm(0).ok());
    check(f, "198.18.1.2", "198.18.2.2", false, 0);
    EXPECT_EQ(rs(0).passed, 0u);  // nothing armed: passed before the rule loop
    EXPECT_EQ(rs(0).dropped, 2u);
    EXPECT_EQ(rs(0).expired, 0u);
    EXPECT_EQ(stat(NF_STAT_PACKETS), 5u);
}

// netfault_isolate (a fleet agent's host's own interface at ingress) judges dark hosts' rules
// only: a sever is its senders' to judge, so it passes there, uncounted.
TEST_F(NetBpf, TheIsolationsOnlyProgramLeavesCutsToTheirSenders) {
    uint64_t now = monotonic_ns();
    install(now + 60 * kSecond);
    for (int r = 0; r < 5; ++r) arm(r, now + 60 * kSecond);
    auto f = ipv4_tcp("198.18.2.2", "198.18.1.2");
    EXPECT_EQ(run(f, cls_->isolations_fd()), NF_TCX_NEXT);
    EXPECT_EQ(rs(0).dropped, 0u);
    EXPECT_EQ(rs(0).passed, 0u);
    EXPECT_EQ(run(f), NF_TCX_DROP);
    EXPECT_EQ(rs(0).dropped, 1u);
}

// The armed-rule summary in the control entry: while no rule is armed a packet is passed after
// that one read, before any lookup (an address outside the topology is not even counted as
// unknown, and no rule counter moves); arming puts the lookups and the rule loop back, and a
// rule armed past its deadline still reaches the loop, which lets the packet through as expired.
TEST_F(NetBpf, ArmedRuleSummaryDecidesTheIdlePath) {
    uint64_t now = monotonic_ns(), later = now + 60 * kSecond;
    install(later);
    auto f = ipv4_tcp("198.18.1.2", "198.18.2.2");
    auto outside = ipv4_tcp("198.18.9.9", "198.18.2.2");
    check(f, "198.18.1.2", "198.18.2.2", false, 0);
    check(outside, "198.18.9.9", "198.18.2.2", false, 0);
    EXPECT_EQ(stat(NF_STAT_PACKETS), 2u);
    EXPECT_EQ(stat(NF_STAT_UNKNOWN), 0u) << "an idle classifier looked an address up";
    EXPECT_EQ(rs(0).passed, 0u);

    arm(0, later);  // armed -> dropped, and the lookups are back
    check(f, "198.18.1.2", "198.18.2.2", true, 1);
    check(outside, "198.18.9.9", "198.18.2.2", false, 1);
    EXPECT_EQ(stat(NF_STAT_UNKNOWN), 1u);
    EXPECT_EQ(rs(0).dropped, 1u);

    ASSERT_TRUE(cls_->disarm(0).ok());  // disarmed -> passed after the one read
    check(f, "198.18.1.2", "198.18.2.2", false, 0);
    check(outside, "198.18.9.9", "198.18.2.2", false, 0);
    EXPECT_EQ(stat(NF_STAT_UNKNOWN), 1u);
    EXPECT_EQ(rs(0).dropped, 1u);
    EXPECT_EQ(rs(0).passed, 0u);

    arm(0, now - 1);  // a rule whose deadline passed: in the summary, inert in the loop
    check(f, "198.18.1.2", "198.18.2.2", false, 0);
    EXPECT_EQ(rs(0).expired, 1u);
    EXPECT_EQ(rs(0).dropped, 1u);
    EXPECT_EQ(stat(NF_STAT_DROPPED), 1u);
}

TEST_F(NetBpf, Ipv6UdpDropped) {
    uint64_t now = monotonic_ns();
    install(now + 60 * kSecond);
    arm(0, now + 60 * kSecond);
    check(ipv6_udp("2001:2:0:1::2", "2001:2:0:2::2"), "2001:2:0:1::2", "2001:2:0:2::2", true, 1);
    check(ipv6_udp("2001:2:0:2::2", "2001:2:0:1::2"), "2001:2:0:2::2", "2001:2:0:1::2", true, 1);
    check(ipv6_udp("2001:2:0:1::2", "2001:2:0:1::9"), "2001:2:0:1::2", "2001:2:0:1::9", false, 1);
    EXPECT_EQ(rs(0).dropped, 2u);
}

TEST_F(NetBpf, ArpAndUnknownSourcesAlwaysPass) {
    uint64_t now = monotonic_ns();
    install(now + 60 * kSecond);
    for (int r = 0; r < 5; ++r) arm(r, now + 60 * kSecond);
    EXPECT_EQ(run(arp_request()), NF_TCX_NEXT);
    EXPECT_EQ(stat(NF_STAT_NON_IP), 1u);
    // 198.18.9.9 lies in no zone: the control position, say.
    check(ipv4_tcp("198.18.9.9", "198.18.2.2"), "198.18.9.9", "198.18.2.2", false, 0x1f);
    check(ipv4_tcp("198.18.2.2", "198.18.9.9"), "198.18.2.2", "198.18.9.9", false, 0x1f);
    EXPECT_EQ(stat(NF_STAT_UNKNOWN), 2u);
    EXPECT_EQ(stat(NF_STAT_DROPPED), 0u);
    // (A frame cut short inside its IP header cannot be crafted here: BPF_PROG_TEST_RUN
    // refuses it with EINVAL before the program runs.)
}

TEST_F(NetBpf, RuleDeadlineInThePastPassesAndCountsExpired) {
    uint64_t now = monotonic_ns();
    install(now + 60 * kSecond);
    arm(0, now - 1);
    check(ipv4_tcp("198.18.1.2", "198.18.2.2"), "198.18.1.2", "198.18.2.2", false, 0);
    auto s = rs(0);
    EXPECT_EQ(s.dropped, 0u);
    EXPECT_EQ(s.passed, 1u);
    EXPECT_EQ(s.expired, 1u);
}

TEST_F(NetBpf, RunDeadlineOverridesRuleDeadline) {
    uint64_t now = monotonic_ns();
    install(now - 1);  // the run is over
    arm(0, now + 60 * kSecond);
    check(ipv4_tcp("198.18.1.2", "198.18.2.2"), "198.18.1.2", "198.18.2.2", false, 0);
    EXPECT_EQ(rs(0).expired, 1u);
    EXPECT_EQ(stat(NF_STAT_DROPPED), 0u);
}

TEST_F(NetBpf, DirectionFromAndToAreAsymmetric) {
    uint64_t now = monotonic_ns(), later = now + 60 * kSecond;
    install(later);
    auto ac = ipv4_tcp("198.18.1.2", "198.18.3.2"), ca = ipv4_tcp("198.18.3.2", "198.18.1.2");
    arm(1, later);  // from: a -> c dropped
    check(ac, "198.18.1.2", "198.18.3.2", true, 2);
    check(ca, "198.18.3.2", "198.18.1.2", false, 2);
    EXPECT_EQ(rs(1).dropped, 1u);
    EXPECT_EQ(rs(1).passed, 1u);
    EXPECT_EQ(rs(1).expired, 0u);
    ASSERT_TRUE(cls_->disarm(1).ok());
    arm(2, later);  // to: c -> a dropped
    check(ac, "198.18.1.2", "198.18.3.2", false, 4);
    check(ca, "198.18.3.2", "198.18.1.2", true, 4);
    EXPECT_EQ(rs(2).dropped, 1u);
}

TEST_F(NetBpf, ShareZeroCutsNothingShareAllCutsEverything) {
    uint64_t now = monotonic_ns(), later = now + 60 * kSecond;
    install(later);
    arm(3, later);
    for (uint16_t port = 40000; port < 40020; ++port)
        check(ipv4_tcp("198.18.2.2", "198.18.3.2", port), "198.18.2.2", "198.18.3.2", false, 8);
    EXPECT_EQ(rs(3).passed, 20u);
    EXPECT_EQ(rs(3).expired, 0u);
    ASSERT_TRUE(cls_->disarm_all().ok());
    arm(4, later);
    for (uint16_t port = 40000; port < 40020; ++port)
        check(ipv4_tcp("198.18.2.2", "198.18.3.2", port), "198.18.2.2", "198.18.3.2", true, 16);
    EXPECT_EQ(rs(4).dropped, 20u);
}

TEST_F(NetBpf, PartialShareCutsWholeFlows) {
    plan_.method = {sever("gray", "a", "b", Direction::both, 0.5)};
    auto t = compile(plan_);
    ASSERT_TRUE(t.ok());
    tables_ = std::move(t.value());
    uint64_t later = monotonic_ns() + 60 * kSecond;
    install(later);
    arm(0, later);
    int dropped = 0;
    for (uint16_t port = 30000; port < 30200; ++port) {
        auto f = ipv4_tcp("198.18.1.2", "198.18.2.2", port);
        int v = run(f);
        EXPECT_EQ(run(f), v) << "flow " << port << " changed its fate";  // per flow, not per packet
        dropped += v == NF_TCX_DROP;
    }
    // 200 flows at p = 0.5: outside 60..140 is more than 5 standard deviations away.
    EXPECT_GT(dropped, 60);
    EXPECT_LT(dropped, 140);
}

TEST_F(NetBpf, AllSixtyFourRuleBitsAreReached) {
    plan_.method.clear();
    for (int i = 0; i < NF_MAX_RULES; ++i) plan_.method.push_back(sever("f" + std::to_string(i), "a", "b"));
    auto t = compile(plan_);
    ASSERT_TRUE(t.ok());
    tables_ = std::move(t.value());
    uint64_t later = monotonic_ns() + 60 * kSecond;
    install(later);
    auto f = ipv4_tcp("198.18.1.2", "198.18.2.2");
    for (int bit : {63, 0, 37}) {
        ASSERT_TRUE(cls_->disarm_all().ok());
        arm(bit, later);
        check(f, "198.18.1.2", "198.18.2.2", true, 1ull << bit);
    }
    for (int i = 0; i < NF_MAX_RULES; ++i) {
        bool armed_once = i == 63 || i == 0 || i == 37;
        EXPECT_EQ(rs(i).dropped, armed_once ? 1u : 0u) << "rule " << i;
        EXPECT_EQ(rs(i).passed, armed_once ? 2u : 3u) << "rule " << i;
    }
}

// --- power_loss rules: the control link becomes an endpoint, for power rules only ------------

Fault power_loss(std::string name, std::string zone) {
    Fault f;
    f.name = std::move(name);
    f.spec = plan::PowerLossSpec{};
    f.target.zones = {std::move(zone)};
    f.peer.rest = true;
    return f;
}

// 198.19.255.1 / 2001:2:0:ffff::1: the control position's end of the lab's control link.
TEST_F(NetBpf, PowerLossDarkensItsZoneToEveryoneAndControlInOneWrite) {
    plan_.method = {power_loss("fire-a", "a"),  // rule 0
                    sever("b-c", "b", "c")};    // rule 1: a sever never touches control
    auto t = compile(plan_);
    ASSERT_TRUE(t.ok()) << t.error().message();
    tables_ = std::move(t.value());
    uint64_t later = monotonic_ns() + 60 * kSecond;
    install(later);
    const char* ctl = "198.19.255.1";
    // Installed, disarmed: control is a known endpoint now, but nothing is cut.
    check(ipv4_tcp("198.18.1.2", ctl), "198.18.1.2", ctl, false, 0);
    EXPECT_EQ(stat(NF_STAT_UNKNOWN), 0u);

    arm(0, later);                                                   // the one write that darkens the zone
    check(ipv4_tcp("198.18.1.2", ctl), "198.18.1.2", ctl, true, 1);  // a -> control: no answer
    check(ipv4_tcp(ctl, "198.18.1.2"), ctl, "198.18.1.2", true, 1);  // control -> a
    check(ipv4_tcp("198.18.1.2", "198.18.2.2"), "198.18.1.2", "198.18.2.2", true, 1);
    check(ipv4_tcp("198.18.3.2", "198.18.1.2"), "198.18.3.2", "198.18.1.2", true, 1);
    check(ipv4_tcp("198.18.1.2", "198.18.1.7"), "198.18.1.2", "198.18.1.7", true, 1);  // its own dark zone
    check(ipv6_udp("2001:2:0:1::2", "2001:2:0:ffff::1"), "2001:2:0:1::2", "2001:2:0:ffff::1", true, 1);
    check(ipv6_udp("2001:2:0:2::2", "2001:2:0:1::2"), "2001:2:0:2::2", "2001:2:0:1::2", true, 1);
    // The powered zones keep talking to each other and to control.
    check(ipv4_tcp("198.18.2.2", ctl), "198.18.2.2", ctl, false, 1);
    check(ipv4_tcp(ctl, "198.18.3.2"), ctl, "198.18.3.2", false, 1);
    check(ipv4_tcp("198.18.2.2", "198.18.3.2"), "198.18.2.2", "198.18.3.2", false, 1);
    EXPECT_EQ(rs(0).dropped, 7u);

    // A sever of b from the rest leaves control alone even while armed with the power rule.
    arm(1, later);
    check(ipv4_tcp("198.18.2.2", ctl), "198.18.2.2", ctl, false, 3);
    check(ipv4_tcp("198.18.2.2", "198.18.3.2"), "198.18.2.2", "198.18.3.2", true, 3);

    // Power back: one write, links back.
    ASSERT_TRUE(cls_->disarm(0).ok());
    check(ipv4_tcp("198.18.1.2", ctl), "198.18.1.2", ctl, false, 2);
    check(ipv4_tcp("198.18.1.2", "198.18.2.2"), "198.18.1.2", "198.18.2.2", false, 2);
    EXPECT_EQ(rs(0).dropped, 7u);
}

// netfault_isolate gives a dark host's rule the classifier's verdict on every packet (into the
// dark zone from anyone, control included, and out of it), and leaves a sever to its senders.
TEST_F(NetBpf, TheIsolationsOnlyProgramDarkensAsTheClassifierDoes) {
    plan_.method = {power_loss("fire-a", "a"), sever("b-c", "b", "c")};
    auto t = compile(plan_);
    ASSERT_TRUE(t.ok()) << t.error().message();
    tables_ = std::move(t.value());
    uint64_t later = monotonic_ns() + 60 * kSecond;
    install(later);
    arm(0, later);
    arm(1, later);
    const char* ctl = "198.19.255.1";
    for (auto [src, dst] :
         {std::pair{"198.18.2.2", "198.18.1.2"}, std::pair{"198.18.1.2", "198.18.2.2"}, std::pair{ctl, "198.18.1.2"},
          std::pair{"198.18.3.2", "198.18.1.2"}, std::pair{"198.18.2.2", ctl}, std::pair{"192.0.2.1", "198.18.1.2"}}) {
        auto f = ipv4_tcp(src, dst);
        EXPECT_EQ(run(f, cls_->isolations_fd()), run(f)) << src << " -> " << dst;
    }
    EXPECT_EQ(run(ipv4_tcp("198.18.2.2", "198.18.1.2"), cls_->isolations_fd()), NF_TCX_DROP);
    EXPECT_EQ(run(ipv4_tcp("198.18.2.2", "198.18.3.2"), cls_->isolations_fd()), NF_TCX_NEXT) << "the sever is b's";
    EXPECT_EQ(run(ipv4_tcp("198.18.2.2", "198.18.3.2")), NF_TCX_DROP);
}

// degrade_link rules on crafted frames: the verdict, the mark the program leaves on the skb (read
// back through ctx_out), the bytes it changes (data_out) and its counters.
class NetBpfDegrade : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        plan_ = three_zones();
        auto c = Classifier::load();
        ASSERT_TRUE(c.ok()) << c.error().message();
        cls_.emplace(std::move(c.value()));
    }

    // One degrade_link a <-> b as rule 0, installed and armed.
    void arm(const plan::LinkDegrade& d, uint32_t delay_ifindex = 0) {
        Fault f = sever("wan", "a", "b");
        f.spec = plan::DegradeLinkSpec{};
        std::get<plan::DegradeLinkSpec>(f.spec).link = d;
        plan_.method = {f};
        auto t = compile(plan_);
        ASSERT_TRUE(t.ok()) << t.error().message();
        tables_ = std::move(t.value());
        if (delay_ifindex) {
            tables_.degrades[0].delay_ifindex = delay_ifindex;
            tables_.degrades[0].delay_ns = 0;
        }
        uint64_t later = monotonic_ns() + 60 * kSecond;
        ASSERT_TRUE(cls_->install(tables_, later).ok());
        ASSERT_TRUE(cls_->arm(0, later).ok());
    }

    struct Out {
        int verdict = 0;
        uint32_t mark = 0;
        uint64_t tstamp = 0;
        std::vector<uint8_t> data;
    };
    Out run(const std::vector<uint8_t>& frame, uint32_t mark_in = 0, int prog = -1) {
        Out out;
        out.data.resize(frame.size() + 64);
        __sk_buff ctx{};
        ctx.mark = mark_in;
        __sk_buff ctx_out{};
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(), .data_out = out.data.data(),
                    .data_size_in = static_cast<__u32>(frame.size()),
                    .data_size_out = static_cast<__u32>(out.data.size()), .ctx_in = &ctx, .ctx_out = &ctx_out,
                    .ctx_size_in = sizeof ctx, .ctx_size_out = sizeof ctx_out, .repeat = 1);
        int rc = bpf_prog_test_run_opts(prog >= 0 ? prog : cls_->prog_fd(), &o);
        EXPECT_EQ(rc, 0) << std::strerror(errno);
        out.verdict = static_cast<int>(o.retval);
        out.mark = ctx_out.mark;
        out.tstamp = ctx_out.tstamp;
        out.data.resize(o.data_size_out);
        return out;
    }
    nf_degrade_stats ds() {
        auto s = cls_->degrade_stats(0);
        EXPECT_TRUE(s.ok());
        return s.ok() ? s.value() : nf_degrade_stats{};
    }

    Plan plan_;
    Tables tables_;
    std::optional<Classifier> cls_;
};

TEST_F(NetBpfDegrade, CertainLossDropsBothWaysButNotOtherPairs) {
    plan::LinkDegrade d;
    d.loss = 1.0;
    arm(d);
    EXPECT_EQ(run(ipv4_tcp("198.18.1.2", "198.18.2.2")).verdict, NF_TCX_DROP);
    EXPECT_EQ(run(ipv4_tcp("198.18.2.2", "198.18.1.2")).verdict, NF_TCX_DROP);
    EXPECT_EQ(run(ipv6_udp("2001:2:0:1::2", "2001:2:0:2::2")).verdict, NF_TCX_DROP);
    EXPECT_EQ(run(ipv4_tcp("198.18.1.2", "198.18.3.2")).verdict, NF_TCX_NEXT);
    EXPECT_EQ(ds().lost, 3u);
    // A degrade rule is not a cut: its rule counters say "passed", never "dropped".
    auto rs = cls_->rule_stats(0);
    ASSERT_TRUE(rs.ok());
    EXPECT_EQ(rs.value().dropped, 0u);
}

// A fleet agent's host's own interface at ingress (netfault_isolate) leaves a degrade to its
// sender's egress: the same certain loss passes there untouched and uncounted.
TEST_F(NetBpfDegrade, TheIsolationsOnlyProgramLeavesDegradesToTheSender) {
    plan::LinkDegrade d;
    d.loss = 1.0;
    d.delay = std::chrono::milliseconds(50);
    arm(d);
    auto f = ipv4_tcp("198.18.2.2", "198.18.1.2");
    auto o = run(f, 0, cls_->isolations_fd());
    EXPECT_EQ(o.verdict, NF_TCX_NEXT);
    EXPECT_EQ(o.tstamp, 0u) << "no delivery time either";
    EXPECT_EQ(ds().lost, 0u);
    EXPECT_EQ(ds().delayed, 0u);
    EXPECT_EQ(run(f).verdict, NF_TCX_DROP);
    EXPECT_EQ(ds().lost, 1u);
}

TEST_F(NetBpfDegrade, PortAndProtocolFilter) {
    plan::LinkDegrade d;
    d.loss = 1.0;
    d.protocol = IPPROTO_TCP;
    d.port_lo = 2380;
    d.port_hi = 2380;
    arm(d);
    EXPECT_EQ(run(ipv4_tcp("198.18.1.2", "198.18.2.2", 40000, 2379)).verdict, NF_TCX_NEXT);
    EXPECT_EQ(run(ipv4_tcp("198.18.1.2", "198.18.2.2", 40000, 2380)).verdict, NF_TCX_DROP);
    EXPECT_EQ(run(ipv4_tcp("198.18.2.2", "198.18.1.2", 2380, 40000)).verdict, NF_TCX_DROP);  // the reply
    EXPECT_EQ(run(ipv6_udp("2001:2:0:1::2", "2001:2:0:2::2")).verdict, NF_TCX_NEXT);         // udp
}

TEST_F(NetBpfDegrade, ComingBackFromTheDelayLineIsNotLostAgainAndLosesTheMark) {
    plan::LinkDegrade d;
    d.loss = 1.0;
    arm(d);
    auto o = run(ipv4_tcp("198.18.1.2", "198.18.2.2"), NF_MARK_MAGIC | NF_MARK_DELAYED);
    EXPECT_EQ(o.verdict, NF_TCX_NEXT);
    EXPECT_EQ(o.mark, 0u);
    o = run(ipv4_tcp("198.18.1.2", "198.18.2.2"), NF_MARK_MAGIC | NF_MARK_DUP);
    EXPECT_EQ(o.verdict, NF_TCX_NEXT) << "a duplicate was lost";
    // A mark that is not ours is left alone.
    o = run(ipv4_tcp("198.18.1.2", "198.18.3.2"), 0x1234);
    EXPECT_EQ(o.mark, 0x1234u);
}

TEST_F(NetBpfDegrade, RateCapMarksThePacket) {
    plan::LinkDegrade d;
    d.rate_bps = 1'000'000;
    arm(d);
    auto o = run(ipv4_tcp("198.18.1.2", "198.18.2.2"));
    EXPECT_EQ(o.verdict, NF_TCX_NEXT);
    EXPECT_EQ(o.mark, rate_mark(0));
    // Back from the delay line it is marked again (the tap lost the mark).
    EXPECT_EQ(run(ipv4_tcp("198.18.1.2", "198.18.2.2"), NF_MARK_MAGIC | NF_MARK_DELAYED).mark, rate_mark(0));
    EXPECT_EQ(run(ipv4_tcp("198.18.1.2", "198.18.3.2")).mark, 0u);
    EXPECT_EQ(ds().capped, 2u);
}

TEST_F(NetBpfDegrade, CorruptionFlipsTheLastByteOnly) {
    plan::LinkDegrade d;
    d.corrupt = 1.0;
    arm(d);
    auto in = ipv6_udp("2001:2:0:1::2", "2001:2:0:2::2");
    auto o = run(in);
    EXPECT_EQ(o.verdict, NF_TCX_NEXT);
    ASSERT_EQ(o.data.size(), in.size());
    for (size_t i = 0; i + 1 < in.size(); ++i) ASSERT_EQ(o.data[i], in[i]) << "byte " << i;
    EXPECT_EQ(o.data.back(), in.back() ^ 0x5a);
    EXPECT_EQ(ds().corrupted, 1u);
}

TEST_F(NetBpfDegrade, DelayLineRedirectsOnceNotTwice) {
    plan::LinkDegrade d;
    d.delay = std::chrono::milliseconds(10);
    arm(d, 1);  // lo: BPF_PROG_TEST_RUN reports the redirect verdict without sending anything
    EXPECT_EQ(run(ipv4_tcp("198.18.1.2", "198.18.2.2")).verdict, 7 /* TC_ACT_REDIRECT */);
    EXPECT_EQ(run(ipv4_tcp("198.18.1.2", "198.18.2.2"), NF_MARK_MAGIC | NF_MARK_DELAYED).verdict, NF_TCX_NEXT)
        << "a delayed packet was delayed twice";
    EXPECT_EQ(ds().delayed, 1u);
}

// The EDT path (kernels with sch_fq; this one has none, so only the BPF side is checked here):
// the packet passes with a delivery time of now + delay +- jitter for sch_fq to hold it until.
TEST_F(NetBpfDegrade, EdtSetsTheDeliveryTime) {
    plan::LinkDegrade d;
    d.delay = std::chrono::milliseconds(30);
    d.jitter = std::chrono::milliseconds(5);
    arm(d);
    uint64_t before = monotonic_ns();
    auto o = run(ipv4_tcp("198.18.1.2", "198.18.2.2"));
    uint64_t after = monotonic_ns();
    EXPECT_EQ(o.verdict, NF_TCX_NEXT);
    EXPECT_GE(o.tstamp, before + 25'000'000);
    EXPECT_LE(o.tstamp, after + 35'000'000);
    EXPECT_EQ(run(ipv4_tcp("198.18.1.2", "198.18.3.2")).tstamp, 0u);
    EXPECT_EQ(ds().delayed, 1u);
}

TEST_F(NetBpfDegrade, DisarmedOrExpiredDegradeDoesNothing) {
    plan::LinkDegrade d;
    d.loss = 1.0;
    d.rate_bps = 1'000'000;
    arm(d);
    ASSERT_TRUE(cls_->disarm(0).ok());
    auto o = run(ipv4_tcp("198.18.1.2", "198.18.2.2"));
    EXPECT_EQ(o.verdict, NF_TCX_NEXT);
    EXPECT_EQ(o.mark, 0u);
    ASSERT_TRUE(cls_->arm(0, monotonic_ns() - 1).ok());  // deadline already past
    EXPECT_EQ(run(ipv4_tcp("198.18.1.2", "198.18.2.2")).verdict, NF_TCX_NEXT);
    EXPECT_EQ(ds().lost, 0u);
}

}  // namespace
}  // namespace inj::net
