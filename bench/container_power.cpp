// Power loss of real containers: 8 and 32 Podman containers (each an HTTP server in its own
// namespace, see tests/support/container_world.hpp) lose every process at once, then come back.
// Methods, each in the same run on the same containers:
//   cgroup.kill  one write per container to its own cgroup's cgroup.kill (kill_container_processes,
//                what a power_loss on container targets does), in one pass;
//   podman kill  `podman kill ID` of each container in turn (a script over the containers);
//   podman stop  `podman stop -t 10 ID` of each in turn (SIGTERM through the init; the services
//                exit at once on it).
// Figures per method (medians over the rounds): "dark" = first kill issued -> every container's
// processes gone (its init and its service no longer alive); "back" = ensure_running of all (one
// inspect, one `podman start ID...` of those stopped, again until each runs; what the watcher does)
// -> every container answering HTTP from the client namespace; "outage" = the two together
// plus the gap between them (the start is issued as soon as all are dark).
//
// Needs root, podman, runc; uses 198.19.241.0/24 and names inj-test-cpow-*. Usage:
//   container_power [--sizes 8,32] [--rounds 3]
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

#include "bench_lab.hpp"
#include "support/container_world.hpp"
#include "targets/container.hpp"

namespace inj {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

volatile sig_atomic_t g_stop = 0;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

Result<std::vector<targets::Container>> resolve_all(const test::ContainerWorld& w) {
    std::vector<targets::Container> out;
    for (int i = 0; i < w.count(); ++i) {
        auto c = targets::resolve_container(w.name(i), targets::podman_runtime());
        if (!c) return std::move(c).error();
        out.push_back(std::move(*c));
    }
    return out;
}

bool all_dark(const std::vector<targets::Container>& cs) {
    for (auto& c : cs)
        if (targets::pid_alive(c.main_pid) || targets::pid_alive(c.service_pid)) return false;
    return true;
}

struct Round {
    double dark = 0, back = 0, outage = 0;
};

// One kill by `method`, then one start of all, timed. An error when something did not happen.
Result<Round> one_round(const test::ContainerWorld& w, const std::string& method) {
    INJ_ASSIGN_OR_RETURN(auto cs, resolve_all(w));
    Round r;
    auto t0 = Clock::now();
    for (auto& c : cs) {
        if (method == "cgroup.kill") {
            auto k = targets::kill_container_processes(c);
            if (!k) return std::move(k).error();
        } else {
            auto argv = method == "podman kill" ? c.kill_command() : c.stop_command(10);
            auto k = run(argv, 60s);
            if (!k || k->exit_code != 0)
                return plain_error(method + " " + c.inspect.name, k ? k->output : k.error().message());
        }
    }
    while (!all_dark(cs)) {
        if (Clock::now() - t0 > 60s) return plain_error(method, "containers still alive after 60 s");
        std::this_thread::sleep_for(200us);
    }
    auto t1 = Clock::now();
    r.dark = ms(t1 - t0);
    std::vector<std::string> ids;
    for (auto& c : cs) ids.push_back(c.inspect.id);
    INJ_TRY(targets::ensure_running(test::podman(), ids, 120s));
    auto up = w.await_serving(60s);
    if (!up) return std::move(up).error();
    auto t2 = Clock::now();
    r.back = ms(t2 - t1);
    r.outage = ms(t2 - t0);
    return r;
}

int bench_size(int n, int rounds) {
    test::ContainerWorld w("cpow", n, 241);
    auto made = w.create();
    if (!made) {
        std::fprintf(stderr, "container world of %d: %s\n", n, made.error().message().c_str());
        auto rm = w.remove();
        return 1;
    }
    const std::vector<std::string> methods = {"cgroup.kill", "podman kill", "podman stop"};
    std::map<std::string, std::vector<Round>> got;
    int rc = 0;
    // Rounds interleave the methods so drift in the machine's load spreads over all of them.
    for (int k = 0; k < rounds && !g_stop && rc == 0; ++k)
        for (auto& m : methods) {
            auto r = one_round(w, m);
            if (!r) {
                std::fprintf(stderr, "%d containers, %s: %s\n", n, m.c_str(), r.error().message().c_str());
                rc = 1;
                break;
            }
            got[m].push_back(*r);
        }
    for (auto& m : methods) {
        std::vector<double> d, b, o;
        for (auto& r : got[m]) {
            d.push_back(r.dark);
            b.push_back(r.back);
            o.push_back(r.outage);
        }
        std::printf("%10d  %-12s %6zu %12.1f %12.1f %12.1f\n", n, m.c_str(), d.size(), bench::median(d),
                    bench::median(b), bench::median(o));
    }
    std::fflush(stdout);
    auto rm = w.remove();
    if (!rm) {
        std::fprintf(stderr, "%s\n", rm.error().message().c_str());
        rc = 1;
    }
    return rc;
}

}  // namespace
}  // namespace inj

int main(int argc, char** argv) {
    std::vector<int> sizes = {8, 32};
    int rounds = 3;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--rounds" && i + 1 < argc) {
            rounds = std::atoi(argv[++i]);
        } else if (a == "--sizes" && i + 1 < argc) {
            sizes.clear();
            for (char* t = std::strtok(argv[++i], ","); t; t = std::strtok(nullptr, ",")) sizes.push_back(std::atoi(t));
        } else {
            std::fprintf(stderr, "usage: container_power [--sizes 8,32] [--rounds 3]\n");
            return 64;
        }
    }
    struct sigaction sa {};
    sa.sa_handler = [](int) { inj::g_stop = 1; };
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::printf("%10s  %-12s %6s %12s %12s %12s\n", "containers", "method", "rounds", "dark ms", "back ms",
                "outage ms");
    int rc = 0;
    for (int n : sizes)
        if (n >= 1 && n <= 63 && !inj::g_stop) rc |= inj::bench_size(n, rounds);
    return rc;
}
