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
#include "faultfs/faultfs.hpp"
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
std::string rewritten(const std::string& experiment,
                      const std::vector<std::pair<std::string, std::string>>& more = {}) {
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

public:  // the plan builders below read its names
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
    // etcd, then the agents of `hosts`, registered; false (with a failure) when not.
    bool up(const std::vector<std::string>& hosts = {"kv-1", "kv-2", "kv-3"}) {
        const std::string peer = "http://127.0.0.1:" + std::to_string(port_ + 1);
        start({"etcd", "--name", "fleet", "--data-dir", dir_ + "/etcd", "--listen-client-urls", "http://" + eps_,
               "--advertise-client-urls", "http://" + eps_, "--listen-peer-urls", peer, "--initial-advertise-peer-urls",
               peer, "--initial-cluster", "fleet=" + peer},
              "etcd");
        if (!await([&] { return tcp_connect(*IpAddr::parse("127.0.0.1"), port_, 200ms).ok(); }, 30s)) {
            ADD_FAILURE() << "the fleet etcd did not come up: " << log("etcd");
            return false;
        }
        for (auto& h : hosts)
            agents_[h] = start({binary_path("injector/injector"), "agent", "--etcd", eps_, "--host", h}, "agent-" + h);
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
    EXPECT_NE(log.find("prepared on host kv-1 of bound targets (podman container " + container("etcd-a") + ")"),
              std::string::npos)
        << log;
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
    pid_t controller = fleet.start(
        {binary_path("injector/injector"), "--log-level", "warn", "run", plan, "--fleet", fleet.endpoints(), "--json"},
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
    EXPECT_TRUE(await(
        [&] {
            std::ifstream in(path);
            record.assign((std::istreambuf_iterator<char>(in)), {});
            return record.find("\"undone\"") != std::string::npos;
        },
        60s))
        << record;
    fs::remove(path);
    EXPECT_NE(record.find("runner_lost"), std::string::npos) << record << fleet.log("agent-kv-1");
    EXPECT_NE(record.find("\"thaw\""), std::string::npos) << record;
    // The controller ends the run without its agent (not held), and nothing stays behind.
    int st = 0;
    EXPECT_TRUE(await([&] { return ::waitpid(controller, &st, WNOHANG) == controller; }, 120s))
        << fleet.log("controller");
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
    auto plan = rewritten("experiments/containers-zone-power.yaml",
                          {{"container: injtdemo-etcd-c", "container: injtdemo-nope"}});
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
        EXPECT_TRUE(await(
            [&] {
                return podman_status(container("etcd-a")) == "running" && targets::freezer_state(freezer) == "0" &&
                       answers(ip(11), 2379);
            },
            60s))
            << podman_status(container("etcd-a"));
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
public:  // the plan builders below read its names
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
        fs::create_directories(site());
        std::ofstream(site() + "/hello.txt") << "hello\n";
        for (int i = 0; i < 2; ++i) {
            fs::create_directories(cg(i));
            SpawnSpec s;
            s.argv = {"python3",     "-m",
                      "http.server", "8080",
                      "--bind",      "198.19.248." + std::to_string(i + 1),
                      "--directory", i == 1 ? site() : "/usr/share/doc"};
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
            // What a plan's restart: started there is not our child: the cgroup we made holds it.
            EXPECT_TRUE(targets::kill_cgroup_and_wait(cg(i)).ok());
            (void)run({"ip", "netns", "del", ns(i)}, 10s);
            await([&] { return ::rmdir(cg(i).c_str()) == 0 || errno == ENOENT; }, 5s);
        }
        fs::remove_all(site());
        EXPECT_EQ(leftovers(), "");
    }
    // The directory web-2 serves its pages from: a volume of the plans below.
    std::string site() const { return "/tmp/" + tag + "-site"; }
    std::string plan() const {
        std::string path = binary_path("tests/hand-made-sever.yaml");
        std::ofstream(path) << "name: hand-made-sever\n"
                               "topology:\n"
                               "  zones: [{ name: left }, { name: right }]\n"
                               "  hosts:\n"
                               "    - { name: web-1, zone: left, netns: " +
                                   ns(0) + ", cgroup: " + tag +
                                   "-0, addresses: [198.19.248.1] }\n"
                                   "    - { name: web-2, zone: right, netns: " +
                                   ns(1) + ", cgroup: " + tag +
                                   "-1, addresses: [198.19.248.2] }\n"
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
    auto found = run_shell(
        "ip -4 -o addr show scope global | awk '$2 !~ /^inj/ {split($4, a, \"/\"); print $2, a[1]; exit}'", 10s);
    ASSERT_TRUE(found.ok() && found->exit_code == 0);
    std::istringstream words(found->output);
    std::string ifname, addr;
    words >> ifname >> addr;
    ASSERT_FALSE(ifname.empty() || addr.empty()) << "this machine has no interface with a global IPv4 address";
    std::string path = binary_path("tests/local-power.yaml");
    std::ofstream(path)
        << "name: local-power\n"
           "topology:\n"
           "  zones: [{ name: here }, { name: there }]\n"
           "  hosts:\n"
           "    - { name: me, zone: here, local: true, addresses: [" +
               addr +
               "] }\n"
               "    - { name: web-2, zone: there, netns: " +
               ns(1) + ", cgroup: " + tag +
               "-1, addresses: [198.19.248.2] }\n"
               "method:\n"
               "  - { name: dark, fault: power_loss, at: 1s, duration: 2s, target: { host: me }, mode: freeze }\n"
               "safety:\n"
               "  max_duration: 1m\n"
               "  protected: [{ zone: control }, { interface: " +
               ifname + " }]\n";
    auto r = run_plan(path);
    EXPECT_EQ(r.exit_code, 3) << r.output;
    std::string reason = r.report.value("reason", "");
    EXPECT_NE(reason.find("interface " + ifname), std::string::npos) << reason;
    EXPECT_NE(reason.find("this machine"), std::string::npos) << reason;
}

// The journal's events of a run, by name (the report names the journal).
std::vector<nlohmann::json> journal_events(const CliRun& r, const std::string& event) {
    std::vector<nlohmann::json> out;
    std::ifstream in(r.report.value("journal", std::string()));
    for (std::string line; std::getline(in, line);) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("event", "") == event) out.push_back(j);
    }
    return out;
}

