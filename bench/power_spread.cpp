// Power-loss spread: for a power domain of N hosts (8, 32, 128), the time between the first and
// the last host going dark, for the network (every host's packets stop) and for the processes
// (every host's service dies), with the injector's power_loss (one rule write, then cgroup.kill
// of every host in one pass) against the same cut applied host by host with commands, as a
// script over the hosts would: `iptables -I FORWARD -s ADDR -j DROP` or `ip link set PORT down`
// per host for the network, `kill -9 PID` per host for the processes.
//
// How "dark" is seen: one sender thread sends a UDP datagram from every dark host in turn (a
// socket opened inside each host's namespace), round after round, each carrying its send time; a
// receiver in a peer zone keeps, per host, the send time of the last datagram that got through.
// A host went dark between that send and its next one (one round later), so network spreads are
// good to one round (printed). For processes two figures: the kill spread (first to last
// SIGKILL delivered: the cgroup.kill writes, or the kill commands) and the exit spread (first to
// last process gone, stamped through pidfds: bounded by the kernel's exit work on this
// machine's cores, whoever sends the signals).
//
// Needs root; brings up a lab (one at a time on this machine). Usage:
//   power_spread [--sizes 8,32,128] [--reps 5]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "bench_lab.hpp"
#include "common/log.hpp"
#include "common/netns.hpp"
#include "faults/power_loss/power_engine.hpp"
#include "lab/targets.hpp"
#include "net/net_engine.hpp"

