// power_loss: a power domain, a zone or a list of hosts goes dark at once (links, processes,
// volatile disk caches) and comes back (links first, then services, optionally staggered; RTO
// measured). Its engine (power_engine.hpp) drives the classifier and the fault filesystems.
#include <algorithm>
#include <ostream>
#include <unordered_set>

#include "faults/facilities.hpp"
#include "faults/power_loss/crash_at.hpp"
#include "faults/power_loss/power_engine.hpp"
#include "faults/registry.hpp"
#include "net/compile.hpp"
#include "net/net_engine.hpp"
#include "plan/json.hpp"
#include "storage/storage_engine.hpp"

namespace inj::faults {
namespace {
using namespace plan;

// power_loss's own keys: `mode` and `restore: { stagger, order }`. Runs after the target is read,
// so `order` can be checked against the hosts the target darkens.
void load(plan::FaultContext& ctx, plan::MapView& m, const plan::Field&, plan::Fault& fault) {
    auto& spec = fault.spec.emplace<plan::PowerLossSpec>();
    if (auto mf = m.get("mode"))
        if (auto v = ctx.str(*mf)) {
            if (*v == "kill")
                spec.mode = PowerMode::kill;
            else if (*v == "freeze")
                spec.mode = PowerMode::freeze;
            else
                ctx.error(*mf, "unknown mode '" + *v + "' (use kill or freeze)");
        }
    // `at` as a map is a crash point (the loader reads `at` as a time otherwise).
    if (auto af = m.get("at"); af && af->node.IsMap()) {
        spec.crash = load_crash_at(ctx, *af, fault);
        if (spec.mode == PowerMode::freeze)
            ctx.error(af->key_mark, af->path,
                      "a crash point takes the disk's power: it needs mode kill (a frozen "
                      "host keeps its disk powered)");
    }
    auto rf = m.get("restore");
    if (!rf) return;
    spec.restore.mark = rf->mark;
    plan::MapView r(ctx, *rf);
    if (!r.ok()) return;
    r.allow({"stagger", "order"});
    if (auto s = r.get("stagger"))
        if (auto d = ctx.duration(*s, false)) spec.restore.stagger = *d;
    auto of = r.get("order");
    if (!of) return;
    auto items = ctx.one_or_list(*of);
    if (!items) return;
    std::vector<std::string> dark = selected_hosts(ctx.plan().topology, fault.target);
    for (auto& it : *items) {
        auto v = ctx.name(it);
        if (!v) continue;
        if (!ctx.plan().topology.host(*v)) {
            ctx.error(it, "unknown host '" + *v + "' (hosts: " + join_known(ctx.host_names()) + ")");
        } else if (std::find(dark.begin(), dark.end(), *v) == dark.end()) {
            ctx.error(it, "host '" + *v + "' is not one of the hosts this fault darkens (" + join(dark) + ")");
        } else if (std::find(spec.restore.order.begin(), spec.restore.order.end(), *v) != spec.restore.order.end()) {
            ctx.error(it, "host '" + *v + "' is listed twice");
        } else {
            spec.restore.order.push_back(*v);
        }
    }
}

void describe_cascades(std::ostream& out, const DescribeContext& c, const std::unordered_set<std::string>& dark) {
    // Links and zone switches the dark domains feed cut hosts that keep power.
    for (auto& k : plan::cascades(c.plan.topology, c.fault().target)) {
        out << "      cascade: " << k.str() << " goes dark: ";
        if (k.kind == plan::Cascade::Kind::link) {
            out << "zones " << k.a << " and " << k.b << " lose each other\n";
            continue;
        }
        std::vector<std::string> cut_off;
        for (auto& h : c.plan.topology.hosts)
            if (h.zone == k.a && !dark.count(h.name)) cut_off.push_back(h.name);
        out << "every host of " << k.a << " is cut off (" << cut_off.size() << " still powered"
            << (cut_off.empty() ? "" : " ") << c.names(cut_off) << ")\n";
    }
}

void describe(std::ostream& out, const DescribeContext& c) {
    // What goes dark: the hosts and every service they run, cut from everyone (control
    // included); then how power comes back.
    const plan::Fault& f = c.fault();
    const auto& s = *f.as<plan::PowerLossSpec>();
    const bool kill = s.mode == plan::PowerMode::kill;
    auto dark = power::restore_order(c.plan, f);
    out << headline(f) << "power_loss " << plan::describe(f.target) << " (mode " << plan::to_string(s.mode) << ") ";
    if (s.crash)
        out << "at a crash point";
    else
        out << "for " << format_duration(f.duration);
    out << ", power back at T+" << format_duration(f.at + f.duration) << "  [" << f.mark.str() << "]\n";
    if (s.crash)
        out << "      crash point: the power goes " << crash_text(*s.crash) << " on "
            << c.names(crash_volumes(c.plan, power::restore_order(c.plan, f)), ", ") << " (armed from T+"
            << format_duration(f.at) << "; that volume's loss applied at the operation, "
            << "then the hosts go dark; nothing goes dark if it has not happened by T+"
            << format_duration(f.at + f.duration) << ")\n";
    out << "      dark: " << dark.size() << (dark.size() == 1 ? " host" : " hosts")
        << ", every link cut both ways (control included): " << c.names(dark) << "\n";
    std::unordered_set<std::string> is_dark(dark.begin(), dark.end());
    for (auto& svc : c.plan.lab.services) {
        std::vector<std::string> on;
        for (auto& h : svc.hosts)
            if (is_dark.count(h)) on.push_back(h);
        if (on.empty()) continue;
        out << "      service " << svc.name << " " << (kill ? "killed" : "frozen") << " on " << c.names(on) << "\n";
    }
    out << "      restore: " << (kill ? "restart services" : "thaw") << " in order " << c.names(dark);
    if (s.restore.stagger.count() > 0) out << ", " << format_duration(s.restore.stagger) << " apart";
    out << "; readiness awaited (RTO per service in the report)\n";
    describe_cascades(out, c, is_dark);
}

std::vector<Key> keys() {
    return {
        {"at", "when it starts (a time), or a crash point { op, path, nth, when }", crash_at_schema()},
        {"mode",
         "kill (default: every process SIGKILLed, volatile caches lost) or freeze (the hung host)",
         {{"enum", {"kill", "freeze"}}}},
        {"restore",
         "how power comes back: { stagger: 2s, order: [hosts first] }",
         {{"type", "object"},
          {"additionalProperties", false},
          {"properties",
           {{"stagger", {{"type", "string"}}},
            {"order", {{"oneOf", {{{"type", "string"}}, {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}}}}}};
}

}  // namespace

extern const Kind kPowerLoss{
    "power_loss",
    "a power domain, zone or hosts go dark at once: links cut, processes killed or frozen, caches lost",
    plan::PowerLossSpec::takes_peer,
    plan::PowerLossSpec::host_target,
    keys(),
    load,
    describe,
    nullptr,
    [](Facilities& f) -> Engine* {
        return &f.own("power_loss", [&f] { return std::make_unique<power::PowerEngine>(f.net(), &f.disks()); });
    },
    power::merge_reports,
};

}  // namespace inj::faults
