// Fleet mode on one machine: experiments/fleet-zone-sever.yaml's lab (a three-member etcd in the
// protected ops zone, the system under test in three other zones), one `injector agent` in each
// kv host's namespace applying faults on the host's own interface, and `injector run --fleet` as
// the controller. Real traffic proves each cut and each revert.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <map>
#include <regex>

#include "crash_support.hpp"
#include "fleet/etcd_client.hpp"
#include "fleet/protocol.hpp"
#include "lab/lab.hpp"
#include "plan/loader.hpp"

using namespace inj;
using namespace inj::crashtest;

namespace {

class Fleet : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        ASSERT_FALSE(dir_.path().empty());
    }

    // The experiment with its fault moved and stretched (same name: the same lab id).
    void up(const std::string& at, const std::string& duration) {
        std::string y = slurp(test::source_path("experiments/fleet-zone-sever.yaml"));
        auto rep = [&](const std::string& from, const std::string& to) {
            auto p = y.find(from);
            ASSERT_NE(p, std::string::npos) << from;
            y.replace(p, from.size(), to);
        };
        rep("at: 3s", "at: " + at);
        rep("duration: 10s", "duration: " + duration);
        plan_path_ = dir_.write("fleet.yaml", y);
        auto lr = plan::load_file(plan_path_);
        ASSERT_TRUE(lr.ok()) << (lr.errors.empty() ? "" : lr.errors[0].str());
        plan_ = *lr.plan;
        auto st = lab::up(plan_);
        ASSERT_TRUE(st.ok()) << st.error().message();
        lab_ = *st;
        for (auto h : {"ops-1", "ops-2", "ops-3"})
            endpoints_ += (endpoints_.empty() ? "" : ",") + plan_.topology.host(h)->addresses[0].addr.str() + ":2379";
        for (auto h : {"kv-1", "kv-2", "kv-3"}) start_agent(h);
        auto c = fleet::EtcdClient::connect(endpoints_);
        ASSERT_TRUE(c.ok()) << c.error().message();
        for (int i = 0; i < 100; ++i) {
            auto a = c->get_prefix(fleet::kAgentsPrefix);
            if (a && a->size() == 3) return;
            std::this_thread::sleep_for(50ms);
        }
        FAIL() << "agents did not register; logs in " << dir_.path();
    }

    void start_agent(const std::string& host) {
        SpawnSpec s;
        // Each agent serves its metrics on its own namespace's loopback: one port for all.
        s.argv = {injector(), "agent", "--etcd", endpoints_, "--host", host, "--metrics", "127.0.0.1:9465"};
        s.netns = ns(host);
        s.output = dir_.path() + "/agent-" + host + ".log";
        s.die_with_parent = true;
        auto pid = spawn(s);
        ASSERT_TRUE(pid.ok()) << pid.error().message();
        agents_[host] = *pid;
    }

    pid_t start_controller(std::vector<std::string> extra = {}) {
        SpawnSpec s;
        s.argv = {injector(), "--log-level", "info", "run", plan_path_, "--fleet", endpoints_, "--json"};
        s.argv.insert(s.argv.end(), extra.begin(), extra.end());
        s.output = dir_.path() + "/controller.log";
        s.die_with_parent = true;
        auto pid = spawn(s);
        EXPECT_TRUE(pid.ok()) << pid.error().message();
        controller_ = pid ? *pid : 0;
        return controller_;
    }

    std::string ns(const std::string& host) const { return netns_path(lab_.host(host)->netns); }
    // The agent's /metrics body, scraped from inside its host's namespace ("" when it did not answer).
    std::string agent_metrics(const std::string& host) const {
        auto g = NetnsGuard::enter(ns(host));
        if (!g) return "";
        auto resp = test::http_exchange(9465, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
        auto body = resp.find("\r\n\r\n");
        return resp.rfind("HTTP/1.1 200 OK", 0) == 0 && body != std::string::npos ? resp.substr(body + 4) : "";
    }
    IpAddr addr(const std::string& host) const { return plan_.topology.host(host)->addresses[0].addr; }
    bool tcp(const std::string& from, const std::string& to) {
        return tcp_connects(ns(from), addr(to).str(), 2379, 300ms);
    }
    // Polls until pred() holds; returns how long it took, or nullopt after `bound`.

    void TearDown() override {
        if (controller_ > 0 && process_alive(controller_)) {
            kill(controller_, SIGKILL);
            waitpid(controller_, nullptr, 0);
        }
        for (auto& [h, pid] : agents_) kill(pid, SIGTERM);
        for (auto& [h, pid] : agents_) (void)wait_exit(pid, 10s);  // past the bound: SIGKILLed and reaped
        if (!lab_.id.empty()) {
            EXPECT_TRUE(lab::down(lab_).ok());
        }
        // A killed fleet controller leaves only its journal: it created nothing on this machine.
        EXPECT_EQ(leftovers(), "");
    }

    TempDir dir_;
    std::string plan_path_;
    plan::Plan plan_;
    lab::LabState lab_;
    std::string endpoints_;
    std::map<std::string, pid_t> agents_;
    pid_t controller_ = 0;
};

}  // namespace

