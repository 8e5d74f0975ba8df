// Plan loader: degrade_storage faults (volume, latency, errors, full, read_only, limit), volatile
// volumes, and their errors at file:line:col, paths outside the declared volumes included.
#include <gtest/gtest.h>

#include <cerrno>

#include "plan_test_util.hpp"

namespace inj::plan::test {
namespace {

// kBase with a service holding volume `data` on h1 and h2, and `fault` as the only fault.
std::string storage_plan(const std::string& fault, const std::string& volume = "data") {
    std::string y = with(kBase, "safety:",
                         "lab:\n  services:\n    - { name: kv, hosts: [h1, h2], volume: " + volume +
                             ", command: \"kv --dir {volume}\" }\nsafety:");
    return with(y, "  - { name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }", "  - " + fault);
}

TEST(PlanStorage, EveryEffectIsRead) {
    Plan p = load_ok(storage_plan(
        "{ name: slow, fault: degrade_storage, at: 2s, duration: 20s, target: { host: h1 }, volume: data,\n"
        "      latency: { read: 5ms, write: { fixed: 20ms, jitter: 10ms }, fsync: 100ms, metadata: { fixed: 1ms } },\n"
        "      errors: [ { errno: EIO, probability: 0.25, ops: [write, fsync], path: \"wal/*\" },\n"
        "                { errno: EDQUOT } ],\n"
        "      full: true, read_only: false,\n"
        "      limit: { read_bps: 10MiB, write_bps: 512KiB/s, read_iops: 100, write_iops: 50 } }"));
    ASSERT_EQ(p.method.size(), 1u);
    const Fault& f = p.method[0];
    EXPECT_STREQ(f.kind(), "degrade_storage");
    const StorageDegrade& s = f.as<DegradeStorageSpec>()->disk;
    EXPECT_EQ(s.volume, "data");
    EXPECT_EQ(s.read.fixed, std::chrono::milliseconds(5));
    EXPECT_EQ(s.write.fixed, std::chrono::milliseconds(20));
    EXPECT_EQ(s.write.jitter, std::chrono::milliseconds(10));
    EXPECT_EQ(s.fsync.fixed, std::chrono::milliseconds(100));
    EXPECT_EQ(s.metadata.fixed, std::chrono::milliseconds(1));
    ASSERT_EQ(s.errors.size(), 2u);
    EXPECT_EQ(s.errors[0].err, EIO);
    EXPECT_EQ(s.errors[0].probability, 0.25);
    EXPECT_EQ(s.errors[0].ops, (std::vector<std::string>{"write", "fsync"}));
    EXPECT_EQ(s.errors[0].path, "wal/*");
    EXPECT_EQ(s.errors[1].err, EDQUOT);
    EXPECT_EQ(s.errors[1].probability, 1.0);
    EXPECT_TRUE(s.errors[1].ops.empty());
    EXPECT_TRUE(s.full);
    EXPECT_FALSE(s.read_only);
    EXPECT_EQ(s.read_bps, 10u * 1024 * 1024);
    EXPECT_EQ(s.write_bps, 512u * 1024);
    EXPECT_EQ(s.read_iops, 100u);
    EXPECT_EQ(s.write_iops, 50u);
    EXPECT_EQ(faultfs_volumes(p), (std::vector<std::pair<std::string, std::string>>{{"h1", "data"}}));
}

TEST(PlanStorage, VolatileVolumeIsServedThroughFaultfsOnEveryHost) {
    std::string y =
        with(kBase, "safety:",
             "lab:\n  services:\n    - { name: kv, hosts: [h1, h2], volume: { name: data, volatile: true }, "
             "command: \"kv --dir {volume}\" }\nsafety:");
    Plan p = load_ok(y);
    ASSERT_EQ(p.lab.services.size(), 1u);
    EXPECT_EQ(p.lab.services[0].volume, "data");
    EXPECT_TRUE(p.lab.services[0].volume_volatile);
    EXPECT_TRUE(volume_volatile(p, "h1", "data"));
    EXPECT_FALSE(volume_volatile(p, "h3", "data"));
    EXPECT_EQ(faultfs_volumes(p), (std::vector<std::pair<std::string, std::string>>{{"h1", "data"}, {"h2", "data"}}));
}

TEST(PlanStorage, VolatileMustBeABoolean) {
    std::string y = with(kBase, "safety:",
                         "lab:\n  services:\n    - { name: kv, hosts: [h1], volume: { name: data, volatile: maybe }, "
                         "command: \"kv\" }\nsafety:");
    expect_error(load(y), pos(y, "maybe"), "lab.services[0].volume.volatile", "expected true or false");
}

TEST(PlanStorage, ZoneTargetSelectsItsHosts) {
    Plan p =
        load_ok(storage_plan("{ name: s, fault: degrade_storage, duration: 5s, target: { zone: z1 }, volume: data, "
                             "read_only: true }"));
    EXPECT_TRUE(p.method[0].as<DegradeStorageSpec>()->disk.read_only);
    EXPECT_EQ(selected_hosts(p.topology, p.method[0].target), std::vector<std::string>{"h1"});
}

TEST(PlanStorage, PathsOutsideTheVolumeAreRefused) {
    struct Case {
        const char* path;
        const char* message;
    } cases[] = {
        {"/", "'/' is the root directory: it is outside the volumes this plan declares (volume data)"},
        {"/etc/*", "'/etc/*' is a system directory"},
        {"/usr", "'/usr' is a system directory"},
        {"/data/wal", "'/data/wal' is an absolute path"},
        {"../other/*", "leaves the volume through '..'"},
        {"wal/../../x", "leaves the volume through '..'"},
        {"~/x", "is outside the volumes this plan declares"},
        {".", "names the volume itself"},
    };
    for (auto& c : cases) {
        std::string y =
            storage_plan(std::string("{ name: s, fault: degrade_storage, duration: 5s, target: { host: h1 }, "
                                     "volume: data, errors: [ { errno: EIO, path: \"") +
                         c.path + "\" } ] }");
        expect_error(load(y), pos(y, std::string("\"") + c.path + "\""), "method[0].errors[0].path", c.message);
    }
}

TEST(PlanStorage, UnknownVolumeListsTheDeclaredOnes) {
    std::string y = storage_plan(
        "{ name: s, fault: degrade_storage, duration: 5s, target: { host: h1 }, volume: logs, "
        "full: true }");
    expect_error(load(y), pos(y, "logs"), "method[0].volume",
                 "unknown volume 'logs' (volumes the plan declares: data)");
}

TEST(PlanStorage, TargetHostWithoutTheVolumeIsRefused) {
    std::string y = storage_plan(
        "{ name: s, fault: degrade_storage, duration: 5s, target: { host: h3 }, volume: data, "
        "full: true }");
    expect_error(load(y), pos(y, "data, full"), "method[0].volume", "host 'h3' of the target has no volume 'data'");
}

TEST(PlanStorage, NoVolumeDeclaredAtAll) {
    std::string y =
        with(kBase, "  - { name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }",
             "  - { name: s, fault: degrade_storage, duration: 5s, target: { host: h1 }, volume: data, full: true }");
    expect_error(load(y), pos(y, "data"), "method[0].volume", "no lab service declares a volume");
}

TEST(PlanStorage, VolumeIsRequired) {
    std::string y = storage_plan("{ name: s, fault: degrade_storage, duration: 5s, target: { host: h1 }, full: true }");
    expect_error(load(y), pos(y, "{ name: s"), "method[0].volume", "missing required key 'volume'");
}

TEST(PlanStorage, AFaultThatDoesNothingIsRefused) {
    std::string y =
        storage_plan("{ name: s, fault: degrade_storage, duration: 5s, target: { host: h1 }, volume: data }");
    expect_error(load(y), pos(y, "{ name: s"), "method[0]", "needs at least one of latency, errors");
}

TEST(PlanStorage, UnknownErrnoAndOperation) {
    std::string y = storage_plan(
        "{ name: s, fault: degrade_storage, duration: 5s, target: { host: h1 }, volume: data, "
        "errors: [ { errno: EBROKEN, ops: [write, scribble] } ] }");
    auto r = load(y);
    expect_error(r, pos(y, "EBROKEN"), "method[0].errors[0].errno", "unknown errno 'EBROKEN'");
    expect_error(r, pos(y, "scribble"), "method[0].errors[0].ops[1]", "unknown operation 'scribble'");
}

TEST(PlanStorage, ProbabilityOutsideRange) {
    for (const char* p : {"0", "1.5", "-0.1"}) {
        std::string y =
            storage_plan(std::string("{ name: s, fault: degrade_storage, duration: 5s, target: { host: h1 }, "
                                     "volume: data, errors: [ { errno: EIO, probability: ") +
                         p + " } ] }");
        expect_error(load(y), pos_in(y, std::string("probability: ") + p, p), "method[0].errors[0].probability",
                     "is outside (0, 1]");
    }
}

TEST(PlanStorage, BadLatencyRateAndIops) {
    std::string y = storage_plan(
        "{ name: s, fault: degrade_storage, duration: 5s, target: { host: h1 }, volume: data, "
        "latency: { read: -5ms, fsync: 2m }, limit: { write_bps: 10 furlongs, read_iops: 0 } }");
    auto r = load(y);
    expect_error(r, pos(y, "-5ms"), "method[0].latency.read", "bad duration '-5ms'");
    expect_error(r, pos(y, "2m }"), "method[0].latency.fsync", "latency above 60s");
    expect_error(r, pos(y, "10 furlongs"), "method[0].limit.write_bps", "unknown unit 'furlongs'");
    expect_error(r, pos(y, "0 }"), "method[0].limit.read_iops", "iops 0 is outside");
}

TEST(PlanStorage, UnknownKeyAndCidrTarget) {
    std::string y = storage_plan(
        "{ name: s, fault: degrade_storage, duration: 5s, target: { cidr: 198.18.0.0/24 }, "
        "volume: data, full: true, share: 0.5 }");
    auto r = load(y);
    expect_error(r, pos(y, "cidr"), "method[0].target.cidr", "not CIDRs");
    expect_error(r, pos(y, "share"), "method[0].share", "unknown key 'share'");
}

TEST(PlanStorage, TooManyErrorRules) {
    std::string rules;
    for (int i = 0; i < 9; ++i) rules += std::string(i ? ", " : "") + "{ errno: EIO }";
    std::string y = storage_plan(
        "{ name: s, fault: degrade_storage, duration: 5s, target: { host: h1 }, volume: data, "
        "errors: [ " +
        rules + " ] }");
    expect_error(load(y), pos(y, "[ { errno"), "method[0].errors", "at most 8 error rules");
}

}  // namespace
}  // namespace inj::plan::test

