// Shared by the crash tests: plans written as YAML for the real `injector` binary, the runner
// spawned and killed as a user's kill -9 would, its journal found and polled, TCP reachability
// between lab namespaces, `injector recover` and scripts/check-clean.sh.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "common/netns.hpp"
#include "common/paths.hpp"
#include "common/proc.hpp"
#include "common/tcp.hpp"
#include "runner/journal.hpp"
#include "support/test_support.hpp"

namespace inj::crashtest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct PlanSpec {
    std::string name;
    int zones = 3;  // zone z<i> with one host h<i>, etcd on each
    std::string fault_at = "1s";
    std::string fault_for = "60s";
    std::string max_duration = "2m";
    std::string slo_window = "2s";
};

// Zone z0 is severed from the others. Every host runs a single-member etcd (Debian's
// etcd-server, ready in ~100 ms) so there is a TCP listener on each side of the cut; the probe
// connects from control to h1's etcd, which the cut does not touch.
inline std::string plan_yaml(const PlanSpec& s) {
    std::string y = "name: " + s.name + "\ndescription: crash test plan\ntopology:\n  zones:\n";
    for (int i = 0; i < s.zones; ++i)
        y += "    - { name: z" + std::to_string(i) + ", power_domains: [z" + std::to_string(i) + "-pd] }\n";
    y += "  hosts:\n";
    for (int i = 0; i < s.zones; ++i)
        y += "    - { name: h" + std::to_string(i) + ", zone: z" + std::to_string(i) + " }\n";
    y += "lab:\n  ready_timeout: 30s\n  services:\n    - name: etcd\n      hosts: [";
    for (int i = 0; i < s.zones; ++i) y += (i ? ", h" : "h") + std::to_string(i);
    y += R"(]
      port: 2379
      volume: etcd-data
      command: >-
        etcd --name {host} --data-dir {volume}
        --listen-client-urls http://{addr}:2379 --advertise-client-urls http://{addr}:2379
        --listen-peer-urls http://{addr}:2380 --initial-advertise-peer-urls http://{addr}:2380
        --initial-cluster {host}=http://{addr}:2380
      ready: { tcp: "{addr}:2379", timeout: 20s }
steady_state:
  probes:
    - name: h1-tcp
      tcp: "{addr:h1}:2379"
      every: 200ms
      timeout: 500ms
      slo: { success_rate: 0.9, window: )" +
         s.slo_window + R"( }
method:
  - name: cut-z0
    fault: sever
    at: )" +
         s.fault_at + R"(
    duration: )" +
         s.fault_for + R"(
    target: { zone: z0 }
    peer: { zone: [)";
    for (int i = 1; i < s.zones; ++i) y += (i > 1 ? ", z" : "z") + std::to_string(i);
    y += "] }\n    direction: both\nsafety:\n  max_duration: " + s.max_duration + "\n";
    return y;
}

// A private directory for plans and runner output, removed with the fixture.
class TempDir {
public:
    TempDir() {
        char t[] = "/tmp/inj-crash-XXXXXX";
        if (::mkdtemp(t)) path_ = t;
    }
    ~TempDir() {
        std::error_code ec;
        if (!path_.empty()) std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path_ + "/" + name) << text;
        return path_ + "/" + name;
    }

private:
    std::string path_;
};

inline std::string injector() { return test::binary_path("injector/injector"); }

