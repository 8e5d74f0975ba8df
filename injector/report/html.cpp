// The HTML report: one self-contained file (inline CSS and SVG, no script, nothing fetched) that
// people who were not at the game day can open anywhere. Its heart is an SVG timeline: fault
// windows shaded on a time axis, each probe's success rate and latency over time, inject, heal and
// abort marks, RTO bars; below it the verdict, expectations, guards, the blast-radius preview,
// cleanup, the environment and every event this version does not know.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "report/render.hpp"

namespace inj::report {
namespace {

// Colours the tests look for in the screenshot: keep in sync with tests/unit/report_html_test.cpp.
constexpr const char* kFault = "#e76f51";      // a fault in force (its lane)
constexpr const char* kFaultBand = "#fbe3dc";  // the same window across every lane
constexpr const char* kHeal = "#2a9d8f";
constexpr const char* kAbort = "#d62828";
constexpr const char* kRate = "#264653";
constexpr const char* kSlo = "#e9a23b";
constexpr const char* kLatency = "#6a4c93";

// Text for HTML/SVG. "://" is written with character references so that no URL appears
// literally in the file (the page loads nothing; plan commands may well mention URLs).
std::string esc(const std::string& s) {
    std::string o;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '&')
            o += "&amp;";
        else if (c == '<')
            o += "&lt;";
        else if (c == '>')
            o += "&gt;";
        else if (c == '"')
            o += "&quot;";
        else if (c == ':' && s.compare(i, 3, "://") == 0) {
            o += "&#58;&#47;&#47;";
            i += 2;
        } else
            o += c;
    }
    return o;
}

std::string f1(double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", x);
    return b;
}

std::string pct(double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f%%", x * 100);
    return b;
}

double nice_step(double span_s) {
    for (double s : {0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0})
        if (span_s / s <= 12) return s;
    return 7200;
}

struct Axis {
    double x0, x1, t_end_ms;
    double x(double ms) const { return x0 + (x1 - x0) * std::clamp(ms / t_end_ms, 0.0, 1.0); }
};

std::string verdict_class(const RunView& v) {
    if (!v.has_verdict) return "unknown";
    if (v.verdict == "held") return "held";
    if (v.verdict == "violated") return "violated";
    return "other";
}

// The rolling success rate the SLO judges: at each sample, over (t - window, t].
std::vector<std::pair<double, double>> rolling_rate(const ProbeView& p) {
    std::vector<std::pair<double, double>> out;
    const double w = p.window_ms();
    size_t lo = 0, ok = 0;
    for (size_t hi = 0; hi < p.samples.size(); ++hi) {
        ok += p.samples[hi].ok;
        while (p.samples[lo].at_ms <= p.samples[hi].at_ms - w) ok -= p.samples[lo++].ok;
        out.emplace_back(p.samples[hi].at_ms, static_cast<double>(ok) / static_cast<double>(hi - lo + 1));
    }
    return out;
}

// One band of the timeline: a fault, the drop counters, or a probe's success rate or latency.
struct Lane {
    std::string kind;
    double y, h;
    const FaultView* f = nullptr;
    const ProbeView* p = nullptr;
};

// Where the timeline puts things: its time axis, its lanes top to bottom, its size.
struct Layout {
    Axis ax;
    double t_end, W, H, label_w, top, bottom;  // bottom: the lower edge of the last lane
    std::vector<Lane> lanes;
};

Layout layout_timeline(const RunView& v) {
    double t_end = std::max(v.end_ms, 1000.0);
    for (auto& f : v.faults) {
        if (f.planned_at_ms) t_end = std::max(t_end, *f.planned_at_ms + f.planned_duration_ms.value_or(0));
        if (f.healed_at_ms) t_end = std::max(t_end, *f.healed_at_ms);
    }
    t_end *= 1.03;
    const double W = 1100, label_w = 170, right = 20;
    const double lane_h = 26, probe_h = 70, gap = 10, top = 30;
    Layout lay{Axis{label_w, W - right, t_end}, t_end, W, 0, label_w, top, 0, {}};
    double y = top;
    for (auto& f : v.faults) {
        lay.lanes.push_back({"fault", y, lane_h, &f, nullptr});
        y += lane_h + 4;
    }
    bool any_drops = std::any_of(v.faults.begin(), v.faults.end(), [](auto& f) { return !f.drops.empty(); });
    if (any_drops) {
        lay.lanes.push_back({"drops", y + gap / 2, 40});
        y += 40 + gap;
    }
    for (auto& p : v.probes) {
        y += gap;
        lay.lanes.push_back({"rate", y, probe_h, nullptr, &p});
        y += probe_h + 6;
        lay.lanes.push_back({"latency", y, probe_h, nullptr, &p});
        y += probe_h;
    }
    lay.bottom = y;
    lay.H = y + 40 + 12.0 * static_cast<double>(v.faults.size());
    return lay;
}