// The same plan gives the same verdict through agents as through the local classifier.
TEST_F(Fleet, ZoneSeverGivesTheSameVerdictAsLocalMode) {
    ASSERT_NO_FATAL_FAILURE(up("3s", "10s"));
    auto fleet = cli({"--log-level", "warn", "run", plan_path_, "--fleet", endpoints_, "--json"}, 2min);
    auto fr = report_of(fleet.output);
    ASSERT_FALSE(fr.is_discarded()) << fleet.output;
    EXPECT_EQ(fleet.exit_code, 0) << fleet.output;
    EXPECT_EQ(fr["verdict"], "held") << fleet.output;
    auto& f = fr["faults"][0];
    // The agents' classifiers dropped real packets, and all three confirmed the activation.
    EXPECT_GT(f["dropped"].get<uint64_t>(), 0u) << f.dump();
    EXPECT_EQ(f["engine"]["activation"]["agents_confirmed"].get<int>(), 3) << f.dump();
    EXPECT_GE(f["engine"]["activation"]["spread_ms"].get<double>(), 0.0);
    // The lead was chosen (auto): at least 150 ms, and more than the agents' slowest receipt of
    // the step, which each reported (a delivery of 0 would mean none did).
    auto& act = f["engine"]["activation"];
    EXPECT_GE(act["lead_ms"].get<double>(), 150.0) << act.dump();
    EXPECT_LE(act["lead_ms"].get<double>(), 5000.0) << act.dump();
    EXPECT_GT(act["delivery_max_ms"].get<double>(), 0.0) << act.dump();
    EXPECT_LT(act["delivery_max_ms"].get<double>(), act["lead_ms"].get<double>()) << act.dump();
    EXPECT_EQ(act["clock_skew_ms"].get<double>(), 0.0) << "one machine, one clock: " << act.dump();
    EXPECT_TRUE(tcp("kv-1", "kv-2"));  // healed

    // Each agent's metrics tell the same story: three steps (load, inject, heal), the run reverted when it
    // ended, the rule disarmed; together they dropped at least what the controller reported.
    const std::string run = fr["run"].get<std::string>();
    uint64_t dropped = 0;
    for (auto h : {"kv-1", "kv-2", "kv-3"}) {
        std::string body;
        // The revert follows the desired key's deletion by at most one agent loop.
        for (int i = 0; i < 50 && body.find("state=\"reverted\"} 1") == std::string::npos; ++i) {
            body = agent_metrics(h);
            std::this_thread::sleep_for(20ms);
        }
        const std::string l = "host=\"" + std::string(h) + "\",run=\"" + run + "\"";
        EXPECT_NE(body.find("injector_agent_state{" + l + ",state=\"reverted\"} 1\n"), std::string::npos) << body;
        EXPECT_NE(body.find("injector_agent_steps_total{host=\"" + std::string(h) + "\"} 3\n"), std::string::npos)
            << body;
        EXPECT_NE(body.find("injector_agent_fault_armed{" + l + ",fault=\"cut-pangyo\",kind=\"sever\"} 0\n"),
                  std::string::npos)
            << body;
        EXPECT_NE(body.find("injector_agent_etcd_reachable{host=\"" + std::string(h) + "\"} 1\n"), std::string::npos)
            << body;
        std::smatch m;
        const std::regex re("injector_agent_fault_dropped_packets_total\\{" + l + ",fault=\"cut-pangyo\"\\} ([0-9]+)");
        ASSERT_TRUE(std::regex_search(body, m, re)) << body;
        dropped += std::stoull(m[1]);
    }
    EXPECT_GE(dropped, f["dropped"].get<uint64_t>());
    EXPECT_GT(dropped, 0u);

    auto local = cli({"--log-level", "warn", "run", plan_path_, "--json"}, 2min);
    auto lr = report_of(local.output);
    ASSERT_FALSE(lr.is_discarded()) << local.output;
    EXPECT_EQ(local.exit_code, fleet.exit_code) << local.output;
    EXPECT_EQ(lr["verdict"], fr["verdict"]);
    EXPECT_GT(lr["faults"][0]["dropped"].get<uint64_t>(), 0u);
}