inline std::string slurp(const std::string& file) {
    std::ifstream in(file);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

// `injector run PLAN --json`, started in the background; output to `out`.
inline Result<pid_t> start_run(const std::string& plan, const std::string& out) {
    SpawnSpec spec;
    spec.argv = {injector(), "--log-level", "info", "run", plan, "--json"};
    spec.output = out;
    spec.die_with_parent = true;  // a failing test must not leave a runner behind
    return spawn(spec);
}

// Waits for the runner to exit; its exit code, or -1 after `bound` (it is then killed).
inline int wait_exit(pid_t pid, std::chrono::nanoseconds bound) {
    auto until = Clock::now() + bound;
    int status = 0;
    while (Clock::now() < until) {
        if (::waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        std::this_thread::sleep_for(20ms);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
}

inline void kill9(pid_t pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
}

// When a live process started, on CLOCK_MONOTONIC (what run_start's mono_ns is on); 0 when it
// cannot tell. /proc/PID/stat counts clock ticks since boot (CLOCK_BOOTTIME).
inline uint64_t process_start_mono_ns(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), {});
    auto close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream fields(stat.substr(close + 1));
    std::string f;
    for (int i = 0; i < 20 && fields >> f; ++i) {}  // fields 3..22: the 20th is starttime
    uint64_t ticks = 0;
    try {
        ticks = std::stoull(f);
    } catch (...) {
        return 0;
    }
    timespec boot{}, mono{};
    ::clock_gettime(CLOCK_BOOTTIME, &boot);
    ::clock_gettime(CLOCK_MONOTONIC, &mono);
    const int64_t suspended = (boot.tv_sec - mono.tv_sec) * 1'000'000'000ll + (boot.tv_nsec - mono.tv_nsec);
    const int64_t start =
        static_cast<int64_t>(ticks * (1'000'000'000ull / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK))));
    const int64_t slack = 50'000'000;  // a tick of granularity, and then some
    return start - suspended - slack > 0 ? static_cast<uint64_t>(start - suspended - slack) : 0;
}

// The journal of the run whose run_start names `pid`, once it exists: the newest such that began
// at or after `since_mono_ns` (pids are reused: an earlier run's journal may name the same pid).
inline std::optional<std::string> journal_of(pid_t pid, uint64_t since_mono_ns = 0) {
    std::error_code ec;
    std::optional<std::string> best;
    uint64_t best_ns = 0;
    for (auto& d : std::filesystem::directory_iterator(runs_root(), ec)) {
        std::string j = d.path().string() + "/journal.jsonl";
        for (auto& e : runner::read_journal(j))
            if (e.value("event", "") == "run_start") {
                const uint64_t ns = e.value("mono_ns", uint64_t{0});
                if (e.value("pid", 0) == pid && ns >= since_mono_ns && (!best || ns > best_ns)) {
                    best = j;
                    best_ns = ns;
                }
                break;  // run_start is the first event
            }
    }
    return best;
}

// Polls the journal of `pid` until `event` appears (true) or `bound` passes or the runner exits.
inline bool wait_event(pid_t pid, const std::string& event, std::chrono::nanoseconds bound) {
    auto until = Clock::now() + bound;
    const uint64_t since = process_start_mono_ns(pid);  // not an earlier run that had this pid
    while (Clock::now() < until) {
        if (auto j = journal_of(pid, since))
            for (auto& e : runner::read_journal(*j))
                if (e.value("event", "") == event) return true;
        if (!process_alive(pid)) return false;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

// Non-blocking TCP connect from inside `netns` (path) to addr:port: true when it completes
// within `timeout`. Only this thread enters the namespace.
inline bool tcp_connects(const std::string& netns, const std::string& addr, int port,
                         std::chrono::milliseconds timeout) {
    auto g = NetnsGuard::enter(netns);
    auto ip = IpAddr::parse(addr);
    return g && ip && tcp_connect(*ip, port, timeout).ok();
}

// One-way UDP from `from_ns` to addr:port bound inside `to_ns`: true when a datagram arrives
// within `timeout`. One-way: no answer has to come back, as a real sender's
// heartbeat or gossip would not wait for one.
inline bool udp_arrives(const std::string& from_ns, const std::string& to_ns, const IpAddr& addr, int port,
                        std::chrono::milliseconds timeout) {
    int rx = -1, tx = -1;
    {
        auto g = NetnsGuard::enter(to_ns);
        if (!g) return false;
        rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    }
    {
        auto g = NetnsGuard::enter(from_ns);
        if (!g) {
            close(rx);
            return false;
        }
        tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&sa.sin_addr, addr.bytes.data(), 4);
    int one = 1;
    setsockopt(rx, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = bind(rx, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    auto until = Clock::now() + timeout;
    bool got = false;
    while (ok && !got && Clock::now() < until) {
        sendto(tx, "x", 1, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        pollfd p{rx, POLLIN, 0};
        got = poll(&p, 1, 30) > 0;
    }
    close(rx);
    close(tx);
    return got;
}

struct Cli {
    int exit_code = -1;
    std::string output;
};

inline Cli cli(const std::vector<std::string>& args, std::chrono::nanoseconds timeout = 2min) {
    std::vector<std::string> argv{injector()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv, timeout);
    if (!r) return {-1, r.error().message()};
    return {r->exit_code, r->output};
}

// Polls pred() every 20 ms until it holds: how long that took, or nullopt after `bound`.
template <typename P>
std::optional<std::chrono::milliseconds> until(P pred, std::chrono::milliseconds bound) {
    auto t0 = Clock::now();
    while (Clock::now() - t0 < bound) {
        if (pred()) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
        std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
}

// The report `injector run --json` printed last in `output` (after any log lines), or discarded.
inline nlohmann::json report_of(const std::string& output) {
    auto start = output.rfind("\n{");
    return nlohmann::json::parse(start == std::string::npos ? output : output.substr(start + 1), nullptr, false);
}

// scripts/check-clean.sh: "" when the machine holds nothing of the injector, else its report.
inline std::string leftovers() {
    auto r = run_shell(test::source_path("scripts/check-clean.sh"), 30s);
    if (!r) return r.error().message();
    return r->exit_code == 0 ? "" : r->output;
}

}  // namespace inj::crashtest
