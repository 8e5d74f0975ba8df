// Parsing what container runtimes and /proc say about a container, on captured files:
// podman 4.3 inspect (tests/data/containers/podman-*.json) and the Docker shape, captured with
// the docker 28.2 CLI against podman's Docker-compatible API (docker-compat-*.json).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/test_support.hpp"
#include "targets/container.hpp"
#include "targets/process.hpp"

namespace inj::targets {
namespace {

using Kind = ContainerRuntime::Kind;
const std::string kId = "146fd8a8dc92c42134fd77bf390f2620ac95d060b29b904da095e4152fd054fd";

std::string fixture(const std::string& name) {
    auto text = read_small_file(test::source_path("tests/data/containers/" + name));
    EXPECT_TRUE(text.ok()) << name;
    return text.ok() ? *text : std::string();
}

TEST(TargetsInspect, PodmanRunningWithInitAndABindMount) {
    auto c = parse_inspect(fixture("podman-init-none.json"), Kind::podman, "inj-test-explore");
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->id, kId);
    EXPECT_EQ(c->name, "inj-test-explore");
    EXPECT_EQ(c->status, "running");
    EXPECT_TRUE(c->running);
    EXPECT_FALSE(c->paused);
    EXPECT_EQ(c->pid, 985);
    EXPECT_TRUE(c->init);
    EXPECT_EQ(c->network_mode, "none");
    EXPECT_EQ(c->cgroup_parent, "/inj-test-explore");
    ASSERT_EQ(c->mounts.size(), 1u);
    EXPECT_EQ(c->mounts[0].source, "/tmp/inj-explore-vol");
    EXPECT_EQ(c->mounts[0].destination, "/data");
    EXPECT_TRUE(c->mounts[0].read_write);
}

TEST(TargetsInspect, PodmanJoinedNamespaceAndExited) {
    auto c = parse_inspect(fixture("podman-netns.json"), Kind::podman, "x");
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->network_mode, "ns:/run/netns/inj-test-explore-ns");
    EXPECT_TRUE(c->mounts.empty());
    auto e = parse_inspect(fixture("podman-exited.json"), Kind::podman, "x");
    ASSERT_TRUE(e.ok()) << e.error().message();
    EXPECT_EQ(e->status, "exited");
    EXPECT_FALSE(e->running);
    EXPECT_EQ(e->pid, 0);
    // An exited container is refused by name, saying what was looked for.
    auto r = resolve_inspected(*e, podman_runtime());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("container inj-test-explore2"), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("not running"), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("main pid"), std::string::npos) << r.error().message();
}

TEST(TargetsInspect, DockerShapeGivesTheSameFields) {
    auto c = parse_inspect(fixture("docker-compat-none.json"), Kind::docker, "inj-test-explore");
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->id, kId);
    EXPECT_EQ(c->name, "inj-test-explore");  // Docker's leading '/' dropped
    EXPECT_TRUE(c->running);
    EXPECT_EQ(c->pid, 985);
    EXPECT_EQ(c->network_mode, "none");
    ASSERT_EQ(c->mounts.size(), 1u);
    EXPECT_EQ(c->mounts[0].source, "/tmp/inj-explore-vol");
    EXPECT_EQ(c->mounts[0].destination, "/data");
}

TEST(TargetsInspect, DockerApiObjectWithoutTheArray) {
    std::string text = fixture("docker-compat-none.json");
    text = text.substr(text.find('{'));
    text = text.substr(0, text.rfind(']'));
    auto c = parse_inspect(text, Kind::docker, "x");
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->id, kId);
}

