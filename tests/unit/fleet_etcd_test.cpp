// The etcd client against a real etcd (Debian etcd-server) on loopback: a member started by the
// test on ports of its own, its data in a temp dir, stopped by pid. No privilege, no lab.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/proc.hpp"
#include "fleet/etcd_client.hpp"
#include "fleet/fleet_engine.hpp"
#include "fleet/protocol.hpp"
#include "lab/lab.hpp"
#include "net/compile.hpp"
#include "plan/loader.hpp"
#include "support/fault_specs.hpp"
#include "support/test_support.hpp"

using namespace inj;
using namespace inj::fleet;
using namespace std::chrono_literals;

namespace {

class LoopbackEtcd : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = std::filesystem::temp_directory_path() / ("inj-etcd-test-" + std::to_string(getpid()));
        std::filesystem::create_directories(dir_);
        // Ports from the pid, so two test processes on one machine do not collide.
        int base = 30000 + (getpid() % 5000) * 2;
        client_url_ = "http://127.0.0.1:" + std::to_string(base);
        std::string peer = "http://127.0.0.1:" + std::to_string(base + 1);
        SpawnSpec s;
        s.argv = {"etcd",
                  "--name",
                  "t",
                  "--data-dir",
                  (dir_ / "data").string(),
                  "--listen-client-urls",
                  client_url_,
                  "--advertise-client-urls",
                  client_url_,
                  "--listen-peer-urls",
                  peer,
                  "--initial-advertise-peer-urls",
                  peer,
                  "--initial-cluster",
                  "t=" + peer,
                  "--heartbeat-interval",
                  "100",
                  "--election-timeout",
                  "1000"};
        s.output = (dir_ / "etcd.log").string();
        s.die_with_parent = true;
        auto pid = spawn(s);
        ASSERT_TRUE(pid.ok()) << pid.error().message();
        pid_ = *pid;
        // Up to 30 s: on a loaded 2-core machine a cold etcd takes more than the usual second.
        for (int i = 0; i < 600; ++i) {
            if (EtcdClient::connect(client_url_, 200ms)) return;
            std::this_thread::sleep_for(50ms);
        }
        FAIL() << "etcd did not come up; see " << s.output;
    }
    static void TearDownTestSuite() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            waitpid(pid_, nullptr, 0);
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    EtcdClient client() {
        auto c = EtcdClient::connect(client_url_);
        EXPECT_TRUE(c.ok()) << c.error().message();
        return std::move(*c);
    }
    static std::string prefix() {
        return "/t/" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "/";
    }

    static inline std::filesystem::path dir_;
    static inline std::string client_url_;
    static inline pid_t pid_ = 0;
};

TEST(EtcdBase64, RoundTripsEveryByte) {
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    for (size_t n = 0; n < 5; ++n) EXPECT_EQ(base64_decode(base64_encode(all.substr(0, n))), all.substr(0, n));
    EXPECT_EQ(base64_decode(base64_encode(all)), all);
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(prefix_end("/a/"), "/a0");
    EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
}

TEST(EtcdUnreachable, GivesAClearError) {
    // Nothing listens on port 1 of loopback; a second bad endpoint is named too.
    auto c = EtcdClient::connect("127.0.0.1:1,http://127.0.0.1:2", 500ms);
    ASSERT_FALSE(c.ok());
    auto m = c.error().message();
    EXPECT_NE(m.find("no endpoint reachable"), std::string::npos) << m;
    EXPECT_NE(m.find("127.0.0.1:1"), std::string::npos) << m;
    EXPECT_NE(m.find("127.0.0.1:2"), std::string::npos) << m;
    auto none = EtcdClient::connect(" , ");
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message().find("no endpoints"), std::string::npos);
}

TEST_F(LoopbackEtcd, FailsOverToALiveEndpoint) {
    auto c = EtcdClient::connect("127.0.0.1:1," + client_url_, 500ms);
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_TRUE(c->put(prefix() + "k", "v").ok());
}

