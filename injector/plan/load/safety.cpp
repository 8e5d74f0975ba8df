// The safety, steady_state, verify and expect sections.
#include "plan/limits.hpp"
#include "plan/load/loader.hpp"
#include "plan/probe_http.hpp"
#include "plan/template.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace inj::plan::load {

void Loader::load_safety(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"max_duration", "blast_radius", "protected", "abort_when"});
    plan_.safety.mark = f.key_mark;
    if (auto d = m.require("max_duration", "no run may outlive it"))
        if (auto v = duration(*d, true)) plan_.safety.max_duration = *v;
    if (auto b = m.get("blast_radius")) load_blast_radius(*b);
    if (auto p = m.get("protected"))
        if (auto items = list(*p))
            for (auto& it : *items) load_protected(it);
    if (auto a = m.get("abort_when"))
        if (auto items = list(*a))
            for (auto& it : *items) load_abort_when(it);
}

// blast_radius: { max_hosts: N | "N%", max_zones: N, max_power_domains: N }. Every bound is
// optional; 0 is a valid bound ("no zone may be cut off").
void Loader::load_blast_radius(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"max_hosts", "max_zones", "max_power_domains"});
    BlastRadius& b = plan_.safety.blast_radius;
    b.mark = f.key_mark;
    auto count = [&](const Field& v) -> std::optional<int> {
        auto n = integer(v);
        if (!n) return std::nullopt;
        if (*n < 0 || *n > 1000000) {
            error(v, "expected a count from 0 to 1000000, got " + v.node.Scalar());
            return std::nullopt;
        }
        return static_cast<int>(*n);
    };
    if (auto h = m.get("max_hosts")) {
        std::string text = h->node.IsScalar() ? h->node.Scalar() : "";
        if (!text.empty() && text.back() == '%') {
            // A share of the lab's hosts: "50%".
            std::string num = text.substr(0, text.size() - 1);
            double pct = 0;
            size_t used = 0;
            bool ok = !num.empty();
            try {
                pct = std::stod(num, &used);
            } catch (const std::exception&) {
                ok = false;
            }
            if (!ok || used != num.size() || !(pct >= 0.0 && pct <= 100.0))
                error(*h, "max_hosts '" + text + "' must be a count or a share from 0% to 100%");
            else
                b.max_hosts_share = pct / 100.0;
        } else if (auto n = count(*h)) {
            b.max_hosts = *n;
        }
    }
    if (auto z = m.get("max_zones"))
        if (auto n = count(*z)) b.max_zones = *n;
    if (auto p = m.get("max_power_domains"))
        if (auto n = count(*p)) b.max_power_domains = *n;
}

