// The canaries of a run (canaries.hpp).
#include "runner/canaries.hpp"

#include <optional>
#include <unordered_set>
#include <utility>

#include "faults/degrade_link/spec.hpp"

namespace inj::runner {
namespace {

// What a canary across a slowed link looks for: the least round trip the latency adds (delay less
// jitter, crossed at least once: the pair is degraded from source to destination, less a tenth for
// the timers) and the port to connect to (the discard port, or the first the fault's port filter
// covers). nullopt when one connect cannot show it: a latency under 2 ms is within a real
// network's own round trip, a filter that leaves TCP out never delays the canary.
struct LatencyCheck {
    Duration min_rtt;
    int port;
};
std::optional<LatencyCheck> latency_check(const plan::LinkDegrade& d) {
    const Duration floor = d.delay - d.jitter;
    if (floor < std::chrono::milliseconds(2)) return std::nullopt;
    if (d.protocol != 0 && d.protocol != 6) return std::nullopt;
    int port = d.port_lo <= 9 && 9 <= d.port_hi ? 9 : d.port_lo > 0 ? d.port_lo : d.port_hi;
    if (port <= 0) return std::nullopt;
    return LatencyCheck{floor - floor / 10, port};
}

}  // namespace

std::vector<safety::Canary> plan_canaries(const plan::Plan& plan, const net::Tables& tables,
                                          const targets::Targets& targets) {
    std::vector<safety::Canary> out;
    for (size_t i = 0; i < plan.method.size(); ++i) {
        const auto& f = plan.method[i];
        auto effect = f.net();
        if (!effect || effect->share < 1.0) continue;
        std::optional<std::pair<std::string, std::string>> pair;
        std::optional<LatencyCheck> latency;
        int port = 9;
        if (effect->kind == plan::NetEffect::Kind::cut) {
            pair = net::first_cut(plan, tables, i);
        } else if (effect->kind == plan::NetEffect::Kind::degrade) {
            if (!effect->link || !(latency = latency_check(*effect->link))) continue;
            pair = net::first_cut(plan, tables, i, true);
            port = latency->port;
        } else if (effect->kind == plan::NetEffect::Kind::isolate) {
            // Nothing reaches a dark host: from anyone lit (a host of this machine) to it.
            auto dark = plan::selected_hosts(plan.topology, f.target);
            std::unordered_set<std::string> darkset(dark.begin(), dark.end());
            const plan::Host* lit = nullptr;
            for (auto& h : plan.topology.hosts)
                if (!darkset.count(h.name) && !h.addresses.empty()) {
                    const targets::Host* t = targets.host(h.name);
                    if (t && !t->netns.empty()) {
                        lit = &h;
                        break;
                    }
                }
            if (lit && !dark.empty()) pair = std::pair{lit->name, dark.front()};
        }
        if (!pair) continue;
        const targets::Host* from = targets.host(pair->first);
        const plan::Host* to = plan.topology.host(pair->second);
        if (!from || from->netns.empty() || !to || to->addresses.empty()) continue;  // on another machine
        // The destination's first address of the source's family (a packet never mixes them).
        const plan::Host* src = plan.topology.host(pair->first);
        const bool v6 = src && !src->addresses.empty() && src->addresses[0].addr.v6;
        const IpAddr* addr = nullptr;
        for (auto& a : to->addresses)
            if (a.addr.v6 == v6) {
                addr = &a.addr;
                break;
            }
        if (!addr) continue;
        out.push_back({f.name, pair->first, pair->second, from->netns,
                       (addr->v6 ? "[" + addr->str() + "]" : addr->str()) + ":" + std::to_string(port),
                       latency ? latency->min_rtt : Duration{0}});
    }
    return out;
}

}  // namespace inj::runner
