// JSON forms of the fleet documents (see protocol.hpp for the key layout).
#include "fleet/protocol.hpp"

#include <time.h>

#include "plan/limits.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <type_traits>

namespace inj::fleet {
using nlohmann::json;

namespace {
// An integer field: absent is 0; a float, a string or a value out of T's range is refused (the
// caller returns nullopt). nlohmann's own conversion of 1e300 to int is undefined behaviour
// (found by fuzz/desired_fuzz.cpp).
template <class T>
T num(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end()) return T{};
    if (it->is_number_unsigned()) {
        auto v = it->get<uint64_t>();
        if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) throw std::out_of_range(key);
        return static_cast<T>(v);
    }
    if (it->is_number_integer()) {
        auto v = it->get<int64_t>();
        if (v < 0 && !std::is_signed_v<T>) throw std::out_of_range(key);
        if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
            (v > 0 && static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<T>::max())))
            throw std::out_of_range(key);
        return static_cast<T>(v);
    }
    throw std::invalid_argument(key);
}
// An agent's engine report is input from another machine: kept only when it is an object no
// longer than the agent may write; else why not, for the controller to warn about. The rest
// of the status stands either way (a bad report must not hide a confirmation).
void take_report(const json& fault, AppliedFault& a) {
    auto r = fault.find("report");
    if (r == fault.end() || r->is_null()) return;
    if (!r->is_object()) {
        a.report_error = std::string("report is a JSON ") + r->type_name() + ", not an object";
        return;
    }
    if (const size_t n = r->dump().size(); n > kMaxFaultReportBytes) {
        a.report_error =
            "report of " + std::to_string(n) + " bytes, over the limit of " + std::to_string(kMaxFaultReportBytes);
        return;
    }
    a.report = *r;
}

size_t text_size(const json& j) { return j.dump().size(); }

// `j` in at most `budget` bytes of JSON text, or nullopt when nothing of it fits: an array keeps
// its first elements, an object its smallest members first; a scalar fits whole or not at all.
std::optional<json> shrink(const json& j, size_t budget) {
    if (text_size(j) <= budget) return j;
    if (!j.is_structured() || budget < 2) return std::nullopt;
    json out = j.is_object() ? json::object() : json::array();
    size_t used = 2;  // the brackets
    auto add = [&](const std::string* key, const json& v) {
        const size_t over = (out.empty() ? 0 : 1) + (key ? text_size(*key) + 1 : 0);  // comma, "key":
        if (used + over >= budget) return false;
        auto s = shrink(v, budget - used - over);
        if (!s) return false;
        used += over + text_size(*s);
        if (key)
            out[*key] = std::move(*s);
        else
            out.push_back(std::move(*s));
        return true;
    };
    if (j.is_array()) {
        for (auto& v : j)
            if (!add(nullptr, v)) break;
        return out;
    }
    std::vector<std::pair<size_t, std::string>> by_size;
    for (auto& [k, v] : j.items()) by_size.emplace_back(text_size(v), k);
    std::sort(by_size.begin(), by_size.end());
    for (auto& [n, k] : by_size) add(&k, j[k]);
    return out;
}

}  // namespace

json bounded_report(const json& report, size_t max) {
    // Paths and messages in a report may hold any bytes: made valid UTF-8 once, here, so that
    // neither the sizes below nor the status document's own dump can throw.
    const std::string text = report.dump(-1, ' ', false, json::error_handler_t::replace);
    json j = json::parse(text);
    if (text.size() <= max) return j;
    constexpr size_t kMarker = 40;  // ,"truncated_from_bytes":<up to 20 digits>
    json out = max > kMarker ? shrink(j, max - kMarker).value_or(json::object()) : json::object();
    if (!out.is_object()) out = json::object();
    if (text_size(out) + kMarker <= max) out["truncated_from_bytes"] = text.size();
    return out;
}

uint64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string to_json(const AgentInfo& a) {
    return json{{"host", a.host},       {"pid", a.pid},     {"interface", a.interface},
                {"healthy", a.healthy}, {"error", a.error}, {"started_ns", a.started_ns}}
        .dump();
}

