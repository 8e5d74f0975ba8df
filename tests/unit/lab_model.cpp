// The lab's pure parts: ids, the state file round trip, readiness target parsing, template
// expansion through the lab, and plans refused before anything is touched. No privilege needed.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "lab/lab.hpp"
#include "lab/ready.hpp"
#include "lab/state.hpp"

namespace inj::lab {
namespace {

plan::Plan small_plan(const std::string& name) {
    plan::Plan p;
    p.name = name;
    plan::Zone z;
    z.name = "east";
    z.subnet = *Cidr::parse("198.18.0.0/22");
    p.topology.zones.push_back(z);
    for (int i = 0; i < 2; ++i) {
        plan::Host h;
        h.name = "kv-" + std::to_string(i + 1);
        h.zone = "east";
        h.addresses.push_back(Cidr{z.subnet->nth(2 + i), 22});
        p.topology.hosts.push_back(h);
    }
    plan::Service s;
    s.name = "etcd";
    s.hosts = {"kv-1", "kv-2"};
    s.port = 2379;
    s.volume = "data";
    p.lab.services.push_back(s);
    return p;
}

TEST(LabId, ShortStableAndDistinct) {
    auto a = id_for(small_plan("pangyo-fire"));
    EXPECT_EQ(a.size(), 6u);
    EXPECT_EQ(a, id_for(small_plan("pangyo-fire")));
    EXPECT_NE(a, id_for(small_plan("pangyo-fire-2")));
    for (char c : a)
        EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(c)) && !std::isupper(static_cast<unsigned char>(c)));
    // The root-side control interface must fit IFNAMSIZ.
    EXPECT_LE(("inj" + a + "c").size(), 15u);
}

TEST(LabState, RoundTripsThroughTheStateFile) {
    char tmpl[] = "/tmp/lab-state-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    LabState s;
    s.id = "abc123";
    s.plan_name = "p";
    s.plan_file = "/x/p.yaml";
    s.dir = tmpl;
    s.phase = "creating";
    s.fabric_netns = "inj-abc123-fabric";
    s.control_if = "injabc123c";
    s.control_port = "ctl";
    s.control_addr = *Cidr::parse("198.19.255.1/30");
    s.control_gateway = *Cidr::parse("198.19.255.2/30");
    s.control_addr6 = *Cidr::parse("2001:2:0:ffff::1/126");
    s.control_gateway6 = *Cidr::parse("2001:2:0:ffff::2/126");
    s.routes = {*Cidr::parse("198.18.0.0/15"), *Cidr::parse("2001:2::/48")};
    s.cgroup_root = "/sys/fs/cgroup/injector/abc123";
    s.hosts.push_back({"kv-1",
                       0,
                       "inj-abc123-kv-1",
                       "h0",
                       "/sys/fs/cgroup/injector/abc123/kv-1",
                       {*Cidr::parse("198.18.0.2/22"), *Cidr::parse("2001:2:0:1::2/64")}});
    s.services.push_back({"etcd", "kv-1", 4242, std::string(tmpl) + "/logs/etcd-kv-1.log"});
    s.faultfs.push_back(
        {"kv-1", "data", std::string(tmpl) + "/volumes/kv-1/data", std::string(tmpl) + "/faultfs/kv-1.data.ctl", 4343});
    ASSERT_TRUE(state::save(s).ok());
    auto r = state::read(state::file_of(tmpl));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->id, s.id);
    EXPECT_EQ(r->phase, "creating");
    EXPECT_EQ(r->control_addr, s.control_addr);
    EXPECT_EQ(r->control_gateway6, s.control_gateway6);
    EXPECT_EQ(r->routes, s.routes);
    ASSERT_EQ(r->hosts.size(), 1u);
    EXPECT_EQ(r->hosts[0].addresses, s.hosts[0].addresses);
    EXPECT_EQ(r->hosts[0].fabric_port, "h0");
    ASSERT_EQ(r->services.size(), 1u);
    EXPECT_EQ(r->services[0].pid, 4242);
    EXPECT_EQ(r->volume_path("kv-1", "data"), std::string(tmpl) + "/volumes/kv-1/data");
    ASSERT_EQ(r->faultfs.size(), 1u);
    const FaultfsMount* m = r->faultfs_of("kv-1", "data");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->path, r->volume_path("kv-1", "data"));
    EXPECT_EQ(m->control, std::string(tmpl) + "/faultfs/kv-1.data.ctl");
    EXPECT_EQ(m->pid, 4343);
    EXPECT_EQ(r->faultfs_of("kv-2", "data"), nullptr);
    std::filesystem::remove_all(tmpl);
}

