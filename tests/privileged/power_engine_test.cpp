// PowerEngine on a real two-zone lab with a real TCP service (a standalone etcd) on each host:
// a power_loss of zone a kills or freezes a1's processes and makes it answer nobody (control, b1),
// while b1 keeps serving; the restore brings a1 back (a new process in its netns and cgroup after
// a kill, the same thawed one after a freeze) and records when it was ready again.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/netns.hpp"
#include "common/proc.hpp"
#include "common/tcp.hpp"
#include "faults/power_loss/power_engine.hpp"
#include "lab/lab.hpp"
#include "lab/targets.hpp"
#include "net/net_engine.hpp"
#include "support/lab_plans.hpp"
#include "support/test_support.hpp"
#include "targets/cgroups.hpp"

using namespace std::chrono_literals;

namespace inj::power {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;

// `zones` zones (a, b, c), one host each (a1, b1, c1), a standalone etcd member per host (starts
// in ~100 ms, answers TCP on 2379), one power_loss of zone a.
plan::Plan zoned(const std::string& name, plan::PowerMode mode, int zones = 2) {
    const std::vector<std::string> names{"a", "b", "c"};
    plan::Plan p = test::one_host_per_zone(name, {names.begin(), names.begin() + zones});
    plan::Service kv;
    kv.name = "kv";
    for (auto& h : p.topology.hosts) kv.hosts.push_back(h.name);
    kv.volume = "data";
    kv.port = 2379;
    // `exec`: the lab's pid is etcd itself, so "the service's pid" means the server process.
    kv.command =
        "exec etcd --name {host} --data-dir {volume} --listen-client-urls http://{addr}:2379 "
        "--advertise-client-urls http://{addr}:2379 --listen-peer-urls http://{addr}:2380 "
        "--initial-advertise-peer-urls http://{addr}:2380 --initial-cluster {host}=http://{addr}:2380";
    kv.ready.kind = plan::Check::Kind::tcp;
    kv.ready.target = "{addr}:2379";
    kv.ready.timeout = 20s;
    p.lab.services.push_back(kv);
    plan::Fault f;
    f.name = "dark-a";
    plan::PowerLossSpec spec;
    spec.mode = mode;
    f.spec = spec;
    f.duration = 30s;
    f.target.zones = {"a"};
    f.peer.rest = true;
    p.method.push_back(f);
    return p;
}
plan::Plan two_zones(const std::string& name, plan::PowerMode mode) { return zoned(name, mode, 2); }

using targets::cgroup_event;
using test::answers;  // on port 2379, etcd's client port
using test::read_file;

pid_t pid_of(const lab::LabState& l, const std::string& host) {
    for (auto& p : l.services)
        if (p.service == "kv" && p.host == host) return p.pid;
    return 0;
}

class PowerEngineTest : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        if (!run({"etcd", "--version"}, 10s).ok()) GTEST_SKIP() << "etcd is not installed";
    }
    void TearDown() override {
        if (power_) power_->release();
        if (net_) net_->release();
        power_.reset();
        net_.reset();
        targets_.reset();
        test::expect_lab_down(id_);
    }

    // Brings the lab up and prepares both engines as the runner does (net first).
    void start(const plan::Plan& plan) {
        plan_ = plan;
        id_ = lab::id_for(plan_);
        auto l = lab::up(plan_);
        ASSERT_TRUE(l.ok()) << l.error().message();
        lab_ = std::move(*l);
        net_.emplace();
        power_.emplace(*net_, nullptr);
        targets_ = std::make_unique<lab::LabTargets>(plan_, lab_);
        uint64_t run_deadline = monotonic_ns() + 120 * kSecond;
        auto n = net_->prepare(plan_, *targets_, run_deadline);
        ASSERT_TRUE(n.ok()) << n.error().message();
        auto p = power_->prepare(plan_, *targets_, run_deadline);
        ASSERT_TRUE(p.ok()) << p.error().message();
        a1_ = lab_.host("a1");
        b1_ = lab_.host("b1");
        ASSERT_NE(a1_, nullptr);
        ASSERT_NE(b1_, nullptr);
        a1_addr_ = a1_->addresses.at(0).addr.str();
        b1_addr_ = b1_->addresses.at(0).addr.str();
        // Before the cut, everyone answers everyone.
        ASSERT_TRUE(answers("", a1_addr_));
        ASSERT_TRUE(answers(b1_->netns, a1_addr_));
        ASSERT_TRUE(answers("", b1_addr_));
    }

    // While a1 is dark: it answers nobody, b1 still serves control.
    // Background restores done (bounded: the readiness timeout is 30 s).
    bool wait_settled() {
        for (int i = 0; i < 400 && !power_->settled(); ++i) std::this_thread::sleep_for(100ms);
        return power_->settled();
    }

    void expect_dark() {
        EXPECT_FALSE(answers("", a1_addr_)) << "a1 answered control while dark";
        EXPECT_FALSE(answers(b1_->netns, a1_addr_)) << "a1 answered b1 while dark";
        EXPECT_TRUE(answers("", b1_addr_)) << "b1 stopped serving control";
    }

    plan::Plan plan_;
    std::string id_;
    lab::LabState lab_;
    std::optional<net::NetEngine> net_;
    std::unique_ptr<lab::LabTargets> targets_;  // the view both engines act on
    std::optional<PowerEngine> power_;
    const lab::HostRuntime* a1_ = nullptr;
    const lab::HostRuntime* b1_ = nullptr;
    std::string a1_addr_, b1_addr_;
};

