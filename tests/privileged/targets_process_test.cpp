// Bindings to things started by other means, on a namespace and a cgroup the test made by hand:
// a process found by pid and by pidfile, the cgroup by its path, the namespace by name; and this
// machine itself (`local: true`).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "common/netns.hpp"
#include "common/proc.hpp"
#include "support/test_support.hpp"
#include "targets/process.hpp"

namespace inj::targets {
namespace {

using namespace std::chrono_literals;

class TargetsProcesses : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        auto mounts = cgroup_mounts();
        ASSERT_TRUE(mounts.count("freezer")) << "the freezer hierarchy is not mounted";
        ns_name_ = "inj-tgp-" + std::to_string(::getpid());
        cg_rel_ = "inj-test-proc-" + std::to_string(::getpid()) + "/svc";
        for (const char* h : {"freezer", "pids"}) {
            std::string top = mounts[h] + "/inj-test-proc-" + std::to_string(::getpid());
            ASSERT_EQ(::mkdir(top.c_str(), 0755), 0) << top;
            ASSERT_EQ(::mkdir((top + "/svc").c_str(), 0755), 0);
            dirs_.push_back(top);
        }
        auto r = run({"ip", "netns", "add", ns_name_}, 10s);
        ASSERT_TRUE(r.ok() && r->exit_code == 0);
        // The "service": a sleep in that namespace, in the freezer cgroup the test made, and moved
        // into the pids one too.
        SpawnSpec s;
        s.argv = {"sleep", "300"};
        s.netns = netns_path(ns_name_);
        s.cgroup_procs = dirs_[0] + "/svc/cgroup.procs";
        auto pid = spawn(s);
        ASSERT_TRUE(pid.ok()) << pid.error().message();
        pid_ = *pid;
        std::ofstream(dirs_[1] + "/svc/cgroup.procs") << pid_;
        pidfile_ = "/tmp/inj-test-proc-" + std::to_string(::getpid()) + ".pid";
        std::ofstream(pidfile_) << pid_ << "\n";
    }
    void TearDown() override {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            reap_children({pid_}, 2000ms);
        }
        for (auto& d : dirs_) {
            ::rmdir((d + "/svc").c_str());
            EXPECT_EQ(::rmdir(d.c_str()), 0) << d;
        }
        if (!ns_name_.empty()) (void)run({"ip", "netns", "del", ns_name_}, 10s);
        if (!pidfile_.empty()) ::unlink(pidfile_.c_str());
    }
    std::string ns_name_, cg_rel_, pidfile_;
    std::vector<std::string> dirs_;
    pid_t pid_ = 0;
};

TEST_F(TargetsProcesses, PidPidfileCgroupAndNamespaceResolveToWhatTheTestMade) {
    auto t = resolve_pid(pid_);
    ASSERT_TRUE(t.ok()) << t.error().message();
    EXPECT_TRUE(same_file(t->netns, netns_path(ns_name_)));
    EXPECT_EQ(t->cgroups["freezer"], dirs_[0] + "/svc");
    EXPECT_EQ(t->cgroups["pids"], dirs_[1] + "/svc");
    EXPECT_FALSE(t->cgroups.count("blkio")) << "the root blkio cgroup must be left out";

    auto f = resolve_pidfile(pidfile_);
    ASSERT_TRUE(f.ok()) << f.error().message();
    EXPECT_EQ(f->pid, pid_);

    auto cg = resolve_cgroup(cg_rel_);
    ASSERT_TRUE(cg.ok()) << cg.error().message();
    EXPECT_EQ((*cg)["freezer"], dirs_[0] + "/svc");
    EXPECT_EQ((*cg)["pids"], dirs_[1] + "/svc");
    EXPECT_FALSE(cg->count("blkio"));
    EXPECT_FALSE(resolve_cgroup("/").ok());
    EXPECT_FALSE(resolve_cgroup("inj-test-proc-none/x").ok());

    auto ns = resolve_netns(ns_name_);
    ASSERT_TRUE(ns.ok()) << ns.error().message();
    EXPECT_EQ(*ns, netns_path(ns_name_));
    auto ifs = interfaces_in(*ns);
    ASSERT_TRUE(ifs.ok()) << ifs.error().message();
    EXPECT_TRUE(ifs->empty()) << "a fresh namespace has only lo";

    // The process is gone: both bindings say so.
    ::kill(pid_, SIGKILL);
    reap_children({pid_}, 2000ms);
    auto gone = resolve_pidfile(pidfile_);
    ASSERT_FALSE(gone.ok());
    EXPECT_NE(gone.error().message().find("gone"), std::string::npos) << gone.error().message();
    EXPECT_NE(gone.error().message().find(pidfile_), std::string::npos) << gone.error().message();
    pid_ = 0;
}

TEST(TargetsLocal, ThisMachinesInterfacesAreWhatIpShows) {
    INJ_REQUIRE_PRIVILEGE();
    auto local = resolve_local();
    ASSERT_TRUE(local.ok()) << local.error().message();
    EXPECT_EQ(local->netns, "/proc/" + std::to_string(::getpid()) + "/ns/net");
    // `ip` in the same namespace (the test's, which is the machine's or, where pid 1's namespace
    // cannot be seen, the one the runner would take).
    auto ip = run({"ip", "-o", "link", "show"}, 10s);
    ASSERT_TRUE(ip.ok() && ip->exit_code == 0);
    std::vector<std::string> want;
    std::istringstream in(ip->output);
    for (std::string line; std::getline(in, line);) {
        // "2: eth0: <...>" or "5: veth0@if4: <...>"
        size_t a = line.find(": "), b = line.find(": ", a + 2);
        std::string name = line.substr(a + 2, b - a - 2);
        name = name.substr(0, name.find('@'));
        if (name != "lo") want.push_back(name);
    }
    EXPECT_EQ(local->interfaces, want);
}

}  // namespace
}  // namespace inj::targets
