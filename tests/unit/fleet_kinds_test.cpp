// Every fault kind through agents, the parts that need no etcd: which hosts need an agent, the
// control path a dark host keeps (net::exempt and the checks that rely on it), the statuses that
// carry restores back, and the agent's partial view of its own host.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "faults/parts.hpp"
#include "faults/power_loss/power_engine.hpp"
#include "fleet/agent_checks.hpp"
#include "fleet/agent_targets.hpp"
#include "fleet/fleet_engine.hpp"
#include "fleet/protocol.hpp"
#include "net/compile.hpp"
#include "plan/loader.hpp"
#include "support/fake_targets.hpp"
#include "support/test_support.hpp"

using namespace inj;
using namespace inj::fleet;

namespace {

plan::Plan load(const std::string& rel) {
    auto lr = plan::load_file(test::source_path(rel));
    EXPECT_TRUE(lr.ok()) << (lr.errors.empty() ? "" : lr.errors[0].str());
    return lr.ok() ? *lr.plan : plan::Plan{};
}

IpAddr addr_of(const plan::Plan& p, const char* h) { return p.topology.host(h)->addresses[0].addr; }

// A Targets view of two hosts with one service each, recording what it was asked to restart.
class TwoHosts : public test::StaticTargets {
public:
    TwoHosts() : StaticTargets({}, false, "two hosts") {
        for (const char* n : {"kv-1", "kv-2"}) {
            targets::Host h;
            h.name = n;
            h.netns = std::string("/run/netns/") + n;
            h.interface = "eth0";
            h.judges = {{"/run/netns/fabric", std::string("p-") + n, true}};
            h.cgroup = std::string("/sys/fs/cgroup/nowhere/") + n;
            hosts_.push_back(h);
        }
    }
    std::vector<targets::ServiceInstance> services() const override {
        return {{"etcd", "kv-1", 11}, {"etcd", "kv-2", 22}};
    }
    Result<std::vector<targets::ServiceInstance>> restart(const std::vector<std::string>& hosts,
                                                          const std::string&) override {
        std::vector<targets::ServiceInstance> out;
        for (auto& h : hosts) {
            asked->push_back(h);
            out.push_back({"etcd", h, 99});
        }
        return out;
    }
    std::shared_ptr<std::vector<std::string>> asked = std::make_shared<std::vector<std::string>>();
};

}  // namespace

// `injector plan` tells whoever deploys the agents where they are needed, before any run.
TEST(FleetKinds, ThePlanPreviewNamesTheHostsThatNeedAgents) {
    auto fire = load("experiments/pangyo-fire.yaml");
    auto ft = net::compile(fire);
    ASSERT_TRUE(ft.ok());
    EXPECT_EQ(agents_needed_line(fire, *ft), "fleet mode (--fleet): agents needed on 1 of 3 hosts: kv-1");
    auto cascade = load("experiments/pangyo-fire-cascade.yaml");
    auto ct = net::compile(cascade);
    ASSERT_TRUE(ct.ok());
    EXPECT_EQ(agents_needed_line(cascade, *ct),
              "fleet mode (--fleet): agents needed on 3 of 3 hosts: kv-1, kv-2, kv-3");
    // Thousands of hosts: a few named, and how many more.
    auto full = load("experiments/pangyo-full.yaml");
    auto fu = net::compile(full);
    ASSERT_TRUE(fu.ok());
    const std::string line = agents_needed_line(full, *fu);
    EXPECT_NE(line.find(" and "), std::string::npos) << line;
    EXPECT_NE(line.find(" more"), std::string::npos) << line;
    EXPECT_LT(line.size(), 400u) << line;
}