// The svg element, the fault windows shaded across every lane (under everything else) and the
// time axis.
void timeline_frame(std::ostringstream& os, const RunView& v, const Layout& lay) {
    const double W = lay.W, H = lay.H, top = lay.top, y = lay.bottom;
    const Axis& ax = lay.ax;
    os << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"" << W << "\" height=\"" << H
       << "\" viewBox=\"0 0 " << W << " " << H << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
    os << "<rect x=\"0\" y=\"0\" width=\"" << W << "\" height=\"" << H << "\" fill=\"#ffffff\"/>\n";
    for (auto& f : v.faults)
        if (f.injected_at_ms) {
            double a = ax.x(*f.injected_at_ms), b = ax.x(f.healed_at_ms.value_or(v.end_ms));
            os << "<rect class=\"fault-band\" x=\"" << f1(a) << "\" y=\"" << top << "\" width=\""
               << f1(std::max(b - a, 1.0)) << "\" height=\"" << f1(y - top) << "\" fill=\"" << kFaultBand << "\"/>\n";
        }
    // Time axis: grid lines and labels.
    double step = nice_step(lay.t_end / 1000) * 1000;
    for (double t = 0; t <= lay.t_end; t += step) {
        double x = ax.x(t);
        os << "<line x1=\"" << f1(x) << "\" y1=\"" << top - 6 << "\" x2=\"" << f1(x) << "\" y2=\"" << f1(y)
           << "\" stroke=\"#dddddd\" stroke-width=\"1\"/>\n";
        os << "<text x=\"" << f1(x) << "\" y=\"" << top - 10 << "\" text-anchor=\"middle\" fill=\"#555\">T+"
           << (step < 1000 ? f1(t / 1000) : std::to_string(static_cast<long>(std::lround(t / 1000)))) << "s</text>\n";
    }
    os << "<line x1=\"" << ax.x0 << "\" y1=\"" << f1(y) << "\" x2=\"" << ax.x1 << "\" y2=\"" << f1(y)
       << "\" stroke=\"#888\"/>\n";
}

// A lane's name on the left and, but for fault lanes, its box.
void lane_label(std::ostringstream& os, const Lane& l, const Layout& lay) {
    const Axis& ax = lay.ax;
    std::string label;
    if (l.kind == "fault")
        label = l.f->name + " (" + l.f->kind + ")";
    else if (l.kind == "drops")
        label = "packets dropped";
    else if (l.kind == "rate")
        label = l.p->name + " success";
    else
        label = l.p->name + " latency";
    os << "<text x=\"" << lay.label_w - 8 << "\" y=\"" << f1(l.y + l.h / 2 + 4)
       << "\" text-anchor=\"end\" fill=\"#222\">" << esc(label.size() > 28 ? label.substr(0, 27) + "..." : label)
       << "</text>\n";
    if (l.kind != "fault")
        os << "<rect x=\"" << ax.x0 << "\" y=\"" << f1(l.y) << "\" width=\"" << f1(ax.x1 - ax.x0) << "\" height=\""
           << f1(l.h) << "\" fill=\"none\" stroke=\"#cccccc\"/>\n";
}

// RTO: from power back (the heal) to each service ready again.
void rto_bars(std::ostringstream& os, const FaultView& f, const Lane& l, const Axis& ax) {
    double ry = l.y + l.h - 6;
    for (auto& r : f.recoveries) {
        if (!f.healed_at_ms) break;
        double a = ax.x(*f.healed_at_ms), b = ax.x(*f.healed_at_ms + r.value("rto_ms", 0.0));
        bool ready = r.value("ready", false);
        os << "<rect class=\"rto\" x=\"" << f1(a) << "\" y=\"" << f1(ry) << "\" width=\"" << f1(std::max(b - a, 3.0))
           << "\" height=\"5\" fill=\"" << (ready ? kHeal : kAbort) << "\"><title>RTO "
           << esc(r.value("service", "") + "@" + r.value("host", "")) << " "
           << esc(ready ? fmt_ms(r.value("rto_ms", 0.0)) : std::string("not ready")) << "</title></rect>\n";
        os << "<text x=\"" << f1(std::max(b, a + 3) + 4) << "\" y=\"" << f1(ry + 5) << "\" fill=\"" << kHeal
           << "\" font-size=\"10\">RTO " << esc(r.value("service", "")) << "@" << esc(r.value("host", "")) << " "
           << esc(ready ? fmt_ms(r.value("rto_ms", 0.0)) : std::string("NOT READY")) << "</text>\n";
        ry -= 7;
    }
}

