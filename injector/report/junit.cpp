// JUnit XML for CI gates: one test case per expectation, per probe SLO, per guard, per fault and
// for cleanup, so a gate's own test report says what broke, when (T+) and by how much.
#include <cstdio>
#include <sstream>

#include "report/render.hpp"

namespace inj::report {

std::string xml_escape(const std::string& s);

std::string xml_escape(const std::string& s) {
    std::string o;
    o.reserve(s.size());
    for (unsigned char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            case '\'': o += "&apos;"; break;
            default:
                // XML 1.0 allows no control characters but tab, newline and carriage return.
                if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                    o += ' ';
                else
                    o += static_cast<char>(c);
        }
    }
    return o;
}

namespace {

struct Case {
    std::string classname, name;
    double seconds = 0;
    enum class Result { pass, failure, error, skipped } result = Result::pass;
    std::string message, type, detail;
};

std::string secs(double s) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", s < 0 ? 0 : s);
    return b;
}

// The cases of one run, in the order the suite lists them.
class Cases {
public:
    explicit Cases(std::string plan) : plan_(std::move(plan)) {}
    Case& add(const std::string& group, std::string name) {
        list_.push_back({plan_ + "." + group, std::move(name)});
        return list_.back();
    }
    const std::vector<Case>& list() const { return list_; }

private:
    std::string plan_;
    std::vector<Case> list_;
};

// Errors for a run that was refused or never finished.
void run_cases(Cases& cases, const RunView& v) {
    // The plan could not be applied: one error says why (no other case would be meaningful).
    if (v.has_verdict && (v.verdict == "not_applied")) {
        auto& c = cases.add("run", "applied");
        c.result = Case::Result::error;
        c.type = "not_applied";
        c.message = "the plan could not be applied: " + v.reason;
        for (auto& r : v.refusals)
            if (r.contains("refusals"))
                for (auto& x : r["refusals"]) c.detail += x.value("message", "") + "\n";
    }
    if (!v.has_verdict) {
        auto& c = cases.add("run", "finished");
        c.result = Case::Result::error;
        c.type = "interrupted";
        c.message = "the journal has no verdict: the run was interrupted (last event " + v.finished + ")";
    }
}

void expectation_cases(Cases& cases, const RunView& v) {
    for (auto& e : v.expectations) {
        auto& c = cases.add(
            "expect", e.value("name", "expectation") + (e.contains("target") ? " " + scalar_text(e["target"]) : ""));
        if (!e.value("ok", false)) {
            c.result = Case::Result::failure;
            c.type = e.value("name", "expectation");
            if (e.contains("message"))
                c.message = scalar_text(e["message"]);
            else {
                c.message = e.value("name", "expectation") + " not met";
                if (e.contains("measured")) c.message += ": measured " + scalar_text(e["measured"]);
                if (e.contains("expected")) c.message += ", expected " + scalar_text(e["expected"]);
                if (e.contains("at_ms") && e["at_ms"].is_number())
                    c.message += " at " + fmt_t(e["at_ms"].get<double>());
            }
        }
        c.detail = e.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    }
}

void recovery_cases(Cases& cases, const RunView& v) {
    for (auto& f : v.faults)
        for (auto& r : f.recoveries) {
            auto& c = cases.add("recovery", r.value("service", "?") + "@" + r.value("host", "?") + " after " + f.name);
            c.seconds = r.value("rto_ms", 0.0) / 1000;
            if (!r.value("ready", false)) {
                c.result = Case::Result::failure;
                c.type = "not_recovered";
                c.message = r.value("service", "?") + " on " + r.value("host", "?") + " was not healthy again after " +
                            f.name + " healed at " + fmt_t(f.healed_at_ms.value_or(0)) + ": " + r.value("error", "");
            }
        }
}