// A controller that refuses: an agent missing, and a plan whose cut would sever the agents'
// path to etcd (preflight proves the control path).
TEST_F(Fleet, RefusesWithoutEveryAgentOrWhenACutWouldReachEtcd) {
    ASSERT_NO_FATAL_FAILURE(up("1s", "5s"));
    // Before the game day: `injector agents --plan` says every agent the plan needs is ready.
    auto ready = cli({"agents", "--etcd", endpoints_, "--plan", plan_path_, "--json"}, 30s);
    EXPECT_EQ(ready.exit_code, 0) << ready.output;
    auto rj = nlohmann::json::parse(ready.output, nullptr, false);
    ASSERT_FALSE(rj.is_discarded()) << ready.output;
    EXPECT_TRUE(rj["plan"]["ready"].get<bool>()) << rj.dump();
    EXPECT_EQ(rj["plan"]["needed"], (nlohmann::json{"kv-1", "kv-2", "kv-3"})) << rj.dump();
    ASSERT_EQ(rj["agents"].size(), 3u) << rj.dump();
    for (auto& a : rj["agents"]) {
        EXPECT_TRUE(a["healthy"].get<bool>()) << a.dump();
        EXPECT_EQ(a["pid"].get<int>(), agents_[a["host"].get<std::string>()]) << a.dump();
    }
    kill(agents_["kv-3"], SIGTERM);
    ASSERT_GE(wait_exit(agents_["kv-3"], 10s), 0);
    agents_.erase("kv-3");
    auto gone = cli({"agents", "--etcd", endpoints_, "--plan", plan_path_}, 30s);
    EXPECT_EQ(gone.exit_code, 3) << gone.output;
    EXPECT_NE(gone.output.find("NOT READY: no agent registered for kv-3"), std::string::npos) << gone.output;
    EXPECT_NE(gone.output.find("2 agents registered"), std::string::npos) << gone.output;
    auto r = cli({"--log-level", "warn", "run", plan_path_, "--fleet", endpoints_, "--json"}, 1min);
    EXPECT_EQ(r.exit_code, 3) << r.output;
    EXPECT_NE(r.output.find("no agent registered for host(s) kv-3"), std::string::npos) << r.output;

    // Unprotect ops and cut it: preflight names the fault and the endpoint, nothing is touched.
    std::string y = slurp(plan_path_);
    const std::string prot = "  protected:\n    - { zone: ops }\n";
    y.replace(y.find(prot), prot.size(), "");
    y.replace(y.find("peer: { zone: [ansan, gasan] }"), 30, "peer: { zone: [ansan, gasan, ops] }");
    y.replace(y.find("max_hosts: 1"), 12, "max_hosts: 4");
    auto bad = dir_.write("cut-ops.yaml", y);
    auto r2 = cli({"--log-level", "warn", "run", bad, "--fleet", endpoints_, "--json"}, 1min);
    EXPECT_EQ(r2.exit_code, 3) << r2.output;
    EXPECT_NE(r2.output.find("cuts agent host kv-1 from etcd endpoint"), std::string::npos) << r2.output;
}