bool faultfs_mounted_at(const std::string& dir) {
    auto m = faultfs::mounts();
    return std::find(m.begin(), m.end(), dir) != m.end();
}

// A plan where web-2 serves its pages from a real directory (volume `site`) and a bad disk
// fails every open there for 3 s; web-1 fetches a page all along.
std::string disk_plan(const HandMade& t, const std::string& path, const std::string& fault_extra) {
    // Into the cgroup before `ip netns exec`, whose fresh /sys hides the cgroup hierarchies.
    const std::string restart = "setsid sh -c 'echo $$ > " + t.cg(1) + "/cgroup.procs; exec ip netns exec " + t.ns(1) +
                                " python3 -m http.server 8080 --bind 198.19.248.2 --directory " + t.site() +
                                "' </dev/null >/dev/null 2>&1 &";
    std::ofstream(path) << "name: hand-made-disk\n"
                           "topology:\n"
                           "  zones: [{ name: left }, { name: right }]\n"
                           "  hosts:\n"
                           "    - { name: web-1, zone: left, netns: " +
                               t.ns(0) + ", cgroup: " + t.tag +
                               "-0, addresses: [198.19.248.1] }\n"
                               "    - name: web-2\n"
                               "      zone: right\n"
                               "      netns: " +
                               t.ns(1) +
                               "\n"
                               "      cgroup: " +
                               t.tag +
                               "-1\n"
                               "      addresses: [198.19.248.2]\n"
                               "      restart: \"" +
                               restart +
                               "\"\n"
                               "      ready: { tcp: \"198.19.248.2:8080\", timeout: 10s }\n"
                               "      volumes: [{ name: site, path: " +
                               t.site() +
                               " }]\n"
                               "steady_state:\n"
                               "  probes:\n"
                               "    - name: page\n"
                               "      in: web-1\n"
                               "      http: { url: \"http://198.19.248.2:8080/hello.txt\", status: 200 }\n"
                               "      every: 200ms\n"
                               "      timeout: 500ms\n"
                               "      slo: { success_rate: 0.95, window: 2s }\n"
                               "method:\n"
                               "  - { name: bad-disk, fault: degrade_storage, at: 2s, duration: 3s, target: { host: "
                               "web-2 }, volume: site, " +
                               fault_extra +
                               " }\n"
                               "safety:\n"
                               "  max_duration: 1m\n"
                               "  protected: [{ zone: control }]\n";
    return path;
}

