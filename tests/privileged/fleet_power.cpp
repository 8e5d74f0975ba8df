// Every fault kind through agents, on experiments/pangyo-fire.yaml's lab: one `injector agent`
// in each kv host's namespace stands for that machine, with the fleet's etcd outside the plan
// (in the root namespace, on the lab's control address, which every host routes to). The
// controller (`injector run --fleet`) publishes; each agent runs the kind's own engine on its
// host: the power_loss kills (or freezes) the host's processes, darkens its egress but for the
// agent's own control path, and restarts the lab's service at restore, reporting its RTO back.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "common/paths.hpp"
#include "crash_support.hpp"
#include "fleet/etcd_client.hpp"
#include "fleet/protocol.hpp"
#include "lab/lab.hpp"
#include "plan/loader.hpp"

using namespace inj;
using namespace inj::crashtest;

namespace {

class FleetPower : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        ASSERT_FALSE(dir_.path().empty());
    }

    // The plan (edited by `edit`), its lab, the fleet's etcd and an agent on every kv host.
    void up(const std::function<void(std::string&)>& edit = {},
            const std::string& rel = "experiments/pangyo-fire.yaml") {
        std::string y = slurp(test::source_path(rel));
        if (edit) edit(y);
        plan_path_ = dir_.write(std::filesystem::path(rel).filename().string(), y);
        auto lr = plan::load_file(plan_path_);
        ASSERT_TRUE(lr.ok()) << (lr.errors.empty() ? "" : lr.errors[0].str());
        plan_ = *lr.plan;
        auto st = lab::up(plan_);
        ASSERT_TRUE(st.ok()) << st.error().message();
        lab_ = *st;
        // The fleet's control plane: one etcd member on the root end of the lab's control link.
        const std::string ctl = lab_.control_addr.addr.str();
        endpoints_ = ctl + ":2381";
        const std::string client = "http://" + endpoints_, peer = "http://127.0.0.1:23811";
        SpawnSpec s;
        s.argv = {"etcd",
                  "--name",
                  "fleet",
                  "--data-dir",
                  dir_.path() + "/fleet-etcd",
                  "--listen-client-urls",
                  client,
                  "--advertise-client-urls",
                  client,
                  "--listen-peer-urls",
                  peer,
                  "--initial-advertise-peer-urls",
                  peer,
                  "--initial-cluster",
                  "fleet=" + peer,
                  "--heartbeat-interval",
                  "100",
                  "--election-timeout",
                  "1000"};
        s.output = dir_.path() + "/fleet-etcd.log";
        s.die_with_parent = true;
        auto pid = spawn(s);
        ASSERT_TRUE(pid.ok()) << pid.error().message();
        etcd_ = *pid;
        std::optional<fleet::EtcdClient> c;
        for (int i = 0; i < 600 && !c; ++i) {
            if (auto x = fleet::EtcdClient::connect(endpoints_, 200ms))
                c.emplace(std::move(*x));
            else
                std::this_thread::sleep_for(50ms);
        }
        ASSERT_TRUE(c) << "the fleet etcd did not come up: " << slurp(s.output);
        for (auto h : {"kv-1", "kv-2", "kv-3"}) start_agent(h);
        for (int i = 0; i < 200; ++i) {
            auto a = c->get_prefix(fleet::kAgentsPrefix);
            if (a && a->size() == 3) return;
            std::this_thread::sleep_for(50ms);
        }
        FAIL() << "agents did not register; logs in " << dir_.path();
    }

    void start_agent(const std::string& host) {
        SpawnSpec s;
        s.argv = {injector(), "agent", "--etcd", endpoints_, "--host", host};
        s.netns = ns(host);
        s.output = dir_.path() + "/agent-" + host + ".log";
        s.die_with_parent = true;
        auto pid = spawn(s);
        ASSERT_TRUE(pid.ok()) << pid.error().message();
        agents_[host] = *pid;
    }

    // `injector run --fleet` to its end: held (exit 0), its report in `rep`.
    void run_held(nlohmann::json& rep) {
        auto r = run(run_args(), 5min, {}, 1 << 20);
        ASSERT_TRUE(r.ok()) << r.error().message();
        rep = report_of(r->output);
        ASSERT_FALSE(rep.is_discarded()) << r->output;
        EXPECT_EQ(r->exit_code, 0) << r->output << slurp(dir_.path() + "/agent-kv-1.log");
        EXPECT_EQ(rep["verdict"], "held") << rep["reason"];
    }

    std::vector<std::string> run_args(std::vector<std::string> extra = {}) const {
        std::vector<std::string> a{injector(), "--log-level", "warn",     "run",
                                   plan_path_, "--fleet",     endpoints_, "--json"};
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }

    // The plan with kv-1's power loss in freeze mode from 1 s, its controller started
    // (`extra` options) and kv-1 frozen.
    void up_until_frozen(std::vector<std::string> extra) {
        ASSERT_NO_FATAL_FAILURE(up([](std::string& y) {
            for (auto [from, to] : {std::pair{"mode: kill ", "mode: freeze "}, std::pair{"at: 5s", "at: 1s"}}) {
                auto p = y.find(from);
                ASSERT_NE(p, std::string::npos) << from;
                y.replace(p, std::string(from).size(), to);
            }
        }));
        ASSERT_TRUE(etcd_serves("kv-2", "kv-1"));
        SpawnSpec s;
        s.argv = run_args(std::move(extra));
        s.output = dir_.path() + "/controller.log";
        s.die_with_parent = true;
        auto pid = spawn(s);
        ASSERT_TRUE(pid.ok()) << pid.error().message();
        controller_ = *pid;
        ASSERT_TRUE(until([&] { return frozen("kv-1"); }, 60s))
            << slurp(s.output) << slurp(dir_.path() + "/agent-kv-1.log");
    }

    // The id of the run kv-1's agent loaded (its log says "run ID: N faults prepared").
    std::string run_id() const {
        std::smatch m;
        const std::string log = slurp(dir_.path() + "/agent-kv-1.log");
        return std::regex_search(log, m, std::regex("run (\\S+): [0-9]+ faults prepared")) ? m[1].str() : "?";
    }

    std::string ns(const std::string& host) const { return netns_path(lab_.host(host)->netns); }
    std::string addr(const std::string& host) const { return plan_.topology.host(host)->addresses[0].addr.str(); }
    std::string cgroup_of(const std::string& host) const { return lab_.host(host)->cgroup; }
    bool frozen(const std::string& host) const {
        return slurp(cgroup_of(host) + "/cgroup.events").find("frozen 1") != std::string::npos;
    }
    bool etcd_serves(const std::string& from, const std::string& host) {
        return tcp_connects(ns(from), addr(host), 2379, 300ms);
    }

    void TearDown() override {
        if (controller_ > 0 && process_alive(controller_)) {
            kill(controller_, SIGKILL);
            waitpid(controller_, nullptr, 0);
        }
        for (auto& [h, pid] : agents_) kill(pid, SIGTERM);
        for (auto& [h, pid] : agents_) (void)wait_exit(pid, 15s);  // past the bound: SIGKILLed and reaped
        if (etcd_ > 0) {
            kill(etcd_, SIGTERM);
            (void)wait_exit(etcd_, 10s);  // past the bound: SIGKILLed and reaped
        }
        if (!lab_.id.empty()) {
            // A frozen host would hang the lab's teardown: the test must have left none.
            for (auto& h : lab_.hosts) EXPECT_FALSE(frozen(h.name)) << h.name;
            EXPECT_TRUE(lab::down(lab_).ok());
        }
        EXPECT_EQ(leftovers(), "");
    }

    // kv-1's own report of the power loss came back through etcd, as the local engine gives it:
    // the loss its volatile volume took (also in the local summary field `lost`), and its
    // restore with its RTO in the journal as well as the report.
    static void expect_dark_host_reports(const nlohmann::json& rep, const nlohmann::json& f) {
        const auto& e = f["engine"];
        ASSERT_TRUE(e.contains("hosts")) << e.dump();
        EXPECT_EQ(e["hosts"].size(), 1u) << e.dump();  // the one dark host has an agent
        const auto& kv1 = e["hosts"]["kv-1"];
        ASSERT_TRUE(kv1.contains("lost")) << e.dump();
        EXPECT_EQ(kv1["lost"][0]["volume"], "etcd-data") << kv1.dump();
        EXPECT_FALSE(kv1.contains("error")) << kv1.dump();
        EXPECT_LE(kv1.dump().size(), fleet::kMaxFaultReportBytes);
        ASSERT_TRUE(e.contains("lost")) << e.dump();
        EXPECT_EQ(e["lost"][0]["host"], "kv-1");
        EXPECT_NE(e["lost"][0]["summary"][0].get<std::string>().find("power cut"), std::string::npos) << e.dump();
        int restores = 0;
        for (auto& ev : runner::read_journal(rep["journal"].get<std::string>()))
            if (ev.value("event", "") == "recovery" && ev.value("host", "") == "kv-1") {
                ++restores;
                EXPECT_TRUE(ev.value("ready", false)) << ev.dump();
                EXPECT_GT(ev.value("rto_ms", 0.0), 0.0) << ev.dump();
                EXPECT_LT(ev.value("rto_ms", 0.0), 30000.0) << ev.dump();
            }
        EXPECT_EQ(restores, 1);
        std::cout << "[ fleet    ] kv-1's report through etcd: " << kv1.dump().size() << " bytes; "
                  << e["lost"][0]["summary"][0].get<std::string>() << "\n";
    }

    TempDir dir_;
    std::string plan_path_;
    plan::Plan plan_;
    lab::LabState lab_;
    std::string endpoints_;
    std::map<std::string, pid_t> agents_;
    pid_t etcd_ = 0;
    pid_t controller_ = 0;
};

}  // namespace

