// What the fault kinds' engines are made from, once per run: the classifier (net::NetEngine),
// the fault filesystems' controls (storage::StorageEngine), and the kinds' own engines. A
// registry row's `engine` returns one of these; make_engines() turns them into the runner's
// EngineSet (shared facilities first, kinds' own engines after).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runner/engine.hpp"

namespace inj::net {
class NetEngine;
}
namespace inj::storage {
class StorageEngine;
}

namespace inj::faults {

class Facilities {
public:
    Facilities();
    ~Facilities();
    net::NetEngine& net();
    storage::StorageEngine& disks();
    // The engine of kind `kind` alone, made by `make` the first time it is asked for.
    Engine& own(const std::string& kind, const std::function<std::unique_ptr<Engine>()>& make);
    // The facilities and engines made so far, as the runner's set.
    EngineSet finish(std::vector<Engine*> of_fault);

private:
    std::unique_ptr<net::NetEngine> net_;
    std::unique_ptr<storage::StorageEngine> disks_;
    std::vector<std::pair<std::string, std::unique_ptr<Engine>>> own_;
};

// One engine per fault of the plan, through the registry.
EngineSet make_engines(const plan::Plan& plan);

}  // namespace inj::faults
