// The injector dying while a disk is degraded, through the real binary: kill -9 of the runner
// while h0's volume fails every write must leave h0's faultfs serving a plain passthrough within
// a second (its daemon watches the run and clears the faults by itself), and `injector recover`
// must then unmount it with the rest of the lab.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "crash_support.hpp"
#include "faultfs/faultfs.hpp"
#include "lab/lab.hpp"
#include "plan/loader.hpp"

using namespace inj;
using namespace inj::crashtest;

namespace {

// crash_support's two-zone etcd plan with its sever replaced by a bad disk on h0: writes to
// files named probe* in the volume fail with EIO (etcd's own files are left alone, so the lab
// stays healthy and the probe keeps passing).
std::string storage_plan(const PlanSpec& s) {
    std::string y = plan_yaml(s);
    y = y.substr(0, y.find("method:\n"));
    y += "method:\n  - name: bad-disk\n    fault: degrade_storage\n    at: " + s.fault_at +
         "\n    duration: " + s.fault_for +
         "\n    target: { host: h0 }\n    volume: etcd-data\n"
         "    errors: [ { errno: EIO, ops: [write], path: \"probe*\" } ]\n"
         "safety:\n  max_duration: " +
         s.max_duration + "\n";
    return y;
}

// dd of one block into the file; true when it succeeded.
bool write_ok(const std::string& file) {
    auto r = run({"dd", "if=/dev/zero", "of=" + file, "bs=4k", "count=1", "status=none"}, 10s);
    return r && r->exit_code == 0;
}

TEST(CrashStorage, Kill9WhileADiskIsDegradedClearsItsFaultsThenRecoverUnmounts) {
    INJ_REQUIRE_PRIVILEGE();
    ::unsetenv("INJECTOR_STATE_DIR");
    TempDir tmp;
    ASSERT_EQ(leftovers(), "") << "the machine is not clean before the test (run `injector recover`)";
    ::setenv("INJECTOR_AUDIT_LOG", (tmp.path() + "/audit.jsonl").c_str(), 1);
    PlanSpec spec;
    spec.name = "crash-disk";
    spec.zones = 2;
    std::string file = tmp.write("crash-disk.yaml", storage_plan(spec));
    auto loaded = plan::load_file(file);
    for (auto& e : loaded.errors) ADD_FAILURE() << e.str();
    ASSERT_TRUE(loaded.plan.has_value());
    const std::string lab_id = lab::id_for(*loaded.plan);
    const std::string out = tmp.path() + "/run.out";

    auto pid = start_run(file, out);
    ASSERT_TRUE(pid.ok()) << pid.error().message();
    pid_t runner = *pid;
    ASSERT_TRUE(wait_event(runner, "inject", 60s)) << "no inject event; runner output:\n" << slurp(out);
    auto st = lab::load(lab_id);
    ASSERT_TRUE(st.ok()) << st.error().message();
    ASSERT_EQ(st->faultfs.size(), 1u);
    const std::string probe = st->volume_path("h0", "etcd-data") + "/probe.bin";
    EXPECT_FALSE(write_ok(probe)) << "the fault is not in force";

    auto killed_at = Clock::now();
    kill9(runner);
    std::optional<Clock::duration> cleared;
    while (Clock::now() - killed_at < 3s) {
        if (write_ok(probe)) {
            cleared = Clock::now() - killed_at;
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    ASSERT_TRUE(cleared.has_value()) << "writes still fail 3 s after kill -9 of the runner";
    double ms = std::chrono::duration<double, std::milli>(*cleared).count();
    std::printf("kill -9 -> the degraded volume writes again: %.1f ms\n", ms);
    EXPECT_LT(ms, 1000.0);
    // The daemon outlived the runner and still serves (it is the lab's to unmount).
    EXPECT_NE(faultfs::daemon_of(st->faultfs[0].path), 0);

    auto r = cli({"recover"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("removed lab " + lab_id), std::string::npos) << r.output;
    EXPECT_TRUE(faultfs::mounts().empty());
    EXPECT_TRUE(faultfs::daemons().empty());
    EXPECT_EQ(leftovers(), "");
    ::unsetenv("INJECTOR_AUDIT_LOG");
}

}  // namespace
