// Abort latency on a 64-host lab of 3 zones: from the moment the abort is decided to the moment
// every fault is cleared and traffic flows again, seen by real traffic. Two faults are in force
// (z0 <-> {z1,z2} and z1 <-> z2: every zone isolated), each crossed by a paced UDP flow whose
// datagrams carry their CLOCK_MONOTONIC send time; "flowing again" is the send time of the first
// datagram sent after the decision that arrives, on the slower of the two flows.
//
//   engine:  a guard's decision in-process: the instant before NetEngine::heal_all().
//   runner:  the whole abort path of a run: the Runner (real hooks, the lab reused) with both
//            faults injected; the decision is the instant the run's abort file is created
//            (what `injector abort` does); the runner's AbortFileGuard polls it every tick.
// Needs root. The lab is taken down on every exit path.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "bench_lab.hpp"
#include "common/log.hpp"
#include "common/netns.hpp"
#include "common/paths.hpp"
#include "net/net_engine.hpp"
#include "runner/journal.hpp"
#include "runner/runner.hpp"
#include "support/fault_specs.hpp"

using namespace inj;
using namespace std::chrono_literals;

namespace {

constexpr int kZones = 3;
constexpr int kHosts = 64;
constexpr int64_t kIntervalNs = 20'000;
constexpr size_t kCapacity = 1'000'000;

struct Datagram {
    uint64_t seq;
    uint64_t sent_ns;
};

// A paced UDP flow between two lab namespaces (sender busy-waits; receiver marks arrivals).
class Flow {
public:
    Flow(std::string src, std::string dst, IpAddr addr, uint16_t port)
        : src_(std::move(src)),
          dst_(std::move(dst)),
          addr_(addr),
          port_(port),
          sent_(kCapacity, 0),
          got_(kCapacity, 0) {}
    ~Flow() { stop(); }

    Result<void> start() {
        std::promise<Result<void>> bound;
        auto ready = bound.get_future();
        rx_ = std::thread([this, p = std::move(bound)]() mutable { receive(p); });
        auto r = ready.get();
        if (!r.ok()) {
            stop();
            return r;
        }
        tx_ = std::thread([this] { send(); });
        return {};
    }
    void stop() {
        stop_tx_ = true;
        if (tx_.joinable()) tx_.join();
        if (rx_.joinable()) {
            std::this_thread::sleep_for(30ms);
            stop_rx_ = true;
            rx_.join();
        }
    }
    // Send time of the first datagram sent at or after `t` that arrived, or 0. Also whether the
    // last datagram sent before `t` was lost (the cut was in force at the decision).
    std::pair<uint64_t, bool> first_arrival_after(uint64_t t) const {
        bool cut = false;
        for (size_t i = 0; i < count_; ++i) {
            if (!sent_[i]) continue;
            if (sent_[i] < t) {
                cut = !got_[i];
                continue;
            }
            if (got_[i]) return {sent_[i], cut};
        }
        return {0, cut};
    }

    // Mean achieved spacing of the datagrams, in us: the resolution of the measurement.
    double mean_interval_us() const {
        uint64_t first = 0, last = 0;
        size_t n = 0;
        for (size_t i = 0; i < count_; ++i)
            if (sent_[i]) {
                if (!first) first = sent_[i];
                last = sent_[i];
                ++n;
            }
        return n > 1 ? static_cast<double>(last - first) / 1e3 / static_cast<double>(n - 1) : 0;
    }

private:
    sockaddr_in sa() const {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port_);
        a.sin_addr.s_addr = addr_.v4_be();
        return a;
    }
    void receive(std::promise<Result<void>>& bound) {
        auto g = NetnsGuard::enter(netns_path(dst_));
        if (!g.ok()) return bound.set_value(g.error());
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int buf = 16 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
        timeval tv{0, 20'000};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        auto a = sa();
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            auto e = errno_error("bind", addr_.str() + " in " + dst_);
            ::close(fd);
            return bound.set_value(e);
        }
        bound.set_value({});
        Datagram d{};
        while (!stop_rx_.load(std::memory_order_relaxed))
            if (::recv(fd, &d, sizeof d, 0) == sizeof d && d.seq < kCapacity) got_[d.seq] = 1;
        ::close(fd);
    }
    void send() {
        auto g = NetnsGuard::enter(netns_path(src_));
        if (!g.ok()) return;
        // Sleeping, not busy-waiting: two busy senders would take both cores of a small machine
        // from the runner whose abort path is being measured. Timer slack 1 ns keeps the
        // resolution near the interval.
        ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        auto a = sa();
        uint64_t next = monotonic_ns();
        size_t seq = 0;
        while (!stop_tx_.load(std::memory_order_relaxed) && seq < kCapacity) {
            timespec ts{static_cast<time_t>(next / 1'000'000'000ull), static_cast<long>(next % 1'000'000'000ull)};
            while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {}
            uint64_t now = monotonic_ns();
            Datagram d{seq, now};
            if (::sendto(fd, &d, sizeof d, 0, reinterpret_cast<sockaddr*>(&a), sizeof a) == sizeof d) sent_[seq] = now;
            ++seq;
            next = now + kIntervalNs;
        }
        count_ = seq;
        ::close(fd);
    }

