// Plan loader: lab services, readiness checks, probes and the templates they carry.
#include "plan_test_util.hpp"

using namespace inj;
using namespace inj::plan;
using namespace inj::plan::test;
using namespace std::chrono_literals;

namespace {
const std::string kLab = R"(lab:
  ready_timeout: 45s
  services:
    - name: kv
      hosts: [h1, h2, h3]
      port: 2379
      volume: data
      command: kv --name {host} --dir {volume} --peers {each:kv:{host}={addr}} --id {lab}
      ready: { tcp: "{addr}:2379", timeout: 20s }
steady_state:
  probes:
    - name: put
      exec: kvctl --endpoints {endpoints:kv} put k {seq}
      in: h2
      every: 250ms
      timeout: 1s
      slo: { success_rate: 0.95, window: 5s, max_latency: 800ms }
)";
std::string lab(const std::string& from = "", const std::string& to = "") {
    std::string l = from.empty() ? kLab : with(kLab, from, to);
    return with(kBase, "safety:", l + "safety:");
}
}  // namespace

TEST(PlanLab, ServiceAndProbeRoundTrip) {
    Plan p = load_ok(lab());
    EXPECT_EQ(p.lab.ready_timeout, 45s);
    ASSERT_EQ(p.lab.services.size(), 1u);
    const Service& s = p.lab.services[0];
    EXPECT_EQ(s.name, "kv");
    EXPECT_EQ(s.hosts, (std::vector<std::string>{"h1", "h2", "h3"}));
    EXPECT_EQ(s.port, 2379);
    EXPECT_EQ(s.volume, "data");
    EXPECT_EQ(s.command, "kv --name {host} --dir {volume} --peers {each:kv:{host}={addr}} --id {lab}");
    EXPECT_EQ(s.ready.kind, Check::Kind::tcp);
    EXPECT_EQ(s.ready.target, "{addr}:2379");
    EXPECT_EQ(s.ready.in, "");  // an exec check would run on each service host
    EXPECT_EQ(s.ready.timeout, 20s);
    ASSERT_EQ(p.probes.size(), 1u);
    const Probe& pr = p.probes[0];
    EXPECT_EQ(pr.name, "put");
    EXPECT_EQ(pr.kind, Probe::Kind::exec);
    EXPECT_EQ(pr.target, "kvctl --endpoints {endpoints:kv} put k {seq}");
    EXPECT_EQ(pr.in, "h2");
    EXPECT_EQ(pr.every, 250ms);
    EXPECT_EQ(pr.timeout, 1s);
    EXPECT_EQ(pr.slo.success_rate, 0.95);
    EXPECT_EQ(pr.slo.window, 5s);
    EXPECT_EQ(pr.slo.max_latency, 800ms);
}

TEST(PlanLab, ProbeDefaults) {
    Plan p =
        load_ok(lab("      in: h2\n      every: 250ms\n      timeout: 1s\n"
                    "      slo: { success_rate: 0.95, window: 5s, max_latency: 800ms }\n",
                    ""));
    const Probe& pr = p.probes[0];
    EXPECT_EQ(pr.in, "control");
    EXPECT_EQ(pr.every, 1s);
    EXPECT_EQ(pr.timeout, 2s);
    EXPECT_FALSE(pr.slo.success_rate);
}

TEST(PlanLab, TcpProbeAndExecReadiness) {
    Plan p =
        load_ok(lab("exec: kvctl --endpoints {endpoints:kv} put k {seq}\n      in: h2", "tcp: \"{addr:h1}:2379\""));
    EXPECT_EQ(p.probes[0].kind, Probe::Kind::tcp);
    std::string y =
        lab("ready: { tcp: \"{addr}:2379\", timeout: 20s }", "ready: { exec: \"kvctl ping {addr}\", in: h3 }");
    Plan q = load_ok(y);
    EXPECT_EQ(q.lab.services[0].ready.kind, Check::Kind::exec);
    EXPECT_EQ(q.lab.services[0].ready.in, "h3");
    EXPECT_EQ(q.lab.services[0].ready.timeout, 30s);
}

TEST(PlanLab, DuplicateServiceName) {
    std::string y = lab("steady_state:", "    - { name: kv, hosts: h1, command: x }\nsteady_state:");
    expect_error(load(y), pos_in(y, "{ name: kv", "kv"), "lab.services[1].name", "duplicate service name 'kv'");
}

TEST(PlanLab, ServiceHostsMustExist) {
    std::string y = lab("hosts: [h1, h2, h3]", "hosts: [h1, h9]");
    expect_error(load(y), pos(y, "h9"), "lab.services[0].hosts[1]", "unknown host 'h9' (hosts: h1, h2, h3)");
}

TEST(PlanLab, ServiceNeedsACommand) {
    std::string y =
        lab("      command: kv --name {host} --dir {volume} --peers {each:kv:{host}={addr}} --id {lab}\n", "");
    expect_error(load(y), pos_in(y, "- name: kv", "name"), "lab.services[0].command", "missing required key 'command'");
}

TEST(PlanLab, PortMustBeAPortNumber) {
    std::string y = lab("port: 2379", "port: 70000");
    expect_error(load(y), pos(y, "70000"), "lab.services[0].port", "port 70000 is outside 1..65535");
    std::string y2 = lab("port: 2379", "port: http");
    expect_error(load(y2), pos(y2, "http"), "lab.services[0].port", "expected a whole number, got 'http'");
}