// A broken SLO: when, by how much, and every failed attempt.
void slo_broken(Case& c, const ProbeView& p) {
    c.result = Case::Result::failure;
    c.type = "slo_broken";
    c.message = "probe " + p.name + " broke its SLO at " + fmt_t(p.result.value("violated_at_ms", 0.0)) + ": " +
                p.result.value("violation", "");
    if (auto rate = p.slo_rate()) {
        char by[160];
        double worst = p.result.value("worst_rate", 1.0);
        std::snprintf(by, sizeof by, "; worst window %.2f at %s, %.2f short of the SLO's %.2f", worst,
                      fmt_t(p.result.value("worst_at_ms", 0.0)).c_str(), *rate - worst, *rate);
        c.message += by;
    }
    // The failed attempts, so the log shows when it broke and why.
    for (auto& s : p.samples)
        if (!s.ok) c.detail += "\n" + fmt_t(s.at_ms) + " seq " + std::to_string(s.seq) + " failed: " + s.detail;
}

void slo_cases(Cases& cases, const RunView& v) {
    for (auto& p : v.probes) {
        auto& c = cases.add("slo", p.name);
        size_t ok = 0;
        for (auto& s : p.samples) ok += s.ok;
        c.seconds = p.samples.empty() ? 0 : (p.samples.back().at_ms - p.samples.front().at_ms) / 1000;
        if (!p.result.is_object()) {
            c.result = v.timeline_started ? Case::Result::error : Case::Result::skipped;
            c.message = v.timeline_started ? "the probe was never judged (the run ended before its SLO was evaluated)"
                                           : "the timeline never started";
            continue;
        }
        char sum[200];
        std::snprintf(sum, sizeof sum, "%zu of %zu attempts ok; worst window success rate %.2f", ok, p.samples.size(),
                      p.result.value("worst_rate", 1.0));
        c.detail = sum;
        if (!p.result.value("held", true)) slo_broken(c, p);
    }
    for (auto& s : v.cleanup)
        if (s.value("event", "") == "steady_after" && !s.value("ok", true)) {
            auto& c = cases.add("steady_after", s.value("probe", "?"));
            c.result = Case::Result::failure;
            c.type = "not_recovered";
            c.message = "probe " + s.value("probe", "?") + " did not return to its steady state after the last heal (" +
                        std::to_string(s.value("attempts", 0)) + " attempts; last: " + s.value("detail", "") + ")";
        }
}

void guard_cases(Cases& cases, const RunView& v) {
    for (auto& g : v.guards) {
        auto& c = cases.add("guard", g.name + (g.probe.empty() ? "" : " " + g.probe));
        c.detail = g.watches;
        if (g.tripped) {
            c.result = Case::Result::failure;
            c.type = "aborted";
            c.message = "guard " + g.name + " stopped the run at " + fmt_t(g.at_ms) + ": " + g.reason;
        }
    }
}

void fault_cases(Cases& cases, const RunView& v) {
    for (auto& f : v.faults) {
        auto& c = cases.add("fault", f.name + " (" + f.kind + ")");
        if (f.injected_at_ms && f.healed_at_ms) c.seconds = (*f.healed_at_ms - *f.injected_at_ms) / 1000;
        if (!f.inject_ok || !f.error.empty()) {
            c.result = Case::Result::error;
            c.type = "fault_error";
            c.message =
                "fault " + f.name + (f.injected_at_ms ? " at " + fmt_t(*f.injected_at_ms) : "") + ": " + f.error;
        } else if (!f.injected_at_ms) {
            c.result = Case::Result::skipped;
            c.message = v.abort ? "not reached: the run was aborted at " + fmt_t(v.abort->at_ms) : "never injected";
        } else {
            char d[160];
            std::snprintf(d, sizeof d, "in force %s..%s, planned %s for %s; dropped %llu packets",
                          fmt_t(*f.injected_at_ms).c_str(), f.healed_at_ms ? fmt_t(*f.healed_at_ms).c_str() : "?",
                          fmt_t(f.planned_at_ms.value_or(0)).c_str(), fmt_ms(f.planned_duration_ms.value_or(0)).c_str(),
                          static_cast<unsigned long long>(f.dropped));
            c.detail = d;
        }
    }
}