TEST(TargetsInspect, MalformedInspectIsAnErrorNamingTheContainer) {
    for (const char* bad : {"", "not json", "[]", "[{}, {}]", "42", "[{\"Id\": \"abc\"}]",
                            "[{\"Id\": \"146fd8a8dc92c42134fd77bf390f2620ac95d060b29b904da095e4152fd054fd\"}]",
                            "{\"Id\": \"146fd8a8dc92c42134fd77bf390f2620ac95d060b29b904da095e4152fd054fd\", "
                            "\"State\": {\"Pid\": -5}}"}) {
        auto c = parse_inspect(bad, Kind::podman, "web-1");
        ASSERT_FALSE(c.ok()) << bad;
        EXPECT_NE(c.error().message().find("container web-1"), std::string::npos) << c.error().message();
    }
    // Wrong types are ignored field by field, not a crash.
    auto c = parse_inspect("{\"Id\": \"" + kId +
                               "\", \"State\": {\"Pid\": \"12\", \"Running\": 1}, \"Mounts\": 3,"
                               " \"HostConfig\": []}",
                           Kind::docker, "w");
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->pid, 0);
    EXPECT_FALSE(c->running);
}

TEST(TargetsCgroup, OnlyTheContainersOwnCgroupCounts) {
    EXPECT_TRUE(is_container_cgroup("/inj-test-explore/libpod-" + kId, kId));
    EXPECT_TRUE(is_container_cgroup("/machine.slice/libpod-" + kId + ".scope", kId));
    EXPECT_TRUE(is_container_cgroup("/system.slice/docker-" + kId + ".scope", kId));
    EXPECT_TRUE(is_container_cgroup("/docker/" + kId, kId));
    EXPECT_TRUE(is_container_cgroup("/machine.slice/libpod-" + kId + ".scope/container", kId));
    EXPECT_FALSE(is_container_cgroup("/machine.slice/other.scope/container", kId));
    EXPECT_FALSE(is_container_cgroup("/container", kId));
    EXPECT_TRUE(is_container_cgroup("/inj-test-explore/libpod-" + kId + "/", kId));
    EXPECT_FALSE(is_container_cgroup("/", kId));
    EXPECT_FALSE(is_container_cgroup("", kId));
    EXPECT_FALSE(is_container_cgroup("/inj-test-explore", kId));
    EXPECT_FALSE(is_container_cgroup("/inj-test-explore/libpod-" + kId, ""));
    EXPECT_FALSE(is_container_cgroup("/inj-test-explore/libpod-" + kId + "/..", kId));
    EXPECT_FALSE(is_container_cgroup("/other/" + kId, kId));
    EXPECT_FALSE(is_container_cgroup("/inj-test-explore/libpod-" + std::string(64, 'a'), kId));
    EXPECT_FALSE(is_container_cgroup("/inj-test-explore/libpod-" + kId + "/conmon", kId));
}

TEST(TargetsProcfs, ProcCgroupOfAPodmanContainer) {
    auto m = parse_proc_cgroup(fixture("proc-cgroup-podman.txt"));
    const std::string want = "/inj-test-explore/libpod-" + kId;
    for (const char* h : {"unified", "freezer", "pids", "blkio", "cpu", "cpuacct", "name=systemd"})
        EXPECT_EQ(m[h], want) << h;
    auto joint = parse_proc_cgroup("4:cpu,cpuacct:/a:b\n0::/\nbroken line\n");
    EXPECT_EQ(joint["cpu"], "/a:b");
    EXPECT_EQ(joint["cpuacct"], "/a:b");
    EXPECT_EQ(joint["unified"], "/");
}

TEST(TargetsProcfs, CgroupMountsOfAHybridMachine) {
    auto m = parse_cgroup_mounts(fixture("mountinfo-hybrid.txt"));
    EXPECT_EQ(m["unified"], "/sys/fs/cgroup/unified");
    EXPECT_EQ(m["freezer"], "/sys/fs/cgroup/freezer");
    EXPECT_EQ(m["pids"], "/sys/fs/cgroup/pids");
    EXPECT_EQ(m["blkio"], "/sys/fs/cgroup/blkio");
    EXPECT_EQ(m["name=systemd"], "/sys/fs/cgroup/systemd");
    EXPECT_FALSE(m.count("tmpfs"));
    EXPECT_FALSE(m.count("rw"));
    // A v2-only machine, and a mount point with a blank (escaped as \040).
    auto v2 = parse_cgroup_mounts(
        "30 23 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
        "31 23 0:27 / /mnt/my\\040cg rw - cgroup cgroup rw,freezer\n");
    EXPECT_EQ(v2["unified"], "/sys/fs/cgroup");
    EXPECT_EQ(v2["freezer"], "/mnt/my cg");
}

