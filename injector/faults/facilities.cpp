// The run's facilities and the engine set built from the registry (facilities.hpp).
#include "faults/facilities.hpp"

#include "faults/registry.hpp"
#include "net/net_engine.hpp"
#include "storage/storage_engine.hpp"

namespace inj::faults {

Facilities::Facilities() = default;
Facilities::~Facilities() = default;

net::NetEngine& Facilities::net() {
    if (!net_) net_ = std::make_unique<net::NetEngine>();
    return *net_;
}

storage::StorageEngine& Facilities::disks() {
    if (!disks_) disks_ = std::make_unique<storage::StorageEngine>();
    return *disks_;
}

Engine& Facilities::own(const std::string& kind, const std::function<std::unique_ptr<Engine>()>& make) {
    for (auto& [k, e] : own_)
        if (k == kind) return *e;
    own_.emplace_back(kind, make());
    return *own_.back().second;
}

EngineSet Facilities::finish(std::vector<Engine*> of_fault) {
    EngineSet set;
    // The classifier before the disks: on abort links come back first, as in a planned restore.
    if (net_) set.shared.push_back(std::move(net_));
    if (disks_) set.shared.push_back(std::move(disks_));
    for (auto& [k, e] : own_) set.own.push_back(std::move(e));
    own_.clear();
    set.of_fault = std::move(of_fault);
    return set;
}

EngineSet make_engines(const plan::Plan& plan) {
    Facilities f;
    std::vector<Engine*> of_fault;
    for (auto& fault : plan.method) of_fault.push_back(kind_of(fault).engine(f));
    return f.finish(std::move(of_fault));
}

}  // namespace inj::faults