// The flagship drill through agents: the same verdict, RTO and RPO expectations as in local mode
// (run_flagship_test.cpp): the member on kv-1 killed by its agent, restarted by it when power
// returns (its RTO measured there and reported through etcd), every acknowledged write back.
TEST_F(FleetPower, PangyoFireThroughAgentsMeetsItsRtoAndRpo) {
    ASSERT_NO_FATAL_FAILURE(up());
    nlohmann::json rep;
    ASSERT_NO_FATAL_FAILURE(run_held(rep));
    ASSERT_EQ(rep["faults"].size(), 1u);
    auto& f = rep["faults"][0];
    EXPECT_EQ(f["kind"], "power_loss");
    // The dark host's agent dropped real packets (every reply its kernel tried to send) and
    // confirmed at the agreed instant; the other hosts need no agent for a power loss.
    EXPECT_GT(f["dropped"].get<uint64_t>(), 0u) << f.dump();
    EXPECT_EQ(f["engine"]["activation"]["agents_confirmed"].get<int>(), 1) << f.dump();
    EXPECT_NEAR(f["healed_at_ms"].get<double>() - f["injected_at_ms"].get<double>(), 60000.0, 1000.0);
    ASSERT_EQ(f["recoveries"].size(), 1u) << f.dump();
    auto& rec = f["recoveries"][0];
    EXPECT_EQ(rec["service"], "etcd");
    EXPECT_EQ(rec["host"], "kv-1");
    EXPECT_TRUE(rec["ready"].get<bool>()) << rec.dump();
    EXPECT_GT(rec["rto_ms"].get<double>(), 0.0);
    EXPECT_LT(rec["rto_ms"].get<double>(), 30000.0);
    std::cout << "[ fleet    ] pangyo-fire through agents: RTO " << rec["rto_ms"].get<double>()
              << " ms, activation spread " << f["engine"]["activation"]["spread_ms"].get<double>() << " ms\n";
    ASSERT_NO_FATAL_FAILURE(expect_dark_host_reports(rep, f));
    auto& v = rep["verify"][0];
    EXPECT_GT(v["acknowledged"].get<int>(), 100) << v.dump();
    EXPECT_TRUE(v["missing"].empty()) << v.dump();
    ASSERT_EQ(rep["expectations"].size(), 2u) << rep.dump();
    for (auto& e : rep["expectations"]) EXPECT_TRUE(e["held"].get<bool>()) << e.dump();
    // The member the agent started serves, and every agent is back to clean, still serving.
    EXPECT_TRUE(etcd_serves("kv-2", "kv-1"));
    for (auto& [h, pid] : agents_) EXPECT_TRUE(process_alive(pid)) << h;
}

