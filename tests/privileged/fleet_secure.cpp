// Fleet mode locked down: the ops etcd serves only TLS with client certificates
// (--client-cert-auth) and has authentication on, with the role layout of
// scripts/fleet-etcd-roles.sh; certificates are made here with openssl. Strangers are refused,
// agents are held to their own keys, an agent refuses every hostile desired state (and garbage)
// with its reason while a good one still cuts real traffic, and a controller killed with -9
// mid-cut leaves no agent holding its fault past the lease.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "crash_support.hpp"
#include "fleet/agent_checks.hpp"
#include "fleet/etcd_client.hpp"
#include "fleet/protocol.hpp"
#include "lab/lab.hpp"
#include "plan/loader.hpp"

using namespace inj;
using namespace inj::crashtest;

namespace {

// Client certificates carry no common name: etcd's JSON gateway refuses a request whose client
// certificate has one (it cannot map it to a user), so users authenticate with a password.
const char* kCerts = R"(set -e
cd "$1"; ips=$2; shift 2
key() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null; }
sign() { openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" -days 1 -extfile "$1.ext" 2>/dev/null; }
for ca in ca rogue-ca; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $ca.key -out $ca.pem -days 1 -subj "/CN=inj-test-$ca" 2>/dev/null
done
key server /CN=etcd; printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$ips" > server.ext; sign server ca
for c in "$@" rogue; do key $c "/O=injector-fleet/OU=$c"; printf 'extendedKeyUsage=clientAuth\n' > $c.ext; done
for c in "$@"; do sign $c ca; done
sign rogue rogue-ca
chmod 600 *.key
)";

const char* kRootPw = "root-pw-1";
const char* kControllerPw = "controller-pw-1";
const char* kAgentPw = "agent-pw-1";

