// check_real_targets(): a fault on a host that is this machine is refused when it would cut the
// default route, sshd or a plan's interface/port entry; faults on other targets never are.
#include <gtest/gtest.h>

#include "net/compile.hpp"
#include "plan/loader.hpp"
#include "safety/protect_real.hpp"
#include "support/fake_targets.hpp"
#include "targets/targets.hpp"

using namespace inj;

namespace {

const char* kPlan = R"(name: local
topology:
  zones: [{ name: here }, { name: there }]
  hosts:
    - { name: me, zone: here, local: true, addresses: [192.0.2.2] }
    - { name: gw, zone: there, netns: other, cgroup: x, addresses: [192.0.2.1] }
    - { name: web, zone: there, netns: other2, cgroup: y, addresses: [198.19.250.9] }
safety:
  max_duration: 1m
method:
  - { name: f, fault: FAULT, at: 1s, duration: 2s, target: TARGET PEER}
)";

// Two hosts: `me` in the runner's own namespace, the others elsewhere.
class FakeTargets : public test::StaticTargets {
public:
    FakeTargets() {
        targets::Host me;
        me.name = "me";
        me.netns = "/proc/self/ns/net";
        me.judges = {{me.netns, "eth0", false}};
        targets::Host gw;
        gw.name = "gw";
        gw.netns = "/proc/1/ns/mnt";  // anything that is not this namespace
        gw.judges = {{gw.netns, "eth0", false}};
        targets::Host web = gw;
        web.name = "web";
        hosts_ = {me, gw, web};
    }
};

std::vector<std::string> check(const std::string& fault, const std::string& target, const std::string& peer,
                               const std::string& extra = "") {
    std::string text = kPlan;
    text.replace(text.find("FAULT"), 5, fault);
    text.replace(text.find("TARGET"), 6, target);
    text.replace(text.find("PEER"), 4, peer);
    if (!extra.empty()) text.replace(text.find("  max_duration: 1m\n"), 19, "  max_duration: 1m\n" + extra);
    auto r = plan::load_string(text, "t.yaml");
    EXPECT_TRUE(r.plan.has_value()) << (r.errors.empty() ? "" : r.errors[0].str());
    if (!r.plan) return {"load failed"};
    auto t = net::compile(*r.plan);
    EXPECT_TRUE(t.ok());
    safety::ProtectedList machine = safety::protected_from({{"eth0", IpAddr::parse("192.0.2.1")}}, {});
    return safety::check_real_targets(*r.plan, *t, FakeTargets(), machine, "/proc/self/ns/net");
}

}  // namespace

TEST(RealTargetsProtected, APowerLossOfThisMachineCutsItsDefaultRoute) {
    auto hits = check("power_loss", "{ host: me }", "");
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_NE(hits[0].find("fault f (t.yaml:"), std::string::npos) << hits[0];
    EXPECT_NE(hits[0].find("host me (this machine)"), std::string::npos) << hits[0];
    EXPECT_NE(hits[0].find("interface eth0"), std::string::npos) << hits[0];
}

TEST(RealTargetsProtected, APowerLossOfAnotherTargetIsNotThisMachines) {
    EXPECT_TRUE(check("power_loss", "{ host: web }", "").empty());
}

TEST(RealTargetsProtected, ASeverFromTheGatewayIsRefusedButFromAnotherPeerIsNot) {
    auto hits = check("sever", "{ host: me }", ", peer: { host: gw } ");
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_NE(hits[0].find("192.0.2.1"), std::string::npos) << hits[0];
    EXPECT_TRUE(check("sever", "{ host: me }", ", peer: { host: web } ").empty());
}

TEST(RealTargetsProtected, ThePlansOwnInterfaceEntryIsProtectedToo) {
    // Beside the default route, the refusal names the plan's own entry.
    auto hits = check("power_loss", "{ host: me }", "", "  protected: [{ interface: eth0 }, { port: 22 }]\n");
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_NE(hits[0].find("protected by the plan"), std::string::npos) << hits[0];
}

// Where a delay line's taps and rate classes can live: the one namespace every judge point
// shares, whether a fabric's ports or hosts' own interfaces; none when they are spread out.
TEST(RealTargetsJudges, OneSharedNamespaceOrNone) {
    FakeTargets spread;  // `me` here, the others in another namespace
    EXPECT_EQ(spread.judge_netns(), "");
    test::StaticTargets shared({spread.hosts()[1], spread.hosts()[2]});  // gw and web share one namespace
    EXPECT_EQ(shared.judge_netns(), "/proc/1/ns/mnt");
}