// web-1 fetches the page from web-2 (the test's own check, outside any run).
std::string fetch_page(const HandMade& t) {
    auto r =
        run_shell("ip netns exec " + t.ns(0) +
                      " python3 -c \"import urllib.request as u; "
                      "print(u.urlopen('http://198.19.248.2:8080/hello.txt', timeout=2).read().decode(), end='')\"",
                  10s);
    return r && r->exit_code == 0 ? r->output : "";
}

TEST_F(HandMade, DegradeStorageOnTheirRealDirectoryFailsTheServicesOpensThenItServesFromTheDirectoryAgain) {
    auto r =
        run_plan(disk_plan(*this, binary_path("tests/hand-made-disk.yaml"), "errors: [{ errno: EIO, ops: [open] }]"));
    // The page broke while the disk failed (the drill's finding), through the service's own opens.
    expect_verdict(r, "violated", "page");
    ASSERT_EQ(r.report["faults"].size(), 1u) << r.output;
    EXPECT_GT(r.report["faults"][0].value("dropped", 0), 0) << r.report["faults"].dump();
    // Served for the run, then put back: the service was restarted onto the fault filesystem and
    // off it again, and the directory is the real one now.
    auto served = journal_events(r, "volumes_served");
    ASSERT_EQ(served.size(), 1u) << r.output;
    EXPECT_TRUE(served[0].value("ok", false)) << served[0].dump();
    auto released = journal_events(r, "targets_released");
    ASSERT_EQ(released.size(), 1u) << r.output;
    EXPECT_TRUE(released[0].value("ok", false)) << released[0].dump();
    EXPECT_FALSE(faultfs_mounted_at(site()));
    EXPECT_FALSE(process_alive(pids[1])) << "the service was never restarted onto the fault filesystem";
    EXPECT_EQ(fetch_page(*this), "hello\n");
}

TEST_F(HandMade, AVolumeOfAHostWithNoRestartIsRefusedBeforeAnythingIsMounted) {
    std::string path =
        disk_plan(*this, binary_path("tests/hand-made-disk-norestart.yaml"), "errors: [{ errno: EIO, ops: [open] }]");
    // The same plan without the host's restart: nothing could start its service onto the mount.
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    text = std::regex_replace(text, std::regex("      restart: .*\n"), "");
    std::ofstream(path) << text;
    auto r = run_plan(path);
    EXPECT_EQ(r.exit_code, 3) << r.output;
    EXPECT_NE(r.report.value("reason", "").find("give restart:"), std::string::npos) << r.output;
    EXPECT_FALSE(faultfs_mounted_at(site()));
    EXPECT_TRUE(process_alive(pids[1])) << "the service was touched";
}

