// What the netfault classifier costs traffic it does not cut: TCP throughput (iperf3, 3 s runs)
// between two lab hosts in different zones, routed through the fabric, with no classifier and
// with it attached in three states: rules installed for this pair but none armed (the state of
// every drill before its first fault), a fault armed between other zones (lookups only), and a
// gray-failure rule armed on this pair at a share no flow falls under (lookups, flow hash and
// rule loop on every packet, nothing dropped). Modes alternate run by run; medians of 5 runs.
// Needs root and iperf3. The lab is taken down on every exit path.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_lab.hpp"
#include "common/log.hpp"
#include "common/netns.hpp"
#include "common/proc.hpp"
#include "net/net_engine.hpp"
#include "runner/engine.hpp"
#include "support/fault_specs.hpp"

using namespace inj;
using namespace std::chrono_literals;

namespace {

constexpr int kRuns = 5;
constexpr const char* kSeconds = "3";
constexpr auto kClientTimeout = 20s;

// The iperf3 server, started in a host namespace and ended by its pid when the scope ends.
class Server {
public:
    static Result<Server> start(const std::string& netns, const IpAddr& addr) {
        SpawnSpec spec;
        spec.argv = {"iperf3", "-s", "-B", addr.str()};
        spec.netns = netns_path(netns);
        spec.die_with_parent = true;  // a crashed benchmark leaves no server behind
        auto pid = spawn(spec);
        if (!pid.ok()) return pid.error();
        Server s(*pid);
        // Ready when it listens; iperf3 has no readiness signal of its own.
        for (int i = 0; i < 100; ++i) {
            auto r = run({"ss", "-Hltn", "sport = :5201"}, 5s, netns_path(netns));
            if (r.ok() && r->output.find("5201") != std::string::npos) return s;
            if (!process_alive(*pid)) return plain_error("iperf3 -s", "exited before listening");
            std::this_thread::sleep_for(50ms);
        }
        return plain_error("iperf3 -s", "not listening on 5201 after 5 s");
    }
    Server(Server&& o) noexcept : pid_(o.pid_) { o.pid_ = 0; }
    Server& operator=(Server&&) = delete;
    ~Server() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        for (int i = 0; i < 50; ++i) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
            std::this_thread::sleep_for(20ms);
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
    }

private:
    explicit Server(pid_t pid) : pid_(pid) {}
    pid_t pid_ = 0;
};

// One iperf3 client run: received bits per second.
Result<double> iperf(const std::string& netns, const IpAddr& server) {
    auto r = run({"iperf3", "-c", server.str(), "-t", kSeconds, "-J"}, kClientTimeout, netns_path(netns));
    if (!r.ok()) return r.error();
    if (r->exit_code != 0)
        return plain_error("iperf3 -c", "exit " + std::to_string(r->exit_code) + ": " + r->output.substr(0, 400));
    try {
        auto j = nlohmann::json::parse(r->output);
        return j.at("end").at("sum_received").at("bits_per_second").get<double>();
    } catch (const std::exception& e) {
        return plain_error("iperf3 -J output", e.what());
    }
}

enum class Mode { off, installed, armed_other, gray_pair };

const char* mode_name(Mode m) {
    switch (m) {
        case Mode::off: return "no classifier";
        case Mode::installed: return "attached, pair rule disarmed";
        case Mode::armed_other: return "attached, other zones cut";
        case Mode::gray_pair: return "attached, pair rule armed ~0%";
    }
    return "?";
}

// The plan the engine is prepared with in each mode: hosts h0 (z0), h1 (z1), h2 (z2); iperf3
// runs h0 -> h1.
plan::Plan plan_for(Mode m) {
    auto p = bench::make_topology("bench-idle", 3, 3);
    plan::Fault f;
    f.spec = plan::SeverSpec{};
    f.duration = std::chrono::seconds(60);
    if (m == Mode::armed_other) {
        // z2 against the rest: z0 and z1 sit on the same (peer) side, so their packets match no
        // rule and the program stops after the lookups.
        f.name = "cut-z2";
        f.target.zones = {"z2"};
        f.peer.rest = true;
    } else {
        f.name = "cut-pair";
        f.target.zones = {"z0"};
        f.peer.zones = {"z1"};
        // A share of one flow in 10^9: the rule is armed and every packet runs the flow hash
        // and the rule loop, yet (barring a one-in-a-billion hash) this flow is not cut.
        if (m == Mode::gray_pair) set_side_share(f, 1e-9);
    }
    p.method.push_back(f);
    return p;
}

struct Sample {
    double bps = 0;
    uint64_t passed = 0, dropped = 0;  // rule counters over the run (loop engaged / cut)
};