namespace inj {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr uint16_t kPort = 9999;

plan::Plan make_plan(int n) {
    plan::Plan p;
    p.name = "power-spread";
    p.file = "<power_spread>";
    p.safety.max_duration = std::chrono::minutes(30);
    p.lab.ready_timeout = 30s;
    const char* zones[] = {"dark", "peer"};
    for (int z = 0; z < 2; ++z) {
        plan::Zone zone;
        zone.name = zones[z];
        zone.power_domains = {zone.name + "-pd"};
        zone.subnet = bench::zone_subnet(z);
        p.topology.zones.push_back(zone);
        p.topology.power_domains.push_back({zone.name + "-pd", zone.name, {}});
    }
    plan::Service load;
    load.name = "load";
    load.command = "exec sleep 100000";
    for (int i = 0; i <= n; ++i) {
        plan::Host h;
        bool peer = i == n;
        h.name = peer ? "peer" : "d" + std::to_string(i);
        h.zone = peer ? "peer" : "dark";
        h.power_domain = h.zone + "-pd";
        h.addresses.push_back(Cidr{bench::zone_subnet(peer ? 1 : 0).nth(2 + (peer ? 0 : i)), 22});
        if (!peer) load.hosts.push_back(h.name);
        p.topology.hosts.push_back(h);
    }
    p.lab.services.push_back(load);
    plan::Fault f;
    f.name = "dark";
    f.spec = plan::PowerLossSpec{};
    f.duration = 60s;
    f.target.zones = {"dark"};
    f.peer.rest = true;
    p.method.push_back(f);
    return p;
}

uint64_t now_ns() { return monotonic_ns(); }

// UDP from every dark host in turn, and the last arrival of each at the peer.
class Traffic {
public:
    static Result<std::unique_ptr<Traffic>> start(const lab::LabState& lab, int n) {
        auto t = std::unique_ptr<Traffic>(new Traffic(n));
        const auto* peer = lab.host("peer");
        if (!peer) return plain_error("traffic", "no peer host");
        sockaddr_in dst{};
        dst.sin_family = AF_INET;
        dst.sin_port = htons(kPort);
        inet_pton(AF_INET, peer->addresses[0].addr.str().c_str(), &dst.sin_addr);
        {
            auto g = NetnsGuard::enter(netns_path(peer->netns));
            if (!g) return g.error();
            t->rx_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            int big = 8 << 20;
            setsockopt(t->rx_, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
            if (bind(t->rx_, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) return errno_error("bind", "peer");
        }
        for (int i = 0; i < n; ++i) {
            const auto* h = lab.host("d" + std::to_string(i));
            auto g = NetnsGuard::enter(netns_path(h->netns));
            if (!g) return g.error();
            int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0)
                return errno_error("connect", h->name);
            t->tx_.push_back(fd);
        }
        t->rx_thread_ = std::thread([p = t.get()] { p->receive(); });
        t->tx_thread_ = std::thread([p = t.get()] { p->send(); });
        return t;
    }
    ~Traffic() {
        stop_ = true;
        if (tx_thread_.joinable()) tx_thread_.join();
        if (rx_thread_.joinable()) rx_thread_.join();
        for (int fd : tx_) close(fd);
        if (rx_ >= 0) close(rx_);
    }
    // Per host, the send time (monotonic ns) of the last datagram that got through.
    std::vector<uint64_t> last() const {
        std::vector<uint64_t> v;
        for (auto& x : last_) v.push_back(x.load());
        return v;
    }
    bool all_flowing_since(uint64_t t) const {
        for (auto& x : last_)
            if (x.load() < t) return false;
        return true;
    }
    double round_us() const { return round_ns_.load() / 1e3; }

private:
    explicit Traffic(int n) : last_(static_cast<size_t>(n)) {}
    void send() {
        // One CPU: every datagram goes through that CPU's backlog in send order, so the ones that
        // got through are a prefix of the sends (a sender moving between CPUs would reorder them
        // and blur the figure).
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        (void)sched_setaffinity(0, sizeof one, &one);
        uint32_t seq = 0;
        while (!stop_) {
            uint64_t t0 = now_ns();
            for (size_t i = 0; i < tx_.size(); ++i) {
                uint64_t msg[2] = {static_cast<uint64_t>(i) << 32 | seq, now_ns()};
                (void)::send(tx_[i], msg, sizeof msg, MSG_DONTWAIT);
            }
            ++seq;
            uint64_t d = now_ns() - t0;
            // A running median would be nicer; an exponential average is enough to state the
            // resolution.
            round_ns_.store(round_ns_.load() == 0 ? d : (round_ns_.load() * 7 + d) / 8);
        }
    }
    void receive() {
        uint64_t msg[2];
        while (!stop_) {
            pollfd p{rx_, POLLIN, 0};
            if (poll(&p, 1, 10) <= 0) continue;
            while (true) {
                ssize_t n = recv(rx_, msg, sizeof msg, MSG_DONTWAIT);
                if (n != sizeof msg) break;
                size_t idx = msg[0] >> 32;
                if (idx < last_.size() && msg[1] > last_[idx].load()) last_[idx].store(msg[1]);
            }
        }
    }
    std::vector<std::atomic<uint64_t>> last_;
    std::vector<int> tx_;
    int rx_ = -1;
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> round_ns_{0};
    std::thread tx_thread_, rx_thread_;
};

// Stamps the exit of each pid (pidfd readable), until all exited or the bound passes.
class DeathWatch {
public:
    explicit DeathWatch(const std::vector<pid_t>& pids) : exits_(pids.size(), 0) {
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        for (size_t i = 0; i < pids.size(); ++i) {
            int fd = static_cast<int>(syscall(SYS_pidfd_open, pids[i], 0));
            fds_.push_back(fd);
            if (fd < 0) continue;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = i;
            epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
        }
        thread_ = std::thread([this] { loop(); });
    }
    ~DeathWatch() {
        if (thread_.joinable()) thread_.join();
        for (int fd : fds_)
            if (fd >= 0) close(fd);
        close(ep_);
    }
    std::vector<uint64_t> wait() {
        if (thread_.joinable()) thread_.join();
        return exits_;
    }

private:
    void loop() {
        size_t left = 0;
        for (int fd : fds_) left += fd >= 0;
        auto until = Clock::now() + 10s;
        epoll_event evs[64];
        while (left > 0 && Clock::now() < until) {
            int n = epoll_wait(ep_, evs, 64, 50);
            uint64_t t = now_ns();
            for (int i = 0; i < n; ++i) {
                size_t idx = evs[i].data.u64;
                if (exits_[idx] == 0) {
                    exits_[idx] = t;
                    --left;
                    epoll_ctl(ep_, EPOLL_CTL_DEL, fds_[idx], nullptr);
                }
            }
        }
    }
    int ep_ = -1;
    std::vector<int> fds_;
    std::vector<uint64_t> exits_;
    std::thread thread_;
};

double spread_ms(const std::vector<uint64_t>& v) {
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint64_t x : v) {
        if (x == 0) return -1;  // never seen: no figure
        lo = std::min(lo, x);
        hi = std::max(hi, x);
    }
    return static_cast<double>(hi - lo) / 1e6;
}

std::vector<pid_t> pids_of(const lab::LabState& l, int n) {
    std::vector<pid_t> out(static_cast<size_t>(n), 0);
    for (auto& s : l.services)
        if (s.host[0] == 'd') out[static_cast<size_t>(std::stoi(s.host.substr(1)))] = s.pid;
    return out;
}

// Waits until every dark host's datagrams arrive again (after a heal), bounded.
bool await_flow(const Traffic& t) {
    uint64_t since = now_ns();
    for (int i = 0; i < 300; ++i) {
        std::this_thread::sleep_for(10ms);
        if (t.all_flowing_since(since)) return true;
    }
    return false;
}

struct Figures {
    std::vector<double> net, kill, exit;
};

int usage() {
    std::fprintf(stderr, "usage: power_spread [--sizes 8,32,128] [--reps N]\n");
    return 64;
}

int run_size(int n, int reps, std::vector<std::string>& rows) {
    auto plan = make_plan(n);
    auto scope = bench::LabScope::up(plan, "bnspr", true);
    if (!scope) {
        std::fprintf(stderr, "power_spread: lab up (%d hosts): %s\n", n, scope.error().message().c_str());
        return 3;
    }
    const auto& lab = scope->state();
    auto traffic = Traffic::start(lab, n);
    if (!traffic) {
        std::fprintf(stderr, "power_spread: traffic: %s\n", traffic.error().message().c_str());
        return 3;
    }
    Traffic& tr = **traffic;
    if (!await_flow(tr)) {
        std::fprintf(stderr, "power_spread: traffic does not flow from every host\n");
        return 3;
    }

    // --- the injector: one rule write, then cgroup.kill of every host in one pass ---
    Figures inj;
    std::vector<double> call_ms, rounds, arm_us;
    {
        net::NetEngine net;
        power::PowerEngine power(net, nullptr);
        lab::LabTargets targets(plan, lab);
        uint64_t deadline = now_ns() + 20ull * 60 * 1'000'000'000ull;
        if (auto r = net.prepare(plan, targets, deadline); !r)
            return std::fprintf(stderr, "%s\n", r.error().message().c_str()), 3;
        if (auto r = power.prepare(plan, targets, deadline); !r)
            return std::fprintf(stderr, "%s\n", r.error().message().c_str()), 3;
        for (int rep = 0; rep < reps && !bench::g_stop.load(); ++rep) {
            DeathWatch deaths(pids_of(targets.state(), n));
            uint64_t t0 = now_ns();
            auto r = power.inject(0, t0 + 60'000'000'000ull);
            uint64_t t1 = now_ns();
            if (!r) return std::fprintf(stderr, "inject: %s\n", r.error().message().c_str()), 3;
            std::this_thread::sleep_for(100ms);
            inj.net.push_back(spread_ms(tr.last()));
            inj.exit.push_back(spread_ms(deaths.wait()));
            auto ct = power.last_cut();
            inj.kill.push_back(static_cast<double>(ct.writes_end - ct.writes_begin) / 1e6);
            arm_us.push_back(static_cast<double>(ct.arm_end - ct.arm_begin) / 1e3);
            call_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
            rounds.push_back(tr.round_us());
            if (auto h = power.heal(0); !h) return std::fprintf(stderr, "heal: %s\n", h.error().message().c_str()), 3;
            for (int i = 0; i < 6000 && !power.settled(); ++i) std::this_thread::sleep_for(10ms);
            if (!power.settled()) return std::fprintf(stderr, "the restore did not finish within 60 s\n"), 3;
            if (!await_flow(tr)) return std::fprintf(stderr, "traffic did not come back after the heal\n"), 3;
        }
        // The lab's services now run under pids the power engine knows; the baselines below
        // restart them again through their own copy of the lab state.
        power.release();
        net.release();
    }

    // --- the baselines: the same cut, host by host, by commands ---
    lab::LabState st = lab;
    auto fabric = st.fabric_netns;
    auto by_command = [&](const std::vector<std::vector<std::string>>& cut,
                          const std::vector<std::vector<std::string>>& undo, bool kill) -> Figures {
        Figures f;
        for (int rep = 0; rep < reps && !bench::g_stop.load(); ++rep) {
            std::unique_ptr<DeathWatch> deaths;
            if (kill) deaths = std::make_unique<DeathWatch>(pids_of(st, n));
            for (auto& argv : cut) (void)run(argv, 10s);
            std::this_thread::sleep_for(100ms);
            if (kill) {
                f.exit.push_back(spread_ms(deaths->wait()));
                std::vector<std::string> hosts;
                for (int i = 0; i < n; ++i) hosts.push_back("d" + std::to_string(i));
                (void)lab::restart_services(plan, st, hosts);
            } else {
                f.net.push_back(spread_ms(tr.last()));
            }
            for (auto& argv : undo) (void)run(argv, 10s);
            if (!kill && !await_flow(tr)) {
                std::fprintf(stderr, "traffic did not come back after a baseline\n");
                break;
            }
        }
        return f;
    };
    std::vector<std::vector<std::string>> ipt_cut, ipt_undo, link_cut, link_undo, kills;
    for (int i = 0; i < n; ++i) {
        const auto* h = st.host("d" + std::to_string(i));
        std::string addr = h->addresses[0].addr.str();
        ipt_cut.push_back({"ip", "netns", "exec", fabric, "iptables", "-w", "-I", "FORWARD", "-s", addr, "-j", "DROP"});
        ipt_undo.push_back(
            {"ip", "netns", "exec", fabric, "iptables", "-w", "-D", "FORWARD", "-s", addr, "-j", "DROP"});
        link_cut.push_back({"ip", "-n", fabric, "link", "set", "dev", h->fabric_port, "down"});
        link_undo.push_back({"ip", "-n", fabric, "link", "set", "dev", h->fabric_port, "up"});
    }
    Figures ipt = by_command(ipt_cut, ipt_undo, false);
    Figures link = by_command(link_cut, link_undo, false);
    // kill -9 per host: the pids as the lab state knows them at each repetition.
    Figures killf;
    for (int rep = 0; rep < reps && !bench::g_stop.load(); ++rep) {
        auto pids = pids_of(st, n);
        DeathWatch deaths(pids);
        uint64_t k0 = now_ns(), k1 = k0;
        for (size_t i = 0; i < pids.size(); ++i) {
            (void)run({"kill", "-9", std::to_string(pids[i])}, 10s);
            if (i == 0) k0 = now_ns();  // the first signal is delivered by the end of its command
            k1 = now_ns();
        }
        killf.kill.push_back(static_cast<double>(k1 - k0) / 1e6);
        killf.exit.push_back(spread_ms(deaths.wait()));
        std::vector<std::string> hosts;
        for (int i = 0; i < n; ++i) hosts.push_back("d" + std::to_string(i));
        (void)lab::restart_services(plan, st, hosts);
    }

    auto m = [](const std::vector<double>& v) { return bench::median(v); };
    char row[512];
    // Ratios against the larger of the spread and its resolution (one sender round): a spread
    // below the resolution is not claimed.
    double net = std::max(m(inj.net), m(rounds) / 1e3);
    std::snprintf(row, sizeof row,
                  "| %4d | %.0f us | %.3f ms (round %.3f ms) | %.3f ms | %.2f ms | %.1f ms | %.1f ms (%.0fx) | "
                  "%.1f ms (%.0fx) | %.1f ms (%.0fx) | %.1f ms |",
                  n, m(arm_us), m(inj.net), m(rounds) / 1e3, m(inj.kill), m(inj.exit), m(call_ms), m(ipt.net),
                  m(ipt.net) / net, m(link.net), m(link.net) / net, m(killf.kill),
                  m(killf.kill) / std::max(m(inj.kill), 1e-3), m(killf.exit));
    rows.push_back(row);
    std::printf("%s\n", row);
    std::fflush(stdout);
    return 0;
}

}  // namespace
}  // namespace inj

