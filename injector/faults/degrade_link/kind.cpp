// degrade_link: a link gets worse instead of going: loss (also bursty), latency +- jitter, a
// rate cap, corruption, duplication, on the paths between a target and a peer set, optionally
// only some protocol or ports. A classifier rule (plus the delay line or EDT, and HTB), applied
// by the net engine; preflight checks the kernel has the mechanisms it needs.
#include <cstdio>
#include <cstdlib>
#include <ostream>

#include "faults/facilities.hpp"
#include "faults/registry.hpp"
#include "net/compile.hpp"
#include "net/mechanism.hpp"
#include "net/net_engine.hpp"
#include "plan/json.hpp"

namespace inj::faults {
namespace {
using namespace plan;

// degrade_link's own keys: loss, latency, rate, corrupt, duplicate, protocol, port. At least one
// of the effects must be given, or the fault would do nothing.
void load(plan::FaultContext& ctx, plan::MapView& m, const plan::Field& f, plan::Fault& fault) {
    auto& spec = fault.spec.emplace<plan::DegradeLinkSpec>();
    load_sides(ctx, m, spec.direction, spec.share);
    LinkDegrade& d = spec.link;
    d.mark = fault.mark;
    bool any = false;
    if (auto lf = m.get("loss")) {
        any = true;
        if (lf->node.IsMap()) {
            plan::MapView l(ctx, *lf);
            if (l.ok()) {
                l.allow({"probability", "burst"});
                if (auto p = l.require("probability"))
                    if (auto v = ctx.probability(*p)) d.loss = *v;
                if (auto b = l.get("burst"))
                    if (auto v = ctx.number(*b)) {
                        if (!(*v >= 1.0 && *v <= 1e6))
                            ctx.error(*b, "burst " + b->node.Scalar() +
                                              " (mean packets lost in a row) is outside [1, 1000000]");
                        else
                            d.loss_burst = *v;
                    }
                if (d.loss >= 1.0 && d.loss_burst > 1.0)
                    ctx.error(*lf, "a loss burst needs a probability below 1 (every packet is lost already)");
            }
        } else if (auto v = ctx.probability(*lf)) {
            d.loss = *v;
        }
    }
    if (auto lf = m.get("latency")) {
        any = true;
        if (lf->node.IsMap()) {
            plan::MapView l(ctx, *lf);
            if (l.ok()) {
                l.allow({"delay", "jitter"});
                if (auto p = l.require("delay"))
                    if (auto v = ctx.duration(*p, true)) d.delay = *v;
                if (auto j = l.get("jitter"))
                    if (auto v = ctx.duration(*j, false)) {
                        if (*v > d.delay && d.delay.count() > 0)
                            ctx.error(*j, "jitter " + format_duration(*v) + " is larger than the delay " +
                                              format_duration(d.delay) + " (a packet cannot leave before it was sent)");
                        else
                            d.jitter = *v;
                    }
            }
        } else if (auto v = ctx.duration(*lf, true)) {
            d.delay = *v;
        }
        if (d.delay > std::chrono::seconds(10))
            ctx.error(*lf, "latency above 10s is not a degraded link but a cut: use sever");
    }
    if (auto rf = m.get("rate")) {
        any = true;
        if (auto s = ctx.str(*rf)) {
            // tc's units: bit, kbit, mbit, gbit (x1000), and the same with "ps" (bytes).
            static const std::vector<std::pair<std::string, double>> units{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3},
                                                                           {"bit", 1.0},  {"gbps", 8e9}, {"mbps", 8e6},
                                                                           {"kbps", 8e3}, {"bps", 8.0}};
            double mult = 0;
            std::string num = *s;
            for (auto& [u, f] : units)
                if (num.size() > u.size() && num.compare(num.size() - u.size(), u.size(), u) == 0) {
                    mult = f;
                    num.resize(num.size() - u.size());
                    break;
                }
            char* end = nullptr;
            double v = std::strtod(num.c_str(), &end);
            if (mult == 0 || num.empty() || end != num.c_str() + num.size())
                ctx.error(*rf, "bad rate '" + *s +
                                   "': use a number with bit, kbit, mbit, gbit (or bps, kbps, mbps, gbps for bytes)");
            else if (!(v * mult >= 8000.0 && v * mult <= 100e9))
                ctx.error(*rf, "rate '" + *s + "' is outside 8kbit..100gbit");
            else
                d.rate_bps = static_cast<uint64_t>(v * mult);
        }
    }
    if (auto c = m.get("corrupt")) {
        any = true;
        if (auto v = ctx.probability(*c)) d.corrupt = *v;
    }
    if (auto c = m.get("duplicate")) {
        any = true;
        if (auto v = ctx.probability(*c)) d.duplicate = *v;
    }
    if (auto pf = m.get("protocol"))
        if (auto s = ctx.str(*pf)) {
            if (*s == "tcp")
                d.protocol = 6;
            else if (*s == "udp")
                d.protocol = 17;
            else if (*s == "icmp")
                d.protocol = 1;
            else if (*s == "icmpv6")
                d.protocol = 58;
            else if (*s != "any")
                ctx.error(*pf, "unknown protocol '" + *s + "' (use tcp, udp, icmp, icmpv6 or any)");
        }
    if (auto pf = m.get("port"))
        if (auto s = ctx.str(*pf)) {
            // "2380" or "2379-2380": a packet matches when either of its ports is in range.
            unsigned lo = 0, hi = 0;
            char dash = 0, extra = 0;
            int n = std::sscanf(s->c_str(), "%u%c%u%c", &lo, &dash, &hi, &extra);
            if (n == 1) hi = lo;
            if (!((n == 1) || (n == 3 && dash == '-')) || lo < 1 || hi > 65535 || lo > hi)
                ctx.error(*pf, "bad port '" + *s + "': use a port (2380) or a range (2379-2380) within 1-65535");
            else if (d.protocol != 0 && d.protocol != 6 && d.protocol != 17)
                ctx.error(*pf, "ports need protocol tcp or udp (or none)");
            else {
                d.port_lo = static_cast<uint16_t>(lo);
                d.port_hi = static_cast<uint16_t>(hi);
            }
        }
    if (!any) ctx.error(f, "degrade_link needs at least one of loss, latency, rate, corrupt, duplicate");
}

void describe(std::ostream& out, const DescribeContext& c) {
    const plan::Fault& f = c.fault();
    const auto& s = *f.as<plan::DegradeLinkSpec>();
    const char* arrow = s.direction == Direction::both ? " <-> " : s.direction == Direction::from ? " -> " : " <- ";
    out << headline(f) << "degrade_link " << plan::describe(f.target) << arrow << plan::describe(f.peer) << " for "
        << format_duration(f.duration) << ", healed at T+" << format_duration(f.at + f.duration) << "  ["
        << f.mark.str() << "]\n";
    out << "      " << net::describe_degrade(s.link)
        << (s.share < 1.0 ? " (a share of flows: " + std::to_string(s.share) + ")" : "") << "\n";
}

Result<std::vector<std::string>> preflight(const plan::Plan& plan) {
    auto m = net::choose_mechanisms(plan);
    if (!m) return m.error();
    return m->describe();
}

std::vector<Key> keys() {
    auto k = side_keys();
    nlohmann::json probability = {{"type", "string"}, {"pattern", "^[0-9.]+%?$"}};
    nlohmann::json duration = {{"type", "string"}};
    k.push_back({"loss",
                 "packets dropped: 5% or 0.05, or { probability, burst } (bursty: mean packets lost in a row)",
                 {{"oneOf",
                   {probability,
                    {{"type", "number"}, {"minimum", 0}, {"maximum", 1}},
                    {{"type", "object"},
                     {"additionalProperties", false},
                     {"required", {"probability"}},
                     {"properties",
                      {{"probability", {{"type", {"string", "number"}}}},
                       {"burst", {{"type", "number"}, {"minimum", 1}}}}}}}}}});
    k.push_back({"latency",
                 "added one-way delay: 50ms, or { delay, jitter }",
                 {{"oneOf",
                   {duration,
                    {{"type", "object"},
                     {"additionalProperties", false},
                     {"required", {"delay"}},
                     {"properties", {{"delay", duration}, {"jitter", duration}}}}}}}});
    k.push_back(
        {"rate", "a cap: 10mbit (bit, kbit, mbit, gbit; bps, kbps, mbps, gbps for bytes)", {{"type", "string"}}});
    k.push_back({"corrupt", "packets with a byte flipped: 0.1%", {{"type", {"string", "number"}}}});
    k.push_back({"duplicate", "packets sent twice: 1%", {{"type", {"string", "number"}}}});
    k.push_back({"protocol", "only this protocol", {{"enum", {"tcp", "udp", "icmp", "icmpv6", "any"}}}});
    k.push_back(
        {"port", "only packets with this port at either end: 2380 or 2379-2380", {{"type", {"string", "integer"}}}});
    return k;
}

}  // namespace

extern const Kind kDegradeLink{
    "degrade_link",
    "a link gets worse: loss, latency, a rate cap, corruption, duplication between a target and a peer set",
    plan::DegradeLinkSpec::takes_peer,
    plan::DegradeLinkSpec::host_target,
    keys(),
    load,
    describe,
    preflight,
    [](Facilities& f) -> Engine* { return &f.net(); },
};

}  // namespace inj::faults
