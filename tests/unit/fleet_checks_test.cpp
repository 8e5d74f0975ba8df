// The agent's and the controller's checks on their own: limits and leases of a desired state,
// cuts of what keeps a machine reachable (on a real plan's compiled tables), the /proc readers
// (on a /proc laid out by the test), which statuses the controller believes, the plan hash and
// the etcd security config.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>
#include <algorithm>

#include <filesystem>
#include <fstream>

#include "fleet/agent.hpp"
#include "fleet/agent_checks.hpp"
#include "fleet/etcd_security.hpp"
#include "fleet/fleet_engine.hpp"
#include "plan/loader.hpp"
#include "support/test_support.hpp"

using namespace inj;
using namespace inj::fleet;

namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

Desired good_desired(uint64_t now) {
    Desired d;
    d.run = "r1";
    d.generation = 2;
    d.lease_ttl_ms = 3000;
    d.run_deadline_ns = now + 120 * kSec;
    d.faults.push_back({0, true, now, now + 60 * kSec});
    return d;
}

struct TmpDir {
    std::filesystem::path p = std::filesystem::temp_directory_path() / ("inj-fleet-checks-" + std::to_string(getpid()));
    TmpDir() { std::filesystem::create_directories(p); }
    ~TmpDir() { std::filesystem::remove_all(p); }
    std::string write(const std::string& rel, const std::string& text) const {
        std::filesystem::create_directories((p / rel).parent_path());
        std::ofstream(p / rel) << text;
        return (p / rel).string();
    }
};

}  // namespace

TEST(FleetChecks, DesiredStateLimits) {
    const uint64_t now = realtime_ns();
    AgentLimits lim;
    EXPECT_EQ(check_desired(good_desired(now), lim, now), "");
    auto d = good_desired(now);
    d.lease_ttl_ms = 0;  // would turn the agent's own dead man's switch off
    EXPECT_NE(check_desired(d, lim, now).find("lease TTL 0 ms is out of range"), std::string::npos);
    d = good_desired(now);
    d.lease_ttl_ms = 3'600'000;
    EXPECT_NE(check_desired(d, lim, now).find("out of range"), std::string::npos);
    d = good_desired(now);
    d.faults[0].deadline_ns = now + 2 * 3600 * kSec;
    EXPECT_NE(check_desired(d, lim, now).find("fault 0 deadline"), std::string::npos) << check_desired(d, lim, now);
    // A disarmed fault's deadline is not in force: no reason to refuse it.
    d.faults[0].armed = false;
    EXPECT_EQ(check_desired(d, lim, now), "");
    d = good_desired(now);
    d.run_deadline_ns = now + 2 * 3600 * kSec;
    EXPECT_NE(check_desired(d, lim, now).find("run deadline"), std::string::npos);
    lim.max_fault_duration = std::chrono::seconds(30);
    EXPECT_NE(check_desired(good_desired(now), lim, now).find("--max-fault-duration 30000 ms"), std::string::npos);
    d = good_desired(now);
    d.faults[0].deadline_ns = 0;
    EXPECT_NE(check_desired(d, AgentLimits{}, now).find("without a deadline"), std::string::npos);
}

TEST(FleetChecks, DesiredStateLease) {
    AgentLimits lim;
    EXPECT_NE(check_desired_lease(0, 0, 0, lim).find("not bound to a lease"), std::string::npos);
    EXPECT_NE(check_desired_lease(42, -1, 3, lim).find("not alive"), std::string::npos);
    EXPECT_NE(check_desired_lease(42, 3, 86400, lim).find("granted 86400 s"), std::string::npos);
    EXPECT_EQ(check_desired_lease(42, 2, 3, lim), "");
}