TEST_F(LoopbackEtcd, PutGetPrefixDelete) {
    auto c = client();
    const auto p = prefix();
    ASSERT_TRUE(c.put(p + "a", "1").ok());
    ASSERT_TRUE(c.put(p + "b", std::string("\0\xff bin", 6)).ok());
    ASSERT_TRUE(c.put(p.substr(0, p.size() - 1) + "x", "outside").ok());
    auto a = c.get(p + "a");
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(a->has_value());
    EXPECT_EQ((*a)->value, "1");
    EXPECT_GT((*a)->create_revision, 0);
    auto all = c.get_prefix(p);
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 2u);
    EXPECT_EQ((*all)[1].value, std::string("\0\xff bin", 6));
    auto missing = c.get(p + "nope");
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());
    EXPECT_EQ(c.del_prefix(p).value(), 2);
    EXPECT_TRUE(c.get_prefix(p).value().empty());
    EXPECT_EQ(c.del(p.substr(0, p.size() - 1) + "x").value(), 1);
}

TEST_F(LoopbackEtcd, TransactionClaimsOnlyAbsentKeys) {
    auto c = client();
    const auto k = prefix() + "claim";
    auto first = c.txn({TxnCompare::absent(k)}, {TxnOp::put(k, "run-1")});
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_TRUE(*first);
    auto second = c.txn({TxnCompare::absent(k)}, {TxnOp::put(k, "run-2")}, {TxnOp::put(k + "-lost", "yes")});
    ASSERT_TRUE(second.ok());
    EXPECT_FALSE(*second);
    EXPECT_EQ((c.get(k).value()).value().value, "run-1");
    EXPECT_EQ((c.get(k + "-lost").value()).value().value, "yes");
    auto by_value = c.txn({TxnCompare::value_is(k, "run-1")}, {TxnOp::del(k)});
    ASSERT_TRUE(by_value.ok());
    EXPECT_TRUE(*by_value);
    EXPECT_FALSE(c.get(k).value().has_value());
}

TEST_F(LoopbackEtcd, KeysBoundToALeaseVanishWhenItLapsesOrIsRevoked) {
    auto c = client();
    const auto p = prefix();
    auto lease = c.lease_grant(2);
    ASSERT_TRUE(lease.ok()) << lease.error().message();
    ASSERT_TRUE(c.put(p + "kept", "x", *lease).ok());
    EXPECT_EQ((c.get(p + "kept").value()).value().lease, *lease);
    // Kept alive past its TTL, it stays.
    for (int i = 0; i < 6; ++i) {
        auto ttl = c.lease_keepalive(*lease);
        ASSERT_TRUE(ttl.ok()) << ttl.error().message();
        EXPECT_GT(*ttl, 0);
        std::this_thread::sleep_for(500ms);
    }
    EXPECT_TRUE(c.get(p + "kept").value().has_value());
    // Left alone, it lapses: etcd deletes the key and keepalive answers TTL 0.
    auto t0 = std::chrono::steady_clock::now();
    while (c.get(p + "kept").value().has_value() && std::chrono::steady_clock::now() - t0 < 10s)
        std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(c.get(p + "kept").value().has_value());
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 1s);
    EXPECT_EQ(c.lease_keepalive(*lease).value(), 0);
    // Revoking drops the keys at once.
    auto l2 = c.lease_grant(30);
    ASSERT_TRUE(l2.ok());
    ASSERT_TRUE(c.put(p + "revoked", "x", *l2).ok());
    ASSERT_TRUE(c.lease_revoke(*l2).ok());
    EXPECT_FALSE(c.get(p + "revoked").value().has_value());
}