// protected: one item per entry, each exactly one of { zone | power_domain | host | cidr |
// interface: VALUE }. "control" is accepted as a zone or host name: it is the runner's own
// position, always protected whatever the plan says, and saying so in a plan is harmless.
// A protected cidr may lie outside the lab range: protecting a real prefix is always allowed.
// `interface` entries are for host mode; a lab has no host interfaces (see safety/plan_checks).
void Loader::load_protected(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"zone", "power_domain", "host", "cidr", "interface", "port"});
    static const std::vector<std::pair<const char*, Protected::Kind>> kinds{
        {"zone", Protected::Kind::zone},           {"power_domain", Protected::Kind::power_domain},
        {"host", Protected::Kind::host},           {"cidr", Protected::Kind::cidr},
        {"interface", Protected::Kind::interface}, {"port", Protected::Kind::port}};
    std::vector<std::pair<Field, Protected::Kind>> given;
    for (auto& [key, kind] : kinds)
        if (auto v = m.get(key)) given.emplace_back(*v, kind);
    if (given.size() != 1) {
        error(f.key_mark, f.path,
              "a protected entry needs exactly one of zone, power_domain, host, cidr, interface or port (got " +
                  std::to_string(given.size()) + "); use one item per entry");
        return;
    }
    auto& [v, kind] = given.front();
    Protected p;
    p.kind = kind;
    p.mark = f.mark;
    auto& topo = plan_.topology;
    switch (kind) {
        case Protected::Kind::zone:
        case Protected::Kind::power_domain:
        case Protected::Kind::host: {
            auto n = name(v);
            if (!n) return;
            bool control = *n == "control" && kind != Protected::Kind::power_domain;
            if (kind == Protected::Kind::zone && !control && !topo.zone(*n))
                return error(v, "unknown zone '" + *n + "' (zones: " + join_known(names_of_zones()) + ")");
            if (kind == Protected::Kind::power_domain && !topo.power_domain(*n))
                return error(v, "unknown power domain '" + *n +
                                    "' (power domains: " + join_known(names_of_power_domains()) + ")");
            if (kind == Protected::Kind::host && !control && !topo.host(*n))
                return error(v, "unknown host '" + *n + "' (hosts: " + join_known(names_of_hosts()) + ")");
            p.name = *n;
            break;
        }
        case Protected::Kind::cidr: {
            auto s = str(v);
            if (!s) return;
            std::string why;
            auto c = Cidr::parse(*s, &why);
            if (!c) return error(v, "bad address '" + *s + "': " + why);
            p.cidr = c->network();
            p.name = p.cidr->str();
            break;
        }
        case Protected::Kind::interface: {
            auto s = nonempty_str(v);
            if (!s) return;
            // The kernel's rule for interface names: below IFNAMSIZ, no '/', ':' or whitespace.
            bool ok = s->size() < 16 && *s != "." && *s != ".." && s->find_first_of("/: \t\n") == std::string::npos;
            if (!ok) return error(v, "'" + *s + "' is not an interface name");
            p.name = *s;
            break;
        }
        case Protected::Kind::port: {
            auto n = integer(v);
            if (!n) return;
            if (*n < 1 || *n > 65535) return error(v, "port must be 1..65535, not " + std::to_string(*n));
            p.name = std::to_string(*n);
            break;
        }
    }
    plan_.safety.protected_targets.push_back(std::move(p));
}

// abort_when: [{ probe, success_rate_below | latency_above | failures_in_a_row, for }], exactly
// one condition per item. `for` is the window a rate or latency is judged over; a run of
// consecutive failures has no window, so `for` is refused there.
void Loader::load_abort_when(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"probe", "success_rate_below", "latency_above", "failures_in_a_row", "for"});
    AbortWhen a;
    a.mark = f.mark;
    if (auto p = m.require("probe"))
        if (auto n = name(*p)) {
            a.probe = *n;
            abort_probe_fields_.push_back(*p);
        }
    auto rate = m.get("success_rate_below");
    auto lat = m.get("latency_above");
    auto row = m.get("failures_in_a_row");
    int conditions = rate.has_value() + lat.has_value() + row.has_value();
    if (conditions != 1)
        error(f.key_mark, f.path,
              "an abort_when item needs exactly one of success_rate_below, latency_above or failures_in_a_row"
              " (got " +
                  std::to_string(conditions) + "); use one item per condition");
    if (rate)
        if (auto v = number(*rate)) {
            if (!(*v >= 0.0 && *v <= 1.0))
                error(*rate, "success_rate_below " + rate->node.Scalar() + " is outside [0, 1]");
            else
                a.success_rate_below = *v;
        }
    if (lat)
        if (auto d = duration(*lat, true)) a.latency_above = *d;
    if (row)
        if (auto n = integer(*row)) {
            if (*n < 1 || *n > 1000000)
                error(*row, "failures_in_a_row must be from 1 to 1000000, got " + row->node.Scalar());
            else
                a.failures_in_a_row = static_cast<int>(*n);
        }
    if (auto w = m.get("for")) {
        if (row && conditions == 1)
            error(*w, "'for' does not apply to failures_in_a_row (consecutive failures have no window)");
        else if (auto d = duration(*w, true)) {
            a.window = *d;
            a.window_given = true;
        }
    }
    plan_.safety.abort_when.push_back(std::move(a));
}

// An abort condition on a probe the plan does not run could never trip: refuse it.
void Loader::check_abort_probes() {
    for (auto& f : abort_probe_fields_) {
        const std::string& n = f.node.Scalar();
        bool found = std::any_of(plan_.probes.begin(), plan_.probes.end(), [&](const Probe& p) { return p.name == n; });
        if (found) continue;
        std::vector<std::string> names;
        for (auto& p : plan_.probes) names.push_back(p.name);
        error(f, "unknown probe '" + n + "' (" +
                     (names.empty() ? "the plan has no steady_state probes" : "probes: " + join(names)) + ")");
    }
}

