// check_real_targets(): the protected-by-default check of bound plans (protect_real.hpp).
#include "safety/protect_real.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "targets/procfs.hpp"

namespace inj::safety {

ProtectedList plan_protected(const plan::Plan& plan) {
    ProtectedList out;
    for (auto& p : plan.safety.protected_targets) {
        Protected q;
        if (p.kind == plan::Protected::Kind::interface) {
            q.kind = Protected::Kind::interface;
            q.interface = p.name;
        } else if (p.kind == plan::Protected::Kind::port) {
            q.kind = Protected::Kind::port;
            q.port = static_cast<uint16_t>(std::stoi(p.name));
        } else {
            continue;
        }
        q.why = "protected by the plan at " + p.mark.str();
        out.push_back(std::move(q));
    }
    return out;
}

std::vector<std::string> check_real_targets(const plan::Plan& plan, const net::Tables& tables,
                                            const targets::Targets& targets, const ProtectedList& machine,
                                            const std::string& own_netns) {
    ProtectedList protect = machine;
    for (auto& p : plan_protected(plan)) protect.push_back(p);
    // The bound hosts that are this machine (its namespace), with their interfaces; each namespace
    // looked at once (a lab's pooled hosts share theirs).
    std::unordered_map<std::string, bool> mine;
    auto is_machine = [&](const std::string& host) -> const targets::Host* {
        const targets::Host* h = targets.host(host);
        if (!h) return nullptr;
        auto [it, fresh] = mine.try_emplace(h->netns, false);
        if (fresh) it->second = targets::same_file(h->netns, own_netns);
        return it->second ? h : nullptr;
    };
    // None of them is: nothing below can refuse (and a lab of 32,000 hosts has a billion pairs).
    if (std::none_of(targets.hosts().begin(), targets.hosts().end(),
                     [&](const targets::Host& h) { return is_machine(h.name) != nullptr; }))
        return {};
    auto addresses = [&](const std::string& host) {
        std::vector<IpAddr> out;
        if (const plan::Host* ph = plan.topology.host(host))
            for (auto& a : ph->addresses) out.push_back(a.addr);
        return out;
    };
    auto interfaces = [](const targets::Host& h) {
        std::vector<std::string> out;
        for (auto& j : h.judges) out.push_back(j.ifname);
        return out;
    };
    std::vector<std::string> out;
    for (size_t i = 0; i < plan.method.size(); ++i) {
        const plan::Fault& f = plan.method[i];
        auto refuse = [&](const std::string& host, const std::string& why) {
            out.push_back("fault " + f.name + " (" + f.mark.str() + ") on host " + host + " (this machine): " + why);
        };
        // Everything of the host goes dark: a power loss.
        if (f.as<plan::PowerLossSpec>()) {
            for (auto& hn : plan::selected_hosts(plan.topology, f.target))
                if (const targets::Host* h = is_machine(hn))
                    if (auto why = refusal(protect, Cut{interfaces(*h), {}, addresses(hn), {}})) refuse(hn, *why);
            continue;
        }
        // Only what the host exchanges with the other side: a sever or a degraded link.
        auto effect = f.net();
        if (!effect || effect->kind == plan::NetEffect::Kind::isolate) continue;
        auto pairs = effect->kind == plan::NetEffect::Kind::cut ? net::cut_set(plan, tables, i)
                                                                : net::degraded_set(plan, tables, i);
        std::map<std::string, std::vector<Cidr>> peers;
        for (auto& [a, b] : pairs)
            for (auto [self, other] : {std::pair{a, b}, std::pair{b, a}})
                if (is_machine(self))
                    for (auto& addr : addresses(other)) peers[self].push_back(Cidr{addr, addr.bits()});
        for (auto& [hn, list] : peers)
            if (auto why = refusal(protect, Cut{interfaces(*is_machine(hn)), {}, addresses(hn), list}))
                refuse(hn, *why);
    }
    return out;
}

}  // namespace inj::safety