// The cascade through agents: pangyo's power also feeds the ansan<->gasan link, so the controller
// asks kv-2's and kv-3's agents too (the hosts behind a power loss's cascades), they cut the link,
// and the verdict is local mode's (PowerFlagship.PangyoFireCascade...): the surviving majority is
// split and stops taking writes, while kv-1's member still comes back when the power does. The
// lead is fixed here (--activation-lead 400), and the report says so.
TEST_F(FleetPower, PangyoFireCascadeThroughAgentsSplitsTheMajorityAsInLocalMode) {
    ASSERT_NO_FATAL_FAILURE(up({}, "experiments/pangyo-fire-cascade.yaml"));
    auto r = run(run_args({"--activation-lead", "400"}), 5min, {}, 1 << 20);
    ASSERT_TRUE(r.ok()) << r.error().message();
    auto rep = report_of(r->output);
    ASSERT_FALSE(rep.is_discarded()) << r->output;
    EXPECT_EQ(r->exit_code, 1) << r->output;
    EXPECT_EQ(rep["verdict"], "violated") << rep["reason"];
    EXPECT_NE(rep.value("reason", "").find("probe kv-write broke its SLO at T+"), std::string::npos) << rep["reason"];
    ASSERT_EQ(rep["faults"].size(), 1u);
    auto& f = rep["faults"][0];
    EXPECT_EQ(f["engine"]["activation"]["agents_confirmed"].get<int>(), 3) << f.dump();
    // A fixed lead (--activation-lead) is the one used; the three agents acted together at it.
    EXPECT_EQ(f["engine"]["activation"]["lead_ms"].get<double>(), 400.0) << f.dump();
    // Published that much ahead (the runner's part: RunnerTest.AnEngineWithALeadIsAskedEarly...),
    // the power went out at its planned T+5 s.
    EXPECT_NEAR(f["injected_at_ms"].get<double>(), 5000.0, 150.0) << f.dump();
    EXPECT_LT(f["engine"]["activation"]["spread_ms"].get<double>(), 100.0) << f.dump();
    ASSERT_EQ(f["recoveries"].size(), 1u) << f.dump();
    EXPECT_EQ(f["recoveries"][0]["host"], "kv-1");
    EXPECT_TRUE(f["recoveries"][0]["ready"].get<bool>()) << f.dump();
    // The link is back: ansan and gasan reach each other, and every agent still serves.
    EXPECT_TRUE(etcd_serves("kv-2", "kv-3"));
    for (auto& [h, pid] : agents_) EXPECT_TRUE(process_alive(pid)) << h;
}