TEST(FleetKinds, EveryKindNeedsAgentsWhereItActs) {
    // power_loss: the dark hosts (their egress drops everything they would send or answer).
    auto fire = load("experiments/pangyo-fire.yaml");
    auto t = net::compile(fire);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(hosts_needing_agents(fire, *t), (std::vector<std::string>{"kv-1"}));
    // ...and the hosts behind what it feeds: here the ansan<->gasan link, cut at both ends.
    auto cascade = load("experiments/pangyo-fire-cascade.yaml");
    auto ct = net::compile(cascade);
    ASSERT_TRUE(ct.ok());
    EXPECT_EQ(hosts_needing_agents(cascade, *ct), (std::vector<std::string>{"kv-1", "kv-2", "kv-3"}));
    // A zone whose switch it feeds goes dark whole: its hosts judge themselves, as dark ones do.
    auto sw = plan::load_string(
        "name: sw\ntopology:\n  zones:\n"
        "    - { name: a, power_domains: [a-1, a-2], subnet: 198.18.0.0/22 }\n"
        "    - { name: b, subnet: 198.18.4.0/22, switch_power_domain: a-2 }\n"
        "    - { name: c, subnet: 198.18.8.0/22 }\n"
        "  hosts:\n    - { name: a1, zone: a, power_domain: a-2 }\n    - { name: b1, zone: b }\n"
        "    - { name: b2, zone: b }\n    - { name: c1, zone: c }\n"
        "safety:\n  max_duration: 1m\n"
        "method:\n  - { name: p, fault: power_loss, at: 1s, duration: 5s, target: { power_domain: a-2 } }\n",
        "sw.yaml");
    ASSERT_TRUE(sw.ok()) << (sw.errors.empty() ? "" : sw.errors[0].str());
    auto swt = net::compile(*sw.plan);
    ASSERT_TRUE(swt.ok());
    EXPECT_EQ(hosts_needing_agents(*sw.plan, *swt), (std::vector<std::string>{"a1", "b1", "b2"}));
    // sever: both ends of every cut pair.
    auto sever = load("experiments/fleet-zone-sever.yaml");
    auto st = net::compile(sever);
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(hosts_needing_agents(sever, *st), (std::vector<std::string>{"kv-1", "kv-2", "kv-3"}));
    // stop_service and degrade_storage cut nobody: only the target host.
    for (const char* rel : {"experiments/etcd-member-crash.yaml", "experiments/slow-disk.yaml"}) {
        auto p = load(rel);
        auto pt = net::compile(p);
        ASSERT_TRUE(pt.ok()) << rel;
        EXPECT_EQ(hosts_needing_agents(p, *pt), (std::vector<std::string>{"kv-1"})) << rel;
    }
    // degrade_link: both ends of every degraded pair.
    auto wan = load("experiments/slow-wan.yaml");
    auto wt = net::compile(wan);
    ASSERT_TRUE(wt.ok());
    auto need = hosts_needing_agents(wan, *wt);
    EXPECT_GE(need.size(), 2u);
    for (size_t i = 0; i < wan.method.size(); ++i)
        for (auto& [a, b] : net::degraded_set(wan, *wt, i)) {
            EXPECT_NE(std::find(need.begin(), need.end(), a), need.end()) << a;
            EXPECT_NE(std::find(need.begin(), need.end(), b), need.end()) << b;
        }
}

TEST(FleetKinds, ExemptTakesAnAddressOutOfEveryRule) {
    auto fire = load("experiments/pangyo-fire.yaml");
    auto t = net::compile(fire);
    ASSERT_TRUE(t.ok());
    const uint64_t armed = 1ull << t->rule_of_fault[0];
    const IpAddr kv1 = addr_of(fire, "kv-1"), kv2 = addr_of(fire, "kv-2");
    const IpAddr control = control_net_v4().nth(1);  // where a fleet's etcd may sit
    ASSERT_TRUE(net::drops(*t, kv1, kv2, armed));
    ASSERT_TRUE(net::drops(*t, kv1, control, armed));  // dark: the control position too
    net::exempt(*t, control);
    EXPECT_FALSE(net::drops(*t, kv1, control, armed));
    EXPECT_FALSE(net::drops(*t, control, kv1, armed));
    EXPECT_TRUE(net::drops(*t, kv1, kv2, armed)) << "only the exempt address is spared";
    EXPECT_TRUE(net::drops(*t, kv1, control_net_v4().nth(2), armed)) << "its neighbour is not";
    // An address the topology already holds loses its domains (a host /32 replaced, not added twice).
    const size_t n = t->prefixes.size();
    net::exempt(*t, kv2);
    EXPECT_EQ(t->prefixes.size(), n);
    EXPECT_FALSE(net::drops(*t, kv1, kv2, armed));
    EXPECT_TRUE(net::drops(*t, kv1, addr_of(fire, "kv-3"), armed));
}