TEST(PlanLab, ReadinessNeedsExactlyOneKind) {
    std::string y =
        lab("ready: { tcp: \"{addr}:2379\", timeout: 20s }", "ready: { tcp: \"{addr}:1\", exec: \"true\" }");
    expect_error(load(y), pos(y, "ready:"), "lab.services[0].ready", "exactly one of 'tcp' or 'exec'");
}

TEST(PlanLab, TcpTargetMustHaveAPort) {
    std::string y = lab("ready: { tcp: \"{addr}:2379\", timeout: 20s }", "ready: { tcp: \"{addr}\" }");
    expect_error(load(y), pos(y, "\"{addr}\""), "lab.services[0].ready.tcp", "must be ADDRESS:PORT");
}

TEST(PlanLab, UnknownPlaceholderInCommand) {
    std::string y = lab("--id {lab}", "--id {labb}");
    expect_error(load(y), pos(y, "kv --name"), "lab.services[0].command", "unknown placeholder {labb}");
}

TEST(PlanLab, EndpointsOfUnknownServiceInProbe) {
    std::string y = lab("{endpoints:kv}", "{endpoints:db}");
    expect_error(load(y), pos(y, "kvctl"), "steady_state.probes[0].exec", "unknown service 'db' in {endpoints:db}");
}

TEST(PlanLab, EndpointsNeedAPort) {
    std::string y = lab("      port: 2379\n", "");
    expect_error(load(y), pos(y, "kvctl"), "steady_state.probes[0].exec",
                 "{endpoints:kv} needs service 'kv' to declare a port");
}

TEST(PlanLab, VolumePlaceholderNeedsAVolume) {
    std::string y = lab("      volume: data\n", "");
    expect_error(load(y), pos(y, "kv --name"), "lab.services[0].command", "{volume} used where no volume is declared");
}

TEST(PlanLab, HostPlaceholderInAControlProbe) {
    std::string y = lab("put k {seq}\n      in: h2", "put {host} {seq}");
    expect_error(load(y), pos(y, "kvctl"), "steady_state.probes[0].exec", "{host} refers to the current host");
}

TEST(PlanLab, Addr6OfAHostWithoutIpv6) {
    std::string y = lab("put k {seq}", "put {addr6:h1} {seq}");
    expect_error(load(y), pos(y, "kvctl"), "steady_state.probes[0].exec", "host 'h1' has no IPv6 address");
}

TEST(PlanLab, SeqIsNotAServiceVariable) {
    std::string y = lab("--id {lab}", "--id {seq}");
    expect_error(load(y), pos(y, "kv --name"), "lab.services[0].command", "unknown placeholder {seq}");
}

TEST(PlanLab, ProbeNeedsExactlyOneOfExecOrTcp) {
    std::string y = lab("      in: h2\n", "      tcp: \"{addr:h1}:1\"\n      in: h2\n");
    expect_error(load(y), pos_in(y, "- name: put", "name"), "steady_state.probes[0]",
                 "exactly one of 'exec', 'tcp', 'http' or 'prometheus'");
    std::string y2 = lab("      exec: kvctl --endpoints {endpoints:kv} put k {seq}\n", "");
    expect_error(load(y2), pos_in(y2, "- name: put", "name"), "steady_state.probes[0]",
                 "exactly one of 'exec', 'tcp', 'http' or 'prometheus'");
}

TEST(PlanLab, ProbeInMustBeAHostOrControl) {
    std::string y = lab("in: h2", "in: h7");
    expect_error(load(y), pos(y, "h7"), "steady_state.probes[0].in", "'h7' is neither 'control' nor a host");
}

TEST(PlanLab, ProbeEveryAndTimeoutArePositive) {
    std::string y = lab("every: 250ms", "every: 0");
    expect_error(load(y), pos_in(y, "every: 0", "0"), "steady_state.probes[0].every", "must be longer than 0");
    std::string y2 = lab("timeout: 1s\n      slo", "timeout: 0s\n      slo");
    expect_error(load(y2), pos_in(y2, "timeout: 0s", "0s"), "steady_state.probes[0].timeout", "must be longer than 0");
}

TEST(PlanLab, SuccessRateWithinZeroAndOne) {
    std::string y = lab("success_rate: 0.95", "success_rate: 95");
    expect_error(load(y), pos(y, "95,"), "steady_state.probes[0].slo.success_rate",
                 "success_rate 95 is outside [0, 1]");
}

TEST(PlanLab, DuplicateProbeName) {
    std::string y =
        lab("steady_state:\n  probes:\n", "steady_state:\n  probes:\n    - { name: put, tcp: \"{addr:h1}:1\" }\n");
    expect_error(load(y), pos_in(y, "- name: put", "put"), "steady_state.probes[1].name", "duplicate probe name 'put'");
}

TEST(PlanLab, ReadyTimeoutMustParse) {
    std::string y = lab("ready_timeout: 45s", "ready_timeout: later");
    expect_error(load(y), pos(y, "later"), "lab.ready_timeout", "bad duration 'later'");
}
