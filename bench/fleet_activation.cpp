// Fleet mode figures on one machine (needs root): N agents, each in its own host namespace, a
// three-member etcd in an ops zone.
//   1. Activation spread: the agents' applied-at times (one clock: this machine) of one step,
//      with an agreed activation instant, fixed (+150 ms) and chosen from the deliveries the
//      agents reported (auto, the controller's default), against the baseline of applying on
//      receipt (activation instant = now: each agent acts when its watch delivers).
//      For a sever the step is a map write on every agent; for a power loss (zone z0 dark: its
//      hosts' processes killed by their agents, every agent arming the isolation) it is the arm
//      and the cgroup.kill, and each heal restarts the killed services before the next step.
//   2. Controller death: kill -9 of `injector run --fleet` with the fault in force -> every agent
//      has reverted (its revert time as it reports it), against the run lease TTL.
// Usage: fleet_activation [--kind sever|power|both] [AGENTS...]   (default both, 16 64)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "bench_lab.hpp"
#include "common/netns.hpp"
#include "fleet/etcd_client.hpp"
#include "fleet/fleet_engine.hpp"
#include "fleet/protocol.hpp"
#include "plan/loader.hpp"
#include "support/fault_specs.hpp"

using namespace inj;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kZones = 4;

std::string plan_yaml(int agents, const std::string& at, const std::string& duration, bool power) {
    std::string y = "name: fleet-bench\ntopology:\n  zones:\n    - { name: ops, subnet: 198.18.64.0/22 }\n";
    for (int z = 0; z < kZones; ++z)
        y += "    - { name: z" + std::to_string(z) + ", subnet: 198.18." + std::to_string(4 * z) +
             ".0/22, power_domains: [pd" + std::to_string(z) + "] }\n";
    y += "  hosts:\n";
    for (int i = 1; i <= 3; ++i) y += "    - { name: ops-" + std::to_string(i) + ", zone: ops }\n";
    // A sever cuts z0 from the other zones (a quarter of the hosts each side); a power loss
    // darkens every agent host at once (all in z0), so N agents act in each step.
    for (int h = 0; h < agents; ++h)
        y += "    - { name: h" + std::to_string(h) + ", zone: z" + std::to_string(power ? 0 : h % kZones) + " }\n";
    y += R"(lab:
  services:
    - name: fleet-etcd
      hosts: [ops-1, ops-2, ops-3]
      port: 2379
      volume: data
      command: >-
        etcd --name {host} --data-dir {volume}
        --listen-client-urls http://{addr}:2379 --advertise-client-urls http://{addr}:2379
        --listen-peer-urls http://{addr}:2380 --initial-advertise-peer-urls http://{addr}:2380
        --initial-cluster {each:fleet-etcd:{host}=http://{addr}:2380}
        --initial-cluster-state new --initial-cluster-token {lab}
        --heartbeat-interval 100 --election-timeout 1000
      ready: { tcp: "{addr}:2379", timeout: 30s }
)";
    if (power) {
        // Something to kill on every host of the dark zone, started again at each restore.
        y += "    - name: work\n      hosts: [";
        for (int h = 0; h < agents; ++h) y += (h ? ", h" : "h") + std::to_string(h);
        y += "]\n      command: sleep 100000\n";
    }
    y += "method:\n";
    if (power)
        y += "  - name: dark-z0\n    fault: power_loss\n    at: " + at + "\n    duration: " + duration +
             "\n    target: { zone: z0 }\n    mode: kill\n";
    else
        y += "  - name: cut-z0\n    fault: sever\n    at: " + at + "\n    duration: " + duration +
             "\n    target: { zone: z0 }\n    peer: { zone: [z1, z2, z3] }\n";
    // The etcd zone is protected from the sever; a power loss darkens its hosts' links to every
    // zone (the protected check refuses that), and each agent keeps its own etcd path instead.
    y += "safety:\n  max_duration: 10m\n";
    if (!power) y += "  protected:\n    - { zone: ops }\n";
    return y;
}

std::string injector_bin() {
    auto self = std::filesystem::read_symlink("/proc/self/exe");
    return (self.parent_path().parent_path() / "injector" / "injector").string();
}

struct Setup {
    std::string dir;
    std::string plan_path;
    plan::Plan plan;
    std::string plan_text;  // the bytes validated, published as they are
    std::optional<lab::LabState> lab;
    std::string endpoints;
    std::vector<pid_t> agents;