TEST_F(LoopbackEtcd, WatchStreamsPutsAndDeletesInOrder) {
    auto c = client();
    const auto p = prefix();
    std::mutex mu;
    std::vector<WatchEvent> seen;
    std::atomic<bool> up{false};
    Watch w(
        c.endpoints(), p, true, 0,
        [&](const std::vector<WatchEvent>& evs) {
            std::lock_guard lk(mu);
            for (auto& e : evs) seen.push_back(e);
        },
        [&](bool u) { up = u; });
    for (int i = 0; i < 100 && !up; ++i) std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(up);
    ASSERT_TRUE(c.put(p + "a", "1").ok());
    ASSERT_TRUE(c.put(p + "a", "2").ok());
    ASSERT_TRUE(c.put(p.substr(0, p.size() - 1) + "z", "not watched").ok());
    ASSERT_TRUE(c.del(p + "a").ok());
    for (int i = 0; i < 100; ++i) {
        {
            std::lock_guard lk(mu);
            if (seen.size() >= 3) break;
        }
        std::this_thread::sleep_for(20ms);
    }
    w.stop();
    std::lock_guard lk(mu);
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].type, WatchEvent::Type::put);
    EXPECT_EQ(seen[0].kv.value, "1");
    EXPECT_EQ(seen[1].kv.value, "2");
    EXPECT_EQ(seen[2].type, WatchEvent::Type::del);
    EXPECT_EQ(seen[2].kv.key, p + "a");
    EXPECT_LT(seen[0].kv.mod_revision, seen[2].kv.mod_revision);
}

TEST_F(LoopbackEtcd, WatchFromARevisionReplaysWhatWasMissed) {
    auto c = client();
    const auto p = prefix();
    auto rev = c.put(p + "k", "before");
    ASSERT_TRUE(rev.ok());
    ASSERT_TRUE(c.put(p + "k", "after").ok());
    std::mutex mu;
    std::vector<std::string> values;
    Watch w(c.endpoints(), p + "k", false, *rev, [&](const std::vector<WatchEvent>& evs) {
        std::lock_guard lk(mu);
        for (auto& e : evs) values.push_back(e.kv.value);
    });
    for (int i = 0; i < 100; ++i) {
        {
            std::lock_guard lk(mu);
            if (values.size() >= 2) break;
        }
        std::this_thread::sleep_for(20ms);
    }
    w.stop();
    std::lock_guard lk(mu);
    EXPECT_EQ(values, (std::vector<std::string>{"before", "after"}));
}

TEST(FleetProtocol, DocumentsRoundTrip) {
    Desired d;
    d.run = "r1";
    d.generation = 7;
    d.lease_ttl_ms = 3000;
    d.run_deadline_ns = 123;
    d.faults.push_back({2, true, 1'700'000'000'000'000'000ull, 1'700'000'001'000'000'000ull});
    auto back = desired_from_json(to_json(d));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->generation, 7u);
    ASSERT_EQ(back->faults.size(), 1u);
    EXPECT_EQ(back->faults[0].index, 2u);
    EXPECT_TRUE(back->faults[0].armed);
    EXPECT_EQ(back->faults[0].at_ns, 1'700'000'000'000'000'000ull);
    EXPECT_FALSE(desired_from_json("{}"));
    EXPECT_FALSE(desired_from_json("not json"));
    Status s;
    s.host = "a1";
    s.run = "r1";
    s.state = "ready";
    s.faults.push_back({0, true, 5, 10, 20, 1});
    auto sb = status_from_json(to_json(s));
    ASSERT_TRUE(sb);
    EXPECT_EQ(sb->faults.at(0).dropped, 10u);
    EXPECT_EQ(sb->state, "ready");
}

// ---- the controller's logic, against the loopback etcd (no lab, no agents running) ----

plan::Plan fleet_plan(const std::string& edit_from = {}, const std::string& edit_to = {}) {
    std::ifstream f(inj::test::source_path("experiments/fleet-zone-sever.yaml"));
    std::stringstream ss;
    ss << f.rdbuf();
    std::string y = ss.str();
    if (!edit_from.empty()) y.replace(y.find(edit_from), edit_from.size(), edit_to);
    auto r = plan::load_string(y, inj::test::source_path("experiments/fleet-zone-sever.yaml"));
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
    return *r.plan;
}

