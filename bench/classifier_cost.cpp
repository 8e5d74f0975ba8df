// What the netfault classifier costs per packet, measured with BPF_PROG_TEST_RUN (the kernel
// runs the program `repeat` times on one frame and reports the mean): an empty tc program (the
// baseline), netfault with nothing installed, then with 1k and 100k prefixes in the trie, first
// idle (installed, nothing armed) and then with a rule armed that drops the packet (and, on the
// same tables, a packet no rule concerns); and with degrade_link rules installed but idle, and one
// armed that lets the packet through. Each
// figure is the median of 5 runs; ratios are against the empty program, measured in the same run.
// Needs root (CAP_BPF, CAP_SYS_ADMIN).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "net/classifier.hpp"
#include "net/compile.hpp"
#include "runner/engine.hpp"

using namespace inj;

namespace {

constexpr uint32_t kRepeat = 1'000'000;
constexpr int kRuns = 5;

// `hosts` hosts in 4 zones, each with `per_host` /32 prefixes from 198.18.0.0/15 (its address
// and per_host-1 extra CIDRs), and one fault: zone z0 severed from the rest.
plan::Plan make_plan(int hosts, int per_host) {
    plan::Plan p;
    p.name = "bench";
    for (int z = 0; z < 4; ++z) {
        std::string zn = "z" + std::to_string(z);
        p.topology.zones.push_back({zn, {zn + "-pd"}, {}, std::nullopt, std::nullopt, {}});
        p.topology.power_domains.push_back({zn + "-pd", zn, {}});
    }
    const Cidr& range = lab_range_v4();
    uint64_t next = 1;
    for (int h = 0; h < hosts; ++h) {
        plan::Host host;
        host.name = "h" + std::to_string(h);
        host.zone = "z" + std::to_string(h % 4);
        host.power_domain = host.zone + "-pd";
        host.addresses.push_back(Cidr{range.nth(next++), 32});
        for (int k = 1; k < per_host; ++k) host.cidrs.push_back(Cidr{range.nth(next++), 32});
        p.topology.hosts.push_back(std::move(host));
    }
    plan::Fault f;
    f.name = "z0-out";
    f.spec = plan::SeverSpec{};
    f.target.zones = {"z0"};
    f.peer.rest = true;
    p.method = {f};
    return p;
}

std::vector<uint8_t> tcp_frame(const IpAddr& src, const IpAddr& dst) {
    std::vector<uint8_t> f(ETH_HLEN, 0);
    uint16_t proto = htons(ETH_P_IP);
    std::memcpy(f.data() + 12, &proto, 2);
    iphdr ip{};
    ip.version = 4;
    ip.ihl = 5;
    ip.ttl = 64;
    ip.protocol = IPPROTO_TCP;
    ip.tot_len = htons(sizeof(iphdr) + sizeof(tcphdr));
    ip.saddr = src.v4_be();
    ip.daddr = dst.v4_be();
    tcphdr tcp{};
    tcp.source = htons(40000);
    tcp.dest = htons(2379);
    tcp.doff = 5;
    auto* b = reinterpret_cast<uint8_t*>(&ip);
    f.insert(f.end(), b, b + sizeof ip);
    b = reinterpret_cast<uint8_t*>(&tcp);
    f.insert(f.end(), b, b + sizeof tcp);
    return f;
}

struct Figure {
    double ns = 0;
    int verdict = 0;
};

// Median over kRuns of the kernel's mean ns per run.
Figure measure(int prog_fd, const std::vector<uint8_t>& frame) {
    std::vector<double> runs;
    int verdict = 0;
    for (int r = 0; r < kRuns; ++r) {
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(), .data_size_in = static_cast<__u32>(frame.size()),
                    .repeat = kRepeat);
        if (bpf_prog_test_run_opts(prog_fd, &o) != 0) {
            std::fprintf(stderr, "bpf_prog_test_run_opts: %s\n", std::strerror(errno));
            std::exit(3);
        }
        runs.push_back(o.duration);
        verdict = static_cast<int>(o.retval);
    }
    std::sort(runs.begin(), runs.end());
    return {runs[runs.size() / 2], verdict};
}

struct Row {
    std::string name;
    size_t prefixes = 0;
    double install_ms = 0;
    Figure fig;
};

// The cheapest tc program there is (return TCX_NEXT), loaded from two raw instructions: the
// floor every netfault figure is compared with.
int empty_program() {
    const bpf_insn insns[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, -1},  // r0 = TCX_NEXT (-1)
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "empty", "GPL", insns, 2, nullptr);
    if (fd < 0) std::fprintf(stderr, "classifier_cost: load the empty program: %s\n", std::strerror(errno));
    return fd;
}

int fail(const Error& e) {
    std::fprintf(stderr, "classifier_cost: %s\n", e.message().c_str());
    return 3;
}

}  // namespace