// The dead man's switch for a power loss: the controller is killed (kill -9) while kv-1 is
// frozen; the run lease lapses, etcd deletes the desired state, and kv-1's agent thaws its host
// within the lease TTL. The agent keeps its own path to etcd through the dark host's isolation.
TEST_F(FleetPower, ControllerKilledMidFreezeThawsTheHostWithinTheLease) {
    ASSERT_NO_FATAL_FAILURE(up_until_frozen({"--lease-ttl", "3"}));
    // Dark: frozen, and its peers cannot reach it (their agents drop what they send it).
    EXPECT_FALSE(etcd_serves("kv-2", "kv-1"));
    EXPECT_FALSE(frozen("kv-2"));

    kill(controller_, SIGKILL);
    waitpid(controller_, nullptr, 0);
    controller_ = 0;
    auto thawed = until([&] { return !frozen("kv-1") && etcd_serves("kv-2", "kv-1"); }, 15s);
    ASSERT_TRUE(thawed) << slurp(dir_.path() + "/agent-kv-1.log");
    std::cout << "[ fleet    ] controller kill -9 mid freeze -> kv-1 thawed and serving after " << thawed->count()
              << " ms\n";
    // The lease (3 s), etcd's expiry tick and the watch delivery; the thaw itself is one write.
    EXPECT_LT(*thawed, 5000ms);
    // Its log says why (the line follows the thaw).
    const std::string log = dir_.path() + "/agent-kv-1.log";
    EXPECT_TRUE(until([&] { return slurp(log).find("reverted (desired state gone") != std::string::npos; }, 5s))
        << slurp(log);
    for (auto& [h, pid] : agents_) EXPECT_TRUE(process_alive(pid)) << h;
}

