// `injector plan` for a plan bound to what exists: every real interface, cgroup, directory and
// process a run would touch, found as the run would find them (nothing is changed), and what the
// protected-by-default check of this machine says.
#include "cli/plan_targets.hpp"

#include "safety/protect_real.hpp"
#include "targets/bound.hpp"

namespace inj::cli {

bool print_bound_targets(std::ostream& out, const plan::Plan& p, const net::Tables& t) {
    if (!p.topology.bound()) return true;
    out << "targets: the hosts are bound to what exists on this machine; a run touches exactly these\n";
    auto bound = targets::bind(p);
    if (!bound) {
        out << "  not resolvable now (`run` exits 3 before touching anything): " << bound.error().message() << "\n";
        return false;
    }
    for (auto& line : (*bound)->touched()) out << "  " << line << "\n";
    auto hits = safety::check_real_targets(p, t, **bound, safety::local_protected(), "/proc/self/ns/net");
    if (hits.empty()) {
        out << "protected on this machine (default route, sshd, the plan's interface/port entries): untouched\n";
        return true;
    }
    out << "preflight would REFUSE this plan on this machine (`run` exits 3):\n";
    for (auto& h : hits) out << "  " << h << "\n";
    return false;
}

}  // namespace inj::cli
