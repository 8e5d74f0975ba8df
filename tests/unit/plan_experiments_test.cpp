// Every plan in experiments/ loads with zero errors, and the flagship plans mean what they say.
#include <filesystem>
#include <fstream>

#include "plan/template.hpp"
#include "plan_test_util.hpp"
#include "support/lab_plans.hpp"
#include "support/test_support.hpp"

using namespace inj;
using namespace inj::plan;
using namespace inj::plan::test;
using namespace std::chrono_literals;

namespace {
Plan load_experiment(const std::string& name) {
    auto r = load_file(inj::test::source_path("experiments/" + name));
    EXPECT_TRUE(r.errors.empty()) << dump(r);
    return r.plan.value_or(Plan{});
}
}  // namespace

TEST(PlanExperiments, EveryExperimentLoads) {
    namespace fs = std::filesystem;
    int count = 0;
    for (auto& entry : fs::directory_iterator(inj::test::source_path("experiments"))) {
        if (entry.path().extension() != ".yaml") continue;
        ++count;
        auto r = load_file(entry.path().string());
        EXPECT_TRUE(r.errors.empty()) << entry.path() << ":\n" << dump(r);
        EXPECT_TRUE(r.plan.has_value()) << entry.path();
    }
    EXPECT_GE(count, 2);
}

// The drill library: each plan's leading comment tells the person who will run it what it
// rehearses, what it needs and how to run it, and the README lists it with its verdict.
TEST(PlanExperiments, EveryDrillSaysWhatItRehearsesNeedsAndHowToRunIt) {
    namespace fs = std::filesystem;
    const std::string readme = inj::test::read_file(inj::test::source_path("README.md"));
    for (auto& entry : fs::directory_iterator(inj::test::source_path("experiments"))) {
        if (entry.path().extension() != ".yaml") continue;
        std::ifstream in(entry.path());
        std::string line, header;
        while (std::getline(in, line) && line.rfind("#", 0) == 0) header += line + "\n";
        for (const char* key : {"\n# Rehearses: ", "\n# Needs: ", "\n# Run: "})
            EXPECT_NE(header.find(key), std::string::npos) << entry.path() << " lacks '" << key + 1 << "'";
        const std::string name = entry.path().filename().string();
        EXPECT_NE(readme.find("| `" + name + "` |"), std::string::npos)
            << name << " is not in the README's drill table";
    }
}

TEST(PlanExperiments, ZoneSeverCutsTheFirstZoneAndProbesFromTheMajority) {
    Plan p = load_experiment("zone-sever.yaml");
    EXPECT_EQ(p.name, "zone-sever");
    ASSERT_EQ(p.topology.zones.size(), 3u);
    ASSERT_EQ(p.topology.hosts.size(), 3u);
    ASSERT_EQ(p.lab.services.size(), 1u);
    EXPECT_EQ(p.lab.services[0].hosts.size(), 3u);
    ASSERT_EQ(p.method.size(), 1u);
    const Fault& f = p.method[0];
    EXPECT_STREQ(f.kind(), "sever");
    EXPECT_EQ(f.at, 5s);
    EXPECT_EQ(f.duration, 30s);
    EXPECT_EQ(f.target.zones, std::vector<std::string>{p.topology.zones[0].name});
    EXPECT_EQ(p.safety.max_duration, 3min);
    ASSERT_EQ(p.probes.size(), 1u);
    const Probe& probe = p.probes[0];
    EXPECT_EQ(probe.every, 500ms);
    EXPECT_EQ(probe.timeout, 3s);
    EXPECT_EQ(probe.slo.success_rate, 0.9);
    EXPECT_EQ(probe.slo.window, 10s);
    // The probe runs on the side that keeps the quorum.
    const Host* in = p.topology.host(probe.in);
    ASSERT_NE(in, nullptr);
    EXPECT_NE(in->zone, p.topology.zones[0].name);
}