TEST(FleetPreflight, AgentsAreNeededOnBothSidesOfEveryCutAndTheControlPathIsChecked) {
    auto p = fleet_plan();
    auto t = net::compile(p);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(fleet::hosts_needing_agents(p, *t), (std::vector<std::string>{"kv-1", "kv-2", "kv-3"}));
    const std::string eps = "198.18.12.2:2379,http://198.18.12.3:2379,198.18.12.4:2379";
    EXPECT_TRUE(fleet::check_control_path(p, *t, eps).empty());
    EXPECT_TRUE(fleet::check_control_path(p, *t, "127.0.0.1:2379").empty());  // outside the topology

    // The cut now reaches the ops zone (protection lifted): every agent host on the cut's side
    // loses an endpoint, and preflight says which fault, which host, which endpoint.
    auto bad = fleet_plan("peer: { zone: [ansan, gasan] }", "peer: { zone: [ansan, gasan, ops] }");
    auto bt = net::compile(bad);
    ASSERT_TRUE(bt.ok());
    auto problems = fleet::check_control_path(bad, *bt, eps);
    ASSERT_EQ(problems.size(), 3u);  // kv-1 to each of the three members
    EXPECT_NE(problems[0].find("fault cut-pangyo"), std::string::npos) << problems[0];
    EXPECT_NE(problems[0].find("cuts agent host kv-1 from etcd endpoint 198.18.12.2"), std::string::npos)
        << problems[0];
}

TEST_F(LoopbackEtcd, ControllerRefusesMissingUnhealthyOrBusyAgents) {
    auto c = client();
    auto p = fleet_plan();
    lab::LabState none;
    fleet::FleetOptions o;
    o.endpoints = client_url_;
    o.run_id = "unit-1";
    o.plan_text = plan::load_file(inj::test::source_path("experiments/fleet-zone-sever.yaml")).text;
    o.lease_ttl_s = 2;
    o.prepare_timeout = 300ms;
    const uint64_t deadline = monotonic_ns() + 60'000'000'000ull;
    {
        fleet::FleetEngine e(o);
        auto r = e.prepare(p, *inj::test::lab_view(p, none), deadline);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message().find("no agent registered for host(s) kv-1, kv-2, kv-3"), std::string::npos)
            << r.error().message();
    }
    auto lease = c.lease_grant(30);
    ASSERT_TRUE(lease.ok());
    for (auto h : {"kv-1", "kv-2", "kv-3"}) {
        AgentInfo a;
        a.host = h;
        a.healthy = std::string(h) != "kv-3";
        a.error = a.healthy ? "" : "bpf: Operation not permitted";
        ASSERT_TRUE(c.put(agent_key(h), to_json(a), *lease).ok());
    }
    {
        fleet::FleetEngine e(o);
        auto r = e.prepare(p, *inj::test::lab_view(p, none), deadline);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message().find("unhealthy agent(s): kv-3 (bpf: Operation not permitted)"),
                  std::string::npos)
            << r.error().message();
    }
    AgentInfo ok3;
    ok3.host = "kv-3";
    ok3.healthy = true;
    ASSERT_TRUE(c.put(agent_key("kv-3"), to_json(ok3), *lease).ok());
    // Registered but nobody acts on the desired state: the controller gives up, names the
    // hosts, and takes its desired state back.
    {
        fleet::FleetEngine e(o);
        auto r = e.prepare(p, *inj::test::lab_view(p, none), deadline);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message().find("did not load the plan within 300 ms: kv-1, kv-2, kv-3"), std::string::npos)
            << r.error().message();
        EXPECT_TRUE(c.get(desired_key("kv-1")).value().has_value());
        auto d = desired_from_json(c.get(desired_key("kv-1")).value()->value);
        ASSERT_TRUE(d);
        EXPECT_EQ(d->run, "unit-1");
        EXPECT_EQ(d->lease_ttl_ms, 2000);
        EXPECT_TRUE(c.get(plan_key("unit-1")).value().has_value());
        e.release();
        EXPECT_FALSE(c.get(desired_key("kv-1")).value().has_value());
        EXPECT_FALSE(c.get(plan_key("unit-1")).value().has_value());
    }
    // A host another run still drives is not taken over.
    Desired other;
    other.run = "someone-else";
    ASSERT_TRUE(c.put(desired_key("kv-2"), to_json(other), *lease).ok());
    {
        fleet::FleetEngine e(o);
        auto r = e.prepare(p, *inj::test::lab_view(p, none), deadline);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message().find("already driven by another run: kv-2 (run someone-else)"), std::string::npos)
            << r.error().message();
        e.release();
        EXPECT_EQ(desired_from_json(c.get(desired_key("kv-2")).value()->value)->run, "someone-else");
        EXPECT_FALSE(c.get(desired_key("kv-1")).value().has_value());
    }
    ASSERT_TRUE(c.lease_revoke(*lease).ok());
}

