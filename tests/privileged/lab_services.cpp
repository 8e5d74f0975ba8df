// Lab services: started inside their host's namespace and cgroup, waited for, killed by down;
// a readiness failure removes the whole lab; a lab can be taken down from its state file alone.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/netns.hpp"
#include "common/proc.hpp"
#include "lab/lab.hpp"
#include "lab/ready.hpp"
#include "privileged/lab_support.hpp"
#include "support/test_support.hpp"

namespace inj::lab::test {
namespace {

plan::Service service(const std::string& name, std::vector<std::string> hosts, const std::string& cmd) {
    plan::Service s;
    s.name = name;
    s.hosts = std::move(hosts);
    s.command = cmd;
    return s;
}

ino_t inode_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

class LabServices : public LabFixture {};

TEST_F(LabServices, RunInTheirHostNamespaceAndCgroupAndDieWithDown) {
    INJ_REQUIRE_PRIVILEGE();
    auto plan = make_plan("lab-test-services", {{"east", {"e1"}}, {"west", {"w1"}}});
    auto web = service("web", {"e1", "w1"}, "exec /usr/bin/python3 -m http.server --bind {addr} 8080");
    web.volume = "www";
    web.ready.kind = plan::Check::Kind::tcp;
    web.ready.target = "{addr}:8080";
    web.ready.timeout = std::chrono::seconds(20);
    plan.lab.services.push_back(web);
    auto probe = service("marker", {"e1"}, "echo lab={lab} vol={volume} > {volume}/marker; exec sleep 1000");
    probe.volume = "data";
    probe.ready.kind = plan::Check::Kind::exec;
    probe.ready.target = "test -s {volume}/marker";
    plan.lab.services.push_back(probe);

    auto lab = bring_up(plan);
    ASSERT_TRUE(lab.ok()) << lab.error().message();
    const LabState& s = *lab;
    ASSERT_EQ(s.services.size(), 3u);
    for (auto& p : s.services) {
        const HostRuntime* h = s.host(p.host);
        ASSERT_NE(h, nullptr);
        ASSERT_TRUE(process_alive(p.pid)) << p.service << " on " << p.host;
        EXPECT_EQ(inode_of("/proc/" + std::to_string(p.pid) + "/ns/net"), inode_of(netns_path(h->netns)))
            << p.service << " on " << p.host << " is not in its host's namespace";
        std::string cg = slurp("/proc/" + std::to_string(p.pid) + "/cgroup");
        // <cgroup2>/injector/<lab>/<power domain>/<host>, as the process sees it.
        EXPECT_NE(h->cgroup.find("/injector/" + s.id + "/"), std::string::npos) << h->cgroup;
        EXPECT_NE(cg.find("::" + h->cgroup.substr(h->cgroup.find("/injector/")) + "\n"), std::string::npos) << cg;
    }
    // Templates saw the lab: {lab} and {volume} expanded to the lab's id and volume directory.
    std::string marker = slurp(s.volume_path("e1", "data") + "/marker");
    EXPECT_EQ(marker, "lab=" + s.id + " vol=" + s.volume_path("e1", "data") + "\n");
    EXPECT_TRUE(std::filesystem::is_directory(s.volume_path("w1", "www")));
    // The readiness check really passed: the server answers from the control position.
    auto answer = ready::try_connect(s.host("w1")->addresses[0].addr.str(), 8080, std::chrono::seconds(2));
    EXPECT_TRUE(answer.ok()) << answer.error().message();

    ASSERT_TRUE(down(s).ok());
    for (auto& p : s.services) EXPECT_FALSE(process_alive(p.pid)) << p.service << " on " << p.host << " survived down";
    EXPECT_FALSE(std::filesystem::exists(s.volume_path("e1", "data")));
    auto left = leftovers(s);
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->empty()) << left->front();
}

// After down, the killed services are gone, not zombies of the process that started them (the
// runner would hold them until it exits). Several hosts, so a late exit is likely to show.
TEST_F(LabServices, DownReapsTheServicesItKilled) {
    INJ_REQUIRE_PRIVILEGE();
    auto plan = make_plan("lab-test-reap", {{"east", {"e1", "e2", "e3"}}, {"west", {"w1", "w2", "w3"}}});
    plan.lab.services.push_back(service("sleeper", {"e1", "e2", "e3", "w1", "w2", "w3"}, "exec sleep 1000"));
    auto lab = bring_up(plan);
    ASSERT_TRUE(lab.ok()) << lab.error().message();
    ASSERT_EQ(lab->services.size(), 6u);
    // A process of the lab that its state does not list (as a service restarted after a power
    // cut may be), started by this process in a host's cgroup.
    SpawnSpec extra;
    extra.argv = {"sleep", "1000"};
    extra.cgroup_procs = lab->host("e2")->cgroup + "/cgroup.procs";
    extra.die_with_parent = true;
    auto xpid = spawn(extra);
    ASSERT_TRUE(xpid.ok()) << xpid.error().message();
    auto all = lab->services;
    all.push_back({"extra", "e2", *xpid, ""});
    ASSERT_TRUE(down(*lab).ok());
    for (auto& p : all) {
        // A zombie keeps its /proc entry and is still waitable; a reaped process has neither.
        EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(p.pid))) << p.host << " pid " << p.pid;
        errno = 0;
        EXPECT_EQ(::waitpid(p.pid, nullptr, WNOHANG), -1) << p.host << " pid " << p.pid << " was left to reap";
        EXPECT_EQ(errno, ECHILD);
    }
}