    ~Setup() {
        for (pid_t p : agents) kill(p, SIGTERM);
        for (pid_t p : agents) {
            for (int i = 0; i < 200 && waitpid(p, nullptr, WNOHANG) == 0; ++i) std::this_thread::sleep_for(25ms);
            if (kill(p, 0) == 0) {
                kill(p, SIGKILL);
                waitpid(p, nullptr, 0);
            }
        }
        if (lab) {
            if (auto r = lab::down(*lab); !r) std::fprintf(stderr, "lab down: %s\n", r.error().message().c_str());
        }
        std::error_code ec;
        if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
};

Result<void> bring_up(Setup& s, int agents, const std::string& at, const std::string& duration, bool power) {
    char t[] = "/tmp/inj-fleet-bench-XXXXXX";
    if (!mkdtemp(t)) return errno_error("mkdtemp");
    s.dir = t;
    s.plan_path = s.dir + "/fleet-bench.yaml";
    std::ofstream(s.plan_path) << plan_yaml(agents, at, duration, power);
    auto lr = plan::load_file(s.plan_path);
    if (!lr.ok()) return plain_error("plan", lr.errors.empty() ? "?" : lr.errors[0].str());
    s.plan = *lr.plan;
    s.plan_text = lr.text;
    auto st = lab::up(s.plan);
    if (!st) return st.error();
    s.lab = *st;
    for (int i = 1; i <= 3; ++i)
        s.endpoints += (s.endpoints.empty() ? "" : ",") +
                       s.plan.topology.host("ops-" + std::to_string(i))->addresses[0].addr.str() + ":2379";
    for (int h = 0; h < agents; ++h) {
        SpawnSpec sp;
        std::string name = "h" + std::to_string(h);
        sp.argv = {injector_bin(), "--log-level", "warn", "agent", "--etcd", s.endpoints, "--host", name};
        sp.netns = netns_path(s.lab->host(name)->netns);
        sp.output = s.dir + "/agent-" + name + ".log";
        sp.die_with_parent = true;
        auto pid = spawn(sp);
        if (!pid) return pid.error();
        s.agents.push_back(*pid);
    }
    auto c = fleet::EtcdClient::connect(s.endpoints);
    if (!c) return c.error();
    for (int i = 0; i < 600; ++i) {
        auto a = c->get_prefix(fleet::kAgentsPrefix);
        if (a && static_cast<int>(a->size()) == agents) return {};
        std::this_thread::sleep_for(50ms);
    }
    return plain_error("agents", "not all registered within 30 s; logs in " + s.dir);
}

struct Spread {
    std::vector<double> spread_ms, late_ms, lead_ms;
};

// reps inject/heal steps through a FleetEngine in this process.
Result<Spread> activation(const Setup& s, std::chrono::milliseconds lead, bool adaptive, int reps) {
    fleet::FleetOptions o;
    o.endpoints = s.endpoints;
    o.plan_text = s.plan_text;
    o.run_id = "bench-" + std::to_string(getpid()) + "-" + std::to_string(lead.count()) + (adaptive ? "-auto" : "");
    o.activation_lead = lead;
    o.adaptive_lead = adaptive;
    o.confirm_timeout = 10s;
    o.prepare_timeout = 60s;
    fleet::FleetEngine e(o);
    uint64_t deadline = monotonic_ns() + 600'000'000'000ull;
    INJ_TRY(e.prepare(s.plan, *inj::test::lab_view(s.plan, *s.lab), deadline));
    Spread out;
    for (int r = 0; r < reps && !bench::g_stop; ++r) {
        INJ_TRY(e.inject(0, deadline));
        auto sp = e.last_inject_spread(0);
        if (!sp || sp->agents != e.hosts().size())
            return plain_error("bench", "not every agent reported its applied-at time");
        out.spread_ms.push_back(sp->spread_ms);
        out.late_ms.push_back(sp->late_max_ms);
        out.lead_ms.push_back(sp->lead_ms);
        std::this_thread::sleep_for(100ms);
        INJ_TRY(e.heal(0));
        // A power restore restarts the dark hosts' services in the background: done before the
        // next step, so each step kills a full zone.
        for (auto t = Clock::now(); !e.settled() && Clock::now() - t < 60s;) std::this_thread::sleep_for(20ms);
        std::this_thread::sleep_for(100ms);
    }
    e.release();
    return out;
}

// kill -9 of a controller with the cut in force -> the last agent's revert, in ms.
Result<double> controller_death(const Setup& s, int agents, int lease_ttl) {
    SpawnSpec sp;
    sp.argv = {injector_bin(), "--log-level", "warn",
               "run",          s.plan_path,   "--fleet",
               s.endpoints,    "--lease-ttl", std::to_string(lease_ttl)};
    sp.output = s.dir + "/controller.log";
    sp.die_with_parent = true;
    auto pid = spawn(sp);
    if (!pid) return pid.error();
    auto c = fleet::EtcdClient::connect(s.endpoints);
    if (!c) return c.error();
    auto all = [&](auto pred) {
        auto st = c->get_prefix(fleet::kStatusPrefix);
        if (!st) return false;
        int n = 0;
        for (auto& kv : *st)
            if (auto x = fleet::status_from_json(kv.value); x && pred(*x)) ++n;
        return n == agents;
    };
    auto armed = [](const fleet::Status& x) { return x.state == "ready" && !x.faults.empty() && x.faults[0].armed; };
    auto t0 = Clock::now();
    while (!all(armed)) {
        if (Clock::now() - t0 > 120s || bench::g_stop) {
            kill(*pid, SIGKILL);
            waitpid(*pid, nullptr, 0);
            return plain_error("bench", "the cut was not in force on every agent; see " + sp.output);
        }
        std::this_thread::sleep_for(50ms);
    }
    std::string run;
    if (auto st = c->get_prefix(fleet::kStatusPrefix); st && !st->empty())
        run = fleet::status_from_json((*st)[0].value)->run;
    uint64_t killed = fleet::realtime_ns();
    kill(*pid, SIGKILL);
    waitpid(*pid, nullptr, 0);
    uint64_t last = 0;
    auto t1 = Clock::now();
    while (true) {
        auto st = c->get_prefix(fleet::kStatusPrefix);
        int n = 0;
        last = 0;
        if (st)
            for (auto& kv : *st)
                if (auto x = fleet::status_from_json(kv.value); x && x->run == run && x->state == "reverted") {
                    ++n;
                    for (auto& f : x->faults) last = std::max(last, f.applied_ns);
                }
        if (n == agents) break;
        if (Clock::now() - t1 > 60s) return plain_error("bench", "agents did not all revert within 60 s");
        std::this_thread::sleep_for(20ms);
    }
    // The killed controller's run lock is released with its process; its journal stays.
    return static_cast<double>(last - killed) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    bench::install_stop_handlers();
    std::vector<int> sizes;
    std::vector<bool> kinds{false, true};  // sever, power
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--kind" && i + 1 < argc) {
            std::string k = argv[++i];
            kinds = k == "sever"   ? std::vector<bool>{false}
                    : k == "power" ? std::vector<bool>{true}
                                   : std::vector<bool>{false, true};
        } else {
            sizes.push_back(std::atoi(argv[i]));
        }
    }
    if (sizes.empty()) sizes = {16, 64};
    const int reps = 7, deaths = 3, ttl = 3;
    std::printf("%-6s %6s  %-26s %5s %12s %12s %14s %10s\n", "fault", "agents", "activation", "steps", "spread med",
                "spread max", "last late med", "lead med");
    std::map<std::pair<bool, int>, std::vector<double>> death_ms;
    for (bool power : kinds)
        for (int n : sizes) {
            Setup s;
            if (auto r = bring_up(s, n, "1s", "5m", power); !r) {
                std::fprintf(stderr, "setup: %s\n", r.error().message().c_str());
                return 3;
            }
            double base_med = 0;
            struct Mode {
                const char* name;
                std::chrono::milliseconds lead;
                bool adaptive;
            };
            for (auto [name, lead, adaptive] :
                 {Mode{"on receipt (baseline)", 0ms, false}, Mode{"agreed instant (+150 ms)", 150ms, false},
                  Mode{"agreed instant (auto lead)", 150ms, true}}) {
                auto a = activation(s, lead, adaptive, reps);
                if (!a) {
                    std::fprintf(stderr, "activation: %s\n", a.error().message().c_str());
                    return 3;
                }
                double med = bench::median(a->spread_ms);
                if (lead.count() == 0) base_med = med;
                std::printf("%-6s %6d  %-26s %5zu %9.3f ms %9.3f ms %11.3f ms %7.0f ms", power ? "power" : "sever", n,
                            name, a->spread_ms.size(), med, *std::max_element(a->spread_ms.begin(), a->spread_ms.end()),
                            bench::median(a->late_ms), bench::median(a->lead_ms));
                if (lead.count()) std::printf("   spread %.2fx of on-receipt", base_med > 0 ? med / base_med : 0.0);
                std::printf("\n");
            }
            for (int d = 0; d < deaths && !bench::g_stop; ++d) {
                auto ms = controller_death(s, n, ttl);
                if (!ms) {
                    std::fprintf(stderr, "controller death: %s\n", ms.error().message().c_str());
                    return 3;
                }
                death_ms[{power, n}].push_back(*ms);
                std::this_thread::sleep_for(500ms);
            }
        }
    std::printf("\ncontroller kill -9 -> every agent reverted (run lease TTL %d s):\n", ttl);
    for (auto& [key, v] : death_ms) {
        auto [power, n] = key;
        std::sort(v.begin(), v.end());
        std::printf("%-6s %6d agents  %zu runs  median %8.1f ms  min %8.1f  max %8.1f  (%.2fx the TTL)\n",
                    power ? "power" : "sever", n, v.size(), bench::median(v), v.front(), v.back(),
                    bench::median(v) / (ttl * 1000.0));
    }
    return 0;
}
