// Plan loader: the safety section beyond max_duration: blast_radius bounds, the protected set and
// abort_when conditions, each problem at its exact position and field path.
#include "plan_test_util.hpp"

using namespace inj;
using namespace inj::plan;
using namespace inj::plan::test;
using namespace std::chrono_literals;

namespace {
const std::string kProbes = R"(steady_state:
  probes:
    - { name: ping, tcp: "{addr:h2}:80", every: 1s }
)";
// kBase with a probe and `extra` appended under safety.
std::string safety(const std::string& extra) {
    return with(kBase, "  max_duration: 1m\n", "  max_duration: 1m\n" + extra) + kProbes;
}
}  // namespace

TEST(PlanSafety, BlastRadiusCountsRoundTrip) {
    Plan p = load_ok(safety("  blast_radius: { max_hosts: 2, max_zones: 1, max_power_domains: 0 }\n"));
    const BlastRadius& b = p.safety.blast_radius;
    EXPECT_EQ(b.max_hosts, 2);
    EXPECT_FALSE(b.max_hosts_share.has_value());
    EXPECT_EQ(b.max_zones, 1);
    EXPECT_EQ(b.max_power_domains, 0);
    EXPECT_EQ(std::to_string(b.mark.line) + ":" + std::to_string(b.mark.col),
              pos(safety("  blast_radius: { max_hosts: 2, max_zones: 1, max_power_domains: 0 }\n"), "blast_radius"));
}

TEST(PlanSafety, BlastRadiusShareOfHosts) {
    Plan p = load_ok(safety("  blast_radius: { max_hosts: 50% }\n"));
    ASSERT_TRUE(p.safety.blast_radius.max_hosts_share.has_value());
    EXPECT_DOUBLE_EQ(*p.safety.blast_radius.max_hosts_share, 0.5);
    EXPECT_FALSE(p.safety.blast_radius.max_hosts.has_value());
    EXPECT_FALSE(p.safety.blast_radius.max_zones.has_value());
}

TEST(PlanSafety, BlastRadiusBadValues) {
    std::string y =
        safety("  blast_radius: { max_hosts: 150%, max_zones: -1, max_power_domains: lots, max_racks: 1 }\n");
    auto r = load(y);
    expect_error(r, pos(y, "150%"), "safety.blast_radius.max_hosts", "must be a count or a share from 0% to 100%");
    expect_error(r, pos(y, "-1"), "safety.blast_radius.max_zones", "expected a count from 0 to 1000000");
    expect_error(r, pos(y, "lots"), "safety.blast_radius.max_power_domains", "expected a whole number");
    expect_error(r, pos(y, "max_racks"), "safety.blast_radius.max_racks", "unknown key");
}

TEST(PlanSafety, ProtectedEveryKind) {
    Plan p =
        load_ok(safety("  protected:\n"
                       "    - { zone: z2 }\n"
                       "    - { power_domain: z3 }\n"
                       "    - { host: h1 }\n"
                       "    - { cidr: 10.1.2.3/8 }\n"
                       "    - { interface: eth0 }\n"
                       "    - { zone: control }\n"));
    auto& v = p.safety.protected_targets;
    ASSERT_EQ(v.size(), 6u);
    EXPECT_EQ(v[0].kind, Protected::Kind::zone);
    EXPECT_EQ(v[0].name, "z2");
    EXPECT_EQ(v[0].mark.line, 14);  // the item: line 13 is "protected:"
    EXPECT_EQ(v[0].mark.col, 7);
    EXPECT_EQ(v[1].kind, Protected::Kind::power_domain);
    EXPECT_EQ(v[1].name, "z3");
    EXPECT_EQ(v[2].kind, Protected::Kind::host);
    EXPECT_EQ(v[2].name, "h1");
    EXPECT_EQ(v[3].kind, Protected::Kind::cidr);
    ASSERT_TRUE(v[3].cidr.has_value());
    EXPECT_EQ(v[3].cidr->str(), "10.0.0.0/8");  // any prefix may be protected, stored as a network
    EXPECT_EQ(v[4].kind, Protected::Kind::interface);
    EXPECT_EQ(v[4].name, "eth0");
    EXPECT_EQ(v[5].name, "control");
}

