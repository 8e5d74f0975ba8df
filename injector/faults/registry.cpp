// The registry: one row per fault kind, defined in the kind's module (faults/<kind>/kind.cpp).
// A new kind adds its row here and its spec to faults/specs.hpp.
#include "faults/registry.hpp"

#include <ostream>
#include <stdexcept>

#include "plan/json.hpp"

namespace inj::faults {

extern const Kind kSever;
extern const Kind kDegradeLink;
extern const Kind kPowerLoss;
extern const Kind kDegradeStorage;
extern const Kind kStopService;

const std::vector<const Kind*>& kinds() {
    static const std::vector<const Kind*> all{&kSever, &kDegradeLink, &kPowerLoss, &kDegradeStorage, &kStopService};
    return all;
}

const Kind* find(std::string_view name) {
    for (const Kind* k : kinds())
        if (name == k->name) return k;
    return nullptr;
}

std::vector<std::string> kind_names() {
    std::vector<std::string> v;
    for (const Kind* k : kinds()) v.emplace_back(k->name);
    return v;
}

const Kind& kind_of(const plan::Fault& f) {
    const Kind* k = find(f.kind());
    // Every spec type has a row (a test checks the variant and the table agree).
    if (!k) throw std::logic_error(std::string("fault kind without a registry row: ") + f.kind());
    return *k;
}

void load_sides(plan::FaultContext& ctx, plan::MapView& m, plan::Direction& direction, double& share) {
    if (auto d = m.get("direction"))
        if (auto v = ctx.str(*d)) {
            if (*v == "both")
                direction = plan::Direction::both;
            else if (*v == "from")
                direction = plan::Direction::from;
            else if (*v == "to")
                direction = plan::Direction::to;
            else
                ctx.error(*d, "unknown direction '" + *v + "' (use both, from or to)");
        }
    if (auto s = m.get("share"))
        if (auto v = ctx.number(*s)) {
            if (!(*v > 0.0 && *v <= 1.0))
                ctx.error(*s, "share " + s->node.Scalar() + " is outside (0, 1]");
            else
                share = *v;
        }
}

std::vector<Key> side_keys() {
    return {{"direction",
             "both (default), from (target -> peer only) or to (peer -> target only)",
             {{"enum", {"both", "from", "to"}}}},
            {"share",
             "share of flows affected, (0, 1]; below 1 is a gray failure (by flow hash)",
             {{"type", "number"}, {"exclusiveMinimum", 0}, {"maximum", 1}}}};
}

std::string short_list(const std::vector<std::string>& v, bool all, const char* sep) {
    if (all || v.size() <= kShortList) return plan::join(v, sep);
    return v[0] + sep + v[1] + sep + "..." + sep + v.back() + " (" + std::to_string(v.size()) + ")";
}

std::string DescribeContext::names(const std::vector<std::string>& v, const char* sep) const {
    return short_list(v, list_hosts, sep);
}

std::string headline(const plan::Fault& f) { return "  T+" + format_duration(f.at) + "  " + f.name + ": "; }

}  // namespace inj::faults