// A fault's lane: its planned window (dashed), the time it was in force, its RTO bars.
void fault_lane(std::ostringstream& os, const RunView& v, const Lane& l, const Axis& ax) {
    auto& f = *l.f;
    if (f.planned_at_ms) {
        double a = ax.x(*f.planned_at_ms), b = ax.x(*f.planned_at_ms + f.planned_duration_ms.value_or(0));
        os << "<rect class=\"planned\" x=\"" << f1(a) << "\" y=\"" << f1(l.y + 1) << "\" width=\""
           << f1(std::max(b - a, 1.0)) << "\" height=\"" << f1(l.h - 2)
           << "\" fill=\"none\" stroke=\"#9a3412\" stroke-dasharray=\"4 3\"><title>planned "
           << esc(fmt_t(*f.planned_at_ms)) << " for " << esc(fmt_ms(f.planned_duration_ms.value_or(0)))
           << "</title></rect>\n";
    }
    if (f.injected_at_ms) {
        double a = ax.x(*f.injected_at_ms), b = ax.x(f.healed_at_ms.value_or(v.end_ms));
        os << "<rect class=\"fault\" x=\"" << f1(a) << "\" y=\"" << f1(l.y + 4) << "\" width=\""
           << f1(std::max(b - a, 2.0)) << "\" height=\"" << f1(l.h - 8) << "\" fill=\"" << kFault << "\"><title>"
           << esc(f.name) << " in force " << esc(fmt_t(*f.injected_at_ms)) << ".."
           << esc(f.healed_at_ms ? fmt_t(*f.healed_at_ms) : std::string("end")) << "</title></rect>\n";
        os << "<text x=\"" << f1(a + 4) << "\" y=\"" << f1(l.y + l.h / 2 + 4) << "\" fill=\"#ffffff\">"
           << esc(f.target.empty() ? f.kind : f.target) << "</text>\n";
    }
    rto_bars(os, f, l, ax);
}

// Packets dropped so far, one line per fault that counts them, on a shared scale.
void drops_lane(std::ostringstream& os, const RunView& v, const Lane& l, const Axis& ax) {
    uint64_t maxd = 1;
    for (auto& f : v.faults)
        for (auto& d : f.drops) maxd = std::max(maxd, d.second);
    const char* colours[] = {kFault, "#8d5524", "#b5179e", "#3a86ff"};
    size_t ci = 0;
    for (auto& f : v.faults) {
        if (f.drops.empty()) continue;
        os << "<polyline fill=\"none\" stroke=\"" << colours[ci++ % 4] << "\" stroke-width=\"1.5\" points=\"";
        for (auto& d : f.drops)
            os << f1(ax.x(d.first)) << "," << f1(l.y + l.h - l.h * double(d.second) / double(maxd)) << " ";
        os << "\"><title>" << esc(f.name) << " dropped</title></polyline>\n";
    }
    os << "<text x=\"" << ax.x1 - 4 << "\" y=\"" << f1(l.y + 11) << "\" text-anchor=\"end\" fill=\"#777\">" << maxd
       << "</text>\n";
}

// Where the SLO broke (the first violation the verdict names), on the curve: the rolling rate
// at the sample that broke it.
template <class Y>
void slo_broken_mark(std::ostringstream& os, const ProbeView& p, const Lane& l, const Axis& ax,
                     const std::vector<std::pair<double, double>>& pts, Y yv) {
    double at = p.result["violated_at_ms"].get<double>();
    double x = ax.x(at), cy = l.y + l.h / 2;
    double best = 1e18;
    for (auto& [t, r] : pts)
        if (std::fabs(t - at) < best) best = std::fabs(t - at), cy = yv(r);
    os << "<circle class=\"slo-broken\" cx=\"" << f1(x) << "\" cy=\"" << f1(cy) << "\" r=\"5\" fill=\"" << kAbort
       << "\"><title>" << esc(p.result.value("violation", "")) << "</title></circle>\n";
    os << "<text x=\"" << f1(x + 8) << "\" y=\"" << f1(cy - 6) << "\" fill=\"" << kAbort
       << "\" font-weight=\"bold\">SLO broken " << esc(fmt_t(at)) << "</text>\n";
}