TEST(FleetChecks, CutsOfWhatKeepsTheHostReachable) {
    auto lr = plan::load_file(test::source_path("experiments/fleet-zone-sever.yaml"));
    ASSERT_TRUE(lr.ok());
    auto tables = net::compile(*lr.plan);
    ASSERT_TRUE(tables.ok());
    auto addr = [&](const char* h) { return lr.plan->topology.host(h)->addresses[0].addr; };
    // etcd in the protected ops zone, the zone's own gateway: nothing cuts them.
    EXPECT_EQ(check_cuts(*lr.plan, *tables, "kv-1",
                         {{addr("ops-1"), "etcd endpoint"}, {*IpAddr::parse("198.18.0.1"), "default route via"}}),
              "");
    // An SSH session from a host on the far side of the cut: refused, naming the fault.
    auto why = check_cuts(*lr.plan, *tables, "kv-1", {{addr("kv-2"), "SSH session with"}});
    EXPECT_NE(why.find("fault cut-pangyo would cut this host"), std::string::npos) << why;
    EXPECT_NE(why.find("SSH session with " + addr("kv-2").str()), std::string::npos) << why;
    // Either direction counts: from kv-2's side, kv-1 as its default gateway.
    why = check_cuts(*lr.plan, *tables, "kv-2", {{addr("kv-1"), "default route via"}});
    EXPECT_NE(why.find("default route via"), std::string::npos) << why;
    EXPECT_NE(check_cuts(*lr.plan, *tables, "nobody", {}).find("not in the plan"), std::string::npos);
}

// The etcd endpoints an agent keeps reachable: literal addresses in every spelling, and names
// resolved to what they are now (localhost is in /etc/hosts on every machine this runs on).
TEST(FleetChecks, EndpointAddressesLiteralAndResolved) {
    auto eps = endpoint_addrs("198.19.255.1:2381,http://198.19.255.2:2379,https://[2001:db8::1]:2379");
    ASSERT_EQ(eps.size(), 3u);
    EXPECT_EQ(eps[0].str(), "198.19.255.1");
    EXPECT_EQ(eps[1].str(), "198.19.255.2");
    EXPECT_EQ(eps[2].str(), "2001:db8::1");
    auto named = endpoint_addrs("http://localhost:2379");
    EXPECT_NE(std::find(named.begin(), named.end(), *IpAddr::parse("127.0.0.1")), named.end());
    EXPECT_TRUE(endpoint_addrs("no-such-host.invalid:2379").empty());
    EXPECT_TRUE(endpoint_addrs(",:2379,").empty());
}

TEST(FleetChecks, ProcReaders) {
    TmpDir t;
    t.write("net/route",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
            "eth0\t00000000\t010012C6\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
            "eth0\t000012C6\t00000000\t0001\t0\t0\t0\t00FCFFFF\t0\t0\t0\n");
    t.write("net/ipv6_route",
            "00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010002000000000000000000000001 "
            "00000400 00000001 00000000 00000003 eth0\n"
            "20010002000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 "
            "00000100 00000001 00000000 00000001 eth0\n");
    auto gw = default_gateways(t.p.string());
    ASSERT_EQ(gw.size(), 2u);
    EXPECT_EQ(gw[0].str(), "198.18.0.1");
    EXPECT_EQ(gw[1].str(), "2001:2::1");

    // sshd (pid 4242) listens on port 22 (socket inode 9001); one session from 198.18.4.7, one
    // connection to another port that is no SSH session.
    t.write("4242/comm", "sshd\n");
    std::filesystem::create_directories(t.p / "4242/fd");
    std::filesystem::create_symlink("socket:[9001]", t.p / "4242/fd/3");
    t.write("77/comm", "nginx\n");
    t.write("net/tcp",
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
            "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9001 1\n"
            "   1: 020012C6:0016 070412C6:D431 01 00000000:00000000 00:00000000 00000000     0        0 9002 1\n"
            "   2: 020012C6:0050 080412C6:D432 01 00000000:00000000 00:00000000 00000000     0        0 9003 1\n");
    auto peers = ssh_peers(t.p.string());
    ASSERT_EQ(peers.size(), 1u);
    EXPECT_EQ(peers[0].str(), "198.18.4.7");
    // No sshd at all: nothing to protect.
    std::filesystem::remove_all(t.p / "4242");
    EXPECT_TRUE(ssh_peers(t.p.string()).empty());
}

TEST(FleetChecks, ControllerBelievesOnlyStatusesBoundToTheAgent) {
    Status s;
    s.host = "kv-1";
    s.state = "ready";
    std::vector<KeyValue> regs = {{agent_key("kv-1"), "{}", 1, 1, 111}, {agent_key("kv-2"), "{}", 1, 1, 222}};
    Status other = s;
    other.host = "kv-2";
    std::vector<KeyValue> st = {
        {status_key("kv-1"), to_json(s), 1, 1, 111},      // the real one
        {status_key("kv-3"), to_json(other), 1, 1, 222},  // kv-2's document under kv-3's key
        {status_key("kv-2"), to_json(other), 1, 1, 999},  // under its key, not on its agent's lease
    };
    auto t = trusted_statuses(st, regs);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t.begin()->first, "kv-1");
    // Without a registration nothing is believed, nor a key without a lease.
    EXPECT_TRUE(trusted_statuses(st, {}).empty());
    EXPECT_TRUE(
        trusted_statuses({{status_key("kv-1"), to_json(s), 1, 1, 0}}, {{agent_key("kv-1"), "{}", 1, 1, 0}}).empty());
}