TEST(FleetKinds, IsolationIsNotRefusedForTheControlPathAgentsKeep) {
    auto fire = load("experiments/pangyo-fire.yaml");
    auto t = net::compile(fire);
    ASSERT_TRUE(t.ok());
    const IpAddr control = control_net_v4().nth(1);
    // The agent exempts its etcd endpoint from the isolation, so neither side refuses it.
    EXPECT_EQ(check_cuts(fire, *t, "kv-1", {{control, "etcd endpoint"}}), "");
    EXPECT_TRUE(check_control_path(fire, *t, control.str() + ":2381").empty());
    // A sever that cuts the agent's etcd is still refused on both sides.
    auto sever = load("experiments/fleet-zone-sever.yaml");
    auto st = net::compile(sever);
    ASSERT_TRUE(st.ok());
    const IpAddr kv2 = addr_of(sever, "kv-2");
    EXPECT_NE(check_cuts(sever, *st, "kv-1", {{kv2, "etcd endpoint"}}).find("would cut this host"), std::string::npos);
    EXPECT_FALSE(check_control_path(sever, *st, kv2.str() + ":2379").empty());
}

TEST(FleetKinds, StatusCarriesRestoresBack) {
    Status s;
    s.host = "kv-1";
    s.run = "r";
    s.generation = 4;
    s.state = "ready";
    s.settled = false;
    AppliedFault a;
    a.index = 0;
    a.applied_ns = 12;
    a.recoveries.push_back({"etcd", 4242, 480'000'000, true, ""});
    a.recoveries.push_back({"api", 0, 30'000'000'000ull, false, "not ready within 30s"});
    s.faults.push_back(a);
    auto back = status_from_json(to_json(s));
    ASSERT_TRUE(back);
    EXPECT_FALSE(back->settled);
    ASSERT_EQ(back->faults.size(), 1u);
    ASSERT_EQ(back->faults[0].recoveries.size(), 2u);
    EXPECT_EQ(back->faults[0].recoveries[0].service, "etcd");
    EXPECT_EQ(back->faults[0].recoveries[0].pid, 4242);
    EXPECT_EQ(back->faults[0].recoveries[0].rto_ns, 480'000'000u);
    EXPECT_TRUE(back->faults[0].recoveries[0].ready);
    EXPECT_EQ(back->faults[0].recoveries[1].error, "not ready within 30s");
    // An older agent's status (no settled, no recoveries) reads as settled with none.
    auto old = status_from_json(R"({"host":"h","run":"r","faults":[{"index":0}]})");
    ASSERT_TRUE(old);
    EXPECT_TRUE(old->settled);
    EXPECT_TRUE(old->faults[0].recoveries.empty());
    // Hostile shapes are refused, never thrown out of the controller.
    EXPECT_FALSE(status_from_json(R"({"host":"h","settled":"yes"})"));
    EXPECT_FALSE(status_from_json(R"({"host":"h","faults":[{"index":0,"recoveries":[{"rto_ns":-5}]}]})"));
    EXPECT_FALSE(status_from_json(R"({"host":"h","faults":[{"index":0,"recoveries":7}]})"));
    EXPECT_FALSE(status_from_json(R"({"host":"h","faults":[{"index":0,"recoveries":[3]}]})"));
}

TEST(FleetKinds, OneHostViewIsPartialAndJudgedAtItsOwnInterfaceBothWays) {
    auto inner = std::make_unique<TwoHosts>();
    auto asked = inner->asked;
    auto v = one_host_view(std::move(inner), "kv-2");
    ASSERT_EQ(v->hosts().size(), 1u);
    EXPECT_TRUE(v->partial());
    EXPECT_TRUE(v->acts_on("kv-2"));
    EXPECT_FALSE(v->acts_on("kv-1")) << "another agent's host";
    const auto& h = v->hosts()[0];
    EXPECT_EQ(h.cgroup, "/sys/fs/cgroup/nowhere/kv-2");
    // Every rule where it sends; cuts and isolations only where it receives.
    ASSERT_EQ(h.judges.size(), 2u);
    EXPECT_FALSE(h.judges[0].ingress);
    EXPECT_FALSE(h.judges[0].isolations_only);
    EXPECT_EQ(h.judges[0].netns, "/run/netns/kv-2");
    EXPECT_EQ(h.judges[0].ifname, "eth0");
    EXPECT_TRUE(h.judges[1].ingress);
    EXPECT_TRUE(h.judges[1].isolations_only);
    EXPECT_EQ(h.judges[1].netns, "/run/netns/kv-2");
    EXPECT_EQ(h.judges[1].ifname, "eth0");
    EXPECT_EQ(v->judge_netns(), "/run/netns/kv-2") << "its own namespace: where its delay line and rate classes live";
    auto svc = v->services();
    ASSERT_EQ(svc.size(), 1u);
    EXPECT_EQ(svc[0].pid, 22);
    auto r = v->restart({"kv-1", "kv-2"}, "");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*asked, (std::vector<std::string>{"kv-2"})) << "never restarts another agent's host";
    // A complete view acts on every host it is asked about (a missing one is an error there).
    TwoHosts all;
    EXPECT_FALSE(all.partial());
    EXPECT_TRUE(all.acts_on("kv-9"));
}

TEST(FleetKinds, AgentTargetsOfAnUnboundHostWithoutItsLabIsThisMachine) {
    auto sever = load("experiments/fleet-zone-sever.yaml");
    auto v = agent_targets(sever, "kv-1", "eth7");
    ASSERT_TRUE(v.ok()) << v.error().message();
    ASSERT_EQ((*v)->hosts().size(), 1u);
    EXPECT_TRUE((*v)->partial());
    const auto& judges = (*v)->hosts()[0].judges;
    ASSERT_EQ(judges.size(), 2u);
    EXPECT_EQ(judges[0].ifname, "eth7");
    EXPECT_FALSE(judges[0].ingress);
    EXPECT_EQ(judges[1].ifname, "eth7");
    EXPECT_TRUE(judges[1].ingress && judges[1].isolations_only);
    EXPECT_TRUE((*v)->services().empty());
    EXPECT_FALSE((*v)->restart({"kv-1"}, "").ok()) << "nothing to restart on a host the plan names no process of";
    auto none = agent_targets(sever, "kv-9", "eth0");
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message().find("kv-9 is not in the plan"), std::string::npos);
}