int main() {
    log::set_level(spdlog::level::warn);
    std::vector<Row> rows;

    auto base_plan = make_plan(8, 1);
    // z0 -> z1: hosts h0 and h1.
    auto frame =
        tcp_frame(base_plan.topology.hosts[0].addresses[0].addr, base_plan.topology.hosts[1].addresses[0].addr);
    {
        int fd = empty_program();
        if (fd < 0) return 3;
        rows.push_back({"empty program (baseline)", 0, 0, measure(fd, frame)});
        close(fd);
    }
    {
        auto cls = net::Classifier::load();
        if (!cls.ok()) return fail(cls.error());
        rows.push_back({"no rules installed", 0, 0, measure(cls.value().prog_fd(), frame)});
    }

    struct Case {
        const char* name;
        int hosts;
        int per_host;
    };
    for (Case c : {Case{"1k prefixes, rule armed", 100, 10}, Case{"100k prefixes, rule armed", 1000, 100}}) {
        auto plan = make_plan(c.hosts, c.per_host);
        auto t = net::compile(plan);
        if (!t.ok()) return fail(t.error());
        auto cls = net::Classifier::load();
        if (!cls.ok()) return fail(cls.error());
        uint64_t later = monotonic_ns() + 3600ull * 1'000'000'000ull;
        auto t0 = std::chrono::steady_clock::now();
        if (auto r = cls.value().install(t.value(), later); !r.ok()) return fail(r.error());
        double install_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        auto f = tcp_frame(plan.topology.hosts[0].addresses[0].addr, plan.topology.hosts[1].addresses[0].addr);
        // Installed, nothing armed: the machine between faults. The armed-rule summary passes
        // the packet after one read.
        rows.push_back({std::string(c.name).substr(0, std::string(c.name).find(',')) + ", installed, none armed (idle)",
                        t.value().prefixes.size(), install_ms, measure(cls.value().prog_fd(), f)});
        if (auto r = cls.value().arm(0, later); !r.ok()) return fail(r.error());
        Row row{c.name, t.value().prefixes.size(), install_ms, measure(cls.value().prog_fd(), f)};
        if (row.fig.verdict != 2) {
            std::fprintf(stderr, "classifier_cost: %s: expected a drop verdict, got %d\n", c.name, row.fig.verdict);
            return 1;
        }
        rows.push_back(row);
        // Same tables, a packet between two zones the fault leaves alone (z1 -> z2): the cost
        // of the lookups without the rule loop.
        auto other = tcp_frame(plan.topology.hosts[1].addresses[0].addr, plan.topology.hosts[2].addresses[0].addr);
        rows.push_back(
            {std::string(c.name) + ", unmatched pkt", row.prefixes, install_ms, measure(cls.value().prog_fd(), other)});
    }

    // degrade_link rules present but idle (installed, disarmed), then one armed that lets the
    // packet through (loss 0 on a rate-capped path: the degrade step runs and marks it), on the
    // 1k-prefix tables, against the same tables with only the sever rule.
    {
        auto plan = make_plan(100, 10);
        {
            auto t = net::compile(plan);
            if (!t.ok()) return fail(t.error());
            auto cls = net::Classifier::load();
            if (!cls.ok()) return fail(cls.error());
            if (auto r = cls.value().install(t.value(), monotonic_ns() + 3600ull * 1'000'000'000ull); !r.ok())
                return fail(r.error());
            auto f = tcp_frame(plan.topology.hosts[0].addresses[0].addr, plan.topology.hosts[1].addresses[0].addr);
            rows.push_back(
                {"1k prefixes, sever rule idle", t.value().prefixes.size(), 0, measure(cls.value().prog_fd(), f)});
        }
        for (int k = 0; k < 8; ++k) {
            plan::Fault d;
            d.name = "slow" + std::to_string(k);
            d.spec = plan::DegradeLinkSpec{};
            d.target.zones = {"z" + std::to_string(k % 4)};
            d.peer.zones = {"z" + std::to_string((k + 1) % 4)};
            std::get<plan::DegradeLinkSpec>(d.spec).link.delay = std::chrono::milliseconds(10);
            std::get<plan::DegradeLinkSpec>(d.spec).link.loss = 0.01;
            std::get<plan::DegradeLinkSpec>(d.spec).link.protocol = 6;
            std::get<plan::DegradeLinkSpec>(d.spec).link.port_lo = 2379;
            std::get<plan::DegradeLinkSpec>(d.spec).link.port_hi = 2380;
            plan.method.push_back(d);
        }
        plan::Fault cap;
        cap.name = "cap";
        cap.spec = plan::DegradeLinkSpec{};
        cap.target.zones = {"z0"};
        cap.peer.zones = {"z1"};
        std::get<plan::DegradeLinkSpec>(cap.spec).link.rate_bps = 10'000'000;
        plan.method.push_back(cap);
        auto t = net::compile(plan);
        if (!t.ok()) return fail(t.error());
        auto cls = net::Classifier::load();
        if (!cls.ok()) return fail(cls.error());
        uint64_t later = monotonic_ns() + 3600ull * 1'000'000'000ull;
        if (auto r = cls.value().install(t.value(), later); !r.ok()) return fail(r.error());
        auto f = tcp_frame(plan.topology.hosts[0].addresses[0].addr, plan.topology.hosts[1].addresses[0].addr);
        rows.push_back({"1k prefixes, sever + 9 degrade rules, all idle", t.value().prefixes.size(), 0,
                        measure(cls.value().prog_fd(), f)});
        if (auto r = cls.value().arm(9, later); !r.ok()) return fail(r.error());
        rows.push_back({"1k prefixes, degrade rule armed (rate mark)", t.value().prefixes.size(), 0,
                        measure(cls.value().prog_fd(), f)});
    }

    std::printf("netfault classifier, ns/packet: median of %d runs of BPF_PROG_TEST_RUN x %u\n", kRuns, kRepeat);
    std::printf("%-44s %9s %12s %10s %8s %12s\n", "case", "prefixes", "ns/packet", "x base", "verdict", "install ms");
    double base = rows[0].fig.ns;
    for (auto& r : rows)
        std::printf("%-44s %9zu %12.1f %10.2f %8s %12.1f\n", r.name.c_str(), r.prefixes, r.fig.ns,
                    base > 0 ? r.fig.ns / base : 0.0,
                    r.fig.verdict == 2   ? "drop"
                    : r.fig.verdict == 7 ? "redir"
                                         : "pass",
                    r.install_ms);
    return 0;
}
