// Plan loader: what recovery is judged on (acknowledges, verify, expect.rto/rpo) and what power
// feeds besides hosts (topology.links, switch_power_domain), with their errors at file:line:col.
#include <gtest/gtest.h>

#include "plan_test_util.hpp"

namespace inj::plan::test {
namespace {

// kBase with a service on every host, a writing probe in h2 and a power_loss of z1.
std::string recovery_plan(const std::string& probe_extra = ", acknowledges: \"k-{seq}\"",
                          const std::string& tail = "") {
    std::string y = with(kBase, "safety:",
                         "lab:\n  services:\n    - { name: kv, hosts: [h1, h2, h3], command: \"kv {host}\" }\n"
                         "steady_state:\n  probes:\n    - { name: put, exec: \"put k-{seq} {seq}\", in: h2" +
                             probe_extra + " }\nsafety:");
    y = with(y, "  - { name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }",
             "  - { name: f1, fault: power_loss, at: 1s, duration: 10s, target: { zone: z1 } }");
    return y + tail;
}

const std::string kVerify =
    "verify:\n  - { name: readback, probe: put, exec: \"get k- --prefix --keys-only\", in: h2 }\n";

TEST(PlanRecovery, AcknowledgesVerifyAndExpect) {
    Plan p = load_ok(recovery_plan(", acknowledges: \"k-{seq}\"", kVerify + "expect: { rto: 30s, rpo: 0 }\n"));
    ASSERT_EQ(p.probes.size(), 1u);
    EXPECT_EQ(p.probes[0].acknowledges, std::optional<std::string>("k-{seq}"));
    ASSERT_EQ(p.verify.size(), 1u);
    EXPECT_EQ(p.verify[0].name, "readback");
    EXPECT_EQ(p.verify[0].probe, "put");
    EXPECT_EQ(p.verify[0].in, "h2");
    EXPECT_FALSE(p.verify[0].per_record);
    EXPECT_EQ(p.expect.rto, std::optional<Duration>(std::chrono::seconds(30)));
    EXPECT_EQ(p.expect.rpo_records, std::optional<long long>(0));
    EXPECT_FALSE(p.expect.rpo_window);
}

TEST(PlanRecovery, PerRecordVerifyAndTimeWindowRpo) {
    Plan p = load_ok(recovery_plan(", acknowledges: \"k-{seq}\"",
                                   "verify:\n  - { name: each, probe: put, exec: \"get {ack}\", timeout: 5s }\n"
                                   "expect: { rpo: 2s }\n"));
    EXPECT_TRUE(p.verify[0].per_record);
    EXPECT_EQ(p.verify[0].in, "control");
    EXPECT_EQ(p.verify[0].timeout, std::chrono::seconds(5));
    EXPECT_EQ(p.expect.rpo_window, std::optional<Duration>(std::chrono::seconds(2)));
}

TEST(PlanRecovery, AcknowledgedRecordMustChangeWithSeq) {
    std::string y = recovery_plan(", acknowledges: \"same-key\"");
    expect_error(load(y), pos(y, "\"same-key\""), "steady_state.probes[0].acknowledges", "include {seq}");
}

TEST(PlanRecovery, VerifyNeedsAnAcknowledgingProbe) {
    std::string y = recovery_plan("", kVerify);
    expect_error(load(y), pos(y, "put, exec: \"get"), "verify[0].probe", "probe 'put' acknowledges nothing");
    y = recovery_plan(", acknowledges: \"k-{seq}\"", with(kVerify, "probe: put", "probe: pot"));
    expect_error(load(y), pos(y, "pot"), "verify[0].probe", "unknown probe 'pot' (probes: put)");
}

TEST(PlanRecovery, VerifyTemplateKnowsAckNotSeq) {
    std::string y = recovery_plan(", acknowledges: \"k-{seq}\"", with(kVerify, "--keys-only", "{seq}"));
    auto r = load(y);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(dump(r).find("verify[0].exec"), std::string::npos) << dump(r);
}

TEST(PlanRecovery, RpoNeedsAVerifyStepAndIsNotNegative) {
    std::string y = recovery_plan(", acknowledges: \"k-{seq}\"", "expect: { rpo: 0 }\n");
    expect_error(load(y), pos(y, "0 }"), "expect.rpo", "needs a verify step");
    y = recovery_plan(", acknowledges: \"k-{seq}\"", kVerify + "expect: { rpo: -3 }\n");
    expect_error(load(y), pos(y, "-3"), "expect.rpo", "rpo -3 is negative");
    y = recovery_plan(", acknowledges: \"k-{seq}\"", kVerify + "expect: { rpo: soon }\n");
    expect_error(load(y), pos(y, "soon"), "expect.rpo", "bad duration 'soon'");
}

TEST(PlanRecovery, RtoNeedsAServiceThatLosesPower) {
    std::string y = with(recovery_plan(", acknowledges: \"k-{seq}\"", "expect: { rto: 10s }\n"), "fault: power_loss",
                         "fault: sever");
    expect_error(load(y), pos(y, "10s }"), "expect.rto",
                 "no fault of this plan takes down a lab service and brings it back");
}

// --- what power feeds ---

TEST(PlanRecovery, PoweredLinksAndSwitches) {
    std::string y = with(kBase, "    - { name: z3 }", "    - { name: z3, switch_power_domain: z1 }");
    y = with(y, "  hosts:", "  links:\n    - { between: [z2, z3], power_domain: z1 }\n  hosts:");
    y = with(y, "  - { name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }",
             "  - { name: f1, fault: power_loss, at: 1s, duration: 10s, target: { zone: z1 } }");
    Plan p = load_ok(y);
    ASSERT_EQ(p.topology.links.size(), 1u);
    EXPECT_EQ(p.topology.links[0].a, "z2");
    EXPECT_EQ(p.topology.links[0].b, "z3");
    EXPECT_EQ(p.topology.links[0].power_domain, "z1");
    EXPECT_EQ(p.topology.zones[2].switch_power_domain, std::optional<std::string>("z1"));
    auto c = cascades(p.topology, p.method[0].target);
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0].str(), "switch of zone z3 (fed by z1)");
    EXPECT_EQ(c[1].str(), "link z2<->z3 (fed by z1)");
    // A host list darkens hosts, not their domain: nothing cascades.
    Selector hosts;
    hosts.hosts = {"h1"};
    EXPECT_TRUE(cascades(p.topology, hosts).empty());
}

