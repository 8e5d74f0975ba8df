// `injector plan` (see plan_preview.hpp). Lists are printed whole when short (at most kShort
// names) or when --hosts asks; otherwise as a count with the first and last names, so a plan of
// 32,000 hosts previews in a screenful. Cut sets come from net::group_cuts (groups of hosts the
// rules cannot tell apart), never from host pairs, so the preview stays near-linear in hosts.
#include "report/plan_preview.hpp"
#include "plan/probe_http.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "common/duration.hpp"
#include "faults/registry.hpp"
#include "plan/json.hpp"
#include "safety/plan_checks.hpp"

namespace inj::report {
namespace {

using plan::join;
constexpr size_t kShort = faults::kShortList;  // lists up to this long are printed whole
constexpr size_t kMaxLines = 24;               // cut-set lines per fault without --hosts
constexpr uint64_t kMaxPairs = 1000000;        // host pairs --hosts lists one by one (~25 MB)
std::string names(const std::vector<std::string>& v, bool all, const char* sep = " ") {
    return faults::short_list(v, all, sep);
}

std::string plural(size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Host names in runs: consecutive members of one group (NAME-1, NAME-2, ...) as "NAME-i .. NAME-j",
// any other name on its own. Empty when there are more than kShort runs: the caller then shows
// only the first and last name.
std::vector<std::string> name_runs(const plan::Topology& topo, const std::vector<size_t>& members) {
    auto split = [](const std::string& n) -> std::pair<std::string_view, long> {
        auto dash = n.rfind('-');
        if (dash == std::string::npos || dash + 1 == n.size() || dash + 8 < n.size() ||
            n.find_first_not_of("0123456789", dash + 1) != std::string::npos || n[dash + 1] == '0')
            return {n, -1};
        return {std::string_view(n).substr(0, dash), std::stol(n.substr(dash + 1))};
    };
    std::vector<std::string> runs;
    for (size_t k = 0; k < members.size();) {
        const std::string& first = topo.hosts[members[k]].name;
        auto [prefix, num] = split(first);
        size_t end = k + 1;
        while (num >= 0 && end < members.size()) {
            auto [p2, n2] = split(topo.hosts[members[end]].name);
            if (p2 != prefix || n2 != num + static_cast<long>(end - k)) break;
            ++end;
        }
        runs.push_back(end - k == 1 ? first : first + " .. " + topo.hosts[members[end - 1]].name);
        if (runs.size() > kShort) return {};
        k = end;
    }
    return runs;
}

void print_topology(std::ostream& out, const plan::Plan& p, const PreviewOptions& o) {
    const auto& topo = p.topology;
    out << "topology: " << topo.zones.size() << " zones, " << topo.power_domains.size() << " power domains, "
        << topo.hosts.size() << " hosts\n";
    std::unordered_map<std::string, std::vector<size_t>> by_pd;
    for (size_t i = 0; i < topo.hosts.size(); ++i) by_pd[topo.hosts[i].power_domain].push_back(i);
    for (auto& z : topo.zones) {
        size_t n = 0;
        for (auto& pd : z.power_domains) n += by_pd[pd].size();
        out << "  zone " << z.name << (z.subnet ? "  " + z.subnet->str() : "") << "  " << plural(n, "host", "hosts")
            << " in " << plural(z.power_domains.size(), "power domain", "power domains") << "\n";
        for (auto& pd : z.power_domains) {
            const auto& members = by_pd[pd];
            out << "    power domain " << pd << ":";
            if (o.list_hosts || members.size() <= kShort) {
                for (size_t h : members)
                    out << " " << topo.hosts[h].name << " (" << topo.hosts[h].addresses.at(0).addr.str() << ")";
                out << "\n";
                continue;
            }
            // Count, names as runs of groups or first..last (plan order), addresses lowest..highest.
            IpAddr lo = topo.hosts[members[0]].addresses.at(0).addr, hi = lo;
            for (size_t h : members) {
                const IpAddr& a = topo.hosts[h].addresses.at(0).addr;
                lo = std::min(lo, a);
                hi = std::max(hi, a);
            }
            auto runs = name_runs(topo, members);
            out << " " << members.size() << " hosts, "
                << (runs.empty() ? topo.hosts[members.front()].name + " .. " + topo.hosts[members.back()].name
                                 : join(runs, ", "))
                << ", addresses " << lo.str() << " .. " << hi.str() << "\n";
        }
    }
}

// What a power cut loses on a volatile volume, in the loss model's words.
std::string loss_text(const plan::VolumeLoss& l) {
    std::string t;
    switch (l.model) {
        case plan::VolumeLoss::Model::unsynced: t = "writes not fsynced are lost at a power cut"; break;
        case plan::VolumeLoss::Model::torn:
            t = l.torn_sectors ? "of each write not fsynced, at most its first " + std::to_string(l.torn_sectors) +
                                     " sectors land at a power cut (torn)"
                               : "of each write not fsynced, a random subset of its pages lands at a power cut (torn)";
            break;
        case plan::VolumeLoss::Model::reorder:
            t = "each write not fsynced lands or not at a power cut, chance " +
                std::to_string(int(l.survive * 100 + 0.5)) + "% (reorder)";
            break;
    }
    if (l.metadata_volatile) t += "; creations, renames and unlinks without an fsync of their directory are lost too";
    if (l.writeback.count() > 0) t += "; data dirty for " + format_duration(l.writeback) + " is written back";
    if (l.seed) t += "; seed " + std::to_string(l.seed);
    return t;
}

void print_services_and_probes(std::ostream& out, const plan::Plan& p, const PreviewOptions& o) {
    for (auto& s : p.lab.services) {
        out << "service " << s.name << " on " << names(s.hosts, o.list_hosts);
        if (s.volume) {
            out << ", volume " << *s.volume;
            if (s.volume_volatile) out << " (volatile: " << loss_text(s.volume_loss) << ")";
        }
        out << "\n";
    }
    for (auto& pr : p.probes) {
        out << "probe " << pr.name << ": " << plan::probe_kind_name(pr.kind) << " in " << pr.in << " every "
            << format_duration(pr.every) << ", timeout " << format_duration(pr.timeout);
        if (pr.slo.success_rate)
            out << ", SLO success rate >= " << *pr.slo.success_rate << " over " << format_duration(pr.slo.window);
        if (pr.slo.max_latency) out << ", latency <= " << format_duration(*pr.slo.max_latency);
        out << "\n";
    }
}

// A fault's cut (or degrade) set as domain pairs, coarsest first: zone to zone when every host
// pair between them is cut, then a power domain to a whole zone (or back), then power domain
// pairs; each with host counts, and both directions merged into "<->" when they match.
struct CutView {
    using Pair = std::pair<std::string, std::string>;
    const plan::Plan& p;
    const std::vector<net::HostGroup>& groups;
    std::map<std::string, uint64_t> zone_hosts, pd_hosts;
    std::map<std::string, std::string> zone_of;

    CutView(const plan::Plan& plan, const std::vector<net::HostGroup>& g) : p(plan), groups(g) {
        for (auto& h : p.topology.hosts) {
            ++zone_hosts[h.zone];
            ++pd_hosts[h.power_domain];
        }
        for (auto& d : p.topology.power_domains) zone_of[d.name] = d.zone;
    }

    struct Entry {
        std::string from, to;  // "zone a (12)", "power domain b (3)"
        uint64_t n = 0;
    };

    std::string zone(const std::string& z) { return "zone " + z + " (" + std::to_string(zone_hosts[z]) + ")"; }
    std::string pd(const std::string& d) { return "power domain " + d + " (" + std::to_string(pd_hosts[d]) + ")"; }

    // Directed entries, coarsest level that covers each power-domain pair whole.
    std::vector<Entry> entries(const std::vector<net::GroupCut>& cuts) {
        std::map<Pair, uint64_t> zones, pds, pd_zone, zone_pd;
        for (auto& c : cuts) {
            auto& a = groups[c.from];
            auto& b = groups[c.to];
            zones[{a.zone, b.zone}] += c.host_pairs;
            pds[{a.power_domain, b.power_domain}] += c.host_pairs;
        }
        std::vector<Entry> out;
        std::set<Pair> whole_zones;
        for (auto& [k, n] : zones) {
            uint64_t a = zone_hosts[k.first], b = zone_hosts[k.second];
            if (n != (k.first == k.second ? a * (a - 1) : a * b)) continue;
            whole_zones.insert(k);
            out.push_back({zone(k.first), k.first == k.second ? "" : zone(k.second), n});
        }
        for (auto& [k, n] : pds) {
            if (whole_zones.count({zone_of[k.first], zone_of[k.second]}) || zone_of[k.first] == zone_of[k.second])
                continue;
            pd_zone[{k.first, zone_of[k.second]}] += n;
            zone_pd[{zone_of[k.first], k.second}] += n;
        }
        std::set<Pair> done;  // power-domain pairs a coarser entry covers
        for (auto& [k, n] : pd_zone)
            if (n == pd_hosts[k.first] * zone_hosts[k.second]) {
                out.push_back({pd(k.first), zone(k.second), n});
                for (auto& [q, m] : pds)
                    if (q.first == k.first && zone_of[q.second] == k.second) done.insert(q);
            }
        for (auto& [k, n] : zone_pd) {
            if (n != zone_hosts[k.first] * pd_hosts[k.second]) continue;
            bool covered = true;  // every pair already in a power domain -> zone entry
            for (auto& [q, m] : pds)
                if (q.second == k.second && zone_of[q.first] == k.first) covered = covered && done.count(q);
            if (covered) continue;
            out.push_back({zone(k.first), pd(k.second), n});
            for (auto& [q, m] : pds)
                if (q.second == k.second && zone_of[q.first] == k.first) done.insert(q);
        }
        for (auto& [k, n] : pds)
            if (!done.count(k) && !whole_zones.count({zone_of[k.first], zone_of[k.second]}))
                out.push_back({pd(k.first), k.first == k.second ? "" : pd(k.second), n});
        return out;
    }

    // Returns the number of host pairs; prints up to kMaxLines lines (all with list_all).
    uint64_t print(std::ostream& out, const std::vector<net::GroupCut>& cuts, bool list_all, const char* indent) {
        uint64_t total = 0;
        for (auto& c : cuts) total += c.host_pairs;
        auto es = entries(cuts);
        std::map<Pair, uint64_t> directed;
        for (auto& e : es) directed[{e.from, e.to}] = e.n;
        std::vector<std::string> lines;
        std::set<Pair> merged;
        for (auto& e : es) {
            if (merged.count({e.from, e.to})) continue;
            auto rev = directed.find({e.to, e.from});
            bool both = !e.to.empty() && rev != directed.end() && rev->second == e.n;
            if (both) merged.insert(rev->first);
            lines.push_back(e.from + (e.to.empty() ? " within itself" : (both ? " <-> " : " -> ") + e.to) + ": " +
                            std::to_string(e.n) + " host pairs" + (both ? " each way" : ""));
        }
        size_t shown = list_all ? lines.size() : std::min(lines.size(), kMaxLines);
        for (size_t i = 0; i < shown; ++i) out << indent << lines[i] << "\n";
        if (shown < lines.size())
            out << indent << "... " << lines.size() - shown << " more domain pairs (--hosts lists them all)\n";
        return total;
    }
};

// The host pairs of a cut set, from its group cuts, in plan order of source then destination:
// the pairs net::cut_set() lists, without trying every pair of hosts (quadratic in hosts).
std::vector<std::pair<size_t, size_t>> host_pairs(const std::vector<net::HostGroup>& groups,
                                                  const std::vector<net::GroupCut>& cuts) {
    std::vector<std::pair<size_t, size_t>> out;
    for (auto& c : cuts)
        for (size_t a : groups[c.from].hosts)
            for (size_t b : groups[c.to].hosts)
                if (a != b) out.emplace_back(a, b);
    std::sort(out.begin(), out.end());
    return out;
}

void print_timeline(std::ostream& out, const plan::Plan& p, const net::Tables& t, const PreviewOptions& o) {
    out << "timeline (max_duration " << format_duration(p.safety.max_duration) << "):\n";
    auto groups = net::host_groups(p, t);
    CutView view(p, groups);
    for (size_t i = 0; i < p.method.size(); ++i) {
        auto& f = p.method[i];
        // The kind says what it does; the network effect, if it has one, is the same for all.
        faults::kind_of(f).describe(out, faults::DescribeContext{p, t, i, o.list_hosts});
        auto effect = f.net();
        if (!effect) continue;
        bool degrade = effect->kind == plan::NetEffect::Kind::degrade;
        std::ostringstream detail;
        auto cuts = net::group_cuts(p, t, groups, i, degrade);
        uint64_t n = view.print(detail, cuts, o.list_hosts, "        ");
        out << "      " << (degrade ? "degraded: " : "cut set: ") << n << " host pairs"
            << (degrade ? " (cut off: none)" : " lose contact") << (n ? ":\n" : "\n") << detail.str();
        if (effect->kind != plan::NetEffect::Kind::cut) continue;  // a dark host's pairs are all of them
        if (n > (o.list_hosts ? kMaxPairs : 2 * kShort)) {
            if (o.list_hosts)
                out << "        (more than " << kMaxPairs
                    << " host pairs to list one by one: the domain pairs above hold them)\n";
            continue;
        }
        for (auto& [a, b] : host_pairs(groups, cuts))
            out << "        " << p.topology.hosts[a].name << " -> " << p.topology.hosts[b].name << "\n";
    }
}

void print_blast_radius(std::ostream& out, const plan::Plan& p, const net::Tables& t, const PreviewOptions& o) {
    const auto& br = p.safety.blast_radius;
    out << "blast radius (hosts cut off from the connected majority):\n";
    auto moments = safety::moments(p, t);
    if (moments.empty()) out << "  no moment has a fault in force\n";
    auto none = [](std::string s) { return s.empty() ? std::string("none") : s; };
    // Each host's zone by name, and each zone's host count: once, not per moment.
    std::unordered_map<std::string_view, std::string_view> zone_of;
    std::unordered_map<std::string_view, size_t> zone_hosts;
    for (auto& h : p.topology.hosts) {
        zone_of.emplace(h.name, h.zone);
        ++zone_hosts[h.zone];
    }
    auto all = safety::impacts(p, t, moments);
    for (size_t mi = 0; mi < moments.size(); ++mi) {
        const auto& m = moments[mi];
        const auto& im = all[mi];
        std::vector<std::string> faults;
        for (size_t fi : m.faults) faults.push_back(p.method[fi].name);
        char share[16];
        std::snprintf(share, sizeof share, "%.1f%%", im.share() * 100.0);
        // Per zone: hosts cut off of the zone's hosts.
        std::unordered_map<std::string_view, size_t> cut_in;
        for (auto& h : im.cut_off) ++cut_in[zone_of.at(h)];
        std::vector<std::string> zones;
        for (auto& z : im.zones)
            zones.push_back(z + " " + std::to_string(cut_in[z]) + "/" + std::to_string(zone_hosts[z]));
        out << "  " << m.str() << "  faults: " << join(faults, ", ") << "\n"
            << "      hosts cut off: " << im.cut_off.size() << "/" << im.hosts_total << " (" << share
            << "): " << none(names(im.cut_off, o.list_hosts, ", ")) << "\n"
            << "      zones: " << none(join(zones, ", "))
            << "; power domains: " << none(names(im.power_domains, o.list_hosts, ", "))
            << "; hosts in a fault target: " << none(names(im.touched, o.list_hosts, ", ")) << "\n";
        for (auto& bc : safety::bounds_at(br, im))
            out << "      " << bc.bound << " " << bc.limit << ": " << bc.measured
                << (bc.exceeded ? "  EXCEEDS" : "  OK") << "\n";
    }
    if (!br.max_hosts && !br.max_hosts_share && !br.max_zones && !br.max_power_domains)
        out << "  (no safety.blast_radius bounds are set)\n";
}

void print_expectations(std::ostream& out, const plan::Plan& p) {
    for (auto& v : p.verify)
        out << "verify " << v.name << ": after recovery, every record probe " << v.probe
            << " acknowledged is read back in " << v.in << " ("
            << (v.per_record ? "one command per record" : "one command, records as lines of its output") << ", timeout "
            << format_duration(v.timeout) << ")\n";
    if (p.expect.rto || p.expect.rpo_records || p.expect.rpo_window) {
        out << "expect:";
        if (p.expect.rto) out << " RTO <= " << format_duration(*p.expect.rto) << " per service restored;";
        if (p.expect.rpo_records) out << " RPO: at most " << *p.expect.rpo_records << " acknowledged records lost;";
        if (p.expect.rpo_window)
            out << " RPO: only records acknowledged within " << format_duration(*p.expect.rpo_window)
                << " before a fault may be lost;";
        out << "\n";
    }
    // Each kind the plan uses says what the machine must have (`run` checks it the same way).
    for (const faults::Kind* k : faults::kinds()) {
        bool used =
            std::any_of(p.method.begin(), p.method.end(), [&](auto& f) { return k->name == std::string(f.kind()); });
        if (!used || !k->preflight) continue;
        if (auto lines = k->preflight(p); !lines)
            out << "mechanisms: REFUSED (`run` exits 3): " << lines.error().message() << "\n";
        else
            for (auto& line : *lines) out << "mechanism " << line << "\n";
    }
}

}  // namespace

bool print_plan_preview(std::ostream& out, const plan::Plan& p, const net::Tables& t, const PreviewOptions& o) {
    out << "plan " << p.name << " (" << p.file << ")\n";
    if (!p.description.empty()) out << "  " << p.description << "\n";
    print_topology(out, p, o);
    print_services_and_probes(out, p, o);
    print_timeline(out, p, t, o);
    print_expectations(out, p);
    // The blast-radius preview and the refusals are exactly what the runner's preflight
    // computes (safety::check_plan), so a plan that passes here passes there.
    print_blast_radius(out, p, t, o);
    if (!o.fleet.empty()) out << o.fleet << "\n";
    auto refusals = safety::check_plan(p, t);
    if (refusals.empty()) {
        out << "preflight: the plan passes the blast-radius, protected-set and abort-path checks\n";
    } else {
        out << "preflight would REFUSE this plan (" << refusals.size() << " refusal"
            << (refusals.size() == 1 ? "" : "s") << "; `run` exits 3):\n";
        for (auto& r : refusals) out << "  " << r.str() << "\n";
    }
    out << "nothing was changed on this machine (dry run)\n";
    return refusals.empty();
}

}  // namespace inj::report
