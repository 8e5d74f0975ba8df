// The injector dying mid-fault, through the real binary: kill -9 of the runner while zone z0 is
// severed must let traffic flow again within 1 s with no other process acting (the tcx links die
// with the process), and `injector recover` must then leave the machine clean, idempotently.
// Also: recover exits 4 naming what it cannot remove, and the audit log records a whole run.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#include "common/audit.hpp"
#include "crash_support.hpp"
#include "lab/cgroup.hpp"
#include "lab/lab.hpp"
#include "plan/loader.hpp"

using namespace inj;
using namespace inj::crashtest;

namespace {

class CrashTest : public ::testing::Test {
protected:
    void SetUp() override {
        // recover must see the machine's real state, not a test's private one.
        ::unsetenv("INJECTOR_STATE_DIR");
        ASSERT_FALSE(tmp_.path().empty());
        audit_log_ = tmp_.path() + "/audit.jsonl";
        ::setenv("INJECTOR_AUDIT_LOG", audit_log_.c_str(), 1);
        ASSERT_EQ(leftovers(), "") << "the machine is not clean before the test (run `injector recover`)";
    }
    void TearDown() override {
        if (runner_ > 0 && process_alive(runner_)) kill9(runner_);
        // Whatever the test did, leave nothing behind.
        if (!leftovers().empty()) {
            auto r = cli({"recover"});
            std::fprintf(stderr, "teardown recover (exit %d):\n%s\n", r.exit_code, r.output.c_str());
        }
        EXPECT_EQ(leftovers(), "");
        ::unsetenv("INJECTOR_AUDIT_LOG");
    }

    // Writes the plan and loads it back with the real loader: addresses and lab id as the binary sees them.
    plan::Plan write_plan(const PlanSpec& s) {
        plan_file_ = tmp_.write(s.name + ".yaml", plan_yaml(s));
        auto r = plan::load_file(plan_file_);
        for (auto& e : r.errors) ADD_FAILURE() << e.str();
        return r.plan.value_or(plan::Plan{});
    }