TEST(PlanRecovery, PoweredLinkErrors) {
    auto links = [](const std::string& entry) {
        return with(kBase, "  hosts:", "  links:\n    - " + entry + "\n  hosts:");
    };
    std::string y = links("{ between: [z2, z9], power_domain: z1 }");
    expect_error(load(y), pos(y, "z9"), "topology.links[0].between[1]", "unknown zone 'z9'");
    y = links("{ between: [z2, z2], power_domain: z1 }");
    expect_error(load(y), pos(y, "[z2, z2]"), "topology.links[0].between", "two different zones");
    y = links("{ between: [z2], power_domain: z1 }");
    expect_error(load(y), pos(y, "[z2]"), "topology.links[0].between", "exactly two zones");
    y = links("{ between: [z2, z3], power_domain: ups-9 }");
    expect_error(load(y), pos(y, "ups-9"), "topology.links[0].power_domain", "unknown power domain 'ups-9'");
    y = links("{ between: [z2, z3] }");
    expect_error(load(y), pos(y, "{ between: [z2, z3] }"), "topology.links[0].power_domain", "missing required key");
    y = with(kBase, "    - { name: z3 }", "    - { name: z3, switch_power_domain: ups-9 }");
    expect_error(load(y), pos(y, "ups-9"), "topology.zones[2].switch_power_domain", "unknown power domain 'ups-9'");
}

}  // namespace
}  // namespace inj::plan::test