namespace {

// A provider's view of two hosts with a volume each; serving records what it was asked and gives
// the volume a control, as BoundTargets does once its fault filesystem is mounted.
struct ServingTargets : test::StaticTargets {
    std::vector<std::pair<std::string, std::string>> served;
    int releases = 0;
    ServingTargets() {
        for (auto name : {"kv-1", "kv-2"}) {
            targets::Host h;
            h.name = name;
            h.netns = "/proc/1/ns/net";
            h.judges = {{h.netns, "eth0", false}};
            h.volumes = {{"data", std::string("/srv/") + name, "", 0}};
            hosts_.push_back(h);
        }
    }
    Result<void> serve_volumes(const std::vector<std::pair<std::string, std::string>>& v,
                               const std::string& dir) override {
        for (auto& [h, vol] : v) {
            served.emplace_back(h, vol);
            for (auto& host : hosts_)
                if (host.name == h) host.volumes[0].faultfs_control = dir + "/" + h + "." + vol + ".ctl";
        }
        return {};
    }
    Result<void> release() override {
        ++releases;
        for (auto& host : hosts_) host.volumes[0].faultfs_control.clear();
        return {};
    }
};

}  // namespace

// An agent serves its own host's volumes only, and its engines then find the fault filesystem's
// control through its view; the controller leaves serving to the agents.
TEST(FleetKinds, AnAgentServesItsOwnHostsVolumesAndItsViewSeesTheirControls) {
    auto inner = std::make_unique<ServingTargets>();
    ServingTargets* provider = inner.get();
    auto v = one_host_view(std::move(inner), "kv-2");
    ASSERT_TRUE(v->serve_volumes({{"kv-1", "data"}, {"kv-2", "data"}}, "/run/x").ok());
    ASSERT_EQ(provider->served.size(), 1u) << "kv-1 is another agent's";
    EXPECT_EQ(provider->served[0].first, "kv-2");
    const targets::Volume* vol = v->volume("kv-2", "data");
    ASSERT_NE(vol, nullptr);
    EXPECT_EQ(vol->faultfs_control, "/run/x/kv-2.data.ctl") << "the agent's view learns what was served";
    EXPECT_TRUE(v->serve_volumes({{"kv-1", "data"}}, "/run/x").ok());
    EXPECT_EQ(provider->served.size(), 1u) << "nothing of its own: nothing served";
    ASSERT_TRUE(v->release().ok());
    EXPECT_EQ(provider->releases, 1);
    EXPECT_TRUE(v->volume("kv-2", "data")->faultfs_control.empty());

    auto sever = load("experiments/fleet-zone-sever.yaml");
    EXPECT_TRUE(controller_view(sever)->serve_volumes({{"kv-1", "data"}}, "/tmp").ok())
        << "each agent serves its host's volumes; the controller mounts nothing";
}

