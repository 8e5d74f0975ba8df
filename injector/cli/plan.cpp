// `injector plan PLAN`: the dry run. Prints the plan's topology, the timeline with what each
// fault does, the mechanisms, the blast radius of every moment and what preflight would refuse;
// changes nothing on the machine.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/commands.hpp"
#include "common/duration.hpp"
#include "common/exit_codes.hpp"
#include "net/compile.hpp"
#include "net/mechanism.hpp"
#include "plan/json.hpp"
#include "power/power_engine.hpp"
#include "safety/plan_checks.hpp"
#include "storage/storage_engine.hpp"

namespace inj::cli {

namespace {

// The plan's name, topology, services and probes.
void print_overview(const plan::Plan& p) {
    std::cout << "plan " << p.name << " (" << p.file << ")\n";
    if (!p.description.empty()) std::cout << "  " << p.description << "\n";
    std::cout << "topology: " << p.topology.zones.size() << " zones, " << p.topology.power_domains.size()
              << " power domains, " << p.topology.hosts.size() << " hosts\n";
    for (auto& z : p.topology.zones) {
        std::cout << "  zone " << z.name << (z.subnet ? "  " + z.subnet->str() : "") << "\n";
        for (auto& pd : z.power_domains) {
            std::cout << "    power domain " << pd << ":";
            for (auto& h : p.topology.hosts)
                if (h.power_domain == pd) std::cout << " " << h.name << " (" << h.addresses.at(0).addr.str() << ")";
            std::cout << "\n";
        }
    }
    for (auto& s : p.lab.services) {
        std::cout << "service " << s.name << " on";
        for (auto& h : s.hosts) std::cout << " " << h;
        if (s.volume)
            std::cout << ", volume " << *s.volume
                      << (s.volume_volatile ? " (volatile: writes not fsynced are lost at a power cut)" : "");
        std::cout << "\n";
    }
    for (auto& pr : p.probes) {
        std::cout << "probe " << pr.name << ": " << (pr.kind == plan::Probe::Kind::exec ? "exec" : "tcp") << " in "
                  << pr.in << " every " << format_duration(pr.every) << ", timeout " << format_duration(pr.timeout);
        if (pr.slo.success_rate)
            std::cout << ", SLO success rate >= " << *pr.slo.success_rate << " over " << format_duration(pr.slo.window);
        if (pr.slo.max_latency) std::cout << ", latency <= " << format_duration(*pr.slo.max_latency);
        std::cout << "\n";
    }
}

// What fault i of the method does: when, to whom, for how long, and its effect (who loses
// contact with whom, what goes dark, what is degraded). The one place that knows each kind.
void describe_fault(const plan::Plan& p, const net::Tables& tables, size_t i) {
    auto& f = p.method[i];
    if (f.kind == plan::FaultKind::power_loss) {
        // What goes dark: the hosts and every service they run, cut from everyone (control
        // included); then how power comes back.
        auto dark = power::restore_order(p, f);
        std::cout << "  T+" << format_duration(f.at) << "  " << f.name << ": power_loss "
                  << plan::describe(f.target) << " (mode " << plan::to_string(f.power_mode) << ") for "
                  << format_duration(f.duration) << ", power back at T+" << format_duration(f.at + f.duration)
                  << "  [" << f.mark.str() << "]\n";
        std::cout << "      dark: " << dark.size() << (dark.size() == 1 ? " host" : " hosts") << ", every link cut both ways (control included):";
        for (auto& h : dark) std::cout << " " << h;
        std::cout << "\n";
        for (auto& s : p.lab.services) {
            std::vector<std::string> on;
            for (auto& h : s.hosts)
                if (std::find(dark.begin(), dark.end(), h) != dark.end()) on.push_back(h);
            if (on.empty()) return;
            std::cout << "      service " << s.name << " " << (f.power_mode == plan::PowerMode::kill ? "killed" : "frozen")
                      << " on";
            for (auto& h : on) std::cout << " " << h;
            std::cout << "\n";
        }
        std::cout << "      restore: " << (f.power_mode == plan::PowerMode::kill ? "restart services" : "thaw")
                  << " in order";
        for (auto& h : dark) std::cout << " " << h;
        if (f.restore.stagger.count() > 0) std::cout << ", " << format_duration(f.restore.stagger) << " apart";
        std::cout << "; readiness awaited (RTO per service in the report)\n";
        // Cascades: links and zone switches the dark domains feed cut hosts that keep power.
        for (auto& c : plan::cascades(p.topology, f.target)) {
            std::cout << "      cascade: " << c.str() << " goes dark: ";
            if (c.kind == plan::Cascade::Kind::link) {
                std::cout << "zones " << c.a << " and " << c.b << " lose each other";
            } else {
                std::vector<std::string> cut_off;
                for (auto& h : p.topology.hosts)
                    if (h.zone == c.a && std::find(dark.begin(), dark.end(), h.name) == dark.end())
                        cut_off.push_back(h.name);
                std::cout << "every host of " << c.a << " is cut off (" << cut_off.size() << " still powered";
                for (auto& h : cut_off) std::cout << " " << h;
                std::cout << ")";
            }
            std::cout << "\n";
        }
        auto cut = net::cut_set(p, tables, i);
        std::cout << "      cut set: " << cut.size() << " host pairs lose contact\n";
        return;
    }
    if (f.kind == plan::FaultKind::degrade_storage) {
        std::cout << "  T+" << format_duration(f.at) << "  " << f.name << ": degrade_storage of volume "
                  << f.storage.volume << " on " << plan::describe(f.target) << " for "
                  << format_duration(f.duration) << ", healed at T+" << format_duration(f.at + f.duration) << "  ["
                  << f.mark.str() << "]\n";
        std::cout << "      " << storage::describe(f.storage) << " (through faultfs; no network cut)\n";
        return;
    }
    std::cout << "  T+" << format_duration(f.at) << "  " << f.name << ": " << plan::to_string(f.kind) << " "
              << plan::describe(f.target) << (f.direction == plan::Direction::both ? " <-> " :
                                                 f.direction == plan::Direction::from ? " -> " : " <- ")
              << plan::describe(f.peer) << " for " << format_duration(f.duration) << ", healed at T+"
              << format_duration(f.at + f.duration) << "  [" << f.mark.str() << "]\n";
    if (f.kind == plan::FaultKind::degrade_link) {
        std::cout << "      " << net::describe_degrade(f.degrade) << (f.share < 1.0 ? " (a share of flows: " + std::to_string(f.share) + ")" : "") << "\n";
        std::cout << "      degraded: " << net::degraded_set(p, tables, i).size() << " host pairs (cut off: none)\n";
        return;
    }
    if (f.kind != plan::FaultKind::sever) return;
    auto cut = net::cut_set(p, tables, i);
    std::cout << "      cut set: " << cut.size() << " host pairs lose contact";
    std::cout << (cut.empty() ? "\n" : ":\n");
    for (auto& [a, b] : cut) std::cout << "        " << a << " -> " << b << "\n";
}

// The faults in schedule order, each described.
void print_timeline(const plan::Plan& p, const net::Tables& tables) {
    std::cout << "timeline (max_duration " << format_duration(p.safety.max_duration) << "):\n";
    for (size_t i = 0; i < p.method.size(); ++i) describe_fault(p, tables, i);
}

// The checks after recovery and the expected RTO/RPO.
void print_verify_and_expect(const plan::Plan& p) {
    for (auto& v : p.verify)
        std::cout << "verify " << v.name << ": after recovery, every record probe " << v.probe
                  << " acknowledged is read back in " << v.in << " ("
                  << (v.per_record ? "one command per record" : "one command, records as lines of its output")
                  << ", timeout " << format_duration(v.timeout) << ")\n";
    if (p.expect.rto || p.expect.rpo_records || p.expect.rpo_window) {
        std::cout << "expect:";
        if (p.expect.rto) std::cout << " RTO <= " << format_duration(*p.expect.rto) << " per service restored;";
        if (p.expect.rpo_records)
            std::cout << " RPO: at most " << *p.expect.rpo_records << " acknowledged records lost;";
        if (p.expect.rpo_window)
            std::cout << " RPO: only records acknowledged within " << format_duration(*p.expect.rpo_window)
                      << " before a fault may be lost;";
        std::cout << "\n";
    }
}

// The mechanisms a run would choose, or why it would refuse.
void print_mechanisms(const plan::Plan& p) {
    if (auto mech = net::choose_mechanisms(p); !mech) {
        std::cout << "mechanisms: REFUSED (`run` exits 3): " << mech.error().message() << "\n";
    } else {
        for (auto& line : mech->describe()) std::cout << "mechanism " << line << "\n";
    }
}

// The blast-radius preview and the refusals are exactly what the runner's preflight
// computes (safety::check_plan), so a plan that passes here passes there.
void print_blast_radius(const plan::Plan& p, const net::Tables& tables) {
    const auto& br = p.safety.blast_radius;
    std::cout << "blast radius (hosts cut off from the connected majority):\n";
    auto moments = safety::moments(p, tables);
    if (moments.empty()) std::cout << "  no moment has a fault in force\n";
    for (auto& m : moments) {
        auto im = safety::impact(p, tables, m);
        std::vector<std::string> faults;
        for (size_t fi : m.faults) faults.push_back(p.method[fi].name);
        auto list = [](const std::vector<std::string>& v) {
            std::string s;
            for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
            return s.empty() ? std::string("none") : s;
        };
        char share[16];
        std::snprintf(share, sizeof share, "%.1f%%", im.share() * 100.0);
        std::cout << "  " << m.str() << "  faults: " << list(faults) << "\n"
                  << "      hosts cut off: " << im.cut_off.size() << "/" << im.hosts_total << " (" << share
                  << "): " << list(im.cut_off) << "\n"
                  << "      zones: " << list(im.zones) << "; power domains: " << list(im.power_domains)
                  << "; hosts in a fault target: " << list(im.touched) << "\n";
        for (auto& bc : safety::bounds_at(br, im))
            std::cout << "      " << bc.bound << " " << bc.limit << ": " << bc.measured
                      << (bc.exceeded ? "  EXCEEDS" : "  OK") << "\n";
    }
    if (!br.max_hosts && !br.max_hosts_share && !br.max_zones && !br.max_power_domains)
        std::cout << "  (no safety.blast_radius bounds are set)\n";
}

// What preflight would refuse; returns the exit code `plan` ends with.
int print_preflight(const plan::Plan& p, const net::Tables& tables) {
    auto refusals = safety::check_plan(p, tables);
    if (refusals.empty()) {
        std::cout << "preflight: the plan passes the blast-radius, protected-set and abort-path checks\n";
    } else {
        std::cout << "preflight would REFUSE this plan (" << refusals.size() << " refusal"
                  << (refusals.size() == 1 ? "" : "s") << "; `run` exits 3):\n";
        for (auto& r : refusals) std::cout << "  " << r.str() << "\n";
    }
    std::cout << "nothing was changed on this machine (dry run)\n";
    return refusals.empty() ? kExitHeld : kExitNotApplied;
}

}  // namespace

po::options_description plan_options() { return po::options_description{}; }

int cmd_plan(const std::vector<std::string>& args) {
    po::variables_map vm;
    auto files = positional_after(args, plan_options(), vm);
    if (files.size() != 1) throw UsageError("plan needs exactly one PLAN");
    auto p = load_plan(files[0]);
    if (!p) return kExitUsage;
    auto tables = net::compile(*p);
    if (!tables) {
        std::cerr << files[0] << ": " << tables.error().message() << "\n";
        return kExitUsage;
    }
    print_overview(*p);
    print_timeline(*p, *tables);
    print_verify_and_expect(*p);
    print_mechanisms(*p);
    print_blast_radius(*p, *tables);
    return print_preflight(*p, *tables);
}

}  // namespace inj::cli