// A container's volume: its bind mount's host side is served, the container restarted onto it;
// a read in the container fails while the disk does, and the member serves from its real
// directory afterwards.
// A plan degrading the disk of the demo's etcd-a container (its /data bind mount) for `duration`:
// a probe reads a file there from inside the container.
std::string containers_disk_plan(const RealTargets& t, const std::string& duration) {
    const std::string podman = "podman --runtime runc --cgroup-manager cgroupfs --events-backend file";
    std::string path = binary_path("tests/containers-disk.yaml");
    std::ofstream(path) << "name: containers-disk\n"
                           "topology:\n"
                           "  zones: [{ name: pangyo }, { name: ansan }]\n"
                           "  hosts:\n"
                           "    - name: kv-1\n"
                           "      zone: pangyo\n"
                           "      container: " +
                               t.container("etcd-a") +
                               "\n"
                               "      addresses: [" +
                               t.ip(11) +
                               "]\n"
                               "      ready: { tcp: \"" +
                               t.ip(11) +
                               ":2379\", timeout: 30s }\n"
                               "      volumes: [{ name: data, path: /data }]\n"
                               "    - { name: kv-2, zone: ansan, container: " +
                               t.container("etcd-b") + ", addresses: [" + t.ip(12) +
                               "] }\n"
                               "steady_state:\n"
                               "  probes:\n"
                               "    - name: read-in-container\n"
                               "      in: control\n"
                               "      exec: " +
                               podman + " exec " + t.container("etcd-a") +
                               " cat /data/probe.txt\n"
                               "      every: 500ms\n"
                               "      timeout: 5s\n"
                               "      slo: { success_rate: 0.95, window: 3s }\n"
                               "method:\n"
                               "  - { name: bad-disk, fault: degrade_storage, at: 3s, duration: " +
                               duration +
                               ", target: { host: kv-1 }, volume: data,\n"
                               "      errors: [{ errno: EIO, ops: [open], path: \"probe.txt\" }] }\n"
                               "safety:\n"
                               "  max_duration: 2m\n"
                               "  protected: [{ zone: control }]\n";
    return path;
}

TEST_F(RealTargets, DegradeStorageOnAContainersBindMountReachesItsOwnIoThenLeavesItOnTheRealDirectory) {
    const std::string data = std::string("/tmp/") + kDemo + "-data/etcd-a";
    std::ofstream(data + "/probe.txt") << "probe\n";
    const std::string podman = "podman --runtime runc --cgroup-manager cgroupfs --events-backend file";
    auto r = run_plan(containers_disk_plan(*this, "4s"));
    expect_verdict(r, "violated", "read-in-container");
    ASSERT_EQ(r.report["faults"].size(), 1u) << r.output;
    EXPECT_GT(r.report["faults"][0].value("dropped", 0), 0) << r.report["faults"].dump();
    // etcd's own I/O went through it too (operations seen while the fault was in force).
    EXPECT_GT(r.report["faults"][0].value("passed", 0), 0) << r.report["faults"].dump();
    auto released = journal_events(r, "targets_released");
    ASSERT_EQ(released.size(), 1u) << r.output;
    EXPECT_TRUE(released[0].value("ok", false)) << released[0].dump();
    EXPECT_FALSE(faultfs_mounted_at(data));
    EXPECT_EQ(podman_status(container("etcd-a")), "running");
    EXPECT_TRUE(await([&] { return answers(ip(11), 2379); }, 30s));
    auto cat = run_shell(podman + " exec " + container("etcd-a") + " cat /data/probe.txt", 30s);
    ASSERT_TRUE(cat.ok());
    EXPECT_EQ(cat->output, "probe\n");
}

