// Whole drills on what already exists: real Podman containers (scripts/demo-containers.sh, under
// a test prefix and range of its own), processes in a namespace and cgroup the test made by hand,
// and this machine's own protected interface. Each proves its fault with real traffic, and that
// the targets serve again afterwards without a manual step, including after kill -9 of the runner.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "common/netns.hpp"
#include "common/paths.hpp"
#include "common/proc.hpp"
#include "common/tcp.hpp"
#include "privileged/run_support.hpp"
#include "targets/process.hpp"
#include "targets/watcher.hpp"

namespace inj::test {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// The demo world under names and addresses no demo a person left up would use.
constexpr const char* kDemo = "injtdemo";
constexpr const char* kNet = "198.19.249";

Result<RunResult> demo(const std::string& verb) {
    std::string cmd = std::string("DEMO=") + kDemo + " DEMO_NET=" + kNet + " DEMO_DATA=/tmp/" + kDemo + "-data " +
                      source_path("scripts/demo-containers.sh") + " " + verb;
    return run_shell(cmd, 120s);
}

// An experiment rewritten onto the test's demo world, written next to the build.
std::string rewritten(const std::string& experiment, const std::vector<std::pair<std::string, std::string>>& more = {}) {
    std::ifstream in(source_path(experiment));
    std::string text((std::istreambuf_iterator<char>(in)), {});
    text = std::regex_replace(text, std::regex("injdemo"), kDemo);
    text = std::regex_replace(text, std::regex("198\\.19\\.250\\."), std::string(kNet) + ".");
    for (auto& [from, to] : more) text = std::regex_replace(text, std::regex(from), to);
    std::string path = binary_path("tests/" + fs::path(experiment).filename().string());
    std::ofstream(path) << text;
    return path;
}

std::string podman_status(const std::string& name) {
    auto r = run({"podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file", "inspect",
                  "-f", "{{.State.Status}}", name},
                 30s);
    if (!r || r->exit_code != 0) return "?";
    std::string s = r->output;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// A TCP connect from the demo's client namespace.
bool answers(const std::string& ip, int port) {
    auto g = NetnsGuard::enter(netns_path(std::string(kDemo) + "-cli"));
    return g && tcp_connect(*IpAddr::parse(ip), port, 500ms).ok();
}

bool await(const std::function<bool()>& cond, std::chrono::seconds bound) {
    auto until = Clock::now() + bound;
    while (Clock::now() < until) {
        if (cond()) return true;
        std::this_thread::sleep_for(100ms);
    }
    return cond();
}

class RealTargets : public ::testing::Test {
protected:
    void SetUp() override {
        auto r = demo("up");
        ASSERT_TRUE(r.ok() && r->exit_code == 0) << (r ? r->output : r.error().message());
    }
    void TearDown() override {
        auto r = demo("down");
        EXPECT_TRUE(r.ok() && r->exit_code == 0) << (r ? r->output : r.error().message());
        EXPECT_EQ(leftovers(), "");
    }
    std::string ip(int last) const { return std::string(kNet) + "." + std::to_string(last); }
    std::string container(const std::string& what) const { return std::string(kDemo) + "-" + what; }
    // The cgroup v2 directory the power engine freezes (cgroup.freeze) for a demo container; a
    // frozen state read there is the freeze itself (a failed TCP connect may only be the cut).
    std::string freeze_dir(const std::string& name) const {
        auto id = run({"podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                       "inspect", "-f", "{{.Id}}", name},
                      30s);
        EXPECT_TRUE(id && id->exit_code == 0);
        return std::string("/sys/fs/cgroup/unified/") + kDemo + "/libpod-" + (id ? id->output.substr(0, 64) : "?");
    }
};

TEST_F(RealTargets, ContainersZonePowerHoldsWithItsRtoAndNothingLost) {
    auto r = run_plan(rewritten("experiments/containers-zone-power.yaml"));
    expect_verdict(r, "held");
    // The dark container came back through the runtime, within the RTO, and served again.
    auto& faults = r.report["faults"];
    ASSERT_EQ(faults.size(), 1u) << r.output;
    auto& recs = faults[0]["recoveries"];
    ASSERT_EQ(recs.size(), 1u) << r.output;
    EXPECT_EQ(recs[0]["service"], container("etcd-a"));
    EXPECT_TRUE(recs[0]["ready"].get<bool>()) << recs.dump();
    // Traffic proved the cut: the classifier at the containers' own interfaces dropped packets.
    EXPECT_GT(faults[0].value("dropped", 0), 0) << faults[0].dump();
    ASSERT_EQ(r.report["verify"].size(), 1u);
    EXPECT_GT(r.report["verify"][0].value("acknowledged", 0), 10);
    EXPECT_TRUE(r.report["verify"][0]["missing"].empty()) << r.report["verify"].dump();
    EXPECT_EQ(podman_status(container("etcd-a")), "running");
    EXPECT_TRUE(answers(ip(11), 2379));
}

// The same drill in fleet mode: one agent per container (here all on this machine, in its own
// namespace) resolves its own host's binding and runs the power loss on it; the controller
// resolves nothing and keeps no watcher. Same verdict, RTO and RPO as in local mode.
// A fleet on this machine: an etcd on loopback and one `injector agent` per container host.
class LoopbackFleet {
public:
    LoopbackFleet()
        : port_(32000 + getpid() % 4000 * 2),
          eps_("127.0.0.1:" + std::to_string(port_)),
          dir_(binary_path("tests/fleet-containers-" + std::to_string(getpid()))) {
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    ~LoopbackFleet() {
        stop_all();
        fs::remove_all(dir_);
    }
    // etcd, then the agents of kv-1..3, registered; false (with a failure) when not.
    bool up() {
        const std::string peer = "http://127.0.0.1:" + std::to_string(port_ + 1);
        start({"etcd", "--name", "fleet", "--data-dir", dir_ + "/etcd", "--listen-client-urls", "http://" + eps_,
               "--advertise-client-urls", "http://" + eps_, "--listen-peer-urls", peer, "--initial-advertise-peer-urls",
               peer, "--initial-cluster", "fleet=" + peer},
              "etcd");
        if (!await([&] { return tcp_connect(*IpAddr::parse("127.0.0.1"), port_, 200ms).ok(); }, 30s)) {
            ADD_FAILURE() << "the fleet etcd did not come up: " << log("etcd");
            return false;
        }
        for (auto h : {"kv-1", "kv-2", "kv-3"})
            agents_[h] = start({binary_path("injector/injector"), "agent", "--etcd", eps_, "--host", h},
                               std::string("agent-") + h);
        std::this_thread::sleep_for(2s);  // registered (the controller refuses, naming them, otherwise)
        return true;
    }
    pid_t start(std::vector<std::string> argv, const std::string& name) {
        SpawnSpec s;
        s.argv = std::move(argv);
        s.output = dir_ + "/" + name + ".log";
        s.die_with_parent = true;
        auto pid = spawn(s);
        EXPECT_TRUE(pid.ok()) << pid.error().message();
        if (!pid) return 0;
        started_.push_back(*pid);
        return *pid;
    }
    void stop_all() {
        for (pid_t p : started_) ::kill(p, SIGTERM);
        for (pid_t p : started_) {
            for (int i = 0; i < 150 && ::waitpid(p, nullptr, WNOHANG) == 0; ++i) std::this_thread::sleep_for(100ms);
            if (::waitpid(p, nullptr, WNOHANG) == 0) {
                ::kill(p, SIGKILL);
                ::waitpid(p, nullptr, 0);
            }
        }
        started_.clear();
    }
    std::string log(const std::string& name) const {
        std::ifstream in(dir_ + "/" + name + ".log");
        return std::string((std::istreambuf_iterator<char>(in)), {});
    }
    const std::string& endpoints() const { return eps_; }
    pid_t agent(const std::string& host) const { return agents_.at(host); }

private:
    int port_;
    std::string eps_, dir_;
    std::vector<pid_t> started_;
    std::map<std::string, pid_t> agents_;
};

TEST_F(RealTargets, ContainersZonePowerThroughAgentsGivesTheSameVerdict) {
    LoopbackFleet fleet;
    ASSERT_TRUE(fleet.up());
    auto r = run_plan(rewritten("experiments/containers-zone-power.yaml"), {"--fleet", fleet.endpoints()});
    fleet.stop_all();
    const std::string log = fleet.log("agent-kv-1");
    expect_verdict(r, "held");
    auto& f = r.report["faults"][0];
    EXPECT_EQ(f["engine"]["activation"]["agents_confirmed"].get<int>(), 1) << "the dark container's" << f.dump();
    ASSERT_EQ(f["recoveries"].size(), 1u) << r.output << log;
    EXPECT_EQ(f["recoveries"][0]["service"], container("etcd-a"));
    EXPECT_TRUE(f["recoveries"][0]["ready"].get<bool>()) << f.dump();
    EXPECT_GT(f.value("dropped", 0), 0) << f.dump();
    EXPECT_TRUE(r.report["verify"][0]["missing"].empty()) << r.report["verify"].dump();
    EXPECT_NE(log.find("prepared on host kv-1 of bound targets (podman container " + container("etcd-a") + ")"), std::string::npos) << log;
    EXPECT_EQ(podman_status(container("etcd-a")), "running");
    EXPECT_TRUE(answers(ip(11), 2379));
}

// kill -9 of the agent that froze its container: the watcher the agent started when it loaded
// the run thaws the container at once (it watches the agent through a pidfd), without waiting
// for the controller or a lease, and records why. The controller, its agent lost, ends the run.
TEST_F(RealTargets, AgentKilledDuringAFreezeItsWatcherThawsTheContainer) {
    LoopbackFleet fleet;
    ASSERT_TRUE(fleet.up());
    auto plan = rewritten("experiments/containers-zone-power.yaml", {{"mode: kill ", "mode: freeze "}});
    ASSERT_TRUE(await([&] { return answers(ip(11), 2379); }, 30s)) << "the member never served";
    const std::string freezer = freeze_dir(container("etcd-a"));
    ASSERT_EQ(targets::freezer_state(freezer), "0") << freezer;
    pid_t controller = fleet.start({binary_path("injector/injector"), "--log-level", "warn", "run", plan, "--fleet",
                                    fleet.endpoints(), "--json"},
                                   "controller");
    ASSERT_GT(controller, 0);
    bool frozen = await([&] { return targets::freezer_state(freezer) == "1" && !answers(ip(11), 2379); }, 60s);
    ASSERT_TRUE(frozen) << fleet.log("controller") << fleet.log("agent-kv-1");
    const auto t0 = Clock::now();
    ::kill(fleet.agent("kv-1"), SIGKILL);
    // Thawed, and reachable again (a TCP connect alone would not tell: the kernel completes a
    // handshake for a frozen listener once the agent's links are gone with it).
    EXPECT_TRUE(await([&] { return targets::freezer_state(freezer) == "0" && answers(ip(11), 2379); }, 20s))
        << "still frozen: " << fleet.log("agent-kv-1");
    std::cout << "[ fleet    ] agent kill -9 mid freeze -> container serving after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count() << " ms\n";
    // The watcher's record says what it did and why, once it is through ("undone": its
    // container step may still run after the thaw). Removed then: later tests must not find it.
    std::smatch m;
    const std::string alog = fleet.log("agent-kv-1");
    ASSERT_TRUE(std::regex_search(alog, m, std::regex("run (\\S+): [0-9]+ faults prepared"))) << alog;
    const std::string path = state_root() + "/agents/kv-1-" + m[1].str() + ".watch.jsonl";
    std::string record;
    EXPECT_TRUE(await([&] {
        std::ifstream in(path);
        record.assign((std::istreambuf_iterator<char>(in)), {});
        return record.find("\"undone\"") != std::string::npos;
    }, 60s)) << record;
    fs::remove(path);
    EXPECT_NE(record.find("runner_lost"), std::string::npos) << record << fleet.log("agent-kv-1");
    EXPECT_NE(record.find("\"thaw\""), std::string::npos) << record;
    // The controller ends the run without its agent (not held), and nothing stays behind.
    int st = 0;
    EXPECT_TRUE(await([&] { return ::waitpid(controller, &st, WNOHANG) == controller; }, 120s)) << fleet.log("controller");
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) != 0) << fleet.log("controller");
    fleet.stop_all();
    EXPECT_EQ(podman_status(container("etcd-a")), "running");
}

TEST_F(RealTargets, SingleHomedAuthIsViolatedNamingTheLoginProbe) {
    auto r = run_plan(rewritten("experiments/single-homed-auth.yaml"));
    expect_verdict(r, "violated", "login");
    // etcd kept its quorum: the write probe held.
    for (auto& p : r.report["probes"])
        if (p["probe"] == "kv-write") {
            EXPECT_TRUE(p["held"].get<bool>()) << p.dump();
        }
    // Both dark containers serve again with nobody's help.
    EXPECT_EQ(podman_status(container("auth")), "running");
    EXPECT_EQ(podman_status(container("etcd-a")), "running");
    EXPECT_TRUE(await([&] { return answers(ip(21), 8080); }, 10s));
}

TEST_F(RealTargets, AContainerThatDoesNotExistRefusesTheRunBeforeAnythingIsTouched) {
    auto plan = rewritten("experiments/containers-zone-power.yaml", {{"container: injtdemo-etcd-c", "container: injtdemo-nope"}});
    auto r = run_plan(plan);
    EXPECT_EQ(r.exit_code, 3) << r.output;
    std::string reason = r.report.value("reason", "");
    EXPECT_NE(reason.find("host kv-3"), std::string::npos) << reason;
    EXPECT_NE(reason.find("injtdemo-nope"), std::string::npos) << reason;
    EXPECT_NE(reason.find("no such container"), std::string::npos) << reason;
    // Nothing was cut: the run never got to its first fault.
    EXPECT_TRUE(r.report["faults"].empty() || !r.report["faults"][0].contains("injected_at_ms")) << r.output;
    EXPECT_EQ(podman_status(container("etcd-a")), "running");
}

// kill -9 of the runner while a fault holds the containers: the watcher it started puts them back.
class RunnerKilled : public RealTargets {
protected:
    void kill_during(const std::string& mode, const std::function<bool()>& in_fault) {
        auto plan = rewritten("experiments/containers-zone-power.yaml",
                              {{"mode: kill ", "mode: " + mode + " "}, {"duration: 30s", "duration: 60s"}});
        SpawnSpec s;
        s.argv = {binary_path("injector/injector"), "--log-level", "warn", "run", plan};
        auto pid = spawn(s);
        ASSERT_TRUE(pid.ok()) << pid.error().message();
        bool reached = await(in_fault, 40s);
        ::kill(*pid, SIGKILL);
        int st = 0;
        ::waitpid(*pid, &st, 0);
        ASSERT_TRUE(reached) << "the fault never took hold";
        // No manual step: the watcher thaws or restarts, and the member serves again.
        const std::string freezer = freeze_dir(container("etcd-a"));
        EXPECT_TRUE(await([&] {
            return podman_status(container("etcd-a")) == "running" && targets::freezer_state(freezer) == "0" &&
                   answers(ip(11), 2379);
        }, 60s)) << podman_status(container("etcd-a"));
        auto recover = run({binary_path("injector/injector"), "recover"}, 120s);
        EXPECT_TRUE(recover.ok()) << recover.error().message();
    }
};

TEST_F(RunnerKilled, DuringAFreezeTheContainerIsThawed) {
    const std::string freezer = freeze_dir(container("etcd-a"));
    kill_during("freeze", [&] { return targets::freezer_state(freezer) == "1"; });
}

TEST_F(RunnerKilled, DuringAKillModePowerLossTheContainerIsStartedAgain) {
    kill_during("kill", [&] { return podman_status(container("etcd-a")) == "exited"; });
}

// What was started by other means: two processes, each in a namespace and a cgroup the test made
// by hand, bound by netns: + cgroup:. A sever between them cuts their real traffic and heals.
class HandMade : public ::testing::Test {
protected:
    std::string tag = "inj-thand-" + std::to_string(::getpid());
    std::string ns(int i) const { return tag + "-" + std::to_string(i); }
    std::string cg(int i) const { return "/sys/fs/cgroup/unified/" + tag + "-" + std::to_string(i); }
    std::vector<pid_t> pids;

    void SetUp() override {
        ASSERT_EQ(run_shell("ip netns add " + ns(0) + " && ip netns add " + ns(1) + " && ip -n " + ns(0) +
                                " link add eth0 type veth peer name eth0 netns " + ns(1) + " && ip -n " + ns(0) +
                                " addr add 198.19.248.1/30 dev eth0 && ip -n " + ns(1) +
                                " addr add 198.19.248.2/30 dev eth0 && ip -n " + ns(0) + " link set eth0 up && ip -n " +
                                ns(1) + " link set eth0 up && ip -n " + ns(0) + " link set lo up && ip -n " + ns(1) +
                                " link set lo up",
                            30s)
                      ->exit_code,
                  0);
        for (int i = 0; i < 2; ++i) {
            fs::create_directories(cg(i));
            SpawnSpec s;
            s.argv = {"python3", "-m", "http.server", "8080", "--bind", "198.19.248." + std::to_string(i + 1),
                      "--directory", "/usr/share/doc"};
            s.netns = netns_path(ns(i));
            s.cgroup_procs = cg(i) + "/cgroup.procs";
            auto p = spawn(s);
            ASSERT_TRUE(p.ok()) << p.error().message();
            pids.push_back(*p);
        }
    }
    void TearDown() override {
        for (pid_t p : pids) {
            ::kill(p, SIGKILL);
            ::waitpid(p, nullptr, 0);
        }
        for (int i = 0; i < 2; ++i) {
            (void)run({"ip", "netns", "del", ns(i)}, 10s);
            await([&] { return ::rmdir(cg(i).c_str()) == 0 || errno == ENOENT; }, 5s);
        }
        EXPECT_EQ(leftovers(), "");
    }
    std::string plan() const {
        std::string path = binary_path("tests/hand-made-sever.yaml");
        std::ofstream(path) << "name: hand-made-sever\n"
                               "topology:\n"
                               "  zones: [{ name: left }, { name: right }]\n"
                               "  hosts:\n"
                               "    - { name: web-1, zone: left, netns: " + ns(0) + ", cgroup: " + tag + "-0, addresses: [198.19.248.1] }\n"
                               "    - { name: web-2, zone: right, netns: " + ns(1) + ", cgroup: " + tag + "-1, addresses: [198.19.248.2] }\n"
                               "steady_state:\n"
                               "  probes:\n"
                               "    - name: left-to-right\n"
                               "      in: web-1\n"
                               "      http: { url: \"http://198.19.248.2:8080/\", status: 200 }\n"
                               "      every: 200ms\n"
                               "      timeout: 500ms\n"
                               "      slo: { success_rate: 0.95, window: 2s }\n"
                               "method:\n"
                               "  - { name: cut, fault: sever, at: 2s, duration: 4s, target: { zone: left } }\n"
                               "safety:\n"
                               "  max_duration: 1m\n"
                               "  protected: [{ zone: control }]\n";
        return path;
    }
};

TEST_F(HandMade, SeverCutsTheirRealTrafficAtTheirOwnInterfacesAndHeals) {
    auto r = run_plan(plan());
    // The probe broke during the cut (it is what the drill measures), and the cut really dropped.
    expect_verdict(r, "violated", "left-to-right");
    ASSERT_EQ(r.report["faults"].size(), 1u) << r.output;
    EXPECT_GT(r.report["faults"][0].value("dropped", 0), 0) << r.report["faults"].dump();
    // Healed: the processes talk again, and they were never touched otherwise.
    for (pid_t p : pids) EXPECT_TRUE(process_alive(p));
    auto g = NetnsGuard::enter(netns_path(ns(0)));
    ASSERT_TRUE(g.ok());
    EXPECT_TRUE(tcp_connect(*IpAddr::parse("198.19.248.2"), 8080, 1s).ok());
}

TEST_F(HandMade, APowerLossThatWouldCutAProtectedInterfaceOfThisMachineIsRefused) {
    // This machine's own first interface, protected by the plan: a power loss of the machine
    // (local: true) would cut it. Refused in preflight, exit 3, nothing touched.
    // The first interface of this machine with a global IPv4 address, and that address.
    auto found = run_shell("ip -4 -o addr show scope global | awk '$2 !~ /^inj/ {split($4, a, \"/\"); print $2, a[1]; exit}'", 10s);
    ASSERT_TRUE(found.ok() && found->exit_code == 0);
    std::istringstream words(found->output);
    std::string ifname, addr;
    words >> ifname >> addr;
    ASSERT_FALSE(ifname.empty() || addr.empty()) << "this machine has no interface with a global IPv4 address";
    std::string path = binary_path("tests/local-power.yaml");
    std::ofstream(path) << "name: local-power\n"
                           "topology:\n"
                           "  zones: [{ name: here }, { name: there }]\n"
                           "  hosts:\n"
                           "    - { name: me, zone: here, local: true, addresses: [" + addr + "] }\n"
                           "    - { name: web-2, zone: there, netns: " + ns(1) + ", cgroup: " + tag + "-1, addresses: [198.19.248.2] }\n"
                           "method:\n"
                           "  - { name: dark, fault: power_loss, at: 1s, duration: 2s, target: { host: me }, mode: freeze }\n"
                           "safety:\n"
                           "  max_duration: 1m\n"
                           "  protected: [{ zone: control }, { interface: " + ifname + " }]\n";
    auto r = run_plan(path);
    EXPECT_EQ(r.exit_code, 3) << r.output;
    std::string reason = r.report.value("reason", "");
    EXPECT_NE(reason.find("interface " + ifname), std::string::npos) << reason;
    EXPECT_NE(reason.find("this machine"), std::string::npos) << reason;
}

}  // namespace
}  // namespace inj::test