TEST(FleetChecks, PlanHashAndDesiredRoundTrip) {
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    auto d = good_desired(realtime_ns());
    d.plan_sha256 = sha256_hex("plan");
    auto back = desired_from_json(to_json(d));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->plan_sha256, d.plan_sha256);
    EXPECT_FALSE(desired_from_json(std::string("\xff\x00{\"run\":", 9)));
    EXPECT_FALSE(desired_from_json("{\"run\":\"r\",\"faults\":[1,2]}"));
    EXPECT_FALSE(desired_from_json("{\"run\":\"r\",\"generation\":\"x\"}"));
}

TEST(FleetChecks, EtcdSecurityConfig) {
    TmpDir t;
    auto ca = t.write("ca.pem", "x"), cert = t.write("c.pem", "x"), key = t.write("k.pem", "x");
    auto pw = t.write("pw", "s3cret\n");
    auto cfg = t.write("etcd.yaml", "cacert: " + ca + "\ncert: " + cert + "\nkey: " + key +
                                        "\nuser: agent-kv-1\npassword_file: " + pw + "\n");
    auto s = etcd_security_from_file(cfg);
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_EQ(s->user, "agent-kv-1");
    EXPECT_EQ(s->password, "s3cret");
    EXPECT_TRUE(s->tls());
    // JSON is YAML too; an unknown field names file:line:col.
    auto bad = t.write("bad.json", "{\"cacert\": \"" + ca + "\",\n \"pasword\": \"x\"}");
    auto b = etcd_security_from_file(bad);
    ASSERT_FALSE(b.ok());
    EXPECT_NE(b.error().message().find(bad + ":2:"), std::string::npos) << b.error().message();
    EXPECT_NE(b.error().message().find("unknown field pasword"), std::string::npos);
    // A user needs a password from somewhere; the environment will do.
    auto nopw = t.write("nopw.yaml", "user: root\n");
    unsetenv("INJECTOR_ETCD_PASSWORD");
    EXPECT_FALSE(etcd_security_from_file(nopw).ok());
    setenv("INJECTOR_ETCD_PASSWORD", "from-env", 1);
    auto e = etcd_security_from_file(nopw);
    unsetenv("INJECTOR_ETCD_PASSWORD");
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->password, "from-env");
    EXPECT_FALSE(etcd_security_from_file(t.write("halfcert.yaml", "cert: " + cert + "\n")).ok());
}

TEST(FleetChecks, AgentOptions) {
    namespace po = boost::program_options;
    auto parse = [](std::vector<std::string> args) {
        po::options_description d;
        add_agent_options(d);
        po::variables_map vm;
        po::store(po::command_line_parser(args).options(d).run(), vm);
        po::notify(vm);
        return agent_options_from(vm);
    };
    auto ok = parse({"--etcd", "198.18.12.2:2379", "--host", "kv-1", "--max-fault-duration", "10m"});
    ASSERT_TRUE(ok.ok()) << ok.error().message();
    EXPECT_EQ(ok->max_fault_duration, std::chrono::minutes(10));
    EXPECT_EQ(parse({"--etcd", "e", "--host", "h"})->max_fault_duration, std::chrono::hours(1));
    // Bad text is a usage error, never an exception out of the agent.
    for (auto bad : {".s", "-5s", "0", "soon"}) {
        auto r = parse({"--etcd", "e", "--host", "h", "--max-fault-duration", bad});
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.error().message().find("--max-fault-duration"), std::string::npos) << r.error().message();
    }
    unsetenv("INJECTOR_ETCD_PASSWORD");
    auto nopw = parse({"--etcd", "e", "--host", "h", "--etcd-user", "agent-h"});
    ASSERT_FALSE(nopw.ok());
    EXPECT_NE(nopw.error().message().find("needs a password"), std::string::npos);
    EXPECT_FALSE(parse({"--host", "h"}).ok());
}