TEST(PlanExperiments, ZoneSeverEtcdCommandExpands) {
    Plan p = load_experiment("zone-sever.yaml");
    const Service& etcd = p.lab.services[0];
    TemplateContext c;
    c.plan = &p;
    c.host = etcd.hosts[0];
    c.volume = *etcd.volume;
    c.volume_path = [](const std::string& h, const std::string& v) { return "/run/lab/" + h + "/" + v; };
    c.vars = {{"lab", "zs1"}};
    auto cmd = expand_template(etcd.command, c);
    ASSERT_TRUE(cmd.ok()) << cmd.error().message();
    const std::string a1 = p.topology.hosts[0].addresses[0].addr.str();
    EXPECT_NE(cmd->find("--name kv-1 --data-dir /run/lab/kv-1/etcd-data"), std::string::npos) << *cmd;
    EXPECT_NE(cmd->find("--listen-client-urls http://" + a1 + ":2379"), std::string::npos) << *cmd;
    EXPECT_NE(cmd->find("--initial-cluster kv-1=http://198.18.0.2:2380,kv-2=http://198.18.4.2:2380,"
                        "kv-3=http://198.18.8.2:2380 "),
              std::string::npos)
        << *cmd;
    EXPECT_NE(cmd->find("--initial-cluster-token zs1"), std::string::npos) << *cmd;
    EXPECT_EQ(cmd->find('{'), std::string::npos) << *cmd;

    TemplateContext pc;
    pc.plan = &p;
    pc.host = p.probes[0].in;
    pc.vars = {{"seq", "12"}, {"lab", "zs1"}, {"run", "r1"}};
    auto probe = expand_template(p.probes[0].target, pc);
    ASSERT_TRUE(probe.ok()) << probe.error().message();
    EXPECT_EQ(*probe,
              "ETCDCTL_API=3 etcdctl --endpoints 198.18.0.2:2379,198.18.4.2:2379,198.18.8.2:2379 "
              "--dial-timeout 1s --command-timeout 2s put drill-key 12");
}

TEST(PlanExperiments, ZoneIsolateAllSeversEveryZoneFromTheRestAtOnce) {
    Plan p = load_experiment("zone-isolate-all.yaml");
    ASSERT_EQ(p.method.size(), p.topology.zones.size());
    std::vector<std::string> cut;
    for (auto& f : p.method) {
        EXPECT_STREQ(f.kind(), "sever");
        EXPECT_EQ(f.at, p.method[0].at);
        EXPECT_EQ(f.duration, 20s);
        EXPECT_TRUE(f.peer.rest);
        ASSERT_EQ(f.target.zones.size(), 1u);
        cut.push_back(f.target.zones[0]);
    }
    std::vector<std::string> zones;
    for (auto& z : p.topology.zones) zones.push_back(z.name);
    EXPECT_EQ(cut, zones);
    // The same probe as zone-sever.
    Plan sever = load_experiment("zone-sever.yaml");
    ASSERT_EQ(p.probes.size(), 1u);
    EXPECT_EQ(p.probes[0].target, sever.probes[0].target);
    EXPECT_EQ(p.probes[0].in, sever.probes[0].in);
}

TEST(PlanExperiments, SlowWanDegradesTheLinkBetweenTwoZonesOnly) {
    Plan p = load_experiment("slow-wan.yaml");
    ASSERT_EQ(p.method.size(), 1u);
    const Fault& f = p.method[0];
    EXPECT_STREQ(f.kind(), "degrade_link");
    EXPECT_EQ(f.target.zones, std::vector<std::string>{"ansan"});
    EXPECT_EQ(f.peer.zones, std::vector<std::string>{"gasan"});
    EXPECT_EQ(f.as<DegradeLinkSpec>()->direction, Direction::both);
    EXPECT_EQ(f.as<DegradeLinkSpec>()->link.delay, 50ms);
    EXPECT_EQ(f.as<DegradeLinkSpec>()->link.jitter, 5ms);
    EXPECT_DOUBLE_EQ(f.as<DegradeLinkSpec>()->link.loss, 0.05);
    EXPECT_EQ(f.as<DegradeLinkSpec>()->link.rate_bps, 0u);
    // The write probe runs from the zone the fault leaves alone; the connect probe crosses it.
    ASSERT_EQ(p.probes.size(), 2u);
    EXPECT_EQ(p.probes[0].in, "kv-1");
    EXPECT_EQ(p.probes[1].in, "kv-2");
    EXPECT_EQ(p.probes[1].target, "{addr:kv-3}:2379");
}