TEST_F(LabServices, ReadinessFailureNamesServiceHostAndLogAndRemovesTheLab) {
    INJ_REQUIRE_PRIVILEGE();
    auto plan = make_plan("lab-test-not-ready", {{"z", {"n1", "n2"}}});
    auto svc = service("never", {"n1", "n2"}, "echo starting {host} but never listening; exec sleep 1000");
    svc.ready.kind = plan::Check::Kind::tcp;
    svc.ready.target = "{addr}:2379";
    svc.ready.timeout = std::chrono::seconds(2);
    plan.lab.services.push_back(svc);

    auto t0 = std::chrono::steady_clock::now();
    auto lab = bring_up(plan);
    auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(lab.ok());
    std::string msg = lab.error().message();
    EXPECT_NE(msg.find("service never on n1 not ready after 2s"), std::string::npos) << msg;
    EXPECT_NE(msg.find("starting n1 but never listening"), std::string::npos) << "log tail missing: " << msg;
    auto log_at = msg.find("log: ");
    ASSERT_NE(log_at, std::string::npos) << msg;
    std::string log = msg.substr(log_at + 5, msg.find_first_of("\n ", log_at + 5) - (log_at + 5));
    EXPECT_EQ(log, failed_logs_dir(id_for(plan)) + "/never-n1.log");
    EXPECT_NE(slurp(log).find("starting n1"), std::string::npos) << "log kept at " << log;
    EXPECT_LT(took, std::chrono::seconds(10)) << "the 2s timeout was not honoured";
    EXPECT_TRUE(traces_of(id_for(plan)).empty()) << traces_of(id_for(plan)).front();
    EXPECT_TRUE(list().empty());
}

TEST_F(LabServices, DownFromTheStateFileAloneAfterTheRunnerIsGone) {
    INJ_REQUIRE_PRIVILEGE();
    auto plan = make_plan("lab-test-crashed-runner", {{"a", {"a1"}}, {"b", {"b1"}}});
    plan.lab.services.push_back(service("sleeper", {"a1", "b1"}, "exec sleep 1000"));
    std::string id;
    std::vector<pid_t> pids;
    {
        auto lab = bring_up(plan);
        ASSERT_TRUE(lab.ok()) << lab.error().message();
        id = lab->id;
        for (auto& p : lab->services) pids.push_back(p.pid);
    }  // the LabState is gone, as it is when the runner crashed
    ASSERT_EQ(pids.size(), 2u);
    auto ids = list();
    ASSERT_EQ(ids, std::vector<std::string>{id});
    auto st = load(id);
    ASSERT_TRUE(st.ok()) << st.error().message();
    EXPECT_EQ(st->phase, "up");
    ASSERT_EQ(st->services.size(), 2u);
    EXPECT_EQ(st->services[0].pid, pids[0]);
    auto d = down(*st);
    ASSERT_TRUE(d.ok()) << d.error().message();
    for (pid_t p : pids) EXPECT_FALSE(process_alive(p)) << p;
    auto left = leftovers(*st);
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->empty()) << left->front();
    EXPECT_TRUE(list().empty());
}

TEST_F(LabServices, DownRemovesAHalfBuiltLab) {
    INJ_REQUIRE_PRIVILEGE();
    // A runner that crashed mid-up leaves a state file and part of the lab: here the lab is up
    // without services, then one host namespace and the root link are removed behind its back.
    auto plan = make_plan("lab-test-half-built", {{"a", {"a1", "a2"}}});
    auto lab = bring_up(plan, UpOptions{.start_services = false});
    ASSERT_TRUE(lab.ok()) << lab.error().message();
    ASSERT_EQ(run({"ip", "netns", "del", lab->host("a2")->netns}, std::chrono::seconds(10))->exit_code, 0);
    ASSERT_EQ(run({"ip", "link", "del", lab->control_if}, std::chrono::seconds(10))->exit_code, 0);
    auto st = load(lab->id);
    ASSERT_TRUE(st.ok());
    auto d = down(*st);
    ASSERT_TRUE(d.ok()) << d.error().message();
    auto left = leftovers(*st);
    ASSERT_TRUE(left.ok());
    EXPECT_TRUE(left->empty()) << left->front();
}

}  // namespace
}  // namespace inj::lab::test
