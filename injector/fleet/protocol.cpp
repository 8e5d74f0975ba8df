// JSON forms of the fleet documents (see protocol.hpp for the key layout).
#include "fleet/protocol.hpp"

#include <time.h>

#include <nlohmann/json.hpp>

namespace inj::fleet {
using nlohmann::json;

uint64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string to_json(const AgentInfo& a) {
    return json{{"host", a.host}, {"pid", a.pid}, {"interface", a.interface}, {"healthy", a.healthy},
                {"error", a.error}, {"started_ns", a.started_ns}}
        .dump();
}

std::string to_json(const Desired& d) {
    json f = json::array();
    for (auto& x : d.faults)
        f.push_back({{"index", x.index}, {"armed", x.armed}, {"at_ns", x.at_ns}, {"deadline_ns", x.deadline_ns}});
    return json{{"run", d.run}, {"generation", d.generation}, {"lease_ttl_ms", d.lease_ttl_ms},
                {"run_deadline_ns", d.run_deadline_ns}, {"plan_sha256", d.plan_sha256}, {"faults", f}}
        .dump();
}

std::string to_json(const Status& s) {
    json f = json::array();
    for (auto& x : s.faults)
        f.push_back({{"index", x.index}, {"armed", x.armed}, {"applied_ns", x.applied_ns}, {"dropped", x.dropped},
                     {"passed", x.passed}, {"expired", x.expired}});
    return json{{"host", s.host}, {"run", s.run}, {"generation", s.generation}, {"state", s.state},
                {"reason", s.reason}, {"updated_ns", s.updated_ns}, {"faults", f}}
        .dump();
}

std::optional<AgentInfo> agent_info_from_json(const std::string& s) {
    auto j = json::parse(s, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    try {
        AgentInfo a;
        a.host = j.value("host", "");
        a.pid = j.value("pid", 0);
        a.interface = j.value("interface", "");
        a.healthy = j.value("healthy", false);
        a.error = j.value("error", "");
        a.started_ns = j.value("started_ns", uint64_t{0});
        return a;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

std::optional<Desired> desired_from_json(const std::string& s) {
    auto j = json::parse(s, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    try {
        Desired d;
        d.run = j.value("run", "");
        d.generation = j.value("generation", uint64_t{0});
        d.lease_ttl_ms = j.value("lease_ttl_ms", 0);
        d.run_deadline_ns = j.value("run_deadline_ns", uint64_t{0});
        d.plan_sha256 = j.value("plan_sha256", "");
        for (auto& x : j.value("faults", json::array()))
            d.faults.push_back({x.value("index", size_t{0}), x.value("armed", false), x.value("at_ns", uint64_t{0}),
                                x.value("deadline_ns", uint64_t{0})});
        if (d.run.empty()) return std::nullopt;
        return d;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

std::optional<Status> status_from_json(const std::string& s) {
    auto j = json::parse(s, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    try {
        Status st;
        st.host = j.value("host", "");
        st.run = j.value("run", "");
        st.generation = j.value("generation", uint64_t{0});
        st.state = j.value("state", "");
        st.reason = j.value("reason", "");
        st.updated_ns = j.value("updated_ns", uint64_t{0});
        for (auto& x : j.value("faults", json::array()))
            st.faults.push_back({x.value("index", size_t{0}), x.value("armed", false), x.value("applied_ns", uint64_t{0}),
                                 x.value("dropped", uint64_t{0}), x.value("passed", uint64_t{0}),
                                 x.value("expired", uint64_t{0})});
        return st;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

}  // namespace inj::fleet