TEST_F(PowerEngineTest, KillDarkensZoneAndRestoreRestartsItsService) {
    ASSERT_NO_FATAL_FAILURE(start(two_zones("pwr-kill", plan::PowerMode::kill)));
    pid_t old_a1 = pid_of(lab_, "a1"), old_b1 = pid_of(lab_, "b1");
    ASSERT_GT(old_a1, 0);

    auto r = power_->inject(0, monotonic_ns() + 60 * kSecond);
    ASSERT_TRUE(r.ok()) << r.error().message();
    // Killed and reaped: the pid no longer exists, and a1's cgroup is empty.
    EXPECT_EQ(::kill(old_a1, 0), -1);
    EXPECT_EQ(errno, ESRCH);
    EXPECT_EQ(cgroup_event(a1_->cgroup, "populated"), 0);
    EXPECT_EQ(::kill(old_b1, 0), 0) << "b1's service was touched";
    expect_dark();

    auto h = power_->heal(0);
    ASSERT_TRUE(h.ok()) << h.error().message();
    ASSERT_TRUE(wait_settled());
    pid_t new_a1 = pid_of(targets_->state(), "a1");
    EXPECT_GT(new_a1, 0);
    EXPECT_NE(new_a1, old_a1);
    EXPECT_EQ(pid_of(targets_->state(), "b1"), old_b1);
    // The new process lives in a1's cgroup and network namespace.
    std::string cg = read_file("/proc/" + std::to_string(new_a1) + "/cgroup");
    std::string rel = a1_->cgroup.substr(a1_->cgroup.find("/injector/"));
    EXPECT_NE(cg.find(rel), std::string::npos) << cg << " vs " << a1_->cgroup;
    struct stat ns_proc {
    }, ns_host{};
    ASSERT_EQ(::stat(("/proc/" + std::to_string(new_a1) + "/ns/net").c_str(), &ns_proc), 0);
    ASSERT_EQ(::stat(netns_path(a1_->netns).c_str(), &ns_host), 0);
    EXPECT_EQ(ns_proc.st_ino, ns_host.st_ino);
    // It serves again, to control and to b1.
    EXPECT_TRUE(answers("", a1_addr_));
    EXPECT_TRUE(answers(b1_->netns, a1_addr_));
    // The state file knows the new pid (down and recover find it there).
    auto st = lab::load(id_);
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(pid_of(*st, "a1"), new_a1);
    // RTO recorded for the one service of the dark host.
    auto rec = power_->recoveries(0);
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_EQ(rec[0].service, "kv");
    EXPECT_EQ(rec[0].host, "a1");
    EXPECT_EQ(rec[0].pid, new_a1);
    EXPECT_TRUE(rec[0].ready) << rec[0].error;
    EXPECT_GT(rec[0].rto.count(), 0);
    EXPECT_LT(rec[0].rto, std::chrono::nanoseconds(20s));
}

