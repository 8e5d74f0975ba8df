// The plan loader: YAML -> model with every rule of the schema checked (see loader.hpp and
// experiments/zone-sever.yaml for the schema). It runs in phases so that one broken item does
// not hide the problems of the others:
//   1. structure, types, names and references, item by item, in a fixed order (topology, lab,
//      safety, steady_state, method) so that each reference resolves against what came before;
//   2. address overlaps, then address assignment (only when the topology is clean);
//   3. checks that need addresses: templates expanded once per host, target/peer overlap.
// This file holds the phases and the method's common part; each fault kind reads its own keys.
#include "plan/load/loader.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>

#include "faults/registry.hpp"
#include "plan/limits.hpp"
#include "plan/prefix_set.hpp"
#include "plan/template.hpp"
#include "plan/yaml_guard.hpp"

namespace inj::plan {

const std::vector<std::string>& service_template_vars() {
    static const std::vector<std::string> v{"lab"};
    return v;
}
const std::vector<std::string>& probe_template_vars() {
    static const std::vector<std::string> v{"lab", "run", "seq"};
    return v;
}
const std::vector<std::string>& verify_template_vars() {
    static const std::vector<std::string> v{"lab", "run", "ack"};
    return v;
}

}  // namespace inj::plan

namespace inj::plan::load {
namespace {
// What one side of a fault covers. Names point into the topology and the selector, and a prefix's
// description is spelled out only for the message: a zone of a data center is 16,000 hosts, once
// per fault (issue 16).
struct Covered {
    struct What {
        const char* kind;       // "host", "zone" or "cidr" (the prefix itself)
        std::string_view name;  // empty for "cidr"
    };
    std::set<std::string_view> zones, power_domains;
    std::vector<size_t> hosts;                    // indexes into the topology, ascending
    std::vector<std::pair<Cidr, What>> prefixes;  // with what it stands for
};

std::string describe(const Cidr& c, const Covered::What& w) {
    return std::string(w.kind) + " " + (w.name.empty() ? c.str() : std::string(w.name));
}

Covered cover(const Topology& t, const Selector& s) {
    Covered c;
    auto add_host = [&](const Host& h) {
        c.hosts.push_back(static_cast<size_t>(&h - t.hosts.data()));
        for (auto& a : h.addresses) c.prefixes.push_back({Cidr{a.addr, a.addr.bits()}, {"host", h.name}});
        for (auto& x : h.cidrs) c.prefixes.push_back({x, {"host", h.name}});
    };
    for (auto& zn : s.zones) {
        const Zone* z = t.zone(zn);
        if (!z) continue;
        c.zones.insert(zn);
        for (auto& pd : z->power_domains) c.power_domains.insert(pd);
        if (z->subnet) c.prefixes.push_back({*z->subnet, {"zone", zn}});
        if (z->subnet6) c.prefixes.push_back({*z->subnet6, {"zone", zn}});
        for (auto& x : z->cidrs) c.prefixes.push_back({x, {"zone", zn}});
        for (auto& h : t.hosts)
            if (h.zone == zn) add_host(h);
    }
    for (auto& pn : s.power_domains) {
        c.power_domains.insert(pn);
        for (auto& h : t.hosts)
            if (h.power_domain == pn) add_host(h);
    }
    for (auto& hn : s.hosts)
        if (const Host* h = t.host(hn)) add_host(*h);
    for (auto& x : s.cidrs) c.prefixes.push_back({x, {"cidr", {}}});
    std::sort(c.hosts.begin(), c.hosts.end());
    c.hosts.erase(std::unique(c.hosts.begin(), c.hosts.end()), c.hosts.end());
    return c;
}

std::optional<std::string> common(const std::set<std::string_view>& a, const std::set<std::string_view>& b) {
    for (auto& x : a)
        if (b.count(x)) return std::string(x);
    return std::nullopt;
}

// The first by name of the hosts on both sides.
std::optional<std::string> common_host(const Topology& t, const std::vector<size_t>& a, const std::vector<size_t>& b) {
    std::vector<bool> in_a(t.hosts.size(), false);
    for (size_t i : a) in_a[i] = true;
    const std::string* first = nullptr;
    for (size_t i : b)
        if (in_a[i] && (!first || t.hosts[i].name < *first)) first = &t.hosts[i].name;
    if (first) return *first;
    return std::nullopt;
}
}  // namespace

LoadResult Loader::run(const std::string& text) {
    std::vector<Node> docs;
    if (text.size() > limits::kMaxPlanBytes) {
        error(Mark{file_, 1, 1}, "",
              "the plan is " + std::to_string(text.size()) + " bytes, more than the " +
                  std::to_string(limits::kMaxPlanBytes) + " a plan may have");
    } else if (auto at = stray_flow_comma(text)) {
        error(Mark{file_, at->first, at->second}, "",
              "YAML syntax: a line may not begin with ',' outside [...] or {...} (quote the text if it is one)");
    } else {
        try {
            docs = YAML::LoadAll(text);
        } catch (const YAML::Exception& e) {
            error(mark_of(e.mark, Mark{file_, 1, 1}), "", "YAML syntax: " + e.msg);
        }
    }
    if (errors_.empty()) {
        if (docs.empty() || docs[0].IsNull()) {
            error(Mark{file_, 1, 1}, "", "the plan is empty");
        } else {
            if (docs.size() > 1)
                error(mark_of(docs[1], Mark{file_, 1, 1}), "",
                      "a plan file holds one YAML document, this one has " + std::to_string(docs.size()));
            try {
                load_root(docs[0]);
            } catch (const YAML::Exception& e) {
                // Reading goes through checked accessors; this is the net for whatever slips past.
                error(mark_of(e.mark, Mark{file_, 1, 1}), "", std::string("YAML: ") + e.what());
            }
        }
    }
    std::stable_sort(errors_.begin(), errors_.end(), [](const PlanError& a, const PlanError& b) {
        return std::tie(a.mark.line, a.mark.col) < std::tie(b.mark.line, b.mark.col);
    });
    LoadResult r;
    r.errors = std::move(errors_);
    if (r.errors.empty()) r.plan = std::move(plan_);
    return r;
}

void Loader::load_root(const Node& root) {
    Mark top = mark_of(root, Mark{file_, 1, 1});
    Field f{root, "", top, top};
    MapView m(*this, f);
    if (!m.ok()) return;
    m.allow({"name", "description", "topology", "lab", "steady_state", "method", "safety", "verify", "expect"});
    plan_.file = file_;
    if (auto n = m.require("name"))
        if (auto s = name(*n)) plan_.name = *s;
    if (auto d = m.get("description"))
        if (auto s = str(*d)) plan_.description = *s;

    size_t before = errors_.size();
    if (auto t = m.require("topology")) load_topology(*t);
    topology_clean_ = errors_.size() == before;
    if (topology_clean_) assign_addresses();

    if (auto l = m.get("lab")) load_lab(*l);
    check_bindings();  // the no-mix rule is worth saying even beside topology errors
    if (auto s = m.require("safety", "safety.max_duration bounds every run")) load_safety(*s);
    if (auto s = m.get("steady_state")) load_steady_state(*s);
    check_abort_probes();
    if (auto me = m.require("method")) load_method(*me);
    if (auto v = m.get("verify")) load_verify(*v);
    if (auto e = m.get("expect")) load_expect(*e);

    expand_templates();
    check_fault_sides();
}

void Loader::load_method(const Field& f) {
    auto items = list(f);
    if (!items) return;
    if (items->empty()) error(f, "a plan needs at least one fault in its method");
    for (auto& it : *items) load_fault(it);
}

void Loader::load_fault(const Field& f) {
    MapView m(*this, f);
    if (!m.ok()) return;
    Fault fault;
    fault.mark = f.mark;
    if (auto n = m.require("name"))
        if (auto v = name(*n)) {
            fault.name = *v;
            unique("fault", fault_names_, *v, *n);
        }
    auto kf = m.require("fault");
    if (!kf) return;
    auto kind_name = str(*kf);
    if (!kind_name) return;
    const faults::Kind* kind = faults::find(*kind_name);
    if (!kind) {
        std::string msg = "unknown fault kind '" + *kind_name + "'";
        for (auto& k : faults::kind_names())
            if (edit_distance(*kind_name, k) <= 2) {
                msg += " (did you mean '" + k + "'?)";
                break;
            }
        error(*kf, msg + "; known: " + join(faults::kind_names()));
        return;
    }
    std::vector<std::string> allowed{"name", "fault", "at", "duration", "target"};
    if (kind->takes_peer) allowed.push_back("peer");
    for (auto& k : kind->keys)  // a kind may own a common key (power_loss reads `at` too)
        if (std::find(allowed.begin(), allowed.end(), k.name) == allowed.end()) allowed.push_back(k.name);
    m.allow(allowed);

    // `at` is a time, unless the kind lists `at` among its own keys and the plan gives a map
    // there (power_loss: a crash point), which the kind reads itself.
    if (auto a = m.get("at")) {
        bool kind_reads = std::any_of(kind->keys.begin(), kind->keys.end(),
                                      [](const faults::Key& k) { return std::string_view(k.name) == "at"; });
        if (a->node.IsMap() && !kind_reads) {
            std::vector<std::string> takers;
            for (const faults::Kind* k : faults::kinds())
                for (auto& key : k->keys)
                    if (std::string_view(key.name) == "at") takers.push_back(k->name);
            error(*a,
                  "expected a time such as 10s, got a map (a crash point `at: { op, path, nth, when }` is taken by " +
                      join(takers, " and ") + " only, not by " + kind->name + ")");
        } else if (!a->node.IsMap()) {
            if (auto d = duration(*a, false)) fault.at = *d;
        }
    }
    auto df = m.require("duration");
    if (df)
        if (auto d = duration(*df, true)) fault.duration = *d;
    // Power and disks belong to hosts, not to address ranges: such kinds' targets take no CIDR.
    if (auto t = m.require("target")) fault.target = load_selector(*t, kind->host_target ? kind->name : nullptr);
    if (auto p = kind->takes_peer ? m.get("peer") : std::nullopt) {
        fault.peer = load_selector(*p);
    } else {
        fault.peer.rest = true;
        fault.peer.mark = f.mark;
    }
    kind->load(*this, m, f, fault);

    Duration max = plan_.safety.max_duration;
    if (df && fault.duration.count() > 0 && max.count() > 0 && fault.at + fault.duration > max)
        error(*df, "the fault ends at " + format_duration(fault.at + fault.duration) + " (at " +
                       format_duration(fault.at) + " + duration " + format_duration(fault.duration) +
                       "), after safety.max_duration " + format_duration(max));
    plan_.method.push_back(std::move(fault));
    fault_paths_.push_back(f.path);
}

Selector Loader::load_selector(const Field& f, const char* no_cidr_kind) {
    const bool allow_cidr = no_cidr_kind == nullptr;
    Selector sel;
    sel.mark = f.mark;
    MapView m(*this, f);
    if (!m.ok()) return sel;
    if (allow_cidr) {
        m.allow({"zone", "power_domain", "host", "cidr"});
    } else if (auto c = m.get("cidr")) {
        // Power feeds hosts, not address ranges: a CIDR has no processes to kill or freeze.
        error(c->key_mark, c->path, std::string(no_cidr_kind) + " targets zones, power domains or hosts, not CIDRs");
        m.allow({"zone", "power_domain", "host", "cidr"});
    } else {
        m.allow({"zone", "power_domain", "host"});
    }
    bool any = false;
    auto names = [&](const char* key, std::vector<std::string>& out, auto exists, const char* kind,
                     std::vector<std::string> known) {
        auto kf = m.get(key);
        if (!kf) return;
        any = true;
        auto items = one_or_list(*kf);
        if (!items) return;
        if (items->empty()) error(*kf, "an empty list selects nothing");
        for (auto& it : *items)
            if (auto v = name(it)) {
                if (!exists(*v))
                    error(it, std::string("unknown ") + kind + " '" + *v + "' (" + kind + "s: " + join(known) + ")");
                else if (std::find(out.begin(), out.end(), *v) == out.end())
                    out.push_back(*v);
            }
    };
    auto& topo = plan_.topology;
    names(
        "zone", sel.zones, [&](const std::string& n) { return topo.zone(n) != nullptr; }, "zone", names_of_zones());
    names(
        "power_domain", sel.power_domains, [&](const std::string& n) { return topo.power_domain(n) != nullptr; },
        "power domain", names_of_power_domains());
    names(
        "host", sel.hosts, [&](const std::string& n) { return topo.host(n) != nullptr; }, "host", names_of_hosts());
    if (auto cf = m.get("cidr")) {
        any = true;
        if (auto items = one_or_list(*cf)) {
            if (items->empty()) error(*cf, "an empty list selects nothing");
            for (auto& it : *items)
                if (auto c = cidr(it)) sel.cidrs.push_back(c->network());
        }
    }
    if (!any) error(f.key_mark, f.path, "a selector needs at least one of zone, power_domain, host or cidr");
    return sel;
}

// Expands every template as the lab and the runner will, once per host, so a host without an
// IPv6 address behind {addr6} or a service without a volume behind {volume} is refused here.
void Loader::expand_templates() {
    if (!errors_.empty() || !addresses_assigned_) return;
    for (auto& use : templates_) {
        if (!use.clean) continue;
        for (auto& host : use.hosts) {
            TemplateContext ctx;
            ctx.plan = &plan_;
            ctx.host = host;
            ctx.volume = use.volume;
            ctx.volume_path = [](const std::string& h, const std::string& v) { return "/volumes/" + h + "/" + v; };
            for (auto& v : *use.vars) ctx.vars[v] = "x";
            auto r = expand_template(use.text, ctx);
            if (!r) {
                error(use.mark, use.path, r.error().op + (host.empty() ? "" : " (for host '" + host + "')"));
                break;
            }
        }
    }
}

namespace {
// The first overlapping (target, peer) prefix pair in plan order, without a pairwise scan: the
// smaller side is indexed and the larger one queried (60 severs of a power domain from a zone
// of 16,000 hosts index 60 x 500 prefixes, not 60 x 16,000).
std::optional<std::pair<size_t, size_t>> first_overlap(const Covered& target, const Covered& peer) {
    const bool index_target = target.prefixes.size() <= peer.prefixes.size();
    const auto& indexed = index_target ? target.prefixes : peer.prefixes;
    const auto& queried = index_target ? peer.prefixes : target.prefixes;
    PrefixSet set;
    for (size_t k = 0; k < indexed.size(); ++k) set.insert(indexed[k].first, k);
    std::optional<std::pair<size_t, size_t>> best;
    for (size_t q = 0; q < queried.size(); ++q) {
        for (size_t k : set.overlapping(queried[q].first)) {
            std::pair<size_t, size_t> pair = index_target ? std::pair{k, q} : std::pair{q, k};
            if (!best || pair < *best) best = pair;
        }
        if (best && !index_target) break;  // queried in target order: the first target with a hit
    }
    return best;
}
}  // namespace

// A member on both sides of a cut makes the cut meaningless (and the BPF classifier ambiguous).
void Loader::check_fault_sides() {
    if (!errors_.empty()) return;  // names may not resolve; the first problems come first
    const Topology& t = plan_.topology;
    for (size_t i = 0; i < plan_.method.size(); ++i) {
        const Fault& f = plan_.method[i];
        // Only faults between two sides (a kind without a peer acts on its target alone).
        if (!f.takes_peer()) continue;
        Covered target = cover(t, f.target);
        if (f.peer.rest) {
            if (!t.hosts.empty() && target.hosts.size() == t.hosts.size())
                error(f.target.mark, fault_paths_[i] + ".target",
                      "the target covers every host of the lab, so the rest of the lab (the default peer) is "
                      "empty; name a peer");
            continue;
        }
        Covered peer = cover(t, f.peer);
        std::string why;
        if (auto z = common(target.zones, peer.zones))
            why = "zone '" + *z + "' is on both sides";
        else if (auto p = common(target.power_domains, peer.power_domains))
            why = "power domain '" + *p + "' is on both sides";
        else if (auto h = common_host(t, target.hosts, peer.hosts))
            why = "host '" + *h + "' is on both sides";
        else if (auto o = first_overlap(target, peer)) {
            auto& [a, aw] = target.prefixes[o->first];
            auto& [b, bw] = peer.prefixes[o->second];
            why =
                a.str() + " (" + describe(a, aw) + ", target) overlaps " + b.str() + " (" + describe(b, bw) + ", peer)";
        }
        if (!why.empty()) error(f.peer.mark, fault_paths_[i] + ".peer", "target and peer overlap: " + why);
    }
}

}  // namespace inj::plan::load

namespace inj::plan {

LoadResult load_string(const std::string& yaml, const std::string& filename) {
    auto r = load::Loader(filename).run(yaml);
    if (r.ok()) r.text = yaml;
    return r;
}

LoadResult load_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        LoadResult r;
        r.errors.push_back(
            PlanError{Mark{path, 0, 0}, "", std::string("cannot read the plan: ") + std::strerror(errno)});
        return r;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return load_string(text.str(), path);
}

}  // namespace inj::plan