    std::string src_, dst_;
    IpAddr addr_;
    uint16_t port_;
    std::vector<uint64_t> sent_;
    std::vector<uint8_t> got_;
    size_t count_ = 0;
    std::atomic<bool> stop_tx_{false}, stop_rx_{false};
    std::thread tx_, rx_;
};

plan::Plan make_plan() {
    auto p = bench::make_topology("bench-abort", kZones, kHosts);
    auto sever = [&](std::string name, std::vector<std::string> a, std::vector<std::string> b) {
        plan::Fault f;
        f.name = std::move(name);
        f.spec = plan::SeverSpec{};
        f.target.zones = std::move(a);
        f.peer.zones = std::move(b);
        set_side_direction(f, plan::Direction::both);
        f.at = 300ms;
        f.duration = 60s;
        p.method.push_back(f);
    };
    sever("cut-z0", {"z0"}, {"z1", "z2"});
    sever("cut-z1-z2", {"z1"}, {"z2"});
    return p;
}

struct Sample {
    double decide_to_flow_ms = 0;  // the figure: decision -> both flows flowing
    double call_ms = 0;            // engine: heal_all() call; runner: decision -> runner exit
};

// Both flows must have been cut at the decision and must flow again after it.
std::vector<double> g_spacing_us;

Result<double> settle_time(const std::vector<std::unique_ptr<Flow>>& flows, uint64_t decided) {
    double worst = 0;
    for (size_t i = 0; i < flows.size(); ++i) {
        g_spacing_us.push_back(flows[i]->mean_interval_us());
        auto [at, cut] = flows[i]->first_arrival_after(decided);
        if (!cut)
            return plain_error("measure", "flow " + std::to_string(i) + " was not cut when the abort was decided");
        if (!at) return plain_error("measure", "flow " + std::to_string(i) + " never flowed again");
        worst = std::max(worst, static_cast<double>(at - decided) / 1e6);
    }
    return worst;
}

Result<std::vector<std::unique_ptr<Flow>>> start_flows(const lab::LabState& st, uint16_t port) {
    // h0 (z0) -> h1 (z1) crosses cut-z0; h1 (z1) -> h2 (z2) crosses cut-z1-z2.
    std::vector<std::unique_ptr<Flow>> flows;
    flows.push_back(std::make_unique<Flow>(st.hosts[0].netns, st.hosts[1].netns, st.hosts[1].addresses[0].addr, port));
    flows.push_back(std::make_unique<Flow>(st.hosts[1].netns, st.hosts[2].netns, st.hosts[2].addresses[0].addr, port));
    for (auto& f : flows) INJ_TRY(f->start());
    return flows;
}