class SecureFleet : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        ASSERT_FALSE(dir_.path().empty());
    }

    std::string d(const std::string& f) const { return dir_.path() + "/" + f; }

    fleet::EtcdSecurity sec(const std::string& who, const std::string& user, const std::string& pw) const {
        return {d("ca.pem"), d(who + ".pem"), d(who + ".key"), user, pw};
    }

    void up() {
        std::string y = slurp(test::source_path("experiments/fleet-zone-sever.yaml"));
        auto rep = [&](const std::string& from, const std::string& to) {
            auto p = y.find(from);
            ASSERT_NE(p, std::string::npos) << from;
            y.replace(p, from.size(), to);
        };
        // The ops etcd (the first service) over TLS only, client certificates required; tokens
        // that expire after 2 s idle, so the clients' re-authentication is exercised.
        rep("--listen-client-urls http://{addr}:2379 --advertise-client-urls http://{addr}:2379",
            "--listen-client-urls https://{addr}:2379 --advertise-client-urls https://{addr}:2379");
        rep("--initial-cluster-token {lab}-ops", "--initial-cluster-token {lab}-ops --cert-file " + d("server.pem") +
                                                     " --key-file " + d("server.key") + " --trusted-ca-file " +
                                                     d("ca.pem") + " --client-cert-auth --auth-token-ttl 2");
        rep("at: 3s", "at: 1s");
        rep("duration: 10s", "duration: 60s");
        plan_path_ = dir_.write("fleet.yaml", y);
        auto lr = plan::load_file(plan_path_);
        ASSERT_TRUE(lr.ok()) << (lr.errors.empty() ? "" : lr.errors[0].str());
        plan_ = *lr.plan;
        std::string ips;
        for (auto h : {"ops-1", "ops-2", "ops-3"}) {
            ips += (ips.empty() ? "IP:" : ",IP:") + addr(h).str();
            endpoints_ += (endpoints_.empty() ? "https://" : ",https://") + addr(h).str() + ":2379";
        }
        dir_.write("certs.sh", kCerts);
        auto certs =
            run({"sh", d("certs.sh"), dir_.path(), ips, "root", "controller", "agent-kv-1", "agent-kv-2", "agent-kv-3"},
                60s);
        ASSERT_TRUE(certs && certs->exit_code == 0) << (certs ? certs->output : certs.error().message());
        auto st = lab::up(plan_);
        ASSERT_TRUE(st.ok()) << st.error().message();
        lab_ = *st;
        // The role layout, exactly as the README sets it up.
        auto roles = run_shell("ETCDCTL_ENDPOINTS=" + endpoints_ + " ETCDCTL_CACERT=" + d("ca.pem") + " ETCDCTL_CERT=" +
                                   d("root.pem") + " ETCDCTL_KEY=" + d("root.key") + " ROOT_PASSWORD=" + kRootPw +
                                   " CONTROLLER_PASSWORD=" + kControllerPw + " AGENT_PASSWORD=" + kAgentPw + " " +
                                   test::source_path("scripts/fleet-etcd-roles.sh") + " kv-1 kv-2 kv-3",
                               60s);
        ASSERT_TRUE(roles && roles->exit_code == 0) << (roles ? roles->output : roles.error().message());
        // The controller's password in its config file; each agent's in a file of its own.
        dir_.write("agent-pw", std::string(kAgentPw) + "\n");
        dir_.write("controller.yaml", "cacert: " + d("ca.pem") + "\ncert: " + d("controller.pem") +
                                          "\nkey: " + d("controller.key") +
                                          "\nuser: controller\npassword: " + kControllerPw + "\n");
        auto root = fleet::EtcdClient::connect(endpoints_, 2s, sec("root", "root", kRootPw));
        ASSERT_TRUE(root.ok()) << root.error().message();
        root_.emplace(std::move(*root));
        for (auto h : {"kv-1", "kv-2", "kv-3"}) start_agent(h);
        for (int i = 0; i < 100; ++i) {
            auto a = root_->get_prefix(fleet::kAgentsPrefix);
            if (a && a->size() == 3) return;
            std::this_thread::sleep_for(50ms);
        }
        FAIL() << "agents did not register; logs in " << dir_.path();
    }

    void start_agent(const std::string& host) {
        const std::string a = "agent-" + host;
        dir_.write(a + ".yaml", "cacert: " + d("ca.pem") + "\ncert: " + d(a + ".pem") + "\nkey: " + d(a + ".key") +
                                    "\nuser: " + a + "\npassword_file: " + d("agent-pw") + "\n");
        SpawnSpec s;
        s.argv = {injector(),
                  "agent",
                  "--etcd",
                  endpoints_,
                  "--host",
                  host,
                  "--etcd-config",
                  d(a + ".yaml"),
                  "--max-fault-duration",
                  "10m"};
        s.netns = ns(host);
        s.output = d(a + ".log");
        s.die_with_parent = true;
        auto pid = spawn(s);
        ASSERT_TRUE(pid.ok()) << pid.error().message();
        agents_[host] = *pid;
    }

    std::string ns(const std::string& host) const { return netns_path(lab_.host(host)->netns); }
    IpAddr addr(const std::string& host) const { return plan_.topology.host(host)->addresses[0].addr; }
    bool tcp(const std::string& from, const std::string& to) {
        return tcp_connects(ns(from), addr(to).str(), 2379, 300ms);
    }

    // kv-1's status, once it reports `state` with `reason_part` after `since` (realtime ns).
    std::optional<fleet::Status> status_kv1(const std::string& state, const std::string& reason_part, uint64_t since) {
        std::optional<fleet::Status> got;
        until(
            [&] {
                auto kv = root_->get(fleet::status_key("kv-1"));
                if (!kv || !*kv) return false;
                auto s = fleet::status_from_json((*kv)->value);
                if (s && s->updated_ns >= since && s->state == state &&
                    s->reason.find(reason_part) != std::string::npos)
                    got = s;
                return got.has_value();
            },
            5000ms);
        return got;
    }

    void TearDown() override {
        if (controller_ > 0 && process_alive(controller_)) kill9(controller_);
        for (auto& [h, pid] : agents_) kill(pid, SIGTERM);
        for (auto& [h, pid] : agents_)
            if (wait_exit(pid, 10s) < 0) kill9(pid);
        root_.reset();
        if (!lab_.id.empty()) {
            EXPECT_TRUE(lab::down(lab_).ok());
        }
        EXPECT_EQ(leftovers(), "");
    }

    TempDir dir_;
    std::string plan_path_;
    plan::Plan plan_;
    lab::LabState lab_;
    std::string endpoints_;
    std::optional<fleet::EtcdClient> root_;
    std::map<std::string, pid_t> agents_;
    pid_t controller_ = 0;
};

}  // namespace

