// `injector agents`: what etcd says of the fleet, and whether a plan's agents are ready, from
// the three key prefixes as read (a registration under another host's key, a status not bound
// to its agent's lease, or a document that does not parse is left out).
#include <gtest/gtest.h>

#include "fleet/survey.hpp"

namespace inj::fleet {
namespace {

KeyValue kv(const std::string& key, const std::string& value, int64_t lease = 0) {
    KeyValue k;
    k.key = key;
    k.value = value;
    k.lease = lease;
    return k;
}

std::string agent(const std::string& host, bool healthy, const std::string& error = "") {
    AgentInfo a;
    a.host = host;
    a.pid = 100;
    a.interface = "eth0";
    a.healthy = healthy;
    a.error = error;
    return to_json(a);
}

TEST(FleetSurvey, ReadsAgentsTheirTrustedStatusesAndTheRunsThatDriveThem) {
    Status st;
    st.host = "kv-1";
    st.run = "r1";
    st.generation = 4;
    st.state = "ready";
    Status forged = st;
    forged.host = "kv-2";
    forged.state = "clean";
    Desired d;
    d.run = "r1";
    const std::vector<KeyValue> agents = {kv(agent_key("kv-1"), agent("kv-1", true), 11),
                                          kv(agent_key("kv-2"), agent("kv-2", false, "no BTF"), 12),
                                          kv(agent_key("kv-9"), agent("kv-3", true), 13),  // under another's key
                                          kv(agent_key("kv-4"), "{not json", 14)};
    const std::vector<KeyValue> statuses = {kv(status_key("kv-1"), to_json(st), 11),
                                            kv(status_key("kv-2"), to_json(forged), 99)};  // not its lease
    const std::vector<KeyValue> desired = {kv(desired_key("kv-1"), to_json(d)), kv(desired_key("kv-5"), to_json(d)),
                                           kv(desired_key("kv-6"), "[]")};
    auto s = survey_of(agents, statuses, desired);
    ASSERT_EQ(s.agents.size(), 2u);
    ASSERT_TRUE(s.agents.count("kv-1") && s.agents.count("kv-2"));
    ASSERT_TRUE(s.agents["kv-1"].status);
    EXPECT_EQ(s.agents["kv-1"].status->generation, 4u);
    EXPECT_FALSE(s.agents["kv-2"].status) << "a status not bound to kv-2's lease is not believed";
    EXPECT_EQ(s.driven_by, (std::map<std::string, std::string>{{"kv-1", "r1"}, {"kv-5", "r1"}}));

    auto r = readiness(s, {"kv-1", "kv-2", "kv-3", "kv-5"});
    EXPECT_FALSE(r.ready());
    EXPECT_EQ(r.missing, (std::vector<std::string>{"kv-3", "kv-5"}));
    EXPECT_EQ(r.unhealthy, (std::vector<std::string>{"kv-2 (no BTF)"}));
    EXPECT_EQ(r.busy, (std::vector<std::string>{"kv-1 (run r1)", "kv-5 (run r1)"}));
    s.driven_by.clear();
    EXPECT_TRUE(readiness(s, {"kv-1"}).ready());
    EXPECT_TRUE(readiness(s, {}).ready());
}

}  // namespace
}  // namespace inj::fleet