// kill -9 of an agent, then of the controller: a restarted agent reconciles to the desired state;
// after the controller's death nothing reverts the agents but the lapse of its lease.
TEST_F(Fleet, ARestartedAgentReconcilesAndKillingTheControllerRevertsEveryAgent) {
    ASSERT_NO_FATAL_FAILURE(up("1s", "60s"));
    pid_t c = start_controller({"--lease-ttl", "3"});
    ASSERT_TRUE(until([&] { return !tcp("kv-1", "kv-2") && !tcp("kv-3", "kv-1"); }, 30s))
        << slurp(dir_.path() + "/controller.log");
    ASSERT_FALSE(tcp("kv-2", "kv-1"));
    // First an agent dies (kill -9): its tcx link dies with it, so its host's packets flow; a new
    // agent reconciles to the desired state and the cut is back.
    const int port = 40124;
    ASSERT_FALSE(udp_arrives(ns("kv-2"), ns("kv-1"), addr("kv-1"), port, 300ms));
    kill(agents_["kv-2"], SIGKILL);
    waitpid(agents_["kv-2"], nullptr, 0);
    EXPECT_TRUE(until([&] { return udp_arrives(ns("kv-2"), ns("kv-1"), addr("kv-1"), port, 100ms); }, 5s));
    ASSERT_NO_FATAL_FAILURE(start_agent("kv-2"));
    EXPECT_TRUE(until([&] { return !udp_arrives(ns("kv-2"), ns("kv-1"), addr("kv-1"), port, 150ms); }, 10s))
        << slurp(dir_.path() + "/agent-kv-2.log");
    EXPECT_FALSE(tcp("kv-2", "kv-1"));

    kill(c, SIGKILL);
    waitpid(c, nullptr, 0);
    auto t0 = Clock::now();
    // Every agent: kv-1's egress (kv-1 -> kv-2), kv-2's (kv-2 -> kv-1), kv-3's (kv-3 -> kv-1).
    auto back = until([&] { return tcp("kv-1", "kv-2") && tcp("kv-2", "kv-1") && tcp("kv-3", "kv-1"); }, 15s);
    ASSERT_TRUE(back) << "traffic did not come back after the controller died";
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    std::cout << "[ fleet    ] controller kill -9 -> all agents reverted and traffic flows: " << took.count()
              << " ms\n";
    // Within the lease (3 s) plus etcd's expiry tick (~0.5 s) and the watch delivery.
    EXPECT_LT(took, 4500ms);
    // Each agent says why (its log line follows the map writes and the audit record).
    for (auto h : {"kv-1", "kv-2", "kv-3"}) {
        const std::string file = dir_.path() + "/agent-" + std::string(h) + ".log";
        EXPECT_TRUE(until([&] { return slurp(file).find("reverted (desired state gone") != std::string::npos; }, 5s))
            << h << ": " << slurp(file);
    }
}