void Loader::load_steady_state(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"probes"});
    size_t first = templates_.size();
    if (auto pf = m.require("probes"))
        if (auto items = list(*pf))
            for (auto& it : *items) load_probe(it);
    check_templates(first);
}

void Loader::load_probe(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"name", "exec", "tcp", "http", "prometheus", "in", "every", "timeout", "slo", "acknowledges"});
    Probe p;
    p.mark = f.mark;
    if (auto n = m.require("name"))
        if (auto v = name(*n)) {
            p.name = *v;
            unique("probe", probe_names_, *v, *n);
        }
    bool in_ok = true;
    if (auto i = m.get("in")) {
        if (auto v = load_in(*i))
            p.in = *v;
        else
            in_ok = false;
    }
    if (auto e = m.get("every"))
        if (auto d = duration(*e, true)) {
            if (*d < limits::kMinProbeEvery)
                error(*e, "a probe runs at most every 10ms (each attempt forks or connects)");
            else
                p.every = *d;
        }
    if (auto t = m.get("timeout"))
        if (auto d = duration(*t, true)) p.timeout = *d;
    if (auto s = m.get("slo")) load_slo(*s, p.slo);

    auto tcp = m.get("tcp");
    auto exec = m.get("exec");
    auto http = m.get("http"), prom = m.get("prometheus");  // plan/probe_http.cpp reads these
    if (tcp.has_value() + exec.has_value() + http.has_value() + prom.has_value() != 1) {
        error(f.key_mark, f.path, "a probe needs exactly one of 'exec', 'tcp', 'http' or 'prometheus'");
    } else if (http || prom) {
        const Field& cf = http ? *http : *prom;
        auto r = load_probe_check(cf.node, http ? "http" : "prometheus", cf.path, cf.mark);
        errors_.insert(errors_.end(), r.errors.begin(), r.errors.end());
        if (r.check)
            p.kind = r.check->kind, p.target = r.check->url, p.http = r.check->http, p.metric = r.check->metric;
        if (r.check && in_ok)
            use_template(Field{cf.node, r.check->url_path, r.check->url_mark, r.check->url_mark}, p.target,
                         p.in != "control", {p.in}, "", probe_template_vars());
    } else {
        const Field& tf = tcp ? *tcp : *exec;
        if (auto text = nonempty_str(tf)) {
            p.kind = tcp ? Probe::Kind::tcp : Probe::Kind::exec;
            p.target = *text;
            if (tcp) check_tcp_target(tf, *text);
            if (in_ok) {
                bool in_host = p.in != "control";
                use_template(tf, *text, in_host, in_host ? std::vector<std::string>{p.in} : std::vector<std::string>{},
                             "", probe_template_vars());
            }
        }
    }
    if (auto a = m.get("acknowledges")) {
        if (!exec) {
            error(a->key_mark, a->path,
                  "only an exec probe acknowledges records (a connect or a request writes nothing)");
        } else if (auto text = nonempty_str(*a)) {
            p.acknowledges = *text;
            if (text->find("{seq}") == std::string::npos)
                error(*a,
                      "'" + *text + "' names the same record on every attempt; include {seq} (e.g. \"drill-{seq}\")");
            if (in_ok) {
                bool in_host = p.in != "control";
                use_template(*a, *text, in_host, in_host ? std::vector<std::string>{p.in} : std::vector<std::string>{},
                             "", probe_template_vars());
            }
        }
    }
    plan_.probes.push_back(std::move(p));
}

void Loader::load_slo(const Field& f, Slo& slo) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"success_rate", "window", "max_latency"});
    if (auto r = m.get("success_rate"))
        if (auto v = number(*r)) {
            if (!(*v >= 0.0 && *v <= 1.0))
                error(*r, "success_rate " + r->node.Scalar() + " is outside [0, 1]");
            else
                slo.success_rate = *v;
        }
    if (auto w = m.get("window"))
        if (auto d = duration(*w, true)) slo.window = *d;
    if (auto l = m.get("max_latency"))
        if (auto d = duration(*l, true)) slo.max_latency = *d;
}