// A dark host hears nothing, not even one-way datagrams from hosts no agent judges for it (a
// power loss needs an agent on its dark hosts only: kv-2's and kv-3's have no rule): kv-1's agent
// drops them where they arrive (its interface's ingress judges cuts and isolations). With its
// power back they arrive again. (The control position is this fixture's etcd: the agent's own
// control path, exempt by design.)
TEST_F(FleetPower, ADarkHostHearsNothingNotEvenOneWayDatagrams) {
    ASSERT_NO_FATAL_FAILURE(up_until_frozen({"--lease-ttl", "3"}));
    const IpAddr kv1 = plan_.topology.host("kv-1")->addresses[0].addr;
    const int port = 9999;  // a socket of this test's in kv-1's namespace: not frozen with the host
    EXPECT_FALSE(udp_arrives(ns("kv-2"), ns("kv-1"), kv1, port, 500ms));
    EXPECT_FALSE(udp_arrives(ns("kv-3"), ns("kv-1"), kv1, port, 500ms));
    // Power back (the controller gone, its lease lapsed): heard again.
    kill(controller_, SIGKILL);
    waitpid(controller_, nullptr, 0);
    controller_ = 0;
    EXPECT_TRUE(until([&] { return !frozen("kv-1") && udp_arrives(ns("kv-2"), ns("kv-1"), kv1, port, 100ms); }, 15s))
        << slurp(dir_.path() + "/agent-kv-1.log");
    EXPECT_TRUE(udp_arrives(ns("kv-3"), ns("kv-1"), kv1, port, 500ms));
}

// The agent itself killed (kill -9) while its lab host is frozen: the watcher it started at load
// thaws the host at once, without waiting for the controller or a lease.
TEST_F(FleetPower, AgentKilledMidFreezeItsWatcherThawsTheHost) {
    ASSERT_NO_FATAL_FAILURE(up_until_frozen({}));
    kill(agents_["kv-1"], SIGKILL);
    waitpid(agents_["kv-1"], nullptr, 0);
    agents_.erase("kv-1");
    // Well inside the 60 s the freeze would otherwise last (no lease is involved: the
    // controller still runs and its lease lives).
    auto thawed = until([&] { return !frozen("kv-1"); }, 10s);
    ASSERT_TRUE(thawed) << "the watcher did not thaw kv-1";
    std::cout << "[ fleet    ] agent kill -9 mid freeze -> kv-1 thawed after " << thawed->count() << " ms\n";
    // Its record (state_root()/agents/kv-1-RUN.watch.jsonl) says why, and that it is through
    // ("undone"; the line follows the thaw). Removed once complete: later tests must not find it.
    const std::string record = state_root() + "/agents/kv-1-" + run_id() + ".watch.jsonl";
    EXPECT_TRUE(until([&] { return slurp(record).find("\"undone\"") != std::string::npos; }, 10s)) << slurp(record);
    EXPECT_NE(slurp(record).find("runner_lost"), std::string::npos) << slurp(record);
    std::filesystem::remove(record);
}