// A probe's success rate over its SLO window, the SLO bound, each failed attempt.
void rate_lane(std::ostringstream& os, const ProbeView& p, const Lane& l, const Axis& ax) {
    auto yv = [&](double r) { return l.y + l.h - r * (l.h - 4) - 2; };
    if (auto slo = p.slo_rate())
        os << "<line class=\"slo\" x1=\"" << ax.x0 << "\" y1=\"" << f1(yv(*slo)) << "\" x2=\"" << ax.x1 << "\" y2=\""
           << f1(yv(*slo)) << "\" stroke=\"" << kSlo << "\" stroke-dasharray=\"6 3\"><title>SLO success rate " << *slo
           << "</title></line>\n";
    auto pts = rolling_rate(p);
    if (!pts.empty()) {
        os << "<polyline class=\"rate\" fill=\"none\" stroke=\"" << kRate << "\" stroke-width=\"2\" points=\"";
        for (auto& [t, r] : pts) os << f1(ax.x(t)) << "," << f1(yv(r)) << " ";
        os << "\"/>\n";
    }
    for (auto& s : p.samples)
        if (!s.ok)
            os << "<line class=\"failed\" x1=\"" << f1(ax.x(s.at_ms)) << "\" y1=\"" << f1(l.y + l.h - 8) << "\" x2=\""
               << f1(ax.x(s.at_ms)) << "\" y2=\"" << f1(l.y + l.h) << "\" stroke=\"" << kAbort
               << "\" stroke-width=\"2\"><title>" << esc(fmt_t(s.at_ms) + " failed: " + s.detail)
               << "</title></line>\n";
    if (p.result.is_object() && !p.result.value("held", true) && p.result.contains("violated_at_ms"))
        slo_broken_mark(os, p, l, ax, pts, yv);
    os << "<text x=\"" << ax.x0 + 4 << "\" y=\"" << f1(l.y + 11) << "\" fill=\"#777\">100%</text>\n";
    os << "<text x=\"" << ax.x0 + 4 << "\" y=\"" << f1(l.y + l.h - 3) << "\" fill=\"#777\">0%</text>\n";
}

// A probe's latency of successful attempts, with the SLO's bound if it has one.
void latency_lane(std::ostringstream& os, const ProbeView& p, const Lane& l, const Axis& ax) {
    double maxl = 1;
    for (auto& s : p.samples)
        if (s.ok) maxl = std::max(maxl, s.latency_ms);
    std::optional<double> bound;
    if (p.spec.is_object() && p.spec.contains("slo") && p.spec["slo"].contains("max_latency_ms"))
        bound = p.spec["slo"]["max_latency_ms"].get<double>();
    if (bound) maxl = std::max(maxl, *bound);
    maxl *= 1.1;
    auto yv = [&](double ms) { return l.y + l.h - ms / maxl * (l.h - 4) - 2; };
    if (bound)
        os << "<line x1=\"" << ax.x0 << "\" y1=\"" << f1(yv(*bound)) << "\" x2=\"" << ax.x1 << "\" y2=\""
           << f1(yv(*bound)) << "\" stroke=\"" << kSlo << "\" stroke-dasharray=\"6 3\"/>\n";
    // One line per run of successful attempts: a failure breaks it (no latency to draw).
    bool open = false;
    for (auto& s : p.samples) {
        if (!s.ok) {
            if (open) os << "\"/>\n";
            open = false;
            continue;
        }
        if (!open)
            os << "<polyline class=\"latency\" fill=\"none\" stroke=\"" << kLatency
               << "\" stroke-width=\"1.5\" points=\"";
        open = true;
        os << f1(ax.x(s.at_ms)) << "," << f1(yv(s.latency_ms)) << " ";
    }
    if (open) os << "\"/>\n";
    os << "<text x=\"" << ax.x0 + 4 << "\" y=\"" << f1(l.y + 11) << "\" fill=\"#777\">" << esc(fmt_ms(maxl))
       << "</text>\n";
}

// Marks across the lanes: inject and heal of each fault, and the abort.
void timeline_marks(std::ostringstream& os, const RunView& v, const Layout& lay) {
    const double top = lay.top, y = lay.bottom;
    double last_label_x = -1e9;
    int stack = 0;
    for (auto& f : v.faults) {
        if (f.injected_at_ms) {
            double x = lay.ax.x(*f.injected_at_ms);
            os << "<line class=\"inject-mark\" x1=\"" << f1(x) << "\" y1=\"" << top << "\" x2=\"" << f1(x) << "\" y2=\""
               << f1(y) << "\" stroke=\"" << kFault << "\" stroke-dasharray=\"3 3\"/>\n";
        }
        if (f.healed_at_ms) {
            double x = lay.ax.x(*f.healed_at_ms);
            os << "<line class=\"heal-mark\" x1=\"" << f1(x) << "\" y1=\"" << top << "\" x2=\"" << f1(x) << "\" y2=\""
               << f1(y) << "\" stroke=\"" << kHeal << "\" stroke-width=\"2\"/>\n";
            // Heals close together get stacked labels instead of overprinted ones.
            stack = x - last_label_x < 160 ? stack + 1 : 0;
            last_label_x = x;
            os << "<text x=\"" << f1(x + 3) << "\" y=\"" << f1(y + 14 + 12 * stack) << "\" fill=\"" << kHeal
               << "\">heal " << esc(f.name) << " " << esc(fmt_t(*f.healed_at_ms)) << "</text>\n";
        }
    }
    if (v.abort) {
        double x = lay.ax.x(v.abort->at_ms);
        os << "<line class=\"abort-mark\" x1=\"" << f1(x) << "\" y1=\"" << top - 4 << "\" x2=\"" << f1(x) << "\" y2=\""
           << f1(y) << "\" stroke=\"" << kAbort << "\" stroke-width=\"3\"/>\n";
        const bool near_end = x > lay.W - 260;
        os << "<text x=\"" << f1(near_end ? x - 4 : x + 4) << "\" y=\""
           << f1(y + 26 + 12.0 * static_cast<double>(v.faults.size())) << "\" text-anchor=\""
           << (near_end ? "end" : "start") << "\" fill=\"" << kAbort << "\" font-weight=\"bold\">ABORT "
           << esc(v.abort->guard) << " " << esc(fmt_t(v.abort->at_ms)) << "</text>\n";
    }
}