int main(int argc, char** argv) {
    std::vector<int> sizes{8, 32, 128};
    int reps = 5;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) return inj::usage();
        std::string v = argv[++i];
        if (a == "--reps")
            reps = std::max(1, std::atoi(v.c_str()));
        else if (a == "--sizes") {
            sizes.clear();
            for (size_t p = 0, q; p < v.size(); p = q + 1) {
                q = v.find(',', p);
                if (q == std::string::npos) q = v.size();
                int n = std::atoi(v.substr(p, q - p).c_str());
                if (n < 1 || n > 1000) return inj::usage();
                sizes.push_back(n);
            }
        } else
            return inj::usage();
    }
    inj::log::set_level(spdlog::level::warn);
    inj::bench::install_stop_handlers();
    std::printf(
        "power-loss spread: first to last host dark, median of %d (network: send time of the last datagram "
        "through per host, good to one sender round; kill: first to last signal sent; exit: first to last "
        "process gone, pidfd stamps)\n",
        reps);
    std::printf(
        "| hosts | power_loss: rule write | power_loss: network spread seen | power_loss: kill spread | "
        "power_loss: exit spread | inject call | iptables per host | ip link down per host | "
        "kill -9 per host: kill spread | kill -9 per host: exit spread |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
    std::vector<std::string> rows;
    for (int n : sizes) {
        if (inj::bench::g_stop.load()) break;
        if (int rc = inj::run_size(n, reps, rows); rc != 0) return rc;
    }
    return 0;
}