std::string to_json(const Desired& d) {
    json f = json::array();
    for (auto& x : d.faults)
        f.push_back({{"index", x.index}, {"armed", x.armed}, {"at_ns", x.at_ns}, {"deadline_ns", x.deadline_ns}});
    return json{{"run", d.run},
                {"generation", d.generation},
                {"lease_ttl_ms", d.lease_ttl_ms},
                {"run_deadline_ns", d.run_deadline_ns},
                {"plan_sha256", d.plan_sha256},
                {"faults", f}}
        .dump();
}

std::string to_json(const Status& s) {
    json f = json::array();
    for (auto& x : s.faults) {
        json r = json::array();
        for (auto& y : x.recoveries)
            r.push_back(
                {{"service", y.service}, {"pid", y.pid}, {"rto_ns", y.rto_ns}, {"ready", y.ready}, {"error", y.error}});
        f.push_back({{"index", x.index},
                     {"armed", x.armed},
                     {"applied_ns", x.applied_ns},
                     {"dropped", x.dropped},
                     {"passed", x.passed},
                     {"expired", x.expired},
                     {"recoveries", r}});
        if (x.report.is_object()) f.back()["report"] = x.report;
    }
    return json{{"host", s.host},
                {"run", s.run},
                {"generation", s.generation},
                {"state", s.state},
                {"reason", s.reason},
                {"updated_ns", s.updated_ns},
                {"received_ns", s.received_ns},
                {"settled", s.settled},
                {"faults", f}}
        .dump();
}

std::optional<AgentInfo> agent_info_from_json(const std::string& s) {
    auto j = json::parse(s, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    try {
        AgentInfo a;
        a.host = j.value("host", "");
        a.pid = num<int>(j, "pid");
        a.interface = j.value("interface", "");
        a.healthy = j.value("healthy", false);
        a.error = j.value("error", "");
        a.started_ns = num<uint64_t>(j, "started_ns");
        return a;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::optional<Desired> desired_from_json(const std::string& s) {
    auto j = json::parse(s, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    try {
        Desired d;
        d.run = j.value("run", "");
        d.generation = num<uint64_t>(j, "generation");
        d.lease_ttl_ms = num<int>(j, "lease_ttl_ms");
        d.run_deadline_ns = num<uint64_t>(j, "run_deadline_ns");
        d.plan_sha256 = j.value("plan_sha256", "");
        for (auto& x : j.value("faults", json::array()))
            d.faults.push_back({num<size_t>(x, "index"), x.value("armed", false), num<uint64_t>(x, "at_ns"),
                                num<uint64_t>(x, "deadline_ns")});
        if (d.run.empty() || d.faults.size() > plan::limits::kMaxFaults) return std::nullopt;
        return d;
    } catch (const std::exception&) {
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
        st.generation = num<uint64_t>(j, "generation");
        st.state = j.value("state", "");
        st.reason = j.value("reason", "");
        st.updated_ns = num<uint64_t>(j, "updated_ns");
        st.received_ns = num<uint64_t>(j, "received_ns");
        st.settled = j.value("settled", true);
        for (auto& x : j.value("faults", json::array())) {
            AppliedFault a{num<size_t>(x, "index"),
                           x.value("armed", false),
                           num<uint64_t>(x, "applied_ns"),
                           num<uint64_t>(x, "dropped"),
                           num<uint64_t>(x, "passed"),
                           num<uint64_t>(x, "expired"),
                           {}};
            for (auto& y : x.value("recoveries", json::array()))
                a.recoveries.push_back({y.value("service", ""), num<int>(y, "pid"), num<uint64_t>(y, "rto_ns"),
                                        y.value("ready", false), y.value("error", "")});
            take_report(x, a);
            if (st.faults.size() >= plan::limits::kMaxFaults || a.recoveries.size() > 4096) return std::nullopt;
            st.faults.push_back(std::move(a));
        }
        return st;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace inj::fleet