// The agent refuses to stand for a host whose cgroup holds it: the power loss would take the
// agent down with the host and nothing would restore it. Refused at load with the reason,
// nothing applied, the agent still serving; the controller exits 3 naming it.
TEST_F(FleetPower, AnAgentInsideItsHostsCgroupRefusesAPowerLoss) {
    ASSERT_NO_FATAL_FAILURE(up());
    kill(agents_["kv-1"], SIGTERM);
    ASSERT_GE(wait_exit(agents_["kv-1"], 15s), 0);
    SpawnSpec s;
    s.argv = {injector(), "agent", "--etcd", endpoints_, "--host", "kv-1"};
    s.netns = ns("kv-1");
    s.cgroup_procs = cgroup_of("kv-1") + "/cgroup.procs";
    s.output = dir_.path() + "/agent-kv-1-inside.log";
    s.die_with_parent = true;
    auto pid = spawn(s);
    ASSERT_TRUE(pid.ok()) << pid.error().message();
    agents_["kv-1"] = *pid;
    auto c = fleet::EtcdClient::connect(endpoints_);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(until(
        [&] {
            auto kv = c->get(fleet::agent_key("kv-1"));
            auto a = kv && *kv ? fleet::agent_info_from_json((*kv)->value) : std::nullopt;
            return a && a->pid == *pid;
        },
        20s))
        << slurp(s.output);
    auto r = run(run_args(), 2min, {}, 1 << 20);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 3) << r->output;
    EXPECT_NE(r->output.find("holds this agent"), std::string::npos) << r->output;
    EXPECT_TRUE(process_alive(*pid));
    EXPECT_TRUE(etcd_serves("kv-2", "kv-1")) << "nothing was applied";
    // Out of the host's cgroup before the lab goes (its teardown kills the cgroup).
    kill(*pid, SIGTERM);
    EXPECT_GE(wait_exit(*pid, 15s), 0);
    agents_.erase("kv-1");
}

// The other kinds that act on a host's processes and disks, through its agent, on the plans the
// local flagship tests run (run_flagship_test.cpp), with the same verdicts.
TEST_F(FleetPower, StopServiceThroughTheAgentRestartsTheMemberWithinItsRto) {
    ASSERT_NO_FATAL_FAILURE(up({}, "experiments/etcd-member-crash.yaml"));
    nlohmann::json rep;
    ASSERT_NO_FATAL_FAILURE(run_held(rep));
    ASSERT_EQ(rep["faults"].size(), 2u);
    for (auto& f : rep["faults"]) {
        EXPECT_EQ(f["kind"], "stop_service");
        EXPECT_EQ(f["engine"]["activation"]["agents_confirmed"].get<int>(), 1) << f.dump();  // kv-1's only
    }
    auto& kill = rep["faults"][0];
    ASSERT_EQ(kill["recoveries"].size(), 1u) << kill.dump();
    EXPECT_EQ(kill["recoveries"][0]["host"], "kv-1");
    EXPECT_TRUE(kill["recoveries"][0]["ready"].get<bool>()) << kill.dump();
    for (auto& e : rep["expectations"]) EXPECT_TRUE(e["held"].get<bool>()) << e.dump();
    EXPECT_TRUE(etcd_serves("kv-2", "kv-1"));
}

TEST_F(FleetPower, DegradeStorageThroughTheAgentFailsRealWalWrites) {
    ASSERT_NO_FATAL_FAILURE(up({}, "experiments/slow-disk.yaml"));
    nlohmann::json rep;
    ASSERT_NO_FATAL_FAILURE(run_held(rep));
    ASSERT_EQ(rep["faults"].size(), 1u);
    auto& f = rep["faults"][0];
    EXPECT_EQ(f["kind"], "degrade_storage");
    // kv-1's agent drove its fault filesystem: errors injected into the member's real I/O.
    EXPECT_GT(f["dropped"].get<uint64_t>(), 0u) << f.dump();
    EXPECT_GT(f["passed"].get<uint64_t>(), 0u) << f.dump();
    for (auto& p : rep["probes"]) EXPECT_TRUE(p["held"].get<bool>()) << p.dump();
}