Result<Sample> engine_once(net::NetEngine& e, const lab::LabState& st, uint16_t port) {
    auto flows = start_flows(st, port);
    if (!flows) return flows.error();
    std::this_thread::sleep_for(30ms);
    for (size_t i = 0; i < 2; ++i) INJ_TRY(e.inject(i, monotonic_ns() + 60'000'000'000ull));
    std::this_thread::sleep_for(50ms);
    uint64_t decided = monotonic_ns();  // the guard has decided
    auto r = e.heal_all();
    uint64_t done = monotonic_ns();
    std::this_thread::sleep_for(50ms);
    for (auto& f : *flows) f->stop();
    if (!r.ok()) return r.error();
    auto t = settle_time(*flows, decided);
    if (!t) return t.error();
    return Sample{*t, static_cast<double>(done - decided) / 1e6};
}

Result<Sample> runner_once(const plan::Plan& plan, const lab::LabState& st, uint16_t port, int rep,
                           std::string* reason) {
    runner::RunOptions o;
    o.run_id = "bench-abort-" + std::to_string(getpid()) + "-" + std::to_string(rep);
    o.reuse_lab = true;
    o.keep_lab = true;
    runner::RunOutcome out;
    std::atomic<uint64_t> finished{0};
    std::thread t([&] {
        runner::Runner r(plan, o, runner::default_hooks());
        out = r.run();
        finished = monotonic_ns();
    });
    // Both injects journaled, then a little time in the cut.
    std::string journal = runs_root() + "/" + o.run_id + "/journal.jsonl";
    auto until = std::chrono::steady_clock::now() + 60s;
    int injected = 0;
    while (injected < 2 && finished == 0 && std::chrono::steady_clock::now() < until) {
        injected = 0;
        for (auto& e : runner::read_journal(journal))
            injected += e.value("event", "") == "inject" && e.value("ok", false);
        std::this_thread::sleep_for(5ms);
    }
    // The flows start inside the cut (the engine rows show they work outside it); their senders
    // busy-wait, so they run only around the decision, leaving the runner the CPU it has in a
    // real run.
    auto flows = start_flows(st, port);
    if (!flows) {
        { std::ofstream(runs_root() + "/" + o.run_id + "/abort") << "bench failed\n"; }
        t.join();
        return flows.error();
    }
    std::this_thread::sleep_for(50ms);
    uint64_t decided = monotonic_ns();
    { std::ofstream(runs_root() + "/" + o.run_id + "/abort") << "abort_latency bench\n"; }
    t.join();
    for (auto& f : *flows) f->stop();
    *reason = out.reason;
    if (out.exit_code != 2)
        return plain_error("runner", "run ended with exit " + std::to_string(out.exit_code) + ": " + out.reason);
    auto s = settle_time(*flows, decided);
    if (!s) return s.error();
    return Sample{*s, static_cast<double>(finished - decided) / 1e6};
}

void row(const char* name, const std::vector<Sample>& v) {
    std::vector<double> a, c;
    for (auto& s : v) {
        a.push_back(s.decide_to_flow_ms);
        c.push_back(s.call_ms);
    }
    std::sort(a.begin(), a.end());
    std::printf("%-8s %5zu %12.3f %12.3f %12.3f %14.3f\n", name, v.size(), bench::median(a), a.empty() ? 0 : a.front(),
                a.empty() ? 0 : a.back(), bench::median(c));
}

}  // namespace

int main(int argc, char** argv) {
    int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
    log::set_level(spdlog::level::warn);
    bench::install_stop_handlers();
    auto plan = make_plan();
    // The lab id the runner derives from the plan, so the runner reuses this lab.
    auto lab = bench::LabScope::up(plan, lab::id_for(plan));
    if (!lab.ok()) {
        std::fprintf(stderr, "abort_latency: lab up: %s\n", lab.error().message().c_str());
        return 3;
    }
    const auto& st = lab.value().state();
    std::vector<Sample> eng, run;
    std::vector<std::string> failures;
    {
        net::NetEngine e;
        if (auto r = e.prepare(plan, *inj::test::lab_view(plan, st), monotonic_ns() + 3'600'000'000'000ull); !r) {
            std::fprintf(stderr, "abort_latency: prepare: %s\n", r.error().message().c_str());
            return 3;
        }
        for (int i = 0; i < reps && !bench::g_stop; ++i) {
            auto s = engine_once(e, st, static_cast<uint16_t>(41000 + i));
            if (s)
                eng.push_back(*s);
            else
                failures.push_back("engine: " + s.error().message());
        }
    }
    std::string reason;
    for (int i = 0; i < reps && !bench::g_stop; ++i) {
        auto s = runner_once(plan, st, static_cast<uint16_t>(42000 + i), i, &reason);
        if (s)
            run.push_back(*s);
        else
            failures.push_back("runner: " + s.error().message());
    }
    int rc = lab.value().down().ok() ? 0 : 4;

    std::printf("\nabort latency, %d hosts in %d zones, 2 sever faults in force (every zone isolated); ms\n", kHosts,
                kZones);
    std::printf(
        "decision -> every fault cleared and traffic flowing on both cut paths (UDP paced at %.0f us,\n"
        "sleeping sender: achieved spacing is coarser, see resolution)\n",
        kIntervalNs / 1e3);
    std::printf("%-8s %5s %12s %12s %12s %14s\n", "path", "runs", "median", "min", "max", "call/exit med");
    row("engine", eng);
    row("runner", run);
    std::printf(
        "engine: decision = the instant before NetEngine::heal_all(); call = heal_all() duration\n"
        "runner: decision = the abort file written (as `injector abort` does); the run's guard polls\n"
        "        every tick (20 ms); exit = decision -> Runner::run() returned (heal, release, journal)\n");
    std::printf("resolution: datagrams every %.1f us (median of flow means)\n", bench::median(g_spacing_us));
    if (!reason.empty()) std::printf("runner abort reason: %s\n", reason.c_str());
    for (auto& f : failures) std::printf("FAILED repetition: %s\n", f.c_str());
    if (eng.empty() || run.empty()) rc = rc ? rc : 3;
    return rc;
}