// The same disk fault in fleet mode: kv-1's agent serves the container's bind mount (the fault
// filesystem over its host side, the container restarted onto it) when it loads the run, its
// storage engine fails the reads, and when the run ends the agent puts the container back on its
// real directory; the controller mounts nothing.
TEST_F(RealTargets, DegradeStorageOnAContainersBindMountThroughItsAgent) {
    const std::string data = std::string("/tmp/") + kDemo + "-data/etcd-a";
    std::ofstream(data + "/probe.txt") << "probe\n";
    const std::string podman = "podman --runtime runc --cgroup-manager cgroupfs --events-backend file";
    LoopbackFleet fleet;
    ASSERT_TRUE(fleet.up());
    auto r = run_plan(containers_disk_plan(*this, "4s"), {"--fleet", fleet.endpoints()});
    // Released when the run ends (its desired state gone), not when the agent stops.
    EXPECT_TRUE(await([&] { return !faultfs_mounted_at(data); }, 60s)) << fleet.log("agent-kv-1");
    fleet.stop_all();
    const std::string log = fleet.log("agent-kv-1");
    expect_verdict(r, "violated", "read-in-container");
    ASSERT_EQ(r.report["faults"].size(), 1u) << r.output;
    EXPECT_GT(r.report["faults"][0].value("dropped", 0), 0) << r.report["faults"].dump() << log;
    EXPECT_TRUE(journal_events(r, "volumes_served").size() == 1u) << r.output;
    EXPECT_NE(log.find("prepared on host kv-1"), std::string::npos) << log;
    EXPECT_EQ(podman_status(container("etcd-a")), "running");
    EXPECT_TRUE(await([&] { return answers(ip(11), 2379); }, 30s));
    auto cat = run_shell(podman + " exec " + container("etcd-a") + " cat /data/probe.txt", 30s);
    ASSERT_TRUE(cat.ok());
    EXPECT_EQ(cat->output, "probe\n");
    std::error_code ec;
    for (auto& e : fs::directory_iterator(state_root() + "/agents", ec))
        EXPECT_FALSE(e.is_directory()) << "an agent's served-volume directory left: " << e.path() << "\n" << log;
}

// A volatile volume on a host started by other means: records written there without an fsync
// are acknowledged, then the host loses power and its disk's cache with it. The read-back finds
// them gone (the drill's finding: exit 1 naming the lost records), and the service is back on the
// real directory afterwards.
std::string volatile_plan(const HandMade& t) {
    std::string path = disk_plan(t, binary_path("tests/hand-made-volatile.yaml"), "full: false");
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    text = std::regex_replace(text, std::regex("volumes: \\[\\{ name: site, path: ([^ ]+) \\}\\]"),
                              "volumes: [{ name: site, path: $1, volatile: true }]");
    text = std::regex_replace(
        text, std::regex("  - \\{ name: bad-disk.*\\n"),
        "  - { name: dark, fault: power_loss, at: 2s, duration: 2s, target: { host: web-2 }, mode: kill }\n");
    text = std::regex_replace(text, std::regex("    - name: page\\n(.*\\n)*(?=method:)"),
                              "    - name: record\n"
                              "      in: control\n"
                              "      exec: \"echo rec-{seq} > " +
                                  t.site() +
                                  "/rec-{seq}\"\n"
                                  "      acknowledges: \"rec-{seq}\"\n"
                                  "      every: 200ms\n"
                                  "      timeout: 2s\n"
                                  "      slo: { success_rate: 0.5, window: 2s }\n");
    text +=
        "verify:\n"
        "  - { name: read-back, probe: record, in: control, exec: \"cat " +
        t.site() +
        "/rec-*\", timeout: 10s }\n"
        "expect:\n"
        "  rpo: 0\n";
    std::ofstream(path) << text;
    return path;
}

TEST_F(HandMade, AVolatileVolumeLosesUnsyncedWritesAtTheirPowerLoss) {
    auto r = run_plan(volatile_plan(*this));
    ASSERT_FALSE(r.report.is_discarded()) << r.output;
    EXPECT_EQ(r.exit_code, 1) << r.output;
    ASSERT_EQ(r.report["verify"].size(), 1u) << r.output;
    EXPECT_GT(r.report["verify"][0]["missing"].size(), 0u) << r.report["verify"].dump();
    EXPECT_NE(r.report.value("reason", "").find("rpo"), std::string::npos) << r.output;
    EXPECT_FALSE(faultfs_mounted_at(site()));
    EXPECT_EQ(fetch_page(*this), "hello\n");
}