void timeline_svg(std::ostringstream& os, const RunView& v) {
    const Layout lay = layout_timeline(v);
    timeline_frame(os, v, lay);
    for (auto& l : lay.lanes) {
        lane_label(os, l, lay);
        if (l.kind == "fault")
            fault_lane(os, v, l, lay.ax);
        else if (l.kind == "drops")
            drops_lane(os, v, l, lay.ax);
        else if (l.kind == "rate")
            rate_lane(os, *l.p, l, lay.ax);
        else
            latency_lane(os, *l.p, l, lay.ax);
    }
    timeline_marks(os, v, lay);
    os << "</svg>\n";
}

// The blast-radius preview: per moment, every host as a box in its zone, cut-off hosts filled.
void blast_svg(std::ostringstream& os, const RunView& v) {
    if (!v.preflight.is_object() || !v.preflight.contains("moments") || !v.plan.is_object()) return;
    auto& moments = v.preflight["moments"];
    if (moments.empty()) return;
    std::vector<std::pair<std::string, std::vector<std::string>>> zones;
    if (v.plan.contains("topology")) {
        for (auto& z : v.plan["topology"].value("zones", nlohmann::json::array()))
            zones.push_back({z.value("name", ""), {}});
        for (auto& h : v.plan["topology"].value("hosts", nlohmann::json::array()))
            for (auto& z : zones)
                if (z.first == h.value("zone", "")) z.second.push_back(h.value("name", ""));
    }
    size_t hosts = 0;
    for (auto& z : zones) hosts += z.second.size();
    // Up to a few dozen hosts each gets a labelled box; beyond that each zone is one bar whose
    // filled part is its share of hosts cut off.
    const bool compact = hosts > 24;
    const double box_w = 64, box_h = 22, zone_gap = 18, row_h = 60, bar_w = 120;
    double width = 190;
    for (auto& z : zones) width += (compact ? bar_w : static_cast<double>(z.second.size()) * (box_w + 4)) + zone_gap;
    width = std::max(width, 400.0);
    double height = 20 + row_h * moments.size();
    os << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"blast\" width=\"" << f1(width) << "\" height=\""
       << f1(height) << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
    double y = 10;
    for (auto& m : moments) {
        std::vector<std::string> cut = m.value("cut_off", std::vector<std::string>{});
        os << "<text x=\"4\" y=\"" << f1(y + 26) << "\" fill=\"#222\">" << esc(fmt_t(m.value("from_ms", 0.0))) << ".."
           << esc(fmt_t(m.value("to_ms", 0.0))) << "</text>\n";
        os << "<text x=\"4\" y=\"" << f1(y + 40) << "\" fill=\"#777\">" << cut.size() << "/"
           << m.value("hosts_total", 0) << " hosts cut off</text>\n";
        double x = 190;
        for (auto& z : zones) {
            os << "<text x=\"" << f1(x) << "\" y=\"" << f1(y + 8) << "\" fill=\"#555\">zone " << esc(z.first)
               << "</text>\n";
            if (compact) {
                size_t n = 0;
                for (auto& h : z.second) n += std::find(cut.begin(), cut.end(), h) != cut.end();
                double share = z.second.empty() ? 0 : double(n) / double(z.second.size());
                os << "<rect x=\"" << f1(x) << "\" y=\"" << f1(y + 14) << "\" width=\"" << bar_w << "\" height=\""
                   << box_h << "\" fill=\"#e9f5f2\" stroke=\"#888\"/>\n";
                if (n)
                    os << "<rect x=\"" << f1(x) << "\" y=\"" << f1(y + 14) << "\" width=\"" << f1(bar_w * share)
                       << "\" height=\"" << box_h << "\" fill=\"" << kFault << "\"/>\n";
                os << "<text x=\"" << f1(x + bar_w / 2) << "\" y=\"" << f1(y + 29)
                   << "\" text-anchor=\"middle\" fill=\"#222\">" << n << "/" << z.second.size() << " cut off</text>\n";
                x += bar_w + zone_gap;
                continue;
            }
            for (auto& h : z.second) {
                bool c = std::find(cut.begin(), cut.end(), h) != cut.end();
                os << "<rect x=\"" << f1(x) << "\" y=\"" << f1(y + 14) << "\" width=\"" << box_w << "\" height=\""
                   << box_h << "\" rx=\"3\" fill=\"" << (c ? kFault : "#e9f5f2") << "\" stroke=\"#888\"/>\n";
                os << "<text x=\"" << f1(x + box_w / 2) << "\" y=\"" << f1(y + 29)
                   << "\" text-anchor=\"middle\" fill=\"" << (c ? "#fff" : "#222") << "\">" << esc(h) << "</text>\n";
                x += box_w + 4;
            }
            x += zone_gap;
        }
        y += row_h;
    }
    os << "</svg>\n";
}