TEST(PlanSafety, ProtectedProblems) {
    std::string y = safety(
        "  protected:\n"
        "    - { zone: nowhere }\n"
        "    - { zone: z1, host: h1 }\n"
        "    - { cidr: 300.1.1.1/8 }\n"
        "    - { interface: a/b }\n"
        "    - { rack: r1 }\n"
        "    - { power_domain: control }\n");
    auto r = load(y);
    expect_error(r, pos(y, "nowhere"), "safety.protected[0].zone", "unknown zone 'nowhere' (zones: z1, z2, z3)");
    expect_error(r, pos(y, "{ zone: z1, host"), "safety.protected[1]",
                 "needs exactly one of zone, power_domain, host, cidr, interface or port (got 2)");
    expect_error(r, pos(y, "300.1"), "safety.protected[2].cidr", "bad address '300.1.1.1/8'");
    expect_error(r, pos(y, "a/b"), "safety.protected[3].interface", "'a/b' is not an interface name");
    expect_error(r, pos(y, "rack"), "safety.protected[4].rack", "unknown key");
    expect_error(r, pos(y, "control", 0), "safety.protected[5].power_domain", "unknown power domain 'control'");
}

TEST(PlanSafety, AbortWhenEveryCondition) {
    Plan p =
        load_ok(safety("  abort_when:\n"
                       "    - { probe: ping, success_rate_below: 0.5, for: 5s }\n"
                       "    - { probe: ping, latency_above: 200ms }\n"
                       "    - { probe: ping, failures_in_a_row: 3 }\n"));
    auto& v = p.safety.abort_when;
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v[0].probe, "ping");
    EXPECT_EQ(v[0].success_rate_below, 0.5);
    EXPECT_EQ(v[0].window, 5s);
    EXPECT_TRUE(v[0].window_given);
    EXPECT_EQ(v[0].mark.line, 14);
    EXPECT_EQ(v[1].latency_above, 200ms);
    EXPECT_FALSE(v[1].window_given);
    EXPECT_EQ(v[1].window, 10s);
    EXPECT_FALSE(v[1].success_rate_below.has_value());
    EXPECT_EQ(v[2].failures_in_a_row, 3);
}

TEST(PlanSafety, AbortWhenProblems) {
    std::string y = safety(
        "  abort_when:\n"
        "    - { probe: pong, failures_in_a_row: 2 }\n"
        "    - { probe: ping, success_rate_below: 0.5, latency_above: 1s }\n"
        "    - { probe: ping }\n"
        "    - { probe: ping, success_rate_below: 1.5 }\n"
        "    - { probe: ping, latency_above: 1s, for: 0s }\n"
        "    - { probe: ping, failures_in_a_row: 0 }\n"
        "    - { probe: ping, failures_in_a_row: 2, for: 5s }\n"
        "    - { success_rate_below: 0.2, when: now }\n");
    auto r = load(y);
    expect_error(r, pos(y, "pong"), "safety.abort_when[0].probe", "unknown probe 'pong' (probes: ping)");
    expect_error(r, pos(y, "{ probe: ping, success_rate_below: 0.5"), "safety.abort_when[1]",
                 "exactly one of success_rate_below, latency_above or failures_in_a_row (got 2)");
    expect_error(r, pos(y, "{ probe: ping }"), "safety.abort_when[2]", "(got 0)");
    expect_error(r, pos(y, "1.5"), "safety.abort_when[3].success_rate_below", "is outside [0, 1]");
    expect_error(r, pos(y, "0s"), "safety.abort_when[4].for", "must be longer than 0");
    expect_error(r, pos_in(y, "failures_in_a_row: 0", "0"), "safety.abort_when[5].failures_in_a_row",
                 "failures_in_a_row must be from 1 to 1000000, got 0");
    expect_error(r, pos(y, "5s }"), "safety.abort_when[6].for", "'for' does not apply to failures_in_a_row");
    expect_error(r, pos(y, "{ success_rate_below: 0.2"), "safety.abort_when[7].probe", "missing required key 'probe'");
    expect_error(r, pos(y, "when: now"), "safety.abort_when[7].when", "unknown key");
}

TEST(PlanSafety, AbortWhenWithoutProbes) {
    std::string y = with(kBase, "  max_duration: 1m\n",
                         "  max_duration: 1m\n  abort_when: [ { probe: ping, failures_in_a_row: 1 } ]\n");
    auto r = load(y);
    expect_error(r, pos(y, "ping"), "safety.abort_when[0].probe", "the plan has no steady_state probes");
}
