// Plan loader: hosts bound to what exists (container:, netns:/cgroup:/pid:/pidfile:, local:),
// their volumes, ready checks and restart commands, the no-mix rule, and the `port:` protected entry.
#include "plan_test_util.hpp"

using namespace inj;
using namespace inj::plan;
using namespace inj::plan::test;

namespace {

// Three containers standing for three zones; the zones declare no subnet (what exists has the
// addresses it has).
const std::string kBound = R"(name: bound
topology:
  zones:
    - { name: z1 }
    - { name: z2 }
    - { name: z3 }
  hosts:
    - { name: h1, zone: z1, container: etcd-a, addresses: [198.19.250.11], ready: { tcp: "198.19.250.11:2379" } }
    - { name: h2, zone: z2, netns: web, cgroup: system.slice/web.service, addresses: [198.19.250.12], restart: "systemctl start web" }
    - { name: h3, zone: z3, pidfile: /run/db.pid, addresses: [198.19.250.13], volumes: [{ name: data, path: /srv/db }] }
safety:
  max_duration: 1m
method:
  - { name: f1, fault: power_loss, at: 1s, duration: 10s, target: { zone: z1 } }
)";

}  // namespace

TEST(PlanBinding, EveryKindOfBindingLoads) {
    Plan p = load_ok(kBound);
    ASSERT_TRUE(p.topology.bound());
    const Host* h1 = p.topology.host("h1");
    EXPECT_EQ(h1->binding.kind, Binding::Kind::container);
    EXPECT_EQ(h1->binding.container, "etcd-a");
    EXPECT_EQ(h1->binding.runtime, "podman");
    ASSERT_TRUE(h1->binding.ready.has_value());
    EXPECT_EQ(h1->binding.ready->target, "198.19.250.11:2379");
    EXPECT_EQ(h1->addresses[0].str(), "198.19.250.11/32");
    const Host* h2 = p.topology.host("h2");
    EXPECT_EQ(h2->binding.kind, Binding::Kind::process);
    EXPECT_EQ(h2->binding.netns, "web");
    EXPECT_EQ(h2->binding.cgroup, "system.slice/web.service");
    EXPECT_EQ(h2->binding.restart, "systemctl start web");
    EXPECT_EQ(h2->binding.service_name("h2"), "h2");
    const Host* h3 = p.topology.host("h3");
    EXPECT_EQ(h3->binding.pidfile, "/run/db.pid");
    ASSERT_EQ(h3->binding.volumes.size(), 1u);
    EXPECT_EQ(h3->binding.volumes[0].path, "/srv/db");
    EXPECT_EQ(h1->binding.describe(), "podman container etcd-a");
    EXPECT_EQ(h1->binding.service_name("h1"), "etcd-a");
}

TEST(PlanBinding, ALabHostBesideABoundOneIsRefused) {
    std::string y = with(kBound, "pidfile: /run/db.pid, ", "");
    y = with(y, ", volumes: [{ name: data, path: /srv/db }]", "");
    auto r = load(y);
    expect_error(r, pos(y, "{ name: h3"), "topology.hosts", "host 'h3' is not bound while host 'h1'");
}

TEST(PlanBinding, ABoundHostNeedsItsAddresses) {
    std::string y = with(kBound, ", addresses: [198.19.250.12]", "");
    auto r = load(y);
    expect_error(r, pos(y, "{ name: h2"), "topology.hosts[1]", "give the addresses its interfaces carry");
}

TEST(PlanBinding, TwoBindingsOnOneHostAreRefused) {
    std::string y = with(kBound, "container: etcd-a,", "container: etcd-a, local: true,");
    auto r = load(y);
    expect_error(r, pos(y, "{ name: h1"), "topology.hosts[0]", "bound to more than one thing");
}

TEST(PlanBinding, BadValuesNameTheirField) {
    {
        std::string y = with(kBound, "cgroup: system.slice/web.service", "cgroup: ../etc");
        expect_error(load(y), pos(y, "../etc"), "topology.hosts[1].cgroup", "must name a cgroup below the root");
    }
    {
        std::string y = with(kBound, "cgroup: system.slice/web.service", "cgroup: /");
        expect_error(load(y), pos(y, "/,"), "topology.hosts[1].cgroup", "must name a cgroup below the root");
    }
    {
        // One rule with the targets' (common/paths.hpp): a ".." component climbs out, a name that
        // merely contains two dots does not.
        std::string y = with(kBound, "cgroup: system.slice/web.service", "cgroup: a/./..");
        expect_error(load(y), pos(y, "a/./.."), "topology.hosts[1].cgroup", "must name a cgroup below the root");
        EXPECT_TRUE(
            load(with(kBound, "cgroup: system.slice/web.service", "cgroup: system.slice/web..v2.service")).ok());
    }
    {
        std::string y = with(kBound, "pidfile: /run/db.pid", "pid: 1");
        expect_error(load(y), pos(y, "1, addresses: [198.19.250.13]"), "topology.hosts[2].pid", "a process id above 1");
    }
    {
        std::string y = with(kBound, "pidfile: /run/db.pid", "pidfile: run/db.pid");
        expect_error(load(y), pos(y, "run/db.pid"), "topology.hosts[2].pidfile", "must be an absolute path");
    }
    {
        std::string y = with(kBound, "path: /srv/db", "path: /proc/1");
        expect_error(load(y), pos(y, "/proc/1"), "topology.hosts[2].volumes[0].path", "a system directory");
    }
    {
        std::string y = with(kBound, "container: etcd-a,", "container: etcd-a, runtime: lxc,");
        expect_error(load(y), pos(y, "lxc"), "topology.hosts[0].runtime", "podman or docker");
    }
    {
        std::string y = with(kBound, "netns: web, cgroup: system.slice/web.service", "netns: web");
        expect_error(load(y), pos(y, "web,"), "topology.hosts[1].netns", "also needs its processes");
    }
    {
        std::string y = with(kBound, "container: etcd-a", "containr: etcd-a");
        expect_error(load(y), pos(y, "containr"), "topology.hosts[0].containr", "did you mean 'container'?");
    }
}

