// The text report: what `injector report --format text` prints, for a terminal or an email.
#include <cstdio>
#include <sstream>

#include "report/render.hpp"

namespace inj::report {

std::optional<Format> parse_format(const std::string& s) {
    if (s == "text") return Format::text;
    if (s == "html") return Format::html;
    if (s == "junit") return Format::junit;
    return std::nullopt;
}

std::string render(const RunView& v, Format f) {
    switch (f) {
        case Format::html: return render_html(v);
        case Format::junit: return render_junit(v);
        case Format::text: break;
    }
    return render_text(v);
}

std::string render_text(const RunView& v) {
    std::ostringstream os;
    std::string label = v.has_verdict ? v.verdict : "no verdict (in progress or interrupted)";
    for (auto& c : label) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    os << label;
    if (v.has_verdict) os << " (exit " << v.exit_code << ")";
    os << "  plan " << v.plan_name << "  run " << v.run_id << "\n";
    if (!v.reason.empty()) os << "  " << v.reason << "\n";
    os << "  " << v.started << " .. " << v.finished << (v.complete ? "" : "  (journal ends before run_end)") << "\n";
    if (!v.description.empty()) os << "  " << v.description << "\n";
    if (v.environment.is_object())
        os << "  on " << v.environment.value("hostname", "?") << ", " << v.environment.value("kernel", "?") << ", "
           << v.environment.value("os", "?") << ", injector " << v.environment.value("injector_version", "?") << "\n";
    for (auto& r : v.refusals) os << "refused: " << r.value("reason", "") << "\n";

    if (!v.faults.empty()) {
        os << "faults:\n";
        for (auto& f : v.faults) {
            char line[256];
            std::snprintf(line, sizeof line, "  %-20s %-16s", f.name.c_str(), f.kind.c_str());
            os << line;
            if (f.planned_at_ms)
                os << " planned " << fmt_t(*f.planned_at_ms) << " for " << fmt_ms(f.planned_duration_ms.value_or(0));
            if (f.injected_at_ms) {
                os << "; in force " << fmt_t(*f.injected_at_ms);
                if (f.lead_ms > 0) os << " (asked " << fmt_ms(f.lead_ms) << " ahead)";
            } else
                os << "; not injected";
            if (f.healed_at_ms) os << ", healed " << fmt_t(*f.healed_at_ms);
            os << "; dropped " << f.dropped << " packets";
            if (!f.error.empty()) os << "; error: " << f.error;
            os << "\n";
            if (!f.target.empty())
                os << "      target " << f.target << (f.peer.empty() ? "" : "; peer " + f.peer) << "\n";
            if (!f.params.empty()) {
                os << "      params";
                for (auto& [k, val] : f.params.items()) os << " " << k << "=" << scalar_text(val);
                os << "\n";
            }
            for (auto& r : f.recoveries) {
                os << "      " << r.value("service", "?") << " on " << r.value("host", "?");
                if (r.value("ready", false))
                    os << " healthy again after " << fmt_ms(r.value("rto_ms", 0.0)) << " (RTO)\n";
                else
                    os << " NOT healthy again: " << r.value("error", "") << "\n";
            }
        }
    }
    if (!v.probes.empty()) {
        os << "probes:\n";
        for (auto& p : v.probes) {
            size_t ok = 0;
            for (auto& s : p.samples) ok += s.ok;
            char line[256];
            std::snprintf(line, sizeof line, "  %-20s %4zu attempts  %4zu ok", p.name.c_str(), p.samples.size(), ok);
            os << line;
            if (p.result.is_object()) {
                os << "  p50 " << fmt_ms(p.result.value("p50_ms", 0.0)) << "  p99 "
                   << fmt_ms(p.result.value("p99_ms", 0.0)) << "  worst window " << p.result.value("worst_rate", 1.0)
                   << "  " << (p.result.value("held", true) ? "SLO held" : "SLO BROKEN") << "\n";
                if (!p.result.value("held", true))
                    os << "      at " << fmt_t(p.result.value("violated_at_ms", 0.0)) << ": "
                       << p.result.value("violation", "") << "\n";
            } else {
                os << "  (not judged)\n";
            }
        }
    }
    if (!v.expectations.empty()) {
        os << "expectations:\n";
        for (auto& e : v.expectations) {
            os << "  " << (e.value("ok", false) ? "met     " : "NOT MET ") << e.value("name", "?");
            for (auto& [k, val] : e.items())
                if (k != "name" && k != "ok" && k != "event") os << "  " << k << "=" << scalar_text(val);
            os << "\n";
        }
    }
    if (!v.guards.empty()) {
        os << "guards:\n";
        for (auto& g : v.guards) {
            os << "  " << (g.tripped ? "TRIPPED " : "quiet   ") << g.name
               << (g.watches.empty() ? "" : ": " + g.watches);
            if (g.tripped) os << "\n      stopped the run at " << fmt_t(g.at_ms) << ": " << g.reason;
            os << "\n";
        }
    }
    if (v.preflight.is_object() && v.preflight.contains("moments")) {
        os << "blast radius (preflight):\n";
        for (auto& m : v.preflight["moments"]) {
            os << "  " << fmt_t(m.value("from_ms", 0.0)) << ".." << fmt_t(m.value("to_ms", 0.0)) << "  cut off "
               << m["cut_off"].size() << "/" << m.value("hosts_total", 0) << ":";
            for (auto& h : m["cut_off"]) os << " " << h.get<std::string>();
            os << "\n";
        }
    }
    if (!v.cleanup.empty()) {
        os << "cleanup:\n";
        for (auto& c : v.cleanup) {
            os << "  " << c.value("event", "?");
            for (auto& [k, val] : c.items())
                if (k != "event") os << " " << k << "=" << scalar_text(val);
            os << "\n";
        }
    }
    if (!v.other.empty()) {
        os << "other events (not known to this version):\n";
        for (auto& e : v.other) os << "  " << e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    return os.str();
}

}  // namespace inj::report