TEST(TargetsProcfs, RootAndEscapingPaths) {
    for (const char* root : {"", "/", "//", "/.", "./", "a/../..", "/x/..", ".."})
        EXPECT_TRUE(is_root_or_escaping(root)) << root;
    for (const char* ok : {"system.slice/x.service", "/inj-test/a", "a", "./a"})
        EXPECT_FALSE(is_root_or_escaping(ok)) << ok;
}

TEST(TargetsProcess, PidfileParsing) {
    EXPECT_EQ(*parse_pidfile("1234\n", "/run/x.pid"), 1234);
    EXPECT_EQ(*parse_pidfile("  77  ", "/run/x.pid"), 77);
    for (const char* bad : {"", "\n", "12a", "-3", "0", "1 2", "99999999999", "0x10"}) {
        auto r = parse_pidfile(bad, "/run/x.pid");
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.error().message().find("/run/x.pid"), std::string::npos);
    }
}

TEST(TargetsProcess, CgroupBindingsAreCheckedAgainstTheHierarchies) {
    char tmpl[] = "/tmp/inj-cg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string root = tmpl;
    std::map<std::string, std::string> mounts = {{"freezer", root + "/freezer"}, {"pids", root + "/pids"}};
    for (auto& d : {"/freezer", "/freezer/system.slice", "/freezer/system.slice/x.service", "/pids"})
        ASSERT_EQ(::mkdir((root + d).c_str(), 0755), 0) << d;
    auto ok = resolve_cgroup_in("system.slice/x.service", mounts);
    ASSERT_TRUE(ok.ok()) << ok.error().message();
    EXPECT_EQ(ok->size(), 1u);
    EXPECT_EQ((*ok)["freezer"], root + "/freezer/system.slice/x.service");
    auto missing = resolve_cgroup_in("system.slice/y.service", mounts);
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message().find("no such cgroup"), std::string::npos) << missing.error().message();
    EXPECT_NE(missing.error().message().find("y.service"), std::string::npos);
    for (const char* root_path : {"", "/", "system.slice/..", "../freezer"}) {
        auto r = resolve_cgroup_in(root_path, mounts);
        ASSERT_FALSE(r.ok()) << root_path;
        EXPECT_NE(r.error().message().find("refused"), std::string::npos) << r.error().message();
    }
    for (auto& d : {"/freezer/system.slice/x.service", "/freezer/system.slice", "/freezer", "/pids", ""})
        ::rmdir((root + d).c_str());
}

TEST(TargetsProcess, PidBindingsRefuseWhatIsNoTarget) {
    auto self = resolve_pid(::getpid());
    ASSERT_FALSE(self.ok());
    EXPECT_FALSE(resolve_pid(1).ok());
    EXPECT_FALSE(resolve_pid(0).ok());
    // A pid that is gone: a child reaped.
    pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int st;
    ::waitpid(child, &st, 0);
    auto gone = resolve_pid(child);
    ASSERT_FALSE(gone.ok());
    EXPECT_NE(gone.error().message().find("gone"), std::string::npos) << gone.error().message();
    auto nofile = resolve_pidfile("/nonexistent/inj.pid");
    ASSERT_FALSE(nofile.ok());
    EXPECT_NE(nofile.error().message().find("/nonexistent/inj.pid"), std::string::npos);
}

TEST(TargetsProcess, NetnsBindingMustBeANamespace) {
    auto r = resolve_netns("inj-no-such-ns-for-test");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("/run/netns/inj-no-such-ns-for-test"), std::string::npos) << r.error().message();
    auto notns = resolve_netns("/etc/hostname");
    ASSERT_FALSE(notns.ok());
    EXPECT_NE(notns.error().message().find("not a namespace"), std::string::npos);
    auto own = resolve_netns("/proc/self/ns/net");
    EXPECT_TRUE(own.ok());
}

}  // namespace
}  // namespace inj::targets