void Loader::load_verify(const Field& f) {
    auto items = list(f);
    if (!items) return;
    std::map<std::string, Mark> names;
    size_t first = templates_.size();
    for (auto& it : *items) {
        MapView m(*this, it);
        if (!m.ok()) continue;
        m.allow({"name", "probe", "exec", "in", "timeout"});
        Verify v;
        v.mark = it.mark;
        if (auto n = m.require("name"))
            if (auto s = name(*n)) {
                v.name = *s;
                unique("verify step", names, *s, *n);
            }
        if (auto pf = m.require("probe", "a verify step reads back what one probe acknowledged"))
            if (auto s = str(*pf)) {
                auto p = std::find_if(plan_.probes.begin(), plan_.probes.end(), [&](auto& x) { return x.name == *s; });
                if (p == plan_.probes.end()) {
                    std::vector<std::string> known;
                    for (auto& x : plan_.probes) known.push_back(x.name);
                    error(*pf, "unknown probe '" + *s + "' (" +
                                   (known.empty() ? "the plan has no steady_state probes" : "probes: " + join(known)) +
                                   ")");
                } else if (!p->acknowledges) {
                    error(*pf,
                          "probe '" + *s + "' acknowledges nothing: give it `acknowledges:` (e.g. \"drill-{seq}\")");
                } else {
                    v.probe = *s;
                }
            }
        bool in_ok = true;
        if (auto i = m.get("in")) {
            if (auto s = load_in(*i))
                v.in = *s;
            else
                in_ok = false;
        }
        if (auto t = m.get("timeout"))
            if (auto d = duration(*t, true)) v.timeout = *d;
        if (auto e = m.require("exec", "the command that reads the records back"))
            if (auto text = nonempty_str(*e)) {
                v.command = *text;
                v.per_record = text->find("{ack}") != std::string::npos;
                if (in_ok) {
                    bool in_host = v.in != "control";
                    use_template(*e, *text, in_host,
                                 in_host ? std::vector<std::string>{v.in} : std::vector<std::string>{}, "",
                                 verify_template_vars());
                }
            }
        plan_.verify.push_back(std::move(v));
    }
    check_templates(first);
}

void Loader::load_expect(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"rto", "rpo"});
    auto& e = plan_.expect;
    e.mark = f.mark;
    if (auto r = m.get("rto")) {
        e.rto_mark = r->mark;
        if (auto d = duration(*r, false)) {
            // An RTO is measured on services a fault took down and brought back at heal.
            bool measurable = false;
            for (auto& fault : plan_.method) {
                auto which = fault.restarts();
                if (!which) continue;
                auto down = selected_hosts(plan_.topology, fault.target);
                for (auto& svc : plan_.lab.services)
                    for (auto& h : svc.hosts)
                        if ((which->empty() || *which == svc.name) &&
                            std::find(down.begin(), down.end(), h) != down.end())
                            measurable = true;
                // A bound host runs one service: its container, or itself.
                for (auto& hn : down)
                    if (const Host* h = plan_.topology.host(hn);
                        h && h->binding.bound() && h->binding.kind != Binding::Kind::local &&
                        (which->empty() || *which == h->binding.service_name(hn)))
                        measurable = true;
            }
            if (!measurable)
                error(*r,
                      "no fault of this plan takes down a lab service and brings it back (power_loss, or "
                      "stop_service with restart), so there is no RTO to measure");
            else
                e.rto = *d;
        }
    }
    if (auto r = m.get("rpo")) {
        e.rpo_mark = r->mark;
        long long n;
        std::string text = r->node.IsScalar() ? r->node.Scalar() : "";
        if (r->node.IsScalar() && YAML::convert<long long>::decode(r->node, n)) {
            if (n < 0)
                error(*r, "rpo " + text + " is negative: it counts acknowledged records that may be lost");
            else
                e.rpo_records = n;
        } else if (auto d = duration(*r, false)) {
            e.rpo_window = *d;
        }
        if (plan_.verify.empty())
            error(*r, "an RPO needs a verify step (`verify:`) that reads back what a probe acknowledged");
    }
}

}  // namespace inj::plan::load