// One agent cut from etcd reverts on its own (local timer); the others hold the fault; once etcd
// is back it reconciles to the desired state.
TEST_F(Fleet, AnAgentCutFromEtcdRevertsAloneAndReconcilesWhenBack) {
    ASSERT_NO_FATAL_FAILURE(up("1s", "60s"));
    pid_t c = start_controller({"--lease-ttl", "3"});
    const int port = 40123;
    ASSERT_TRUE(until([&] { return !tcp("kv-2", "kv-1"); }, 30s)) << slurp(dir_.path() + "/controller.log");
    ASSERT_FALSE(udp_arrives(ns("kv-2"), ns("kv-1"), addr("kv-1"), port, 300ms));
    ASSERT_FALSE(udp_arrives(ns("kv-3"), ns("kv-1"), addr("kv-1"), port, 300ms));

    // kv-2 loses etcd (all three members): its packets to port 2379 of the ops zone vanish.
    const std::string ops = plan_.topology.zone("ops")->subnet->str();
    auto block = run({"ip", "netns", "exec", lab_.host("kv-2")->netns, "iptables", "-I", "OUTPUT", "-d", ops, "-p",
                      "tcp", "--dport", "2379", "-j", "DROP"},
                     10s);
    ASSERT_TRUE(block && block->exit_code == 0) << (block ? block->output : block.error().message());
    auto reverted = until([&] { return udp_arrives(ns("kv-2"), ns("kv-1"), addr("kv-1"), port, 100ms); }, 10s);
    ASSERT_TRUE(reverted) << slurp(dir_.path() + "/agent-kv-2.log");
    std::cout << "[ fleet    ] kv-2 cut from etcd -> its faults reverted after " << reverted->count() << " ms\n";
    EXPECT_LT(*reverted, 4500ms);  // the run lease TTL (3 s) and one keepalive period
    EXPECT_TRUE(until(
        [&] { return slurp(dir_.path() + "/agent-kv-2.log").find("etcd unreachable for") != std::string::npos; }, 5s));
    // The other agents still hold the fault: kv-3's packets to kv-1 are dropped at kv-3.
    EXPECT_FALSE(udp_arrives(ns("kv-3"), ns("kv-1"), addr("kv-1"), port, 300ms));
    EXPECT_TRUE(process_alive(c));
    // kv-2's metrics say why: etcd unreachable for longer than the lease, and its rule disarmed;
    // kv-3's still reach etcd and hold the rule.
    std::string body2, body3 = agent_metrics("kv-3");
    (void)until([&] { return (body2 = agent_metrics("kv-2")).find("state=\"reverted\"} 1\n") != std::string::npos; },
                2s);
    EXPECT_NE(body2.find("injector_agent_etcd_reachable{host=\"kv-2\"} 0\n"), std::string::npos) << body2;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(body2, m,
                                  std::regex("injector_agent_etcd_last_contact_seconds\\{host=\"kv-2\"\\} ([0-9.]+)")))
        << body2;
    EXPECT_GT(std::stod(m[1]), 3.0) << body2;
    EXPECT_NE(body2.find("state=\"reverted\"} 1\n"), std::string::npos) << body2;
    EXPECT_NE(body2.find("fault=\"cut-pangyo\",kind=\"sever\"} 0\n"), std::string::npos) << body2;
    EXPECT_NE(body3.find("injector_agent_etcd_reachable{host=\"kv-3\"} 1\n"), std::string::npos) << body3;
    EXPECT_NE(body3.find("fault=\"cut-pangyo\",kind=\"sever\"} 1\n"), std::string::npos) << body3;

    // etcd back: kv-2 reads its desired state again and re-applies the cut.
    auto unblock = run({"ip", "netns", "exec", lab_.host("kv-2")->netns, "iptables", "-D", "OUTPUT", "-d", ops, "-p",
                        "tcp", "--dport", "2379", "-j", "DROP"},
                       10s);
    ASSERT_TRUE(unblock && unblock->exit_code == 0);
    auto again = until([&] { return !udp_arrives(ns("kv-2"), ns("kv-1"), addr("kv-1"), port, 150ms); }, 10s);
    EXPECT_TRUE(again) << slurp(dir_.path() + "/agent-kv-2.log");

    // The controller stops on SIGTERM: every fault healed, exit 2.
    kill(c, SIGTERM);
    EXPECT_EQ(wait_exit(c, 30s), 2) << slurp(dir_.path() + "/controller.log");
    EXPECT_TRUE(tcp("kv-1", "kv-2"));
    EXPECT_TRUE(tcp("kv-2", "kv-1"));
}
