// degrade_link on real traffic in a two-zone lab (h0 in z0, h1 in z1, routed by the fabric):
//   1. latency accuracy: round trips of small UDP datagrams with no fault, then with 1/10/50 ms
//      added each way (the delay line here): added round trip against the asked 2 x delay;
//   2. packet rate: a UDP flood h0 -> h1 for 2 s, received packets per second with no fault
//      and through the delay line (10 ms);
//   3. throughput under a cap: iperf3 TCP h0 -> h1 with 10/50/200 Mbit/s caps, against the cap
//      and against the uncapped path of the same run.
// Figures are medians over repetitions; needs root and the lab range (run under the lock).
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "bench_lab.hpp"
#include "common/log.hpp"
#include "common/netns.hpp"
#include "net/net_engine.hpp"
#include "runner/engine.hpp"
#include "support/fault_specs.hpp"

using namespace inj;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Fd {
    int fd = -1;
    explicit Fd(int f = -1) : fd(f) {}
    Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

sockaddr_in addr_of(const IpAddr& ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = ip.v4_be();
    return a;
}

Fd udp_in(const std::string& ns, const IpAddr& ip, uint16_t port) {
    auto g = NetnsGuard::enter(netns_path(ns));
    if (!g.ok()) return Fd{};
    Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int big = 16 << 20;
    setsockopt(s.fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    auto a = addr_of(ip, port);
    if (bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd{};
    return s;
}

struct World {
    const lab::LabState& lab;
    std::string ns_a, ns_b;
    IpAddr a, b;
};

// Round trips (ms) of n datagrams a -> b -> a, 5 ms apart.
std::vector<double> rtts(const World& w, int n) {
    std::vector<double> out;
    Fd echo = udp_in(w.ns_b, w.b, 7007);
    Fd tx = udp_in(w.ns_a, w.a, 0);
    if (echo.fd < 0 || tx.fd < 0) return out;
    std::atomic<bool> stop{false};
    std::thread t([&] {
        char buf[256];
        while (!stop) {
            pollfd p{echo.fd, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0) continue;
            sockaddr_in from{};
            socklen_t len = sizeof from;
            ssize_t r = recvfrom(echo.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (r > 0) sendto(echo.fd, buf, r, 0, reinterpret_cast<sockaddr*>(&from), len);
        }
    });
    auto dst = addr_of(w.b, 7007);
    for (int i = 0; i < n && !bench::g_stop; ++i) {
        uint32_t seq = i;
        auto t0 = Clock::now();
        sendto(tx.fd, &seq, 4, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
        for (;;) {
            pollfd p{tx.fd, POLLIN, 0};
            if (poll(&p, 1, 2000) <= 0) break;
            uint32_t back = 0;
            if (recv(tx.fd, &back, 4, 0) == 4 && back == seq) {
                out.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
                break;
            }
        }
        std::this_thread::sleep_for(5ms);
    }
    stop = true;
    t.join();
    return out;
}

// Packets per second received at b while a floods it for `secs` (64-byte datagrams).
double flood_pps(const World& w, double secs) {
    Fd rx = udp_in(w.ns_b, w.b, 7010);
    Fd tx = udp_in(w.ns_a, w.a, 0);
    if (rx.fd < 0 || tx.fd < 0) return 0;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> got{0};
    std::thread r([&] {
        char buf[256];
        while (!stop) {
            pollfd p{rx.fd, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0) continue;
            while (recv(rx.fd, buf, sizeof buf, MSG_DONTWAIT) > 0) got++;
        }
    });
    auto dst = addr_of(w.b, 7010);
    char payload[64] = {};
    auto end = Clock::now() + std::chrono::duration<double>(secs);
    while (Clock::now() < end) sendto(tx.fd, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    // What the line still holds arrives after the delay: wait for it before counting.
    std::this_thread::sleep_for(300ms);
    stop = true;
    r.join();
    return static_cast<double>(got.load()) / secs;
}

// iperf3 a -> b for 4 s (first second omitted), Mbit/s received.
double iperf_mbit(const World& w) {
    // The server's own result is not needed: the client's report says whether a transfer ran.
    std::thread server([&] {
        (void)run({"iperf3", "-s", "-1", "-B", w.b.str(), "-p", "5202"}, 30s, netns_path(w.ns_b));
    });
    std::this_thread::sleep_for(400ms);
    auto r = run({"iperf3", "-c", w.b.str(), "-p", "5202", "-t", "4", "-O", "1", "-J"}, 30s, netns_path(w.ns_a));
    server.join();
    if (!r.ok()) return 0;
    auto j = nlohmann::json::parse(r->output, nullptr, false);
    if (!j.is_object()) return 0;
    return j["end"]["sum_received"].value("bits_per_second", 0.0) / 1e6;
}

// A prepared and injected engine for one degrade_link z0 <-> z1.
struct Fault {
    net::NetEngine engine;
    bool ok = false;
    Fault(plan::Plan plan, const lab::LabState& lab, const plan::LinkDegrade& d) {
        plan::Fault f;
        f.name = "bench";
        f.spec = plan::DegradeLinkSpec{};
        f.target.zones = {"z0"};
        f.peer.zones = {"z1"};
        std::get<plan::DegradeLinkSpec>(f.spec).link = d;
        plan.method = {f};
        auto p = engine.prepare(plan, *inj::test::lab_view(plan, lab), monotonic_ns() + 600ull * 1'000'000'000ull);
        if (!p.ok()) {
            std::fprintf(stderr, "prepare: %s\n", p.error().message().c_str());
            return;
        }
        ok = engine.inject(0, monotonic_ns() + 500ull * 1'000'000'000ull).ok();
    }
    ~Fault() { engine.release(); }
};

}  // namespace

int main() {
    log::set_level(spdlog::level::warn);
    bench::install_stop_handlers();
    auto plan = bench::make_topology("dlbench", 2, 2);
    auto scope = bench::LabScope::up(plan, "dlbench");
    if (!scope.ok()) {
        std::fprintf(stderr, "lab up: %s\n", scope.error().message().c_str());
        return 3;
    }
    const auto& lab = scope->state();
    World w{lab, lab.hosts[0].netns, lab.hosts[1].netns, lab.hosts[0].addresses[0].addr,
            lab.hosts[1].addresses[0].addr};
    rtts(w, 3);  // neighbours resolved

    std::printf("1. latency accuracy (delay line; UDP round trips h0 <-> h1 across zones, delay both ways)\n");
    std::printf("%-10s %8s %12s %12s %12s %12s\n", "delay", "samples", "base ms", "added ms", "asked ms", "p99 err ms");
    for (int ms : {1, 10, 50}) {
        auto base = rtts(w, 100);
        plan::LinkDegrade d;
        d.delay = std::chrono::milliseconds(ms);
        Fault f(plan, lab, d);
        if (!f.ok) return 3;
        auto slow = rtts(w, ms >= 50 ? 60 : 100);
        double b = bench::median(base);
        std::vector<double> err;
        for (double s : slow) err.push_back(std::fabs(s - b - 2.0 * ms));
        std::sort(err.begin(), err.end());
        double p99 = err.empty() ? 0 : err[std::min(err.size() - 1, err.size() * 99 / 100)];
        std::printf("%-10s %8zu %12.3f %12.3f %12d %12.3f\n", (std::to_string(ms) + "ms").c_str(), slow.size(), b,
                    bench::median(slow) - b, 2 * ms, p99);
        if (bench::g_stop) return 2;
    }

    std::printf("\n2. packet rate through the delay line (UDP flood h0 -> h1, 64-byte payloads, 2 s; median of 3)\n");
    std::vector<double> plain, delayed;
    uint64_t overflow = 0;
    for (int rep = 0; rep < 3 && !bench::g_stop; ++rep) plain.push_back(flood_pps(w, 2.0));
    {
        plan::LinkDegrade d;
        d.delay = 10ms;
        Fault f(plan, lab, d);
        if (!f.ok) return 3;
        for (int rep = 0; rep < 3 && !bench::g_stop; ++rep) delayed.push_back(flood_pps(w, 2.0));
        overflow = f.engine.delay_stats(0).overflow;
    }
    double pb = bench::median(plain), pd = bench::median(delayed);
    std::printf("%-34s %12.0f pkt/s\n", "no fault (baseline)", pb);
    std::printf("%-34s %12.0f pkt/s  (x %.2f of baseline; %llu dropped by a full line)\n", "delay line, 10 ms", pd,
                pb > 0 ? pd / pb : 0.0, static_cast<unsigned long long>(overflow));

    std::printf("\n3. TCP throughput under a rate cap (iperf3 h0 -> h1, 4 s after 1 s warm-up; median of 3)\n");
    std::vector<double> open;
    for (int rep = 0; rep < 3 && !bench::g_stop; ++rep) open.push_back(iperf_mbit(w));
    std::printf("%-14s %14s %10s\n", "cap", "Mbit/s", "x cap");
    std::printf("%-14s %14.1f %10s\n", "none", bench::median(open), "-");
    for (int cap : {10, 50, 200}) {
        plan::LinkDegrade d;
        d.rate_bps = static_cast<uint64_t>(cap) * 1'000'000;
        Fault f(plan, lab, d);
        if (!f.ok) return 3;
        std::vector<double> got;
        for (int rep = 0; rep < 3 && !bench::g_stop; ++rep) got.push_back(iperf_mbit(w));
        double m = bench::median(got);
        std::printf("%-14s %14.1f %10.3f\n", (std::to_string(cap) + " Mbit/s").c_str(), m, m / cap);
    }
    auto down = scope->down();
    return down.ok() ? 0 : 4;
}