    TempDir tmp_;
    std::string audit_log_;
    std::string plan_file_;
    pid_t runner_ = -1;
};

std::string addr_of(const plan::Plan& p, int host) { return p.topology.hosts.at(host).addresses.at(0).addr.str(); }

TEST_F(CrashTest, Kill9DuringFaultTrafficFlowsWithinOneSecondThenRecoverCleans) {
    INJ_REQUIRE_PRIVILEGE();
    PlanSpec spec;
    spec.name = "crash-kill";
    auto plan = write_plan(spec);
    ASSERT_EQ(plan.topology.hosts.size(), 3u);
    const std::string lab_id = lab::id_for(plan);
    const std::string h0_ns = netns_path("inj-" + lab_id + "-h0");
    const std::string h1 = addr_of(plan, 1);
    const std::string out = tmp_.path() + "/run.out";

    auto pid = start_run(plan_file_, out);
    ASSERT_TRUE(pid.ok()) << pid.error().message();
    runner_ = *pid;
    ASSERT_TRUE(wait_event(runner_, "inject", 60s)) << "no inject event; runner output:\n" << slurp(out);

    // The cut is real: h0 (zone z0) cannot open a connection to h1's etcd (zone z1).
    EXPECT_FALSE(tcp_connects(h0_ns, h1, 2379, 300ms)) << "the sever is not in force";

    auto killed_at = Clock::now();
    kill9(runner_);
    runner_ = -1;
    // With the runner gone, nothing else acts: the links die with its file descriptors.
    std::optional<Clock::duration> flowing;
    while (Clock::now() - killed_at < 3s) {
        if (tcp_connects(h0_ns, h1, 2379, 100ms)) {
            flowing = Clock::now() - killed_at;
            break;
        }
    }
    ASSERT_TRUE(flowing.has_value()) << "traffic across the cut did not return within 3 s of kill -9";
    double ms = std::chrono::duration<double, std::milli>(*flowing).count();
    std::printf("kill -9 -> traffic across the cut flows again: %.1f ms\n", ms);
    EXPECT_LT(ms, 1000.0) << "faults must stop within 1 s of the injector's death";

    // The lab itself (namespaces, etcd processes, cgroups) is still there: recover removes it.
    ASSERT_NE(leftovers(), "");
    auto r1 = cli({"recover"});
    EXPECT_EQ(r1.exit_code, 0) << r1.output;
    EXPECT_NE(r1.output.find("removed lab " + lab_id), std::string::npos) << r1.output;
    EXPECT_NE(r1.output.find("closed interrupted run"), std::string::npos) << r1.output;
    EXPECT_EQ(leftovers(), "");
    auto r2 = cli({"recover"});
    EXPECT_EQ(r2.exit_code, 0) << r2.output;
    EXPECT_NE(r2.output.find("nothing to recover"), std::string::npos) << r2.output;
}

// A removal that truly fails: a bind mount over a cgroup directory of ours makes its rmdir
// EBUSY (the kernel refuses to remove a mount point), which no retry can fix.
TEST_F(CrashTest, RecoverExitsFourNamingWhatItCannotRemove) {
    INJ_REQUIRE_PRIVILEGE();
    auto cg2 = lab::cgroup::v2_mount();
    ASSERT_TRUE(cg2.ok()) << cg2.error().message();
    const std::string parent = *cg2 + "/injector";
    const std::string busy = parent + "/crashbusy";
    const std::string src = tmp_.path() + "/mnt";
    ASSERT_TRUE(lab::cgroup::make(busy).ok());
    ::mkdir(src.c_str(), 0755);
    ASSERT_EQ(::mount(src.c_str(), busy.c_str(), nullptr, MS_BIND, nullptr), 0) << std::strerror(errno);
    struct Cleanup {
        std::string busy, parent;
        ~Cleanup() {
            ::umount2(busy.c_str(), MNT_DETACH);
            ::rmdir(busy.c_str());
            ::rmdir(parent.c_str());
        }
    } cleanup{busy, parent};

    auto r = cli({"recover"});
    EXPECT_EQ(r.exit_code, 4) << r.output;
    EXPECT_NE(r.output.find("could not remove cgroup " + busy), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Device or resource busy"), std::string::npos) << r.output;
    // The failure is in the audit log too.
    bool audited = false;
    for (auto& e : audit::read(audit_log_))
        audited |= e.action == "cgroup_remove" && e.result == "failed" && e.target.find(busy) != std::string::npos;
    EXPECT_TRUE(audited);

    ASSERT_EQ(::umount2(busy.c_str(), 0), 0) << std::strerror(errno);
    auto again = cli({"recover"});
    EXPECT_EQ(again.exit_code, 0) << again.output;
    EXPECT_NE(again.output.find("removed cgroup " + busy), std::string::npos) << again.output;
}

TEST_F(CrashTest, AuditLogRecordsEveryChangeOfARunAndStatusSummarisesIt) {
    INJ_REQUIRE_PRIVILEGE();
    PlanSpec spec;
    spec.name = "crash-audit";
    spec.fault_for = "1s";
    auto plan = write_plan(spec);
    auto r = cli({"--log-level", "warn", "run", plan_file_, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto text = r.output.substr(r.output.rfind("\n{") == std::string::npos ? 0 : r.output.rfind("\n{") + 1);
    auto report = nlohmann::json::parse(text, nullptr, false);
    ASSERT_FALSE(report.is_discarded()) << r.output;
    const std::string run_id = report.value("run", "");
    ASSERT_FALSE(run_id.empty());

    std::map<std::string, int> ok_of_run;
    for (auto& e : audit::read(audit_log_)) {
        EXPECT_EQ(e.result, "ok") << e.action << " " << e.target << ": " << e.error;
        EXPECT_EQ(e.run, run_id) << "record " << e.action << " " << e.target << " does not carry the run id";
        if (e.run == run_id && e.result == "ok") ++ok_of_run[e.action];
    }
    // Creations and removals of the lab, the program and its attachments, the fault itself.
    for (const char* a :
         {"cgroup_create", "volume_create", "netns_create", "link_create", "bridge_create", "route_add",
          "service_start", "bpf_prog_load", "tcx_attach", "arm", "disarm", "tcx_detach", "bpf_prog_unload",
          "cgroup_kill", "cgroup_remove", "link_delete", "netns_delete", "volume_remove", "state_remove"})
        EXPECT_GE(ok_of_run[a], 1) << "no '" << a << "' record of run " << run_id;
    EXPECT_EQ(ok_of_run["service_start"], 3);
    EXPECT_EQ(ok_of_run["arm"], 1);

    auto st = cli({"status"});
    EXPECT_EQ(st.exit_code, 0) << st.output;
    EXPECT_NE(st.output.find("last run " + run_id + ": "), std::string::npos) << st.output;
    EXPECT_NE(st.output.find("arm: 1 ok"), std::string::npos) << st.output;
    EXPECT_NE(st.output.find("last 24 h"), std::string::npos) << st.output;
}

}  // namespace