// The same drill through agents: web-2's agent serves the volatile volume when it loads the run
// (the web server restarted onto it), its power engine kills the host and drops the unsynced
// writes, restarts the server on the real directory at the end; the controller mounts nothing
// and its read-back finds the same loss (exit 1, RPO).
TEST_F(HandMade, AVolatileVolumeThroughItsAgentLosesUnsyncedWritesAsInLocalMode) {
    LoopbackFleet fleet;
    ASSERT_TRUE(fleet.up({"web-1", "web-2"}));
    auto r = run_plan(volatile_plan(*this), {"--fleet", fleet.endpoints()});
    EXPECT_TRUE(await([&] { return !faultfs_mounted_at(site()); }, 60s)) << fleet.log("agent-web-2");
    fleet.stop_all();
    const std::string log = fleet.log("agent-web-2");
    ASSERT_FALSE(r.report.is_discarded()) << r.output << log;
    EXPECT_EQ(r.exit_code, 1) << r.output << log;
    EXPECT_NE(r.report.value("reason", "").find("rpo"), std::string::npos) << r.output;
    ASSERT_EQ(r.report["verify"].size(), 1u) << r.output;
    EXPECT_GT(r.report["verify"][0]["missing"].size(), 0u) << r.report["verify"].dump();
    ASSERT_EQ(r.report["faults"].size(), 1u) << r.output;
    auto& f = r.report["faults"][0];
    EXPECT_EQ(f["engine"]["activation"]["agents_confirmed"].get<int>(), 1) << f.dump();
    // What the agent's volume lost comes back as the local report's field.
    ASSERT_TRUE(f["engine"].contains("lost")) << f.dump();
    EXPECT_EQ(f["engine"]["lost"][0]["host"], "web-2") << f.dump();
    EXPECT_NE(log.find("prepared on host web-2"), std::string::npos) << log;
    EXPECT_EQ(journal_events(r, "volumes_served").size(), 1u) << r.output;
    EXPECT_FALSE(faultfs_mounted_at(site()));
    EXPECT_TRUE(await([&] { return fetch_page(*this) == "hello\n"; }, 30s));
    std::error_code ec;
    for (auto& e : fs::directory_iterator(state_root() + "/agents", ec))
        EXPECT_FALSE(e.is_directory()) << "an agent's served-volume directory left: " << e.path() << "\n" << log;
}

// kill -9 of the runner while a volume of theirs is served: the watcher kills what holds it,
// unmounts the fault filesystem and starts the service again on the real directory.
TEST_F(HandMade, RunnerKilledWhileTheirVolumeIsServedTheWatcherUnmountsAndRestarts) {
    std::string path =
        disk_plan(*this, binary_path("tests/hand-made-disk-kill.yaml"), "errors: [{ errno: EIO, ops: [open] }]");
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    text = std::regex_replace(text, std::regex("duration: 3s"), "duration: 40s");
    std::ofstream(path) << text;
    SpawnSpec s;
    s.argv = {binary_path("injector/injector"), "--log-level", "warn", "run", path};
    auto pid = spawn(s);
    ASSERT_TRUE(pid.ok()) << pid.error().message();
    // In force: the page fails (through the restarted service's own opens).
    bool reached =
        await([&] { return faultfs_mounted_at(site()) && !process_alive(pids[1]) && fetch_page(*this).empty(); }, 40s);
    ::kill(*pid, SIGKILL);
    ::waitpid(*pid, nullptr, 0);
    ASSERT_TRUE(reached) << "the fault never took hold";
    EXPECT_TRUE(await([&] { return !faultfs_mounted_at(site()) && fetch_page(*this) == "hello\n"; }, 30s))
        << "mounted: " << faultfs_mounted_at(site());
    auto recover = run({binary_path("injector/injector"), "recover"}, 120s);
    EXPECT_TRUE(recover.ok()) << recover.error().message();
}