TEST_F(PowerEngineTest, FreezeHangsTheHostAndThawKeepsTheSamePid) {
    ASSERT_NO_FATAL_FAILURE(start(two_zones("pwr-freeze", plan::PowerMode::freeze)));
    pid_t a1 = pid_of(lab_, "a1");
    ASSERT_GT(a1, 0);

    auto r = power_->inject(0, monotonic_ns() + 60 * kSecond);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(cgroup_event(a1_->cgroup, "frozen"), 1);
    EXPECT_EQ(cgroup_event(b1_->cgroup, "frozen"), 0);
    EXPECT_EQ(::kill(a1, 0), 0) << "a frozen process is alive";
    expect_dark();

    auto h = power_->heal(0);
    ASSERT_TRUE(h.ok()) << h.error().message();
    ASSERT_TRUE(wait_settled());
    EXPECT_EQ(cgroup_event(a1_->cgroup, "frozen"), 0);
    EXPECT_EQ(pid_of(targets_->state(), "a1"), a1);
    EXPECT_EQ(::kill(a1, 0), 0);
    EXPECT_TRUE(answers("", a1_addr_));
    EXPECT_TRUE(answers(b1_->netns, a1_addr_));
    auto rec = power_->recoveries(0);
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_EQ(rec[0].pid, a1);
    EXPECT_TRUE(rec[0].ready) << rec[0].error;
}

TEST_F(PowerEngineTest, HealAllOnAbortBringsTheHostBack) {
    ASSERT_NO_FATAL_FAILURE(start(two_zones("pwr-abort", plan::PowerMode::freeze)));
    auto r = power_->inject(0, monotonic_ns() + 60 * kSecond);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(cgroup_event(a1_->cgroup, "frozen"), 1);
    // The runner's abort order: net first (links back), then power (processes back).
    ASSERT_TRUE(net_->heal_all().ok());
    ASSERT_TRUE(power_->heal_all().ok());
    EXPECT_EQ(cgroup_event(a1_->cgroup, "frozen"), 0);
    EXPECT_TRUE(answers("", a1_addr_));
}

