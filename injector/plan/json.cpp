// The plan event of the journal: resolved timings for the timeline, and the source as written.
#include "plan/json.hpp"
#include "plan/probe_http.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>

namespace inj::plan {
namespace {

double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

nlohmann::json scalar(const std::string& s) {
    if (s == "true" || s == "false") return s == "true";
    if (s == "null" || s == "~") return nullptr;
    if (!s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '.')) {
        char* end = nullptr;
        long long i = std::strtoll(s.c_str(), &end, 10);
        if (end && *end == '\0') return i;
        double d = std::strtod(s.c_str(), &end);
        if (end && *end == '\0') return d;
    }
    return s;
}

nlohmann::json to_json(const YAML::Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Map: {
            nlohmann::json j = nlohmann::json::object();
            for (auto it = n.begin(); it != n.end(); ++it) j[it->first.as<std::string>()] = to_json(it->second);
            return j;
        }
        case YAML::NodeType::Sequence: {
            nlohmann::json j = nlohmann::json::array();
            for (auto it = n.begin(); it != n.end(); ++it) j.push_back(to_json(*it));
            return j;
        }
        case YAML::NodeType::Scalar:
            // A quoted scalar stays a string ("50%", "0.5" written in quotes).
            return n.Tag() == "!" ? nlohmann::json(n.Scalar()) : scalar(n.Scalar());
        default: return nullptr;
    }
}

}  // namespace

std::string describe(const Selector& s) {
    if (s.rest && s.empty()) return "the rest of the lab";
    std::string out;
    auto add = [&](const char* kind, const std::vector<std::string>& v) {
        for (auto& x : v) out += (out.empty() ? "" : ", ") + std::string(kind) + " " + x;
    };
    add("zone", s.zones);
    add("power domain", s.power_domains);
    add("host", s.hosts);
    for (auto& c : s.cidrs) out += (out.empty() ? "" : ", ") + std::string("cidr ") + c.str();
    return out;
}

nlohmann::json yaml_file_json(const std::string& path) {
    try {
        return to_json(YAML::LoadFile(path));
    } catch (const std::exception&) {
        return nullptr;  // the file changed or vanished since it was loaded: the resolved part stands
    }
}

// A service's volume for the journal: its name, and for a volatile one the loss model in force.
static nlohmann::json volume_json(const Service& sv) {
    nlohmann::json j = {{"name", *sv.volume}, {"volatile", sv.volume_volatile}};
    if (!sv.volume_volatile) return j;
    const VolumeLoss& l = sv.volume_loss;
    j["loss"] = {{"model", to_string(l.model)},
                 {"metadata", l.metadata_volatile ? "volatile" : "durable"},
                 {"writeback_ms", ms(l.writeback)},
                 {"seed", l.seed}};
    if (l.model == VolumeLoss::Model::torn) j["loss"]["torn_sectors"] = l.torn_sectors;
    if (l.model == VolumeLoss::Model::reorder) j["loss"]["survive"] = l.survive;
    return j;
}

nlohmann::json plan_json(const Plan& plan) {
    nlohmann::json source = yaml_file_json(plan.file);
    nlohmann::json faults = nlohmann::json::array();
    for (size_t i = 0; i < plan.method.size(); ++i) {
        auto& f = plan.method[i];
        // Everything the plan says about the fault beyond name, kind, timing and target: the
        // report shows these as the fault's parameters, whatever the kind.
        nlohmann::json params = nlohmann::json::object();
        if (source.is_object() && source.contains("method") && source["method"].is_array() &&
            i < source["method"].size() && source["method"][i].is_object())
            for (auto& [k, v] : source["method"][i].items())
                if (k != "name" && k != "fault" && k != "duration" && k != "target" && (k != "at" || v.is_object()))
                    params[k] = v;  // an `at` map is a crash point: a parameter, not a time
        nlohmann::json j = {{"name", f.name},
                            {"kind", f.kind()},
                            {"at_ms", ms(f.at)},
                            {"duration_ms", ms(f.duration)},
                            {"target", describe(f.target)},
                            {"params", params},
                            {"line", f.mark.str()}};
        if (f.takes_peer()) j["peer"] = describe(f.peer);
        faults.push_back(j);
    }
    nlohmann::json probes = nlohmann::json::array();
    for (auto& p : plan.probes) {
        nlohmann::json slo = {{"window_ms", ms(p.slo.window)}};
        if (p.slo.success_rate) slo["success_rate"] = *p.slo.success_rate;
        if (p.slo.max_latency) slo["max_latency_ms"] = ms(*p.slo.max_latency);
        probes.push_back({{"name", p.name},
                          {"kind", probe_kind_name(p.kind)},
                          {"target", p.target},
                          {"in", p.in},
                          {"every_ms", ms(p.every)},
                          {"timeout_ms", ms(p.timeout)},
                          {"slo", slo}});
    }
    nlohmann::json zones = nlohmann::json::array();
    for (auto& z : plan.topology.zones) zones.push_back({{"name", z.name}, {"power_domains", z.power_domains}});
    nlohmann::json hosts = nlohmann::json::array();
    for (auto& h : plan.topology.hosts) {
        std::vector<std::string> addrs;
        for (auto& a : h.addresses) addrs.push_back(a.str());
        hosts.push_back({{"name", h.name}, {"zone", h.zone}, {"power_domain", h.power_domain}, {"addresses", addrs}});
    }
    nlohmann::json abort_when = nlohmann::json::array();
    for (auto& a : plan.safety.abort_when) {
        nlohmann::json j = {{"probe", a.probe}, {"for_ms", ms(a.window)}};
        if (a.success_rate_below) j["success_rate_below"] = *a.success_rate_below;
        if (a.latency_above) j["latency_above_ms"] = ms(*a.latency_above);
        if (a.failures_in_a_row) j["failures_in_a_row"] = *a.failures_in_a_row;
        abort_when.push_back(j);
    }
    return {{"name", plan.name},
            {"description", plan.description},
            {"file", plan.file},
            {"max_duration_ms", ms(plan.safety.max_duration)},
            {"topology", {{"zones", zones}, {"hosts", hosts}}},
            {"services",
             [&] {
                 nlohmann::json s = nlohmann::json::array();
                 for (auto& sv : plan.lab.services) {
                     nlohmann::json j = {{"name", sv.name}, {"hosts", sv.hosts}};
                     if (sv.volume) j["volume"] = volume_json(sv);
                     s.push_back(j);
                 }
                 return s;
             }()},
            {"probes", probes},
            {"faults", faults},
            {"abort_when", abort_when},
            {"source", source}};
}

}  // namespace inj::plan