// kill -9 of the runner while the container's volume is served: the watcher stops the
// container, unmounts the fault filesystem and starts it again on the real directory.
TEST_F(RealTargets, RunnerKilledWhileAContainersVolumeIsServedTheWatcherPutsItBackOnTheRealDirectory) {
    const std::string data = std::string("/tmp/") + kDemo + "-data/etcd-a";
    std::ofstream(data + "/probe.txt") << "probe\n";
    const std::string cat = "podman --runtime runc --cgroup-manager cgroupfs --events-backend file exec " +
                            container("etcd-a") + " cat /data/probe.txt";
    SpawnSpec s;
    s.argv = {binary_path("injector/injector"), "--log-level", "warn", "run", containers_disk_plan(*this, "60s")};
    auto pid = spawn(s);
    ASSERT_TRUE(pid.ok()) << pid.error().message();
    auto reads = [&] {
        auto r = run_shell(cat, 10s);
        return r && r->exit_code == 0;
    };
    bool reached = await([&] { return faultfs_mounted_at(data) && !reads(); }, 60s);
    ::kill(*pid, SIGKILL);
    ::waitpid(*pid, nullptr, 0);
    ASSERT_TRUE(reached) << "the fault never took hold";
    EXPECT_TRUE(await(
        [&] { return !faultfs_mounted_at(data) && podman_status(container("etcd-a")) == "running" && reads(); }, 60s))
        << "mounted: " << faultfs_mounted_at(data) << ", " << podman_status(container("etcd-a"));
    EXPECT_TRUE(await([&] { return answers(ip(11), 2379); }, 30s));
    auto recover = run({binary_path("injector/injector"), "recover"}, 120s);
    EXPECT_TRUE(recover.ok()) << recover.error().message();
}

// A host bound by pidfile: a kill-mode power loss kills its cgroup, its restart: starts it again
// and writes a new pidfile, and the run finds the new process there and measures the RTO.
TEST_F(HandMade, APidfileHostKilledByAPowerLossIsFoundAgainThroughItsNewPidfile) {
    const std::string pidfile = "/tmp/" + tag + "-web2.pid";
    std::ofstream(pidfile) << pids[1] << "\n";
    const std::string restart =
        "setsid sh -c 'echo $$ > " + cg(1) + "/cgroup.procs; echo $$ > " + pidfile + "; exec ip netns exec " + ns(1) +
        " python3 -m http.server 8080 --bind 198.19.248.2 --directory " + site() + "' </dev/null >/dev/null 2>&1 &";
    std::string path = binary_path("tests/hand-made-pidfile.yaml");
    std::ofstream(path)
        << "name: hand-made-pidfile\n"
           "topology:\n"
           "  zones: [{ name: left }, { name: right }]\n"
           "  hosts:\n"
           "    - { name: web-1, zone: left, netns: " +
               ns(0) + ", cgroup: " + tag +
               "-0, addresses: [198.19.248.1] }\n"
               "    - name: web-2\n"
               "      zone: right\n"
               "      netns: " +
               ns(1) +
               "\n"
               "      pidfile: " +
               pidfile +
               "\n"
               "      addresses: [198.19.248.2]\n"
               "      restart: \"" +
               restart +
               "\"\n"
               "      ready: { tcp: \"198.19.248.2:8080\", timeout: 10s }\n"
               "method:\n"
               "  - { name: dark, fault: power_loss, at: 1s, duration: 2s, target: { host: web-2 }, mode: kill }\n"
               "expect:\n"
               "  rto: 10s\n"
               "safety:\n"
               "  max_duration: 1m\n"
               "  protected: [{ zone: control }]\n";
    auto r = run_plan(path);
    expect_verdict(r, "held");
    ASSERT_EQ(r.report["faults"].size(), 1u) << r.output;
    auto& recs = r.report["faults"][0]["recoveries"];
    ASSERT_EQ(recs.size(), 1u) << r.output;
    EXPECT_EQ(recs[0]["host"], "web-2");
    EXPECT_TRUE(recs[0].value("ready", false)) << recs.dump();
    // The process the run found again is the one the new pidfile names, alive and serving.
    std::ifstream in(pidfile);
    pid_t now = 0;
    in >> now;
    EXPECT_NE(now, pids[1]);
    EXPECT_EQ(recs[0].value("pid", 0), now) << recs.dump();
    EXPECT_TRUE(now > 0 && process_alive(now));
    EXPECT_FALSE(process_alive(pids[1]));
    EXPECT_EQ(fetch_page(*this), "hello\n");
    fs::remove(pidfile);
}