// heal() gives power back and returns: the restore (here staggered by far longer than any test
// waits) goes on in the background, settled() says so, and heal_all (the abort path) hurries it:
// every dark host is back, the ones not yet awaited recorded as such.
TEST_F(PowerEngineTest, StaggeredRestoreRunsInTheBackgroundAndAbortHurriesIt) {
    auto p = two_zones("pwr-stagger", plan::PowerMode::kill);
    p.method[0].target.zones = {"a", "b"};
    std::get<plan::PowerLossSpec>(p.method[0].spec).restore.order = {"a1", "b1"};
    std::get<plan::PowerLossSpec>(p.method[0].spec).restore.stagger = 600s;
    ASSERT_NO_FATAL_FAILURE(start(p));
    pid_t old_b1 = pid_of(lab_, "b1");
    ASSERT_TRUE(power_->inject(0, monotonic_ns() + 60 * kSecond).ok());
    EXPECT_FALSE(answers("", b1_addr_));

    ASSERT_TRUE(power_->heal(0).ok());
    EXPECT_FALSE(power_->settled()) << "the restore waits 600 s before b1: it cannot be over";
    // a1 comes back first, b1 stays dark while the stagger runs.
    bool a1_back = false;
    for (int i = 0; i < 100 && !a1_back; ++i) {
        a1_back = answers("", a1_addr_);
        if (!a1_back) std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(a1_back) << "a1 did not come back within 10 s";
    // Links came back at once (switches first); b1's servers wait for their turn.
    EXPECT_EQ(cgroup_event(b1_->cgroup, "populated"), 0) << "b1's service restarted before its stagger";

    ASSERT_TRUE(net_->heal_all().ok());
    ASSERT_TRUE(power_->heal_all().ok());
    EXPECT_TRUE(power_->settled());
    pid_t new_b1 = pid_of(targets_->state(), "b1");
    EXPECT_GT(new_b1, 0);
    EXPECT_NE(new_b1, old_b1);
    EXPECT_EQ(::kill(new_b1, 0), 0) << "b1's service was not restarted by heal_all";
    auto rec = power_->recoveries(0);
    ASSERT_EQ(rec.size(), 2u);
    EXPECT_EQ(rec[0].host, "a1");
    EXPECT_EQ(rec[1].host, "b1");
    EXPECT_FALSE(rec[1].ready);
    EXPECT_NE(rec[1].error.find("without awaiting"), std::string::npos) << rec[1].error;
}

// A powered link: a<->b is fed by c's power domain. Losing zone c darkens c1 and cuts a from b
// (both ways), while both keep serving control; when power returns, a and b talk again.
TEST_F(PowerEngineTest, LosingADomainCutsTheLinkItFeeds) {
    auto p = zoned("pwr-link", plan::PowerMode::kill, 3);
    p.topology.links.push_back({"a", "b", "c-p", {}});
    p.method[0].target.zones = {"c"};
    ASSERT_NO_FATAL_FAILURE(start(p));
    const auto* c1 = lab_.host("c1");
    ASSERT_NE(c1, nullptr);
    std::string c1_addr = c1->addresses.at(0).addr.str();
    ASSERT_TRUE(answers(a1_->netns, b1_addr_));

    ASSERT_TRUE(power_->inject(0, monotonic_ns() + 60 * kSecond).ok());
    EXPECT_FALSE(answers("", c1_addr)) << "c1 answered while dark";
    EXPECT_FALSE(answers(a1_->netns, b1_addr_)) << "a reached b over a dark link";
    EXPECT_FALSE(answers(b1_->netns, a1_addr_)) << "b reached a over a dark link";
    EXPECT_TRUE(answers("", a1_addr_)) << "a lost control: only its link to b is dark";
    EXPECT_TRUE(answers("", b1_addr_)) << "b lost control: only its link to a is dark";

    ASSERT_TRUE(power_->heal(0).ok());
    ASSERT_TRUE(wait_settled());
    EXPECT_TRUE(answers(a1_->netns, b1_addr_));
    EXPECT_TRUE(answers(b1_->netns, a1_addr_));
    EXPECT_TRUE(answers("", c1_addr));
}

// A powered switch: zone b's switch is fed by c's power domain. Losing zone c cuts every host of
// b off (from control and from a) although b1 keeps power: its process lives on.
TEST_F(PowerEngineTest, LosingADomainDarkensTheSwitchItFeeds) {
    auto p = zoned("pwr-switch", plan::PowerMode::kill, 3);
    p.topology.zones[1].switch_power_domain = "c-p";
    p.method[0].target.zones = {"c"};
    ASSERT_NO_FATAL_FAILURE(start(p));
    pid_t b1_pid = pid_of(lab_, "b1");

    ASSERT_TRUE(power_->inject(0, monotonic_ns() + 60 * kSecond).ok());
    EXPECT_FALSE(answers("", b1_addr_)) << "b1 answered control behind a dark switch";
    EXPECT_FALSE(answers(a1_->netns, b1_addr_)) << "b1 answered a1 behind a dark switch";
    EXPECT_TRUE(answers("", a1_addr_));
    EXPECT_EQ(::kill(b1_pid, 0), 0) << "b1 has power: its service must not be killed";

    ASSERT_TRUE(power_->heal(0).ok());
    ASSERT_TRUE(wait_settled());
    EXPECT_TRUE(answers("", b1_addr_));
    EXPECT_EQ(pid_of(targets_->state(), "b1"), b1_pid) << "b1 was restarted though it never lost power";
}

}  // namespace
}  // namespace inj::power