// Who may talk to the control plane at all, and what each role may touch.
TEST_F(SecureFleet, StrangersAreRefusedAndEachRoleKeepsToItsKeys) {
    ASSERT_NO_FATAL_FAILURE(up());
    auto refused = [&](const fleet::EtcdSecurity& s) { return !fleet::EtcdClient::connect(endpoints_, 1s, s).ok(); };
    EXPECT_TRUE(refused({}));                             // no CA: the server is not trusted
    EXPECT_TRUE(refused({d("ca.pem"), "", "", "", ""}));  // no client certificate
    EXPECT_TRUE(refused({d("ca.pem"), d("rogue.pem"), d("rogue.key"), "root", kRootPw}));  // another CA's
    EXPECT_TRUE(refused({d("ca.pem"), d("root.pem"), d("root.key"), "", ""}));             // no user
    EXPECT_TRUE(refused(sec("root", "root", "wrong")));                                    // wrong password
    auto nouser = fleet::EtcdClient::connect(endpoints_, 1s, {d("ca.pem"), d("root.pem"), d("root.key"), "", ""});
    EXPECT_FALSE(nouser.ok());

    auto agent = fleet::EtcdClient::connect(endpoints_, 2s, sec("agent-kv-1", "agent-kv-1", kAgentPw));
    ASSERT_TRUE(agent.ok()) << agent.error().message();
    EXPECT_TRUE(agent->get(fleet::desired_key("kv-1")).ok());
    auto other = agent->get(fleet::desired_key("kv-2"));
    ASSERT_FALSE(other.ok());
    EXPECT_NE(other.error().message().find("permission denied"), std::string::npos) << other.error().message();
    EXPECT_FALSE(agent->put(fleet::desired_key("kv-1"), "{}").ok());  // orders come from the controller only
    EXPECT_FALSE(agent->put(fleet::status_key("kv-2"), "{}").ok());   // nor may it speak for another host
    auto ctl = fleet::EtcdClient::connect(endpoints_, 2s, sec("controller", "controller", kControllerPw));
    ASSERT_TRUE(ctl.ok()) << ctl.error().message();
    EXPECT_FALSE(ctl->put(fleet::status_key("kv-1"), "{}").ok());  // the controller cannot forge statuses
    EXPECT_TRUE(ctl->get_prefix(fleet::kStatusPrefix).ok());
    // Tokens expire after 2 s idle here: the client authenticates again on its own.
    std::this_thread::sleep_for(3s);
    EXPECT_TRUE(agent->get(fleet::desired_key("kv-1")).ok());
}

