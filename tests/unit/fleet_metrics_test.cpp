// An agent's Prometheus metrics (`injector agent --metrics`): what its loop feeds in shows up
// with the right names and values, a new run does not inherit the last run's fault names, and
// the exposition, served over loopback HTTP, is one promtool accepts.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/proc.hpp"
#include "fleet/agent_metrics.hpp"
#include "report/http_server.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;

namespace inj::fleet {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

void feed(AgentMetrics& m) {
    AgentInfo info;
    info.host = "kv-1";
    info.pid = 4242;
    info.interface = "eth0";
    info.healthy = true;
    m.started(info);
    m.registered();
    m.contact(true, 10 * kSecond);
    Status st;
    st.host = "kv-1";
    st.run = "r1";
    st.state = "ready";
    st.generation = 3;
    st.settled = true;
    AppliedFault a;
    a.index = 1;
    a.armed = true;
    a.dropped = 590;
    a.passed = 12;
    a.recoveries.push_back({"etcd", 77, 1'500'000'000, true, ""});
    st.faults.push_back(a);
    m.stepped();
    m.published(st, {{1, {"pangyo-power", "power_loss"}}});
    m.written("ready", true);
}

bool has(const std::string& body, const std::string& line) { return body.find(line + "\n") != std::string::npos; }

TEST(AgentMetrics, ShowWhatTheLoopFedIn) {
    AgentMetrics m;
    feed(m);
    auto body = m.render(12 * kSecond);  // etcd last answered 2 s ago
    const std::string host = "host=\"kv-1\"", run = host + ",run=\"r1\"";
    EXPECT_TRUE(has(body, "injector_agent_info{" + host + ",interface=\"eth0\",pid=\"4242\"} 1")) << body;
    EXPECT_TRUE(has(body, "injector_agent_healthy{" + host + "} 1")) << body;
    EXPECT_TRUE(has(body, "injector_agent_etcd_reachable{" + host + "} 1")) << body;
    EXPECT_TRUE(has(body, "injector_agent_etcd_last_contact_seconds{" + host + "} 2")) << body;
    EXPECT_TRUE(has(body, "injector_agent_registrations_total{" + host + "} 1")) << body;
    EXPECT_TRUE(has(body, "injector_agent_steps_total{" + host + "} 1")) << body;
    EXPECT_TRUE(has(body, "injector_agent_status_writes_total{" + host + ",state=\"ready\"} 1")) << body;
    EXPECT_TRUE(has(body, "injector_agent_state{" + run + ",state=\"ready\"} 1")) << body;
    EXPECT_TRUE(has(body, "injector_agent_state{" + run + ",state=\"idle\"} 0")) << body;
    EXPECT_TRUE(has(body, "injector_agent_generation{" + run + "} 3")) << body;
    const std::string f = run + ",fault=\"pangyo-power\"";
    EXPECT_TRUE(has(body, "injector_agent_fault_armed{" + f + ",kind=\"power_loss\"} 1")) << body;
    EXPECT_TRUE(has(body, "injector_agent_fault_dropped_packets_total{" + f + "} 590")) << body;
    EXPECT_TRUE(has(body, "injector_agent_fault_passed_packets_total{" + f + "} 12")) << body;
    EXPECT_TRUE(has(body, "injector_agent_recovery_seconds{" + f + ",service=\"etcd\",ready=\"true\"} 1.5")) << body;

    // A scrape whose clock reading predates the keepalive's last stamp shows 0, never a negative age.
    EXPECT_TRUE(has(m.render(9 * kSecond), "injector_agent_etcd_last_contact_seconds{" + host + "} 0"));
    // Contact lost: reachable 0, and the age keeps growing from the last answer.
    m.contact(false, 10 * kSecond);
    body = m.render(15 * kSecond);
    EXPECT_TRUE(has(body, "injector_agent_etcd_reachable{" + host + "} 0")) << body;
    EXPECT_TRUE(has(body, "injector_agent_etcd_last_contact_seconds{" + host + "} 5")) << body;
}

TEST(AgentMetrics, ARevertKeepsTheRunsNamesAndANewRunDropsThem) {
    AgentMetrics m;
    feed(m);
    // The revert's status comes after the plan is unloaded (no names given): same run, names kept.
    Status rev;
    rev.host = "kv-1";
    rev.run = "r1";
    rev.state = "reverted";
    rev.generation = 3;
    AppliedFault a;
    a.index = 1;
    a.dropped = 600;
    rev.faults.push_back(a);
    m.published(rev, {});
    m.written("reverted", false);  // etcd away: the state is the agent's all the same
    auto body = m.render(11 * kSecond);
    EXPECT_TRUE(
        has(body, "injector_agent_fault_dropped_packets_total{host=\"kv-1\",run=\"r1\",fault=\"pangyo-power\"} 600"))
        << body;
    EXPECT_EQ(body.find("injector_agent_status_writes_total{host=\"kv-1\",state=\"reverted\"}"), std::string::npos)
        << body;
    EXPECT_TRUE(has(body, "injector_agent_status_write_failures_total{host=\"kv-1\"} 1")) << body;
    EXPECT_TRUE(has(body, "injector_agent_state{host=\"kv-1\",run=\"r1\",state=\"reverted\"} 1")) << body;
    // Another run refused before it loaded: its fault is shown by index, never under r1's name.
    Status other = rev;
    other.run = "r2";
    other.state = "refused";
    m.published(other, {});
    body = m.render(11 * kSecond);
    EXPECT_EQ(body.find("pangyo-power"), std::string::npos) << body;
    EXPECT_TRUE(has(body, "injector_agent_fault_dropped_packets_total{host=\"kv-1\",run=\"r2\",fault=\"#1\"} 600"))
        << body;
}

TEST(AgentMetrics, LabelValuesAreEscaped) {
    AgentMetrics m;
    AgentInfo info;
    info.host = "a\"b\\c\nd";
    m.started(info);
    auto body = m.render(0);
    EXPECT_NE(body.find("host=\"a\\\"b\\\\c\\nd\""), std::string::npos) << body;
}

TEST(AgentMetrics, ServedOverLoopbackAndPromtoolAcceptsThem) {
    AgentMetrics m;
    feed(m);
    auto addr = report::LoopbackHttp::parse_address("127.0.0.1:0", nullptr);
    ASSERT_TRUE(addr);
    auto http = report::LoopbackHttp::start(*addr, [&m] { return m.render(12 * kSecond); });
    ASSERT_TRUE(http) << http.error().message();
    auto resp = test::http_exchange((*http)->port(), "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_EQ(resp.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << resp;
    auto body = resp.substr(resp.find("\r\n\r\n") + 4);
    EXPECT_TRUE(has(body, "injector_agent_steps_total{host=\"kv-1\"} 1")) << body;
    auto file = std::filesystem::temp_directory_path() / ("inj-agent-metrics-" + std::to_string(getpid()) + ".txt");
    std::ofstream(file) << body;
    auto r = run_shell("promtool check metrics < " + file.string(), 30s);
    std::filesystem::remove(file);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->exit_code, 0) << r->output;
}

}  // namespace
}  // namespace inj::fleet