TEST(PlanBinding, BindingKeysOnALabHostAreRefused) {
    std::string y = with(kBase, "{ name: h1, zone: z1 }", "{ name: h1, zone: z1, restart: \"x\" }");
    expect_error(load(y), pos(y, "\"x\""), "topology.hosts[0].restart", "belongs to a bound host");
}

TEST(PlanBinding, ABoundPlanHasNoLabServices) {
    std::string y = kBound + "lab:\n  services:\n    - { name: s, hosts: [h1], command: \"sleep 1\" }\n";
    expect_error(load(y), pos(y, "{ name: s"), "lab.services", "has no lab services");
}

TEST(PlanBinding, StopServiceNamesTheBoundService) {
    std::string ok =
        with(kBound, "fault: power_loss, at: 1s, duration: 10s, target: { zone: z1 }",
             "fault: stop_service, at: 1s, duration: 10s, target: { host: h1 }, service: etcd-a, restart: true");
    Plan p = load_ok(ok + "expect: { rto: 10s }\n");
    EXPECT_TRUE(p.expect.rto.has_value());
    std::string bad = with(ok, "service: etcd-a", "service: etcd");
    expect_error(load(bad), pos(bad, "etcd,"), "method[0].service", "its service is 'etcd-a'");
}

TEST(PlanBinding, PowerLossOfABoundHostMeasuresAnRto) {
    Plan p = load_ok(kBound + "expect: { rto: 30s }\n");
    ASSERT_TRUE(p.expect.rto.has_value());
}

TEST(PlanBinding, ProtectedPortEntries) {
    Plan p = load_ok(with(kBound, "  max_duration: 1m\n",
                          "  max_duration: 1m\n  protected: [{ port: 5432 }, { interface: eth1 }]\n"));
    ASSERT_EQ(p.safety.protected_targets.size(), 2u);
    EXPECT_EQ(p.safety.protected_targets[0].kind, Protected::Kind::port);
    EXPECT_EQ(p.safety.protected_targets[0].name, "5432");
    std::string y = with(kBound, "  max_duration: 1m\n", "  max_duration: 1m\n  protected: [{ port: 70000 }]\n");
    expect_error(load(y), pos(y, "70000"), "safety.protected[0].port", "port must be 1..65535");
}

TEST(PlanBinding, ABoundHostsVolumeCanBeVolatileAndDegraded) {
    std::string y =
        with(kBound, "volumes: [{ name: data, path: /srv/db }]",
             "volumes: [{ name: data, path: /srv/db, volatile: true, loss: { model: torn, torn_sectors: 2 } }]");
    y += "  - { name: f2, fault: degrade_storage, at: 1s, duration: 5s, target: { host: h3 }, volume: data, full: true "
         "}\n";
    Plan p = load_ok(y);
    const Host* h3 = p.topology.host("h3");
    ASSERT_EQ(h3->binding.volumes.size(), 1u);
    EXPECT_TRUE(h3->binding.volumes[0].is_volatile);
    ASSERT_NE(volume_loss(p, "h3", "data"), nullptr);
    EXPECT_EQ(volume_loss(p, "h3", "data")->model, VolumeLoss::Model::torn);
    EXPECT_EQ(volume_loss(p, "h3", "data")->torn_sectors, 2u);
    EXPECT_EQ(volume_loss(p, "h1", "data"), nullptr);
    EXPECT_EQ(volumes_of(p, "h3"), std::vector<std::string>{"data"});
    // Served through the fault filesystem once, whether volatile or degraded or both.
    auto served = faultfs_volumes(p);
    ASSERT_EQ(served.size(), 1u);
    EXPECT_EQ(served[0], std::make_pair(std::string("h3"), std::string("data")));
}

TEST(PlanBinding, DegradingAVolumeABoundHostDoesNotHaveIsRefused) {
    std::string y = kBound +
                    "  - { name: f2, fault: degrade_storage, at: 1s, duration: 5s, target: { host: h1 }, volume: data, "
                    "full: true }\n";
    expect_error(load(y), pos(y, "data, full"), "method[1].volume", "host 'h1' of the target has no volume 'data'");
    std::string none = with(kBound, ", volumes: [{ name: data, path: /srv/db }]", "");
    none +=
        "  - { name: f2, fault: degrade_storage, at: 1s, duration: 5s, target: { host: h3 }, volume: data, full: true "
        "}\n";
    expect_error(load(none), pos(none, "data, full"), "method[1].volume", "no host declares a volume");
    std::string loss = with(kBound, "volumes: [{ name: data, path: /srv/db }]",
                            "volumes: [{ name: data, path: /srv/db, loss: { model: torn } }]");
    EXPECT_FALSE(load(loss).ok()) << "a loss model on a volume that loses nothing";
}
