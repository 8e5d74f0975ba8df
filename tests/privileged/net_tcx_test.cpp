// The net engine on real traffic: two host namespaces joined by a bridge in a third ("fabric")
// namespace, the classifier attached at tcx ingress of both bridge ports. An established TCP
// connection stops carrying data when the fault is injected and carries it again once healed;
// after release no tcx link of ours is left.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fd.hpp"
#include "common/netns.hpp"
#include "common/proc.hpp"
#include "lab/lab.hpp"
#include "net/net_engine.hpp"
#include "support/fault_specs.hpp"
#include "support/net_pair.hpp"
#include "support/test_support.hpp"

namespace inj::net {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kSecond = 1'000'000'000ull;

using test::addr_of;
using test::sh;

// Receives exactly `want` bytes within `timeout`, or fewer if the time runs out.
std::string recv_for(int fd, size_t want, std::chrono::milliseconds timeout) {
    std::string got;
    auto end = std::chrono::steady_clock::now() + timeout;
    while (got.size() < want) {
        auto left = std::chrono::duration_cast<std::chrono::microseconds>(end - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        timeval tv{static_cast<time_t>(left.count() / 1000000), static_cast<suseconds_t>(left.count() % 1000000)};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[256];
        ssize_t n = recv(fd, buf, std::min(sizeof buf, want - got.size()), 0);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
    }
    return got;
}

class NetTcx : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        auto c = pair_.create();
        ASSERT_TRUE(c.ok()) << c.error().message();
        ns_a_ = pair_.ns_a();
        ns_b_ = pair_.ns_b();
        plan_.name = "tcx";
        pair_.describe(plan_, lab_, "nft" + std::to_string(getpid()));
        plan::Fault f;
        f.name = "split";
        f.spec = plan::SeverSpec{};
        f.target.zones = {"za"};
        f.peer.rest = true;
        plan_.method = {f};
    }

    void TearDown() override {
        engine_.release();
        auto r = pair_.remove();
        EXPECT_TRUE(r.ok()) << r.error().message();
    }

    // TCP client in A, server in B, connected before any fault.
    void connect_pair(Fd& client, Fd& server) {
        Fd listener;
        {
            auto g = NetnsGuard::enter(netns_path(ns_b_));
            ASSERT_TRUE(g.ok()) << g.error().message();
            listener.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            auto a = addr_of("198.18.250.2", 0);
            ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
            ASSERT_EQ(listen(listener.get(), 1), 0);
        }
        sockaddr_in bound{};
        socklen_t len = sizeof bound;
        getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &len);
        {
            auto g = NetnsGuard::enter(netns_path(ns_a_));
            ASSERT_TRUE(g.ok()) << g.error().message();
            client.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            int one = 1;
            setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto a = addr_of("198.18.250.2", ntohs(bound.sin_port));
            ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
        }
        server.reset(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        ASSERT_GE(server.get(), 0);
    }

    test::BridgedPair pair_{"nft", "198.18.250.1/24", "198.18.250.2/24"};
    std::string ns_a_, ns_b_;
    plan::Plan plan_;
    lab::LabState lab_;
    NetEngine engine_;
};

TEST_F(NetTcx, EstablishedConnectionIsCutAndHealed) {
    uint64_t run_deadline = monotonic_ns() + 120 * kSecond;
    auto p = engine_.prepare(plan_, *inj::test::lab_view(plan_, lab_), run_deadline);
    ASSERT_TRUE(p.ok()) << p.error().message();

    Fd client, server;
    connect_pair(client, server);
    ASSERT_GE(server.get(), 0);

    ASSERT_EQ(send(client.get(), "hello", 5, 0), 5);
    EXPECT_EQ(recv_for(server.get(), 5, 3000ms), "hello");

    ASSERT_TRUE(engine_.inject(0, monotonic_ns() + 60 * kSecond).ok());
    ASSERT_EQ(send(client.get(), "cut!!", 5, 0), 5);
    EXPECT_EQ(recv_for(server.get(), 5, 1500ms), "") << "data crossed an injected sever";
    auto during = engine_.counters();
    ASSERT_EQ(during.size(), 1u);
    EXPECT_EQ(during[0].fault, "split");
    EXPECT_GT(during[0].dropped, 0u);

    ASSERT_TRUE(engine_.heal(0).ok());
    // TCP retransmits the held data on its own once the path is back.
    EXPECT_EQ(recv_for(server.get(), 5, 10000ms), "cut!!");
    ASSERT_EQ(send(server.get(), "back", 4, 0), 4);
    EXPECT_EQ(recv_for(client.get(), 4, 3000ms), "back");
    auto after = engine_.counters();
    // (Packets after a heal with nothing armed take the idle path, which counts no rule.)
    EXPECT_EQ(after[0].dropped, during[0].dropped) << "dropped after heal";
}

TEST_F(NetTcx, ExpiredFaultIsInertWithoutHeal) {
    auto p = engine_.prepare(plan_, *inj::test::lab_view(plan_, lab_), monotonic_ns() + 120 * kSecond);
    ASSERT_TRUE(p.ok()) << p.error().message();
    Fd client, server;
    connect_pair(client, server);
    ASSERT_GE(server.get(), 0);
    // Deadline 300 ms away and never healed: the program itself lets traffic through after it.
    ASSERT_TRUE(engine_.inject(0, monotonic_ns() + 300'000'000ull).ok());
    std::this_thread::sleep_for(500ms);
    ASSERT_EQ(send(client.get(), "late", 4, 0), 4);
    EXPECT_EQ(recv_for(server.get(), 4, 3000ms), "late");
    auto c = engine_.counters();
    EXPECT_GT(c[0].expired, 0u);
}

// Ids of the BPF links the kernel has, and the programs they hold, as `bpftool link` lists them.
std::map<uint32_t, uint32_t> kernel_links() {
    std::map<uint32_t, uint32_t> out;
    auto r = sh("bpftool -j link show");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    auto j = nlohmann::json::parse(r.output, nullptr, false);
    EXPECT_TRUE(j.is_array()) << r.output;
    if (j.is_array())
        for (auto& l : j) out[l.value("id", 0u)] = l.value("prog_id", 0u);
    return out;
}

TEST_F(NetTcx, ReleaseLeavesNoTcxLink) {
    auto p = engine_.prepare(plan_, *inj::test::lab_view(plan_, lab_), monotonic_ns() + 120 * kSecond);
    ASSERT_TRUE(p.ok()) << p.error().message();
    auto ours = engine_.link_ids();
    uint32_t prog = engine_.prog_id();
    ASSERT_EQ(ours.size(), 2u);
    ASSERT_NE(prog, 0u);

    auto before = kernel_links();
    for (uint32_t id : ours) {
        ASSERT_TRUE(before.count(id)) << "link " << id << " not listed by bpftool";
        EXPECT_EQ(before[id], prog);
    }

    engine_.release();
    for (auto& [id, prog_id] : kernel_links()) {
        EXPECT_EQ(std::count(ours.begin(), ours.end(), id), 0) << "link " << id << " survived release";
        EXPECT_NE(prog_id, prog) << "link " << id << " still holds our program";
    }
}

}  // namespace
}  // namespace inj::net
