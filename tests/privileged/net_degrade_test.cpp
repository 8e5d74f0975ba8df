// degrade_link on real traffic: two host namespaces bridged in a fabric namespace, the net
// engine prepared as in a run (classifier, delay line, HTB, checksums). Each test injects one
// degraded link and measures what the receiver sees: loss within binomial bounds, added round
// trip within tolerance, iperf3 throughput within 10% of a cap, checksum failures counted by the
// receiving stack, duplicates, and the share of flows a gray failure touches.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/fd.hpp"
#include "common/netns.hpp"
#include "common/proc.hpp"
#include "fleet/agent_targets.hpp"
#include "lab/lab.hpp"
#include "net/net_engine.hpp"
#include "support/fake_targets.hpp"
#include "support/fault_specs.hpp"
#include "support/net_pair.hpp"
#include "support/test_support.hpp"

namespace inj::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr uint64_t kSecond = 1'000'000'000ull;
constexpr const char* kA = "198.18.251.1";
constexpr const char* kB = "198.18.251.2";

using test::addr_of;
using test::sh;

// A UDP socket made inside a namespace (it stays there), bound to ip:port (port 0: any).
Fd udp_in(const std::string& ns, const char* ip, uint16_t port) {
    auto g = NetnsGuard::enter(netns_path(ns));
    if (!g.ok()) return Fd{};
    Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int big = 8 << 20;
    setsockopt(s.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    auto a = addr_of(ip, port);
    if (bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd{};
    return s;
}

// Counter `field` of `section` ("Udp", "InCsumErrors") in a namespace's /proc/net/snmp.
long snmp(const std::string& ns, const std::string& section, const std::string& field) {
    auto r = sh("ip netns exec " + ns + " cat /proc/net/snmp");
    std::istringstream in(r.output);
    std::string names, values;
    while (std::getline(in, names)) {
        if (!std::getline(in, values)) break;
        if (names.rfind(section + ":", 0) != 0) continue;
        std::istringstream n(names), v(values);
        std::string name, value;
        while (n >> name && v >> value)
            if (name == field) return std::stol(value);
    }
    return -1;
}

// Whether `k` of `n` Bernoulli(p) trials lies within z standard deviations of the mean.
::testing::AssertionResult binomial_ok(long k, long n, double p, double z = 5.0) {
    double mean = n * p, sd = std::sqrt(n * p * (1 - p));
    if (std::fabs(k - mean) <= z * sd) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << k << " of " << n << " is outside " << mean << " +- " << z * sd << " (p "
                                         << p << ")";
}

class NetDegrade : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        auto c = pair_.create();
        ASSERT_TRUE(c.ok()) << c.error().message();
        ns_a_ = pair_.ns_a();
        ns_b_ = pair_.ns_b();
        plan_.name = "degrade";
        pair_.describe(plan_, lab_, "ndg" + std::to_string(getpid()));
        // Neighbours resolved before any fault, so ARP never competes with the measurement.
        ASSERT_EQ(rtts(2).size(), 2u);
    }

    void TearDown() override {
        engine_.release();
        auto r = pair_.remove();
        EXPECT_TRUE(r.ok()) << r.error().message();
    }

    // One degrade_link fault za <-> zb (or only za -> zb), prepared and injected: judged at the
    // fabric's ports, or with `own` at egress of host ha's own interface only (a fleet agent's
    // view of its one host).
    void inject(const plan::LinkDegrade& d, plan::Direction dir = plan::Direction::both, double share = 1.0,
                bool own = false) {
        plan::Fault f;
        f.name = "wan";
        f.spec = plan::DegradeLinkSpec{};
        f.target.zones = {"za"};
        f.peer.zones = {"zb"};
        set_side_direction(f, dir);
        set_side_share(f, share);
        std::get<plan::DegradeLinkSpec>(f.spec).link = d;
        plan_.method = {f};
        std::unique_ptr<targets::Targets> view = inj::test::lab_view(plan_, lab_);
        if (own) view = fleet::one_host_view(std::move(view), "ha");
        view_ = std::move(view);
        auto p = engine_.prepare(plan_, *view_, monotonic_ns() + 300 * kSecond);
        ASSERT_TRUE(p.ok()) << p.error().message();
        ASSERT_TRUE(engine_.inject(0, monotonic_ns() + 200 * kSecond).ok());
    }

    // blast(n) under a 10% duplication: every datagram arrived, some twice, in binomial bounds;
    // returns how many duplicates.
    long blast_duplicates(size_t n) {
        auto got = blast(n);
        long dups = static_cast<long>(got.size()) - static_cast<long>(n);
        std::set<uint32_t> distinct(got.begin(), got.end());
        EXPECT_EQ(distinct.size(), n) << "a packet was lost";
        EXPECT_TRUE(binomial_ok(dups, n, 0.1));
        return dups;
    }

    // Sends n numbered datagrams a -> b (paced, the receiver drained as it goes) and returns the
    // sequence numbers received, each as often as it arrived.
    std::vector<uint32_t> blast(size_t n, uint16_t port = 7001, std::chrono::milliseconds settle = 300ms) {
        std::vector<uint32_t> got;
        Fd rx = udp_in(ns_b_, kB, port);
        Fd tx = udp_in(ns_a_, kA, 0);
        EXPECT_GE(rx.get(), 0);
        EXPECT_GE(tx.get(), 0);
        if (rx.get() < 0 || tx.get() < 0) return got;
        auto dst = addr_of(kB, port);
        auto drain = [&] {
            char buf[2048];
            for (;;) {
                ssize_t r = recv(rx.get(), buf, sizeof buf, MSG_DONTWAIT);
                if (r < 4) break;
                uint32_t seq;
                std::memcpy(&seq, buf, 4);
                got.push_back(seq);
            }
        };
        char payload[200] = {};
        for (uint32_t i = 0; i < n; ++i) {
            std::memcpy(payload, &i, 4);
            sendto(tx.get(), payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
            if (i % 50 == 49) {
                std::this_thread::sleep_for(1ms);
                drain();
            }
        }
        auto end = Clock::now() + settle;
        while (Clock::now() < end) {
            std::this_thread::sleep_for(10ms);
            drain();
        }
        return got;
    }

    // Round trips a -> b -> a of `n` small datagrams (an echo thread in b), in milliseconds.
    std::vector<double> rtts(int n) {
        std::vector<double> out;
        Fd echo = udp_in(ns_b_, kB, 7007);
        Fd tx = udp_in(ns_a_, kA, 0);
        EXPECT_GE(echo.get(), 0);
        if (echo.get() < 0 || tx.get() < 0) return out;
        std::atomic<bool> stop{false};
        std::thread t([&] {
            char buf[256];
            while (!stop) {
                pollfd p{echo.get(), POLLIN, 0};
                if (poll(&p, 1, 50) <= 0) continue;
                sockaddr_in from{};
                socklen_t len = sizeof from;
                ssize_t r = recvfrom(echo.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
                if (r > 0) sendto(echo.get(), buf, r, 0, reinterpret_cast<sockaddr*>(&from), len);
            }
        });
        auto dst = addr_of(kB, 7007);
        for (int i = 0; i < n; ++i) {
            uint32_t seq = i;
            auto t0 = Clock::now();
            sendto(tx.get(), &seq, 4, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
            for (;;) {
                pollfd p{tx.get(), POLLIN, 0};
                if (poll(&p, 1, 2000) <= 0) break;
                uint32_t back = 0;
                if (recv(tx.get(), &back, 4, 0) == 4 && back == seq) {
                    out.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
                    break;
                }
            }
            std::this_thread::sleep_for(10ms);
        }
        stop = true;
        t.join();
        return out;
    }

    static double median(std::vector<double> v) {
        if (v.empty()) return NAN;
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    }

    test::BridgedPair pair_{"ndg", std::string(kA) + "/24", std::string(kB) + "/24"};
    std::string ns_a_, ns_b_;
    plan::Plan plan_;
    lab::LabState lab_;
    std::unique_ptr<targets::Targets> view_;  // outlives the engine, which reads it
    NetEngine engine_;
};

TEST_F(NetDegrade, LossWithinBinomialBounds) {
    plan::LinkDegrade d;
    d.loss = 0.2;
    inject(d);
    const size_t n = 4000;
    auto got = blast(n);
    long lost = static_cast<long>(n) - static_cast<long>(got.size());
    EXPECT_TRUE(binomial_ok(lost, n, 0.2));
    // Every packet lost was lost by the rule (nothing else on the path dropped any).
    EXPECT_EQ(engine_.degrade_stats(0).lost, static_cast<uint64_t>(lost));
    EXPECT_EQ(engine_.counters().at(0).dropped, static_cast<uint64_t>(lost));
}

TEST_F(NetDegrade, BurstyLossKeepsTheRateAndLosesInRuns) {
    plan::LinkDegrade d;
    d.loss = 0.1;
    d.loss_burst = 8;
    inject(d);
    const size_t n = 20000;
    auto got = blast(n);
    std::vector<bool> seen(n, false);
    for (uint32_t s : got)
        if (s < n) seen[s] = true;
    long lost = 0, runs = 0;
    for (size_t i = 0; i < n; ++i)
        if (!seen[i]) {
            ++lost;
            if (i == 0 || seen[i - 1]) ++runs;
        }
    ASSERT_GT(runs, 0);
    double mean_run = static_cast<double>(lost) / runs;
    // Losses come in runs: the variance of the count grows with the run length (about 2b - 1
    // times the binomial's), so the bound is widened by that factor.
    double widen = std::sqrt(2 * 8.0 - 1);
    EXPECT_TRUE(binomial_ok(lost, n, 0.1, 5.0 * widen));
    // The mean run is geometric with mean 8; ~250 runs give it a standard error of ~0.5.
    EXPECT_GT(mean_run, 5.5) << lost << " lost in " << runs << " runs";
    EXPECT_LT(mean_run, 11.0) << lost << " lost in " << runs << " runs";
}

TEST_F(NetDegrade, AddedRoundTripWithinTolerance) {
    auto base = rtts(30);
    ASSERT_EQ(base.size(), 30u);
    plan::LinkDegrade d;
    d.delay = 25ms;
    inject(d);
    ASSERT_EQ(engine_.mechanisms().latency == Mechanisms::Latency::none, false);
    auto slow = rtts(30);
    ASSERT_EQ(slow.size(), 30u) << "delayed packets were lost";
    double added = median(slow) - median(base);
    // Both ways delayed: 50 ms more per round trip, within 2 ms (the delay line's wake-up and
    // two extra passes through the stack).
    EXPECT_NEAR(added, 50.0, 2.0) << "base " << median(base) << " ms, delayed " << median(slow) << " ms";
    EXPECT_GE(*std::min_element(slow.begin(), slow.end()), 50.0) << "a packet left the line early";
    EXPECT_GE(engine_.degrade_stats(0).delayed, 60u);
    // After heal the path is as fast as before.
    ASSERT_TRUE(engine_.heal(0).ok());
    auto after = rtts(10);
    ASSERT_EQ(after.size(), 10u);
    EXPECT_LT(median(after), median(base) + 5.0);
}

TEST_F(NetDegrade, OneWayLatencyWithJitter) {
    auto base = rtts(20);
    plan::LinkDegrade d;
    d.delay = 40ms;
    d.jitter = 10ms;
    inject(d, plan::Direction::from);
    auto slow = rtts(40);
    ASSERT_EQ(slow.size(), 40u);
    double b = median(base);
    // One way only: +40 ms, each sample within 40 +- 10 ms. No packet may leave the line
    // early, whatever the machine's load; a late one can be the scheduler's (a CI machine once
    // held one sample 8 ms past the bound), so the upper bound holds for nearly all samples.
    EXPECT_NEAR(median(slow) - b, 40.0, 5.0);
    int late = 0;
    for (double s : slow) {
        EXPECT_GE(s - b, 29.0) << "a packet left the line early";
        if (s - b > 53.0) ++late;
    }
    EXPECT_LE(late, 2) << "more than 2 of 40 samples beyond 40 + 10 ms + 3 ms of slack";
    double lo = *std::min_element(slow.begin(), slow.end()), hi = *std::max_element(slow.begin(), slow.end());
    EXPECT_GT(hi - lo, 5.0) << "no jitter visible";
}

class NetDegradeRate : public NetDegrade, public ::testing::WithParamInterface<bool> {};

// At the fabric's ports, and at egress of a host's own interface (its HTB classes on that
// interface, selected by the mark the classifier sets just before the qdisc).
TEST_P(NetDegradeRate, ThroughputUnderCapWithinTenPercent) {
    plan::LinkDegrade d;
    d.rate_bps = 40'000'000;
    inject(d, plan::Direction::both, 1.0, GetParam());
    std::thread server([&] {  // its result is not needed: the client's report says what ran
        (void)run({"iperf3", "-s", "-1", "-B", kB, "-p", "5201"}, 30s, netns_path(ns_b_));
    });
    std::this_thread::sleep_for(500ms);
    auto r = run({"iperf3", "-c", kB, "-p", "5201", "-t", "5", "-O", "1", "-J"}, 30s, netns_path(ns_a_));
    server.join();
    ASSERT_TRUE(r.ok()) << r.error().message();
    auto j = nlohmann::json::parse(r.value().output, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.value().output;
    double bps = j["end"]["sum_received"].value("bits_per_second", 0.0);
    EXPECT_NEAR(bps, 40e6, 4e6) << "iperf3 measured " << bps / 1e6 << " Mbit/s under a 40 Mbit/s cap";
    EXPECT_GT(engine_.degrade_stats(0).capped, 1000u);
}

INSTANTIATE_TEST_SUITE_P(JudgedAt, NetDegradeRate, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? std::string("OwnInterface") : std::string("Fabric"); });

// A host judged at an interface of this machine's own namespace (`local: true`): a rate cap
// would replace the root qdisc of its real interfaces, so prepare refuses it, before any attach.
TEST_F(NetDegrade, ARateCapOnThisMachinesOwnInterfacesIsRefused) {
    targets::Host h;
    h.name = "ha";
    h.zone = "za";
    h.power_domain = "pa";
    h.netns = "/proc/self/ns/net";
    h.interface = "lo";
    h.judges = {{h.netns, "lo", false}};
    test::StaticTargets view({h}, true, "this machine");
    plan::Fault f;
    f.name = "wan";
    f.spec = plan::DegradeLinkSpec{};
    f.target.zones = {"za"};
    f.peer.zones = {"zb"};
    std::get<plan::DegradeLinkSpec>(f.spec).link.rate_bps = 40'000'000;
    plan_.method = {f};
    const std::string before = sh("tc qdisc show dev lo").output;
    auto p = engine_.prepare(plan_, view, monotonic_ns() + 300 * kSecond);
    ASSERT_FALSE(p.ok()) << "a rate cap on this machine's own lo was accepted";
    EXPECT_NE(p.error().message().find("root qdisc of this machine's own interfaces"), std::string::npos)
        << p.error().message();
    EXPECT_EQ(sh("tc qdisc show dev lo").output, before) << "lo's qdisc was touched";
    EXPECT_TRUE(engine_.link_ids().empty()) << "something was attached";
}

TEST_F(NetDegrade, CorruptedPacketsFailTheReceiversChecksum) {
    long before = snmp(ns_b_, "Udp", "InCsumErrors");
    ASSERT_GE(before, 0);
    plan::LinkDegrade d;
    d.corrupt = 0.1;
    inject(d);
    const size_t n = 3000;
    auto got = blast(n);
    long errors = snmp(ns_b_, "Udp", "InCsumErrors") - before;
    long corrupted = static_cast<long>(engine_.degrade_stats(0).corrupted);
    EXPECT_TRUE(binomial_ok(corrupted, n, 0.1));
    // Every corrupted datagram is refused by the receiver's checksum, and only those.
    EXPECT_EQ(errors, corrupted);
    EXPECT_EQ(static_cast<long>(got.size()), static_cast<long>(n) - corrupted);
}

TEST_F(NetDegrade, CorruptedTcpSegmentsAreRefusedAndResent) {
    long before = snmp(ns_b_, "Tcp", "InCsumErrors");
    ASSERT_GE(before, 0);
    plan::LinkDegrade d;
    d.corrupt = 0.02;
    inject(d, plan::Direction::from);
    std::thread server([&] { (void)run({"iperf3", "-s", "-1", "-B", kB, "-p", "5203"}, 30s, netns_path(ns_b_)); });
    std::this_thread::sleep_for(400ms);
    // 4 MB in segments of at most 1448 bytes: about 2,900 segments, ~58 corrupted.
    auto r = run({"iperf3", "-c", kB, "-p", "5203", "-n", "4M"}, 30s, netns_path(ns_a_));
    server.join();
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r.value().exit_code, 0) << r.value().output;  // TCP delivered it all regardless
    long errors = snmp(ns_b_, "Tcp", "InCsumErrors") - before;
    EXPECT_GT(errors, 10) << "the receiver's TCP saw no bad checksums";
    EXPECT_LE(static_cast<uint64_t>(errors), engine_.degrade_stats(0).corrupted);
}

TEST_F(NetDegrade, DuplicatesArriveTwice) {
    plan::LinkDegrade d;
    d.duplicate = 0.1;
    inject(d, plan::Direction::from);
    const size_t n = 3000;
    const long dups = blast_duplicates(n);
    EXPECT_EQ(static_cast<uint64_t>(dups), engine_.degrade_stats(0).duplicated);
}

// Where there is no fabric (a fleet agent's host, a container): judged at egress of the host's
// own interface, a delayed packet leaves the delay line (a tap in the host's namespace) out of
// that interface again, and a duplicate goes out too instead of coming back in.
TEST_F(NetDegrade, AtAHostsOwnInterfaceDelayedAndDuplicatedPacketsGoOutTheWayTheyWere) {
    auto base = rtts(20);
    ASSERT_EQ(base.size(), 20u);
    plan::LinkDegrade d;
    d.delay = 20ms;
    d.duplicate = 0.1;
    inject(d, plan::Direction::from, 1.0, true);
    ASSERT_EQ(engine_.mechanisms().latency, Mechanisms::Latency::delay_line);
    auto slow = rtts(20);
    ASSERT_EQ(slow.size(), 20u) << "delayed packets were lost";
    EXPECT_NEAR(median(slow) - median(base), 20.0, 5.0) << "base " << median(base) << " ms";
    EXPECT_GE(*std::min_element(slow.begin(), slow.end()), 20.0) << "a packet left the line early";
    const size_t n = 3000;
    blast_duplicates(n);
    EXPECT_GT(engine_.delay_stats(0).frames, n) << "the datagrams went through the delay line";
}

TEST_F(NetDegrade, GrayFailureTouchesOnlyItsShareOfFlows) {
    plan::LinkDegrade d;
    d.loss = 1.0;  // an affected flow loses everything: easy to tell apart
    inject(d, plan::Direction::both, 0.3);
    // 300 flows (distinct source ports), 5 datagrams each.
    Fd rx = udp_in(ns_b_, kB, 7002);
    ASSERT_GE(rx.get(), 0);
    std::vector<Fd> flows;
    for (int i = 0; i < 300; ++i) flows.push_back(udp_in(ns_a_, kA, 0));
    auto dst = addr_of(kB, 7002);
    for (int k = 0; k < 5; ++k)
        for (uint32_t i = 0; i < flows.size(); ++i) {
            sendto(flows[i].get(), &i, 4, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
            if (i % 50 == 0) std::this_thread::sleep_for(1ms);
        }
    std::this_thread::sleep_for(300ms);
    std::map<uint32_t, int> per_flow;
    uint32_t v;
    while (recv(rx.get(), &v, 4, MSG_DONTWAIT) == 4) per_flow[v]++;
    long dead = 300 - static_cast<long>(per_flow.size());
    for (auto& [flow, count] : per_flow) EXPECT_EQ(count, 5) << "flow " << flow << " partly affected";
    EXPECT_TRUE(binomial_ok(dead, 300, 0.3));
    EXPECT_GT(dead, 0);
}

TEST_F(NetDegrade, PortFilterLeavesOtherTrafficAlone) {
    plan::LinkDegrade d;
    d.loss = 1.0;
    d.protocol = IPPROTO_UDP;
    d.port_lo = d.port_hi = 7003;
    inject(d);
    EXPECT_EQ(blast(200, 7003, 100ms).size(), 0u) << "the degraded port got through";
    EXPECT_EQ(blast(200, 7004, 100ms).size(), 200u) << "another port was degraded";
}

// The injector dies (kill -9) with packets in the delay line and a loss rule armed: the taps go
// with the process, the classifier's links too, and traffic flows again at full speed.
TEST_F(NetDegrade, KillNineLeavesNothingDelayedOrRedirected) {
    auto base = rtts(10);
    ASSERT_EQ(base.size(), 10u);
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        close(ready[0]);
        plan::Fault f;
        f.name = "wan";
        f.spec = plan::DegradeLinkSpec{};
        f.target.zones = {"za"};
        f.peer.zones = {"zb"};
        std::get<plan::DegradeLinkSpec>(f.spec).link.delay = 40ms;
        plan_.method = {f};
        NetEngine e;
        char ok = e.prepare(plan_, *inj::test::lab_view(plan_, lab_), monotonic_ns() + 300 * kSecond).ok() &&
                          e.inject(0, monotonic_ns() + 200 * kSecond).ok()
                      ? 'y'
                      : 'n';
        if (write(ready[1], &ok, 1) != 1) _exit(1);
        for (;;) pause();
    }
    close(ready[1]);
    char ok = 0;
    ASSERT_EQ(read(ready[0], &ok, 1), 1);
    close(ready[0]);
    if (ok != 'y') {
        kill(child, SIGKILL);
        waitpid(child, nullptr, 0);
        FAIL() << "the child could not inject";
    }
    EXPECT_EQ(sh("ip -n " + pair_.fabric() + " link show nfdl0").exit_code, 0) << "no tap while the fault is in force";
    auto slow = rtts(5);
    ASSERT_EQ(slow.size(), 5u);
    EXPECT_GT(median(slow), 79.0);
    // Frames in flight when the process dies are lost with it, as on a link that goes down.
    kill(child, SIGKILL);
    ASSERT_EQ(waitpid(child, nullptr, 0), child);
    EXPECT_NE(sh("ip -n " + pair_.fabric() + " link show nfdl0").exit_code, 0) << "the tap outlived the injector";
    auto after = rtts(10);
    ASSERT_EQ(after.size(), 10u) << "packets lost after the injector died";
    EXPECT_LT(median(after), median(base) + 5.0) << "still delayed after the injector died";
}

}  // namespace
}  // namespace inj::net