// degrade_link through agents, experiments/slow-wan.yaml as the local flagship test runs it
// (run_flagship_test.cpp): each end's agent judges what its host sends at its own interface and
// holds the delayed packets in a delay line inside the host's namespace. Same verdict and the
// same added round trip as in local mode.
TEST_F(FleetPower, DegradeLinkThroughAgentsLosesAndDelaysAsInLocalMode) {
    ASSERT_NO_FATAL_FAILURE(up({}, "experiments/slow-wan.yaml"));
    nlohmann::json rep;
    ASSERT_NO_FATAL_FAILURE(run_held(rep));
    auto& f = rep["faults"][0];
    EXPECT_EQ(f["kind"], "degrade_link");
    EXPECT_GT(f["dropped"].get<uint64_t>(), 0u) << f.dump();
    EXPECT_EQ(f["engine"]["activation"]["agents_confirmed"].get<int>(), 2) << "both ends: kv-2 and kv-3";
    for (auto& p : rep["probes"]) EXPECT_TRUE(p["held"].get<bool>()) << p.dump();
    // One round trip across the slow link: 50 ms each way (+- 5 ms jitter), against well under
    // 1 ms on a healthy path.
    auto& wan = rep["probes"][1];
    EXPECT_EQ(wan["name"], "wan-connect");
    EXPECT_GT(wan["p50_ms"].get<double>(), 88.0) << wan.dump();
    EXPECT_LT(wan["p50_ms"].get<double>(), 150.0) << wan.dump();
    std::cout << "[ fleet    ] slow-wan through agents: wan-connect p50 " << wan["p50_ms"].get<double>() << " ms\n";
    EXPECT_TRUE(etcd_serves("kv-2", "kv-3"));
}

// scripts/fleet-lab.sh, as the README gives it: `up` brings the lab, the fleet's etcd and an
// agent per host; `down` stops exactly those (by the pids it recorded) and the lab.
TEST(FleetLabScript, UpStartsAnAgentPerHostAndDownLeavesNothing) {
    INJ_REQUIRE_PRIVILEGE();
    const std::string script = "INJECTOR=" + injector() + " " + test::source_path("scripts/fleet-lab.sh");
    const std::string plan = test::source_path("experiments/pangyo-fire.yaml");
    auto up = run_shell(script + " up " + plan, 120s);
    ASSERT_TRUE(up.ok()) << up.error().message();
    EXPECT_EQ(up->exit_code, 0) << up->output;
    EXPECT_NE(up->output.find("--fleet 198.19.255.1:2381"), std::string::npos) << up->output;
    std::optional<fleet::EtcdClient> c;
    EXPECT_TRUE(until(
        [&] {
            if (!c)
                if (auto x = fleet::EtcdClient::connect("198.19.255.1:2381", 200ms)) c.emplace(std::move(*x));
            auto a =
                c ? c->get_prefix(fleet::kAgentsPrefix) : Result<std::vector<fleet::KeyValue>>(plain_error("no etcd"));
            return a && a->size() == 3;
        },
        30s))
        << slurp("/run/injector/fleet-lab/agent-kv-1.log");
    c.reset();
    // Each agent serves its metrics on its namespace's loopback, as the script says.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(up->output, m, std::regex("agents for lab ([0-9a-f]+)"))) << up->output;
    EXPECT_NE(
        up->output.find("nsenter --net=/run/netns/inj-" + m[1].str() + "-HOST curl -s http://127.0.0.1:9465/metrics"),
        std::string::npos)
        << up->output;
    {
        auto g = NetnsGuard::enter("/run/netns/inj-" + m[1].str() + "-kv-1");
        ASSERT_TRUE(g);
        auto resp = test::http_exchange(9465, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
        EXPECT_NE(resp.find("injector_agent_healthy{host=\"kv-1\"} 1\n"), std::string::npos) << resp;
        EXPECT_NE(resp.find("injector_agent_state{host=\"kv-1\",run=\"\",state=\"idle\"} 1\n"), std::string::npos)
            << resp;
    }
    auto down = run_shell(script + " down " + plan, 120s);
    ASSERT_TRUE(down.ok()) << down.error().message();
    EXPECT_EQ(down->exit_code, 0) << down->output;
    EXPECT_EQ(leftovers(), "");
    std::error_code ec;
    std::filesystem::remove_all("/run/injector/fleet-lab", ec);
}