namespace {

// The arm/disarm half of a power loss, counted.
struct CountingLinks : faults::LinkRules {
    int armed = 0, disarmed = 0;
    Result<void> arm(size_t, uint64_t) override { return ++armed, Result<void>{}; }
    Result<void> disarm(size_t) override { return ++disarmed, Result<void>{}; }
};

// One host of three, as its agent sees it: a cgroup directory the test made (cgroup.kill a plain
// file, cgroup.events saying it is empty) and a restart that notes when it was asked.
class AgentHost : public test::StaticTargets {
public:
    AgentHost(const std::string& name, const std::string& cgroup) : StaticTargets({}, true, "agent host") {
        targets::Host h;
        h.name = name;
        h.zone = "pangyo";
        h.power_domain = "pangyo-a";
        h.cgroup = cgroup;
        hosts_.push_back(h);
    }
    Result<std::vector<targets::ServiceInstance>> restart(const std::vector<std::string>& hosts,
                                                          const std::string&) override {
        restarted_at = std::chrono::steady_clock::now();
        return std::vector<targets::ServiceInstance>{{"svc", hosts.at(0), 0}};
    }
    std::optional<std::chrono::steady_clock::time_point> restarted_at;
};

}  // namespace

// A fleet restores power as one local restore would: each agent brings its host back at its
// turn in restore.order, `stagger` apart, and the RTO it reports counts from power's return.
TEST(FleetKinds, AnAgentRestoresItsHostAtItsTurnInTheWholeOrder) {
    auto lr = plan::load_string(R"(name: turns
topology:
  zones:
    - { name: pangyo, power_domains: [pangyo-a] }
    - { name: ansan, power_domains: [ansan-a] }
  hosts:
    - { name: kv-1, zone: pangyo }
    - { name: kv-2, zone: pangyo }
    - { name: kv-3, zone: pangyo }
    - { name: kv-4, zone: ansan }
method:
  - name: dark
    fault: power_loss
    at: 1s
    duration: 10s
    target: { zone: pangyo }
    restore: { stagger: 400ms, order: [kv-3, kv-2] }
safety:
  max_duration: 1m
)",
                                "turns.yaml");
    ASSERT_TRUE(lr.ok()) << (lr.errors.empty() ? "" : lr.errors[0].str());
    const auto dir = std::filesystem::temp_directory_path() / ("inj-turns-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "cgroup.kill") << "";
    std::ofstream(dir / "cgroup.events") << "populated 0\nfrozen 0\n";
    // kv-1 comes third (kv-3, kv-2, then the rest in plan order): 2 x 400 ms after power returns.
    AgentHost view("kv-1", dir.string());
    CountingLinks links;
    power::PowerEngine e(links, nullptr);
    const uint64_t deadline = monotonic_ns() + 60'000'000'000ull;
    ASSERT_TRUE(e.prepare(*lr.plan, view, deadline).ok());
    ASSERT_TRUE(e.inject(0, deadline).ok());
    EXPECT_EQ(links.armed, 1);
    std::string written;
    std::getline(std::ifstream(dir / "cgroup.kill"), written);
    EXPECT_EQ(written, "1") << "its own host only, in its own cgroup";
    const auto back = std::chrono::steady_clock::now();
    ASSERT_TRUE(e.heal(0).ok());
    EXPECT_EQ(links.disarmed, 1) << "links back at once";
    for (int i = 0; i < 500 && !e.settled(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(e.settled());
    ASSERT_TRUE(view.restarted_at);
    EXPECT_GE(*view.restarted_at - back, std::chrono::milliseconds(800)) << "not before its turn";
    auto rec = e.recoveries(0);
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_TRUE(rec[0].ready);
    EXPECT_GE(rec[0].rto, std::chrono::milliseconds(800));
    e.release();
    std::filesystem::remove_all(dir);
}