TEST(LabState, RejectsAGarbledFile) {
    char tmpl[] = "/tmp/lab-state-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string f = state::file_of(tmpl);
    { std::ofstream(f) << "{\"version\": 1, \"id\": \"x\"}"; }
    auto r = state::read(f);
    EXPECT_FALSE(r.ok());
    { std::ofstream(f) << "not json"; }
    EXPECT_FALSE(state::read(f).ok());
    std::filesystem::remove_all(tmpl);
}

TEST(LabReady, SplitsTcpTargets) {
    auto a = ready::split_host_port("198.18.0.2:2379");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->first, "198.18.0.2");
    EXPECT_EQ(a->second, 2379);
    auto b = ready::split_host_port("[2001:2:0:1::2]:80");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->first, "2001:2:0:1::2");
    EXPECT_EQ(b->second, 80);
    EXPECT_FALSE(ready::split_host_port("198.18.0.2").ok());
    EXPECT_FALSE(ready::split_host_port("198.18.0.2:0").ok());
    EXPECT_FALSE(ready::split_host_port("198.18.0.2:70000").ok());
    EXPECT_FALSE(ready::split_host_port("kv-1:2379").ok());
}

TEST(LabExpand, FillsLabIdVolumesAndEndpoints) {
    auto plan = small_plan("expand");
    LabState s;
    s.id = "e0e0e0";
    s.dir = "/run/injector/labs/e0e0e0";
    auto cmd =
        expand("etcd --name {host} --data-dir {volume} --listen http://{addr}:2379 lab={lab}", plan, s, "kv-2", "data");
    ASSERT_TRUE(cmd.ok()) << cmd.error().message();
    EXPECT_EQ(*cmd,
              "etcd --name kv-2 --data-dir /run/injector/labs/e0e0e0/volumes/kv-2/data --listen http://198.18.0.3:2379 "
              "lab=e0e0e0");
    auto eps = expand("{endpoints:etcd}", plan, s, "");
    ASSERT_TRUE(eps.ok()) << eps.error().message();
    EXPECT_EQ(*eps, "198.18.0.2:2379,198.18.0.3:2379");
    EXPECT_FALSE(expand("{nope}", plan, s, "kv-1").ok());
}

TEST(LabUp, RefusesPlansOutsideTheLabRangesBeforeTouchingAnything) {
    auto plan = small_plan("lab-unit-refusals");
    auto outside = plan;
    outside.topology.zones[0].subnet = *Cidr::parse("10.1.0.0/22");
    auto r = up(outside);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("outside 198.18.0.0/15"), std::string::npos) << r.error().message();

    auto control = plan;
    control.topology.zones[0].subnet = *Cidr::parse("198.19.255.0/24");
    r = up(control);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("control pair"), std::string::npos) << r.error().message();

    auto gateway = plan;
    gateway.topology.hosts[0].addresses[0] = *Cidr::parse("198.18.0.1/22");
    r = up(gateway);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("gateway"), std::string::npos) << r.error().message();

    auto badname = plan;
    badname.topology.hosts[0].name = "../etc";
    r = up(badname);
    ASSERT_FALSE(r.ok());

    EXPECT_FALSE(up(plan, UpOptions{.id = "Not-An-Id"}).ok());
    EXPECT_FALSE(std::filesystem::exists(labs_root() + "/" + id_for(plan)));
}

}  // namespace
}  // namespace inj::lab
