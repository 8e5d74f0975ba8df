// The canaries of a run (canaries.hpp).
#include "runner/canaries.hpp"

#include <optional>
#include <unordered_set>
#include <utility>

namespace inj::runner {

std::vector<safety::Canary> plan_canaries(const plan::Plan& plan, const net::Tables& tables,
                                          const targets::Targets& targets) {
    std::vector<safety::Canary> out;
    for (size_t i = 0; i < plan.method.size(); ++i) {
        const auto& f = plan.method[i];
        auto effect = f.net();
        if (!effect || effect->share < 1.0) continue;
        std::optional<std::pair<std::string, std::string>> pair;
        if (effect->kind == plan::NetEffect::Kind::cut) {
            pair = net::first_cut(plan, tables, i);
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
                       (addr->v6 ? "[" + addr->str() + "]" : addr->str()) + ":9"});
    }
    return out;
}

}  // namespace inj::runner