void kv_table(std::ostringstream& os, const nlohmann::json& j) {
    os << "<table class=\"kv\">";
    for (auto& [k, val] : j.items()) os << "<tr><th>" << esc(k) << "</th><td>" << esc(scalar_text(val)) << "</td></tr>";
    os << "</table>\n";
}

// The head with its style sheet, then the plan, its verdict and why, the run and the machine.
void page_head(std::ostringstream& os, const RunView& v) {
    const std::string title = "injector report: " + v.plan_name + " " + v.run_id;
    os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << esc(title)
       << "</title>\n";
    os << R"(<style>
body { font-family: sans-serif; margin: 16px 24px; color: #222; max-width: 1160px; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
h2 { font-size: 16px; margin: 22px 0 6px 0; border-bottom: 1px solid #ddd; }
.verdict { display: inline-block; padding: 3px 10px; border-radius: 4px; color: #fff; font-weight: bold; }
.verdict.held { background: #2a9d8f; } .verdict.violated { background: #d62828; }
.verdict.other { background: #e9a23b; } .verdict.unknown { background: #777; }
.reason { margin: 6px 0; } .meta { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.bad { color: #d62828; font-weight: bold; } td.good { color: #2a7d6f; }
table.kv th { width: 160px; } pre { font-size: 12px; background: #f8f8f8; padding: 8px; overflow-x: auto; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.sw { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: middle; }
</style>
</head>
<body>
)";
    os << "<h1>" << esc(v.plan_name) << " <span class=\"verdict " << verdict_class(v) << "\">"
       << esc(v.has_verdict ? v.verdict : "no verdict") << "</span>";
    if (v.has_verdict) os << " <span class=\"meta\">exit " << v.exit_code << "</span>";
    os << "</h1>\n";
    os << "<div class=\"reason\">"
       << esc(v.reason.empty() ? "the journal ends without a verdict (interrupted run)" : v.reason) << "</div>\n";
    os << "<div class=\"meta\">run " << esc(v.run_id) << " &middot; " << esc(v.started) << " .. " << esc(v.finished);
    if (v.environment.is_object())
        os << " &middot; " << esc(v.environment.value("hostname", "")) << " (" << esc(v.environment.value("kernel", ""))
           << ")";
    os << "</div>\n";
    if (!v.description.empty()) os << "<p>" << esc(v.description) << "</p>\n";
}

// The legend, then the timeline itself.
void timeline_section(std::ostringstream& os, const RunView& v) {
    if (v.timeline_started || !v.faults.empty()) {
        os << "<h2>Timeline</h2>\n<div class=\"legend\">"
           << "<span><i class=\"sw\" style=\"background:" << kFault << "\"></i>fault in force</span>"
           << "<span><i class=\"sw\" style=\"border:1px dashed #9a3412\"></i>planned window</span>"
           << "<span><i class=\"sw\" style=\"background:" << kHeal << "\"></i>heal / RTO</span>"
           << "<span><i class=\"sw\" style=\"background:" << kAbort << "\"></i>abort / failed attempt</span>"
           << "<span><i class=\"sw\" style=\"background:" << kRate << "\"></i>success rate over the SLO window</span>"
           << "<span><i class=\"sw\" style=\"background:" << kSlo << "\"></i>SLO bound</span>"
           << "<span><i class=\"sw\" style=\"background:" << kLatency << "\"></i>latency</span></div>\n";
        timeline_svg(os, v);
    }
}

// Why the plan was not applied.
void refusals_section(std::ostringstream& os, const RunView& v) {
    if (!v.refusals.empty()) {
        os << "<h2>Refused</h2>\n<ul>";
        for (auto& r : v.refusals) {
            os << "<li>" << esc(r.value("reason", "")) << "</li>";
        }
        os << "</ul>\n";
    }
}

// RTO / RPO expectations, met or not, with what was measured.
void expectations_table(std::ostringstream& os, const RunView& v) {
    if (!v.expectations.empty()) {
        os << "<h2>Expectations (RTO / RPO)</h2>\n<table><tr><th>expectation</th><th>result</th><th>details</th></tr>";
        for (auto& e : v.expectations) {
            bool ok = e.value("ok", false);
            os << "<tr><td>" << esc(e.value("name", "?")) << "</td><td class=\""
               << (ok ? "good\">met" : "bad\">NOT MET") << "</td><td>";
            for (auto& [k, val] : e.items())
                if (k != "name" && k != "ok" && k != "event") os << esc(k) << ": " << esc(scalar_text(val)) << "<br>";
            os << "</td></tr>";
        }
        os << "</table>\n";
    }
}

// Each fault: what, where, planned and actual windows, cost, drops, recovery.
void faults_table(std::ostringstream& os, const RunView& v) {
    if (!v.faults.empty()) {
        os << "<h2>Faults</h2>\n<table><tr><th>fault</th><th>kind</th><th>target</th><th>parameters</th><th>planned</"
              "th>"
              "<th>in force</th><th>dropped</th><th>recovery (RTO)</th></tr>";
        for (auto& f : v.faults) {
            os << "<tr><td>" << esc(f.name) << "</td><td>" << esc(f.kind) << "</td><td>" << esc(f.target);
            if (!f.peer.empty()) os << "<br>peer: " << esc(f.peer);
            os << "</td><td>";
            for (auto& [k, val] : f.params.items()) os << esc(k) << ": " << esc(scalar_text(val)) << "<br>";
            os << "</td><td>";
            if (f.planned_at_ms)
                os << esc(fmt_t(*f.planned_at_ms)) << " for " << esc(fmt_ms(f.planned_duration_ms.value_or(0)));
            os << "</td><td" << (f.error.empty() ? "" : " class=\"bad\"") << ">";
            if (f.injected_at_ms)
                os << esc(fmt_t(*f.injected_at_ms)) << " .. " << esc(f.healed_at_ms ? fmt_t(*f.healed_at_ms) : "?")
                   << "<br>inject " << esc(fmt_ms(f.inject_cost_us / 1000)) << ", heal "
                   << esc(fmt_ms(f.heal_cost_us / 1000))
                   << (f.lead_ms > 0 ? "<br>asked " + esc(fmt_ms(f.lead_ms)) + " ahead (fleet activation lead)" : "");
            else
                os << "not injected";
            if (!f.error.empty()) os << "<br>" << esc(f.error);
            os << "</td><td>" << f.dropped << "</td><td>";
            for (auto& r : f.recoveries)
                os << esc(r.value("service", "") + "@" + r.value("host", "")) << ": "
                   << esc(r.value("ready", false) ? fmt_ms(r.value("rto_ms", 0.0))
                                                  : "NOT READY " + r.value("error", ""))
                   << "<br>";
            os << "</td></tr>";
        }
        os << "</table>\n";
    }
}

// Each probe against its SLO.
void probes_table(std::ostringstream& os, const RunView& v) {
    if (!v.probes.empty()) {
        os << "<h2>Steady state (probes and "
              "SLOs)</h2>\n<table><tr><th>probe</th><th>SLO</th><th>attempts</th><th>ok</th>"
              "<th>p50</th><th>p99</th><th>worst window</th><th>result</th></tr>";
        for (auto& p : v.probes) {
            size_t ok = 0;
            for (auto& s : p.samples) ok += s.ok;
            os << "<tr><td>" << esc(p.name) << "</td><td>";
            if (auto r = p.slo_rate()) os << "success &ge; " << *r << " over " << esc(fmt_ms(p.window_ms()));
            if (p.spec.is_object() && p.spec.contains("slo") && p.spec["slo"].contains("max_latency_ms"))
                os << "<br>latency &le; " << esc(fmt_ms(p.spec["slo"]["max_latency_ms"].get<double>()));
            os << "</td><td>" << p.samples.size() << "</td><td>"
               << (p.samples.empty() ? std::string("-") : pct(double(ok) / double(p.samples.size()))) << "</td>";
            if (p.result.is_object()) {
                bool held = p.result.value("held", true);
                os << "<td>" << esc(fmt_ms(p.result.value("p50_ms", 0.0))) << "</td><td>"
                   << esc(fmt_ms(p.result.value("p99_ms", 0.0))) << "</td><td>"
                   << f1(p.result.value("worst_rate", 1.0) * 100) << "%</td><td class=\""
                   << (held ? "good\">held" : "bad\">BROKEN at ");
                if (!held)
                    os << esc(fmt_t(p.result.value("violated_at_ms", 0.0))) << ": "
                       << esc(p.result.value("violation", ""));
                os << "</td>";
            } else {
                os << "<td></td><td></td><td></td><td>not judged</td>";
            }
            os << "</tr>";
        }
        os << "</table>\n";
    }
}

// Each guard, quiet or the one that stopped the run.
void guards_table(std::ostringstream& os, const RunView& v) {
    if (!v.guards.empty()) {
        os << "<h2>Guards</h2>\n<table><tr><th>guard</th><th>watches</th><th>decision</th></tr>";
        for (auto& g : v.guards)
            os << "<tr><td>" << esc(g.name) << "</td><td>" << esc(g.watches) << "</td><td class=\""
               << (g.tripped ? "bad\">stopped the run at " + esc(fmt_t(g.at_ms)) + ": " + esc(g.reason)
                             : "good\">quiet")
               << "</td></tr>";
        os << "</table>\n";
    }
}

// The blast radius the preflight previewed, drawn and as a table.
void preflight_section(std::ostringstream& os, const RunView& v) {
    if (v.preflight.is_object() && v.preflight.contains("moments")) {
        os << "<h2>Blast radius (preflight preview)</h2>\n";
        blast_svg(os, v);
        os << "<table><tr><th>moment</th><th>faults</th><th>cut off</th><th>zones</th><th>power "
              "domains</th><th>bounds</th></tr>";
        for (auto& m : v.preflight["moments"]) {
            auto list = [&](const char* k) {
                std::string s;
                for (auto& x : m.value(k, nlohmann::json::array())) s += (s.empty() ? "" : ", ") + scalar_text(x);
                return s.empty() ? std::string("none") : s;
            };
            os << "<tr><td>" << esc(fmt_t(m.value("from_ms", 0.0)) + ".." + fmt_t(m.value("to_ms", 0.0))) << "</td><td>"
               << esc(list("faults")) << "</td><td>" << m.value("cut_off", nlohmann::json::array()).size() << "/"
               << m.value("hosts_total", 0) << ": " << esc(list("cut_off")) << "</td><td>" << esc(list("zones"))
               << "</td><td>" << esc(list("power_domains")) << "</td><td>";
            for (auto& b : m.value("bounds", nlohmann::json::array()))
                os << esc(b.value("bound", "") + " " + b.value("limit", "") + ": " + b.value("measured", "")) << " "
                   << (b.value("exceeded", false) ? "EXCEEDS" : "ok") << "<br>";
            os << "</td></tr>";
        }
        os << "</table>\n";
    }
}

// Setup and cleanup events, and whether cleanup left anything behind.
void setup_cleanup_section(std::ostringstream& os, const RunView& v) {
    os << "<h2>Setup and cleanup</h2>\n<table><tr><th>event</th><th>details</th></tr>";
    for (auto* list : {&v.setup, &v.cleanup})
        for (auto& e : *list) {
            bool bad = e.contains("ok") && e["ok"].is_boolean() && !e["ok"].get<bool>();
            os << "<tr><td" << (bad ? " class=\"bad\"" : "") << ">" << esc(e.value("event", "")) << "</td><td>";
            for (auto& [k, val] : e.items())
                if (k != "event") os << esc(k) << "=" << esc(scalar_text(val)) << " ";
            os << "</td></tr>";
        }
    os << "</table>\n";
    auto problems = v.cleanup_problems();
    os << "<p>"
       << (problems.empty() && v.verdict != "cleanup_failed"
               ? std::string("Cleanup reported no error.")
               : "<b>Cleanup problems</b> (run <code>injector recover</code>): " + esc(v.reason))
       << "</p>\n";
}

// Events this version does not know, as journaled.
void other_events_table(std::ostringstream& os, const RunView& v) {
    if (!v.other.empty()) {
        os << "<h2>Other events</h2>\n<p class=\"meta\">Events this version of the report does not know, as "
              "journaled.</p>"
              "<table><tr><th>T+</th><th>event</th><th>fields</th></tr>";
        for (auto& e : v.other) {
            os << "<tr><td>" << esc(fmt_t(v.at_ms(e))) << "</td><td>" << esc(e.value("event", "")) << "</td><td>";
            for (auto& [k, val] : e.items())
                if (k != "event" && k != "mono_ns") os << esc(k) << "=" << esc(scalar_text(val)) << " ";
            os << "</td></tr>";
        }
        os << "</table>\n";
    }
}

// The machine the run was on and the plan as written.
void environment_and_plan(std::ostringstream& os, const RunView& v) {
    if (v.environment.is_object()) {
        os << "<h2>Environment</h2>\n";
        kv_table(os, v.environment);
    }
    if (v.plan.is_object()) {
        os << "<h2>Plan</h2>\n<p class=\"meta\">" << esc(v.plan_file) << "</p>\n<details><summary>the plan as written "
           << "(JSON)</summary><pre>"
           << esc(v.plan.value("source", nlohmann::json())
                      .dump(2, ' ', false, nlohmann::json::error_handler_t::replace))
           << "</pre></details>\n";
    }
}

}  // namespace

std::string render_html(const RunView& v) {
    std::ostringstream os;
    page_head(os, v);
    timeline_section(os, v);
    refusals_section(os, v);
    expectations_table(os, v);
    faults_table(os, v);
    probes_table(os, v);
    guards_table(os, v);
    preflight_section(os, v);
    setup_cleanup_section(os, v);
    other_events_table(os, v);
    environment_and_plan(os, v);
    os << "<p class=\"meta\">" << v.events
       << " journal events. Regenerate with <code>injector report JOURNAL --format "
          "html</code>.</p>\n</body>\n</html>\n";
    return os.str();
}

}  // namespace inj::report
