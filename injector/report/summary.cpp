// Terminal summary of a run.
#include "report/summary.hpp"

#include <cstdio>

#include "common/duration.hpp"

namespace inj::report {
namespace {
std::string pct(size_t a, size_t b) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f%%", b ? 100.0 * static_cast<double>(a) / static_cast<double>(b) : 0.0);
    return buf;
}
std::string us(std::chrono::nanoseconds d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f us", static_cast<double>(d.count()) / 1e3);
    return buf;
}
// A power loss's crash point and what each volatile volume lost (the power engine's report).
void print_storage_loss(std::ostream& os, const nlohmann::json& e) {
    if (!e.is_object()) return;
    if (auto c = e.find("crash_point"); c != e.end() && c->is_object()) {
        if (c->value("fired", false))
            os << "      crash point fired " << c->value("when", "") << " " << c->value("operation", "") << " "
               << c->value("path", "") << " (match " << c->value("nth", 0) << ") on " << c->value("volume", "")
               << " of " << c->value("host", "") << "\n";
        else
            os << "      crash point armed on " << c->value("armed_volumes", 0)
               << " volume(s) never fired: nothing went dark\n";
    }
    if (auto l = e.find("lost"); l != e.end() && l->is_array())
        for (auto& v : *l)
            if (v.contains("summary") && v["summary"].is_array())
                for (auto& line : v["summary"])
                    if (line.is_string()) os << "      lost: " << line.get<std::string>() << "\n";
}

}  // namespace

void print_summary(std::ostream& os, const runner::RunOutcome& o, bool color) {
    const char* c_on = "";
    const char* c_off = color ? "\033[0m" : "";
    if (color) c_on = o.exit_code == 0 ? "\033[1;32m" : o.exit_code == 1 ? "\033[1;31m" : "\033[1;33m";
    std::string label = o.verdict;
    for (auto& ch : label) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    os << "\n"
       << c_on << label << c_off << " (exit " << o.exit_code << ")  plan " << o.plan_name << "  run " << o.run_id
       << "\n";
    os << "  " << o.reason << "\n";
    if (!o.faults.empty()) {
        os << "faults:\n";
        for (auto& f : o.faults) {
            char line[256];
            std::snprintf(line, sizeof line, "  %-20s %-8s planned T+%s for %s", f.name.c_str(), f.kind.c_str(),
                          format_duration(f.planned_at).c_str(), format_duration(f.planned_duration).c_str());
            os << line;
            if (f.injected_at)
                os << "; in force T+" << format_duration(*f.injected_at) << " (inject " << us(f.inject_cost) << ")";
            else
                os << "; not injected";
            if (f.healed_at)
                os << ", healed T+" << format_duration(*f.healed_at) << " (heal " << us(f.heal_cost) << ")";
            os << "; dropped " << f.counters.dropped << " packets";
            if (!f.error.empty()) os << "; error: " << f.error;
            os << "\n";
            if (f.engine_report.is_object() && f.engine_report.contains("activation")) {
                auto& a = f.engine_report["activation"];
                char fl[240];
                std::snprintf(fl, sizeof fl,
                              "      fleet: %d agents applied it within %.3f ms of each other (last %.3f ms after the "
                              "agreed instant; lead %.0f ms, slowest receipt %.1f ms)\n",
                              a.value("agents_confirmed", 0), a.value("spread_ms", 0.0), a.value("late_max_ms", 0.0),
                              a.value("lead_ms", 0.0), a.value("delivery_max_ms", 0.0));
                os << fl;
                if (double skew = a.value("clock_skew_ms", 0.0); skew > 0)
                    os << "      fleet: an agent's clock is off the controller's by at least " << skew
                       << " ms (its instants with it; check NTP)\n";
            }
            print_storage_loss(os, f.engine_report);
            for (auto& r : f.recoveries) {
                os << "      " << r.service << " on " << r.host;
                if (r.ready)
                    os << " healthy again after " << format_duration(r.rto) << " (RTO, pid " << r.pid << ")\n";
                else
                    os << " NOT healthy again: " << r.error << "\n";
            }
        }
    }
    if (!o.probes.empty()) {
        os << "probes:\n";
        for (auto& p : o.probes) {
            char line[256];
            std::snprintf(line, sizeof line, "  %-20s %4zu attempts  %6s ok  p50 %s  p99 %s  worst window %.2f",
                          p.probe.c_str(), p.attempts, pct(p.successes, p.attempts).c_str(),
                          format_duration(p.p50).c_str(), format_duration(p.p99).c_str(), p.worst_rate);
            os << line << "  " << (p.held ? "SLO held" : "SLO BROKEN") << "\n";
            if (!p.held)
                os << "      at T+" << format_duration(p.violated_at.value_or(std::chrono::nanoseconds{0})) << ": "
                   << p.violation << "\n";
        }
    }
    if (!o.expectations.empty()) {
        os << "expectations:\n";
        for (auto& e : o.expectations) {
            char line[64];
            std::snprintf(line, sizeof line, "  %-28s %-7s", e.name.c_str(), e.held ? "met" : "NOT MET");
            os << line << "  " << e.message << "\n";
        }
    }
    for (auto& e : o.cleanup_errors) os << "cleanup: " << e << "\n";
    if (!o.journal.empty()) os << "journal: " << o.journal << "\n";
}

}  // namespace inj::report
