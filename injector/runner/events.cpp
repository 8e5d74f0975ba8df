// The descriptive journal events (environment, preflight, guards); see events.hpp.
#include "runner/events.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "common/duration.hpp"
#include "plan/json.hpp"
#include "safety/plan_checks.hpp"

#ifndef INJ_VERSION
#define INJ_VERSION "unknown"
#endif

namespace inj::runner {
namespace {
double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

std::string os_name() {
    std::ifstream f("/etc/os-release");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("PRETTY_NAME=", 0) == 0) {
            std::string v = line.substr(12);
            if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
            return v;
        }
    return "";
}
}  // namespace

nlohmann::json environment_json() {
    utsname u{};
    uname(&u);
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return {{"hostname", host},
            {"kernel", std::string(u.sysname) + " " + u.release},
            {"kernel_version", u.version},
            {"arch", u.machine},
            {"os", os_name()},
            {"cpus", std::thread::hardware_concurrency()},
            {"memory_mib", pages > 0 && page > 0 ? (pages / 1024) * page / 1024 : 0},
            {"uid", getuid()},
            {"injector_version", INJ_VERSION}};
}

nlohmann::json preflight_json(const plan::Plan& plan, const net::Tables& tables) {
    nlohmann::json moments = nlohmann::json::array();
    for (auto& m : safety::moments(plan, tables)) {
        auto im = safety::impact(plan, tables, m);
        std::vector<std::string> faults;
        for (size_t fi : m.faults) faults.push_back(plan.method[fi].name);
        nlohmann::json bounds = nlohmann::json::array();
        for (auto& b : safety::bounds_at(plan.safety.blast_radius, im))
            bounds.push_back(
                {{"bound", b.bound}, {"limit", b.limit}, {"measured", b.measured}, {"exceeded", b.exceeded}});
        moments.push_back({{"from_ms", ms(m.from)},
                           {"to_ms", ms(m.to)},
                           {"faults", faults},
                           {"cut_off", im.cut_off},
                           {"touched", im.touched},
                           {"zones", im.zones},
                           {"power_domains", im.power_domains},
                           {"hosts_total", im.hosts_total},
                           {"share", im.share()},
                           {"bounds", bounds}});
    }
    return {{"moments", moments}, {"checks", {"blast_radius", "protected", "abort_path"}}, {"ok", true}};
}

nlohmann::json guards_json(const plan::Plan& plan, const std::vector<std::string>& guard_names, bool signals) {
    nlohmann::json out = nlohmann::json::array();
    size_t abort_when = 0;
    for (auto& n : guard_names) {
        std::string what;
        if (n == "max_duration")
            what = "the run ends by safety.max_duration " + format_duration(plan.safety.max_duration);
        else if (n == "abort_request")
            what = "`injector abort`, the run's abort file or the machine's kill switch";
        else if (n == "off_plan_drops")
            what = "no rule drops packets while its fault is not in force";
        else if (n == "host_vanished")
            what = "every planned host's namespace stays present";
        else if (n == "effect_missing")
            what =
                "a fault in force is seen on the wire (a canary connect across a cut fails; across a slowed link, "
                "takes at least its latency)";
        else if (n == "abort_when" && abort_when < plan.safety.abort_when.size()) {
            auto& a = plan.safety.abort_when[abort_when++];
            what = "probe " + a.probe;
            if (a.success_rate_below)
                what += " success rate below " + std::to_string(*a.success_rate_below).substr(0, 4);
            if (a.latency_above) what += " latency above " + format_duration(*a.latency_above);
            if (a.failures_in_a_row) what += " " + std::to_string(*a.failures_in_a_row) + " failures in a row";
            if (!a.failures_in_a_row || a.window_given) what += " for " + format_duration(a.window);
            out.push_back({{"name", n}, {"probe", a.probe}, {"watches", what}});
            continue;
        }
        out.push_back({{"name", n}, {"watches", what}});
    }
    if (signals) out.push_back({{"name", "signal"}, {"watches", "SIGINT, SIGTERM and SIGHUP heal and stop the run"}});
    return out;
}

}  // namespace inj::runner