// The runner and its watcher both gone before the watcher finished (kill -9 of both, a reboot of
// the state directory's tmpfs aside): `injector recover` undoes from the spec the watcher
// recorded, here a fault filesystem left mounted over a real directory and a restart command.
// A runner (or agent) and its watcher both gone before the watcher finished, with a volume still
// served and a service down: `injector recover` undoes from the spec in `record`, once.
void recover_undoes_a_lost_watcher_once(const std::string& tag, const std::string& record_dir,
                                        const std::string& record) {
    const std::string dir = "/tmp/" + tag + "-data", marker = "/tmp/" + tag + "-restarted";
    fs::create_directories(dir);
    fs::create_directories(record_dir);
    std::ofstream(dir + "/kept.txt") << "kept\n";
    auto daemon = faultfs::start({dir, record_dir + "/faultfs.ctl", "", record_dir + "/faultfs.log"});
    ASSERT_TRUE(daemon.ok()) << daemon.error().message();
    // A runner and a watcher that are gone: two children that exited.
    pid_t dead[2];
    for (pid_t& d : dead) {
        d = ::fork();
        if (d == 0) ::_exit(0);
        ::waitpid(d, nullptr, 0);
    }
    targets::WatchSpec spec;
    spec.runner = dead[0];
    spec.record = record;
    spec.restart = {{"/bin/sh", "-c", "touch " + marker}};
    spec.unmount = {dir};
    nlohmann::json watching = {
        {"event", "watching"}, {"runner", dead[0]}, {"watcher", dead[1]}, {"spec", targets::spec_to_json(spec)}};
    std::ofstream(spec.record) << watching.dump() << "\n";
    auto r = run({binary_path("injector/injector"), "recover"}, 120s);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_TRUE(fs::exists(marker)) << r->output;
    EXPECT_FALSE(faultfs_mounted_at(dir)) << r->output;
    EXPECT_TRUE(await([&] { return !process_alive(*daemon); }, 5s));
    std::ifstream in(spec.record);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NE(text.find("\"unmount\""), std::string::npos) << text;
    EXPECT_NE(text.find("\"undone\""), std::string::npos) << text;
    // Done once: a second recover leaves it alone (the record ends with "undone").
    fs::remove(marker);
    auto again = run({binary_path("injector/injector"), "recover"}, 120s);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(fs::exists(marker)) << again->output;
    EXPECT_EQ(std::ifstream(dir + "/kept.txt").rdbuf() ? fs::file_size(dir + "/kept.txt") : 0u, 5u);
    fs::remove_all(dir);
    fs::remove(record);
    fs::remove_all(record_dir);
    EXPECT_EQ(leftovers(), "");
}

TEST(RecoverLostWatcher, UndoesFromTheRecordedSpecOnceAndOnlyOnce) {
    const std::string tag = "inj-tlost-" + std::to_string(::getpid());
    const std::string run_dir = runs_root() + "/20261203T000000-" + tag;
    recover_undoes_a_lost_watcher_once(tag, run_dir, run_dir + "/watcher.jsonl");
}

// The same for a fleet agent killed with its watcher: its record lives under agents/.
TEST(RecoverLostWatcher, UndoesAnAgentsRecordToo) {
    const std::string tag = "inj-alost-" + std::to_string(::getpid());
    const std::string run = "20261203T000000-" + tag;
    const std::string agents = state_root() + "/agents";
    fs::create_directories(agents);
    recover_undoes_a_lost_watcher_once(tag, agents + "/kv-9-" + run, agents + "/kv-9-" + run + ".watch.jsonl");
}

}  // namespace
}  // namespace inj::test
