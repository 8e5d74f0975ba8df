// sever: traffic between a target and a peer set is cut (both ways, or one way), for all flows
// or a share of them (a gray failure). A classifier rule, applied by the net engine.
#include <ostream>

#include "faults/facilities.hpp"
#include "faults/registry.hpp"
#include "net/compile.hpp"
#include "net/net_engine.hpp"
#include "plan/json.hpp"

namespace inj::faults {
namespace {

void load(plan::FaultContext& ctx, plan::MapView& m, const plan::Field&, plan::Fault& f) {
    auto& s = f.spec.emplace<plan::SeverSpec>();
    load_sides(ctx, m, s.direction, s.share);
}

const char* arrow(plan::Direction d) {
    return d == plan::Direction::both ? " <-> " : d == plan::Direction::from ? " -> " : " <- ";
}

void describe(std::ostream& out, const DescribeContext& c) {
    const plan::Fault& f = c.fault();
    const auto& s = *f.as<plan::SeverSpec>();
    out << headline(f) << "sever " << plan::describe(f.target) << arrow(s.direction) << plan::describe(f.peer)
        << " for " << format_duration(f.duration) << ", healed at T+" << format_duration(f.at + f.duration) << "  ["
        << f.mark.str() << "]\n";
    if (s.share < 1.0) out << "      a share of flows: " << s.share << " (by flow hash)\n";
}

}  // namespace

extern const Kind kSever{
    "sever",
    "cut traffic between a target and a peer set (zones, power domains, hosts, CIDRs)",
    plan::SeverSpec::takes_peer,
    plan::SeverSpec::host_target,
    side_keys(),
    load,
    describe,
    nullptr,
    [](Facilities& f) -> Engine* { return &f.net(); },
};

}  // namespace inj::faults