// Each hostile desired state is refused with its reason and nothing is applied (kv-1 still
// reaches kv-2): no lease, lease TTL 0, a deadline past the agent's limit, a foreign plan hash, a
// cut of etcd or of the default route; garbage never ends the agent; then a good desired state cuts real traffic.
TEST_F(SecureFleet, AnAgentRefusesHostileDesiredStatesAndStillAppliesAGoodOne) {
    ASSERT_NO_FATAL_FAILURE(up());
    const std::string plan = slurp(plan_path_);
    auto lease = root_->lease_grant(30);
    ASSERT_TRUE(lease.ok()) << lease.error().message();
    const uint64_t now = fleet::realtime_ns();
    fleet::Desired good;
    good.run = "good";
    good.generation = 1;
    good.lease_ttl_ms = 3000;
    good.run_deadline_ns = now + 60'000'000'000ull;
    good.plan_sha256 = fleet::sha256_hex(plan);
    good.faults.push_back({0, true, now, now + 30'000'000'000ull});
    ASSERT_TRUE(root_->put(fleet::plan_key("good"), plan, *lease).ok());

    auto refuse = [&](const std::string& doc, int64_t l, const std::string& state, const std::string& why) {
        SCOPED_TRACE(why);
        const uint64_t t = fleet::realtime_ns();
        ASSERT_TRUE(root_->put(fleet::desired_key("kv-1"), doc, l).ok());
        auto st = status_kv1(state, why, t);
        EXPECT_TRUE(st) << slurp(d("agent-kv-1.log"));
        EXPECT_TRUE(process_alive(agents_["kv-1"]));
        EXPECT_TRUE(tcp("kv-1", "kv-2"));  // nothing applied
    };
    auto with = [&](auto edit) {
        fleet::Desired x = good;
        edit(x);
        return fleet::to_json(x);
    };
    refuse(fleet::to_json(good), 0, "refused", "not bound to a lease");
    refuse(with([](auto& x) { x.lease_ttl_ms = 0; }), *lease, "refused", "lease TTL 0 ms is out of range");
    refuse(with([&](auto& x) { x.faults[0].deadline_ns = now + 1800'000'000'000ull; }), *lease, "refused",
           "past the agent's limit (--max-fault-duration 600000 ms)");
    refuse(with([](auto& x) { x.plan_sha256 = fleet::sha256_hex("another plan"); }), *lease, "refused", "has SHA-256");

    // A plan whose cut reaches the ops zone: kv-1 would lose etcd.
    std::string cut = plan;
    cut.replace(cut.find("  protected:\n    - { zone: ops }\n"), 33, "");
    cut.replace(cut.find("peer: { zone: [ansan, gasan] }"), 30, "peer: { zone: [ansan, gasan, ops] }");
    cut.replace(cut.find("max_hosts: 1"), 12, "max_hosts: 4");
    ASSERT_TRUE(root_->put(fleet::plan_key("cut-etcd"), cut, *lease).ok());
    refuse(with([&](auto& x) {
               x.run = "cut-etcd";
               x.plan_sha256 = fleet::sha256_hex(cut);
           }),
           *lease, "refused", "would cut this host (" + addr("kv-1").str() + ") from its etcd endpoint");

    // A plan cutting kv-1 from the gateway of its default route (read from its own namespace).
    std::string gw = plan;
    const std::string sides = "    target: { zone: pangyo }\n    peer: { zone: [ansan, gasan] }";
    gw.replace(gw.find(sides), sides.size(), "    target: { host: kv-1 }\n    peer: { cidr: [198.18.0.1/32] }");
    ASSERT_TRUE(root_->put(fleet::plan_key("cut-gw"), gw, *lease).ok());
    refuse(with([&](auto& x) {
               x.run = "cut-gw";
               x.plan_sha256 = fleet::sha256_hex(gw);
           }),
           *lease, "refused", "from its default route via 198.18.0.1");

    // A plan the parser chokes on (".s"), hash and all: an error in the status, the agent lives.
    std::string bad = plan;
    bad.replace(bad.find("duration: 60s"), 13, "duration: .s");
    ASSERT_TRUE(root_->put(fleet::plan_key("bad-plan"), bad, *lease).ok());
    refuse(with([&](auto& x) {
               x.run = "bad-plan";
               x.plan_sha256 = fleet::sha256_hex(bad);
           }),
           *lease, "error", "plan of run bad-plan");

    // Garbage: random bytes, truncated JSON, a huge document.
    std::mt19937 rng(14);
    std::string noise(4096, '\0');
    for (auto& c : noise) c = static_cast<char>(rng());
    refuse(noise, *lease, "refused", "malformed desired state");
    refuse(fleet::to_json(good).substr(0, 40), *lease, "refused", "malformed desired state");
    refuse("{\"run\":\"huge\",\"pad\":\"" + std::string(900'000, 'x') + "\"}", *lease, "refused", "lease TTL 0 ms");

    // Still serving: the good one applies, kv-1's egress to kv-2 is cut, and reverts on delete.
    const uint64_t t = fleet::realtime_ns();
    ASSERT_TRUE(root_->put(fleet::desired_key("kv-1"), fleet::to_json(good), *lease).ok());
    EXPECT_TRUE(status_kv1("ready", "", t)) << slurp(d("agent-kv-1.log"));
    EXPECT_TRUE(until([&] { return !tcp("kv-1", "kv-2"); }, 5000ms)) << slurp(d("agent-kv-1.log"));
    ASSERT_TRUE(root_->del(fleet::desired_key("kv-1")).ok());
    EXPECT_TRUE(until([&] { return tcp("kv-1", "kv-2"); }, 5000ms));
    (void)root_->lease_revoke(*lease);
}

// The whole secured path: the controller (TLS, its own user) publishes the validated plan with
// its hash, every agent applies it; kill -9 of the controller mid-cut, and every agent reverts
// within the lease TTL.
TEST_F(SecureFleet, ControllerKilledMidCutEveryAgentRevertsWithinTheLease) {
    ASSERT_NO_FATAL_FAILURE(up());
    SpawnSpec s;
    s.argv = {injector(),      "--log-level",        "info",        "run", plan_path_, "--fleet", endpoints_,
              "--etcd-config", d("controller.yaml"), "--lease-ttl", "3",   "--json"};
    s.output = d("controller.log");
    s.die_with_parent = true;
    auto pid = spawn(s);
    ASSERT_TRUE(pid.ok()) << pid.error().message();
    controller_ = *pid;
    ASSERT_TRUE(until([&] { return !tcp("kv-1", "kv-2") && !tcp("kv-2", "kv-1") && !tcp("kv-3", "kv-1"); }, 30s))
        << slurp(d("controller.log"));
    // What the agents were given is what the controller validated: the file's bytes, hashed.
    auto kv = root_->get(fleet::desired_key("kv-1"));
    ASSERT_TRUE(kv && *kv);
    auto desired = fleet::desired_from_json((**kv).value);
    ASSERT_TRUE(desired);
    EXPECT_EQ(desired->plan_sha256, fleet::sha256_hex(slurp(plan_path_)));
    kill9(controller_);
    auto t0 = Clock::now();
    auto back = until([&] { return tcp("kv-1", "kv-2") && tcp("kv-2", "kv-1") && tcp("kv-3", "kv-1"); }, 15s);
    ASSERT_TRUE(back) << "traffic did not come back after the controller died";
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    std::cout << "[ fleet    ] secured: controller kill -9 -> all agents reverted: " << took.count() << " ms\n";
    EXPECT_LT(took, 4500ms);  // the lease (3 s), etcd's expiry tick and the watch delivery
}
