// The metrics endpoint (see metrics.hpp).
#include "report/metrics.hpp"

#include <sstream>

namespace inj::report {
namespace {

const char* kPhases[] = {"starting", "preflight", "lab",          "engines", "steady_before",
                         "timeline", "judging",   "steady_after", "cleanup", "done"};

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const LoopbackHttp::Address& a) {
    std::unique_ptr<MetricsServer> m(new MetricsServer());
    auto* raw = m.get();
    auto http = LoopbackHttp::start(a, [raw] { return raw->render(); });
    if (!http) return http.error();
    m->http_ = std::move(*http);
    return m;
}

// The server goes first: its thread may be rendering from the members below.
MetricsServer::~MetricsServer() { http_.reset(); }

void MetricsServer::on_event(const nlohmann::json& ev) noexcept {
    try {
        std::lock_guard lk(mu_);
        const std::string type = ev.value("event", "");
        ++events_[type];
        if (type == "run_start") {
            run_ = ev.value("run", "");
            plan_ = ev.value("plan", "");
            phase_ = "preflight";
        } else if (type == "plan") {
            for (auto& f : ev.value("faults", nlohmann::json::array()))
                faults_[f.value("name", "")].kind = f.value("kind", "");
            for (auto& p : ev.value("probes", nlohmann::json::array())) {
                auto& x = probes_[p.value("name", "")];
                if (p.contains("slo")) {
                    x.window_ms = p["slo"].value("window_ms", 10000.0);
                    if (p["slo"].contains("success_rate")) x.slo = p["slo"]["success_rate"].get<double>();
                }
            }
        } else if (type == "lab_up_begin" || type == "lab_reused")
            phase_ = "lab";
        else if (type == "engine_prepared")
            phase_ = "engines";
        else if (type == "steady_before")
            phase_ = "steady_before";
        else if (type == "timeline_start") {
            phase_ = "timeline";
            t0_ = std::chrono::steady_clock::now();
        } else if (type == "inject") {
            auto& f = faults_[ev.value("fault", "")];
            f.kind = ev.value("kind", f.kind);
            f.active = ev.value("ok", false);
        } else if (type == "heal") {
            faults_[ev.value("fault", "")].active = false;
        } else if (type == "heal_all") {
            for (auto& [n, f] : faults_) f.active = false;
            phase_ = "cleanup";
        } else if (type == "counters") {
            for (auto& c : ev.value("counters", nlohmann::json::array())) {
                auto& f = faults_[c.value("fault", "")];
                f.dropped = c.value("dropped", uint64_t{0});
                f.passed = c.value("passed", uint64_t{0});
            }
        } else if (type == "probe") {
            auto& p = probes_[ev.value("probe", "")];
            bool ok = ev.value("ok", false);
            double at = ev.value("at_ms", 0.0);
            ++p.attempts;
            p.failures += !ok;
            p.last_ok = ok;
            p.last_latency_ms = ev.value("latency_ms", 0.0);
            p.recent.emplace_back(at, ok);
            while (!p.recent.empty() && p.recent.front().first <= at - p.window_ms) p.recent.pop_front();
        } else if (type == "slo")
            phase_ = "judging";
        else if (type == "steady_after")
            phase_ = "steady_after";
        else if (type == "engine_released" || type == "lab_down")
            phase_ = "cleanup";
        else if (type == "verdict") {
            phase_ = "done";
            verdict_ = ev.value("verdict", "");
        }
    } catch (...) {}
}

std::string MetricsServer::render() const {
    std::lock_guard lk(mu_);
    std::ostringstream os;
    auto family = [&](const char* name, const char* type, const char* help) { os << prom_family(name, type, help); };
    const std::string run = "run=\"" + prom_label(run_) + "\",plan=\"" + prom_label(plan_) + "\"";
    family("injector_run_info", "gauge", "The run in progress (value 1; its run id and plan are labels).");
    os << "injector_run_info{" << run << "} 1\n";
    family("injector_run_phase", "gauge", "1 for the phase the run is in, 0 for the others.");
    for (auto* ph : kPhases)
        os << "injector_run_phase{" << run << ",phase=\"" << ph << "\"} " << (phase_ == ph) << "\n";
    family("injector_run_elapsed_seconds", "gauge", "Time since the timeline started (T+).");
    os << "injector_run_elapsed_seconds{" << run << "} "
       << prom_num(t0_ ? std::chrono::duration<double>(std::chrono::steady_clock::now() - *t0_).count() : 0.0) << "\n";
    size_t active = 0;
    for (auto& [n, f] : faults_) active += f.active;
    family("injector_faults_active", "gauge", "Faults in force now.");
    os << "injector_faults_active{" << run << "} " << active << "\n";
    family("injector_fault_active", "gauge", "1 while the fault is in force.");
    for (auto& [n, f] : faults_)
        os << "injector_fault_active{" << run << ",fault=\"" << prom_label(n) << "\",kind=\"" << prom_label(f.kind)
           << "\"} " << f.active << "\n";
    family("injector_fault_dropped_packets_total", "counter", "Packets the fault's rule dropped.");
    for (auto& [n, f] : faults_)
        os << "injector_fault_dropped_packets_total{" << run << ",fault=\"" << prom_label(n) << "\"} " << f.dropped
           << "\n";
    family("injector_fault_passed_packets_total", "counter", "Packets the fault's rule judged and let pass.");
    for (auto& [n, f] : faults_)
        os << "injector_fault_passed_packets_total{" << run << ",fault=\"" << prom_label(n) << "\"} " << f.passed
           << "\n";
    family("injector_probe_attempts_total", "counter", "Probe attempts since the timeline started.");
    for (auto& [n, p] : probes_)
        os << "injector_probe_attempts_total{" << run << ",probe=\"" << prom_label(n) << "\"} " << p.attempts << "\n";
    family("injector_probe_failures_total", "counter", "Failed probe attempts.");
    for (auto& [n, p] : probes_)
        os << "injector_probe_failures_total{" << run << ",probe=\"" << prom_label(n) << "\"} " << p.failures << "\n";
    family("injector_probe_success", "gauge", "1 if the probe's last attempt succeeded.");
    for (auto& [n, p] : probes_)
        os << "injector_probe_success{" << run << ",probe=\"" << prom_label(n) << "\"} " << p.last_ok << "\n";
    family("injector_probe_success_rate", "gauge", "Success rate over the probe's SLO window.");
    for (auto& [n, p] : probes_) {
        size_t ok = 0;
        for (auto& r : p.recent) ok += r.second;
        os << "injector_probe_success_rate{" << run << ",probe=\"" << prom_label(n) << "\"} "
           << prom_num(p.recent.empty() ? 1.0 : double(ok) / double(p.recent.size())) << "\n";
    }
    family("injector_probe_slo_success_rate", "gauge", "The success rate the probe's SLO requires.");
    for (auto& [n, p] : probes_)
        if (p.slo)
            os << "injector_probe_slo_success_rate{" << run << ",probe=\"" << prom_label(n) << "\"} "
               << prom_num(*p.slo) << "\n";
    family("injector_probe_latency_seconds", "gauge", "Latency of the probe's last attempt.");
    for (auto& [n, p] : probes_)
        os << "injector_probe_latency_seconds{" << run << ",probe=\"" << prom_label(n) << "\"} "
           << prom_num(p.last_latency_ms / 1000) << "\n";
    family("injector_journal_events_total", "counter", "Journal events written, by type.");
    for (auto& [t, c] : events_)
        os << "injector_journal_events_total{" << run << ",event=\"" << prom_label(t) << "\"} " << c << "\n";
    return os.str();
}

}  // namespace inj::report