// The controller's report of a power loss carries each agent's own report of it (under `hosts`)
// and the kind's summary of them; an agent's report it cannot take is named, not fatal.
TEST_F(LoopbackEtcd, ControllerReportCarriesEachAgentsReport) {
    auto c = client();
    const auto loaded = plan::load_file(inj::test::source_path("experiments/pangyo-fire.yaml"));
    ASSERT_TRUE(loaded.ok());
    fleet::FleetOptions o;
    o.endpoints = client_url_;
    o.run_id = "unit-report";
    o.plan_text = loaded.text;
    o.lease_ttl_s = 2;
    o.activation_lead = 10ms;
    auto lease = c.lease_grant(30);
    ASSERT_TRUE(lease.ok());
    AgentInfo a;
    a.host = "kv-1";
    a.healthy = true;
    ASSERT_TRUE(c.put(agent_key("kv-1"), to_json(a), *lease).ok());
    // kv-1's agent, as if it had applied every step to come (a generation far ahead).
    auto report_as = [&](const nlohmann::json& report) {
        Status st;
        st.host = "kv-1";
        st.run = o.run_id;
        st.generation = 100;
        st.state = "ready";
        st.faults.push_back({0, true, realtime_ns(), 7, 0, 0, {}, report});
        ASSERT_TRUE(c.put(status_key("kv-1"), to_json(st), *lease).ok());
    };
    const nlohmann::json lost = {{"host", "kv-1"}, {"volume", "etcd-data"}, {"summary", {"2 writes lost"}}};
    report_as({{"lost", {lost}}});
    lab::LabState none;
    fleet::FleetEngine e(o);
    ASSERT_TRUE(
        e.prepare(*loaded.plan, *inj::test::lab_view(*loaded.plan, none), monotonic_ns() + 60'000'000'000ull).ok());
    ASSERT_TRUE(e.inject(0, monotonic_ns() + 30'000'000'000ull).ok());
    auto r = e.fault_report(0);
    EXPECT_EQ(r["activation"]["agents_confirmed"], 1) << r.dump();
    EXPECT_EQ(r["hosts"]["kv-1"]["lost"][0], lost) << r.dump();
    EXPECT_EQ(r["lost"], nlohmann::json::array({lost})) << r.dump();  // power_loss's summary field
    // An oversized report: the step still confirms, the report says why kv-1's is missing.
    report_as({{"lost", {lost}}, {"padding", std::string(kMaxFaultReportBytes, 'x')}});
    ASSERT_TRUE(e.heal(0).ok());
    r = e.fault_report(0);
    EXPECT_NE(r["hosts"]["kv-1"].value("error", "").find("over the limit"), std::string::npos) << r.dump();
    EXPECT_FALSE(r.contains("lost")) << r.dump();
    EXPECT_EQ(r["heal"]["agents_confirmed"], 1) << r.dump();
    e.release();
    ASSERT_TRUE(c.del(status_key("kv-1")).ok());
    ASSERT_TRUE(c.lease_revoke(*lease).ok());
}

}  // namespace