namespace inj::plan::test {
namespace {

TEST(PlanStorage, SlowDiskExperimentDegradesOneMembersWal) {
    auto r = load_file(std::string(INJ_SOURCE_DIR) + "/experiments/slow-disk.yaml");
    ASSERT_TRUE(r.plan.has_value()) << dump(r);
    const Plan& p = *r.plan;
    ASSERT_EQ(p.method.size(), 1u);
    const Fault& f = p.method[0];
    EXPECT_STREQ(f.kind(), "degrade_storage");
    EXPECT_EQ(selected_hosts(p.topology, f.target), std::vector<std::string>{"kv-1"});
    EXPECT_EQ(f.as<DegradeStorageSpec>()->disk.volume, "etcd-data");
    EXPECT_GT(f.as<DegradeStorageSpec>()->disk.fsync.fixed.count(), 0);
    ASSERT_EQ(f.as<DegradeStorageSpec>()->disk.errors.size(), 1u);
    EXPECT_EQ(f.as<DegradeStorageSpec>()->disk.errors[0].errno_name, "EIO");
    EXPECT_EQ(f.as<DegradeStorageSpec>()->disk.errors[0].path, "member/wal/*");
    // Only the degraded member's volume goes through faultfs; the probes run from control.
    EXPECT_EQ(faultfs_volumes(p), (std::vector<std::pair<std::string, std::string>>{{"kv-1", "etcd-data"}}));
    for (auto& pr : p.probes) EXPECT_EQ(pr.in, "control");
}

}  // namespace
}  // namespace inj::plan::test