void cleanup_case(Cases& cases, const RunView& v) {
    auto problems = v.cleanup_problems();
    auto& c = cases.add("run", "cleanup");
    if (!problems.empty() || v.verdict == "cleanup_failed") {
        c.result = Case::Result::error;
        c.type = "cleanup_failed";
        c.message = v.verdict == "cleanup_failed" ? v.reason : "cleanup reported errors";
        for (auto& p : problems) c.detail += p + "\n";
    }
}

void write_case(std::ostringstream& os, const Case& c) {
    os << "    <testcase classname=\"" << xml_escape(c.classname) << "\" name=\"" << xml_escape(c.name) << "\" time=\""
       << secs(c.seconds) << "\"";
    if (c.result == Case::Result::pass && c.detail.empty()) {
        os << "/>\n";
        return;
    }
    os << ">\n";
    const char* tag = c.result == Case::Result::failure ? "failure"
                      : c.result == Case::Result::error ? "error"
                                                        : "skipped";
    if (c.result != Case::Result::pass) {
        os << "      <" << tag << " message=\"" << xml_escape(c.message) << "\"";
        if (!c.type.empty()) os << " type=\"" << xml_escape(c.type) << "\"";
        if (c.result == Case::Result::skipped)
            os << "/>\n";
        else
            os << ">" << xml_escape(c.message + (c.detail.empty() ? "" : "\n" + c.detail)) << "</" << tag << ">\n";
    }
    if (!c.detail.empty() && c.result == Case::Result::pass)
        os << "      <system-out>" << xml_escape(c.detail) << "</system-out>\n";
    os << "    </testcase>\n";
}

// The document: totals on <testsuites> and <testsuite>, the run's properties, the cases, and
// the text report as the suite's output.
std::string write_suites(const RunView& v, const std::string& plan, const std::vector<Case>& cases) {
    size_t failures = 0, errors = 0, skipped = 0;
    double total = 0;
    for (auto& c : cases) {
        failures += c.result == Case::Result::failure;
        errors += c.result == Case::Result::error;
        skipped += c.result == Case::Result::skipped;
    }
    total = v.end_ms / 1000;
    std::string ts = v.started.substr(0, 19);  // xs:dateTime without fraction and zone
    std::ostringstream os;
    os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    os << "<testsuites name=\"injector\" tests=\"" << cases.size() << "\" failures=\"" << failures << "\" errors=\""
       << errors << "\" skipped=\"" << skipped << "\" time=\"" << secs(total) << "\">\n";
    os << "  <testsuite name=\"" << xml_escape(plan) << "\" tests=\"" << cases.size() << "\" failures=\"" << failures
       << "\" errors=\"" << errors << "\" skipped=\"" << skipped << "\" time=\"" << secs(total) << "\"";
    if (ts.size() == 19) os << " timestamp=\"" << xml_escape(ts) << "\"";
    if (v.environment.is_object()) os << " hostname=\"" << xml_escape(v.environment.value("hostname", "")) << "\"";
    os << ">\n    <properties>\n";
    auto prop = [&](const std::string& k, const std::string& val) {
        os << "      <property name=\"" << xml_escape(k) << "\" value=\"" << xml_escape(val) << "\"/>\n";
    };
    prop("run", v.run_id);
    prop("verdict", v.has_verdict ? v.verdict : "none");
    prop("exit_code", std::to_string(v.exit_code));
    prop("reason", v.reason);
    prop("plan_file", v.plan_file);
    if (v.environment.is_object()) prop("kernel", v.environment.value("kernel", ""));
    os << "    </properties>\n";
    for (auto& c : cases) write_case(os, c);
    os << "    <system-out>" << xml_escape(render_text(v)) << "</system-out>\n";
    os << "  </testsuite>\n</testsuites>\n";
    return os.str();
}

}  // namespace

std::string render_junit(const RunView& v) {
    const std::string plan = v.plan_name.empty() ? "plan" : v.plan_name;
    Cases cases(plan);
    run_cases(cases, v);
    expectation_cases(cases, v);
    recovery_cases(cases, v);
    slo_cases(cases, v);
    guard_cases(cases, v);
    fault_cases(cases, v);
    cleanup_case(cases, v);
    return write_suites(v, plan, cases.list());
}

}  // namespace inj::report