Result<Sample> run_mode(Mode m, const lab::LabState& lab, const IpAddr& server) {
    Sample s;
    std::optional<net::NetEngine> engine;
    if (m != Mode::off) {
        engine.emplace();
        const plan::Plan plan = plan_for(m);
        INJ_TRY(engine->prepare(plan, *inj::test::lab_view(plan, lab), monotonic_ns() + 600'000'000'000ull));
        if (m != Mode::installed) INJ_TRY(engine->inject(0, monotonic_ns() + 60'000'000'000ull));
    }
    auto bps = iperf(lab.hosts[0].netns, server);
    if (engine) {
        for (auto& c : engine->counters()) {
            s.passed += c.passed;
            s.dropped += c.dropped;
        }
        (void)engine->heal_all();
        engine->release();
    }
    if (!bps.ok()) return bps.error();
    s.bps = bps.value();
    return s;
}

}  // namespace

int main() {
    log::set_level(spdlog::level::warn);
    bench::install_stop_handlers();
    const std::string id = "bidle";
    int rc = 0;
    {
        auto lab = bench::LabScope::up(plan_for(Mode::off), id);
        if (!lab.ok()) {
            std::fprintf(stderr, "idle_throughput: lab up: %s\n", lab.error().message().c_str());
            return 3;
        }
        const auto& st = lab->state();
        IpAddr server_addr = st.hosts[1].addresses[0].addr;
        auto started = Server::start(st.hosts[1].netns, server_addr);
        if (!started.ok()) {
            std::fprintf(stderr, "idle_throughput: %s\n", started.error().message().c_str());
            return 3;
        }
        std::optional<Server> server(std::move(started.value()));
        const std::vector<Mode> modes{Mode::off, Mode::installed, Mode::armed_other, Mode::gray_pair};
        std::vector<std::vector<Sample>> samples(modes.size());
        std::vector<std::string> failures;
        // Round r runs every mode once, starting at a different one each round, so neither a
        // position in the round nor drift in the machine's load favours a mode.
        for (int r = 0; r < kRuns && !bench::g_stop.load(); ++r)
            for (size_t k = 0; k < modes.size() && !bench::g_stop.load(); ++k) {
                size_t i = (k + static_cast<size_t>(r)) % modes.size();
                auto s = run_mode(modes[i], st, server_addr);
                if (s.ok())
                    samples[i].push_back(s.value());
                else
                    failures.push_back(std::string(mode_name(modes[i])) + ": " + s.error().message());
            }

        std::printf("TCP throughput %s (zone z0) -> %s (zone z1) through the fabric, iperf3 -t %s; median of %d runs\n",
                    st.hosts[0].name.c_str(), st.hosts[1].name.c_str(), kSeconds, kRuns);
        std::printf("%-32s %12s %12s %12s %10s %14s %10s\n", "mode", "median Gb/s", "min", "max", "x off",
                    "rule passes", "drops");
        double base = 0;
        for (size_t i = 0; i < modes.size(); ++i) {
            std::vector<double> v;
            uint64_t passed = 0, dropped = 0;
            for (auto& s : samples[i]) {
                v.push_back(s.bps / 1e9);
                passed += s.passed;
                dropped += s.dropped;
            }
            if (v.empty()) {
                std::printf("%-32s   every run failed\n", mode_name(modes[i]));
                continue;
            }
            double med = bench::median(v);
            if (modes[i] == Mode::off) base = med;
            char ratio[32] = "-";
            if (base > 0) std::snprintf(ratio, sizeof ratio, "%.1f%%", 100.0 * med / base);
            std::printf("%-32s %12.2f %12.2f %12.2f %10s %14llu %10llu\n", mode_name(modes[i]), med,
                        *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()), ratio,
                        static_cast<unsigned long long>(passed), static_cast<unsigned long long>(dropped));
        }
        std::printf(
            "rule passes/drops: packets that reached the rule loop and passed / were dropped, summed over\n"
            "the runs (0 passes: the program stopped after the address lookups).\n");
        for (auto& f : failures) std::printf("run failed: %s\n", f.c_str());
        if (!failures.empty()) rc = 1;
        server.reset();  // by its pid, before the lab goes
        if (!lab->down().ok()) rc = 4;
    }
    if (auto left = bench::netns_left(id); !left.empty()) {
        for (auto& l : left) std::fprintf(stderr, "namespace left behind: %s\n", l.c_str());
        return 4;
    }
    std::printf("teardown: iperf3 server stopped, lab removed; no inj-%s-* namespace left\n", id.c_str());
    return rc;
}
