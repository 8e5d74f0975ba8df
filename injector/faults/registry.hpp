// The fault kinds: one row each. A row is everything about a kind that the rest of the program
// needs, and nothing outside the kind's module (faults/<kind>/) and this registry names a kind:
// the loader reads the common part of a method entry and hands the rest to `load`; `injector
// plan` prints `describe`; the runner calls `preflight` before anything is touched and applies
// the kind's faults through `engine`; the plan's JSON Schema is generated from `keys`.
#pragma once

#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "plan/reader.hpp"

namespace inj {
class Engine;
namespace net {
struct Tables;
}
}  // namespace inj

namespace inj::faults {

class Facilities;

// One of a kind's own keys, for the allow list and the JSON Schema.
struct Key {
    const char* name;
    const char* doc;        // one line
    nlohmann::json schema;  // JSON Schema of its value
};

// What `describe` may read: the plan, its compiled network tables and the fault. A kind says
// what it does and to whom; the preview adds the network effect (cut or degraded host pairs)
// of every kind whose spec has one, so no kind prints cut sets itself.
struct DescribeContext {
    const plan::Plan& plan;
    const net::Tables& tables;
    size_t index;             // into plan.method
    bool list_hosts = false;  // `injector plan --hosts`: every name of every list
    const plan::Fault& fault() const { return plan.method[index]; }
    // "a b c", or "a b ... z (N)" for a list longer than the preview prints whole.
    std::string names(const std::vector<std::string>& v, const char* sep = " ") const;
};

struct Kind {
    const char* name;         // as plans write it: `fault: sever`
    const char* summary;      // one line for help and the schema
    bool takes_peer = false;  // has a peer side (`peer:`, default the rest of the lab)
    bool host_target = true;  // its target is hosts (zones, power domains, hosts), no CIDRs
    std::vector<Key> keys;    // its own keys, beyond name, fault, at, duration, target, peer
    // Reads the kind's own keys into fault.spec; reports problems through ctx (file:line:col).
    void (*load)(plan::FaultContext& ctx, plan::MapView& m, const plan::Field& item, plan::Fault& fault) = nullptr;
    // Lines for `injector plan`: what the fault does, to whom, and how it heals.
    void (*describe)(std::ostream& out, const DescribeContext& c) = nullptr;
    // Checks the machine can apply the plan's faults of this kind (called once per kind the plan
    // uses, before anything is touched); returns lines for the journal, or why not (exit 3).
    Result<std::vector<std::string>> (*preflight)(const plan::Plan& plan) = nullptr;
    // The engine that applies this kind's faults, made from (or being) the run's facilities.
    Engine* (*engine)(Facilities& f) = nullptr;
    // Fleet mode: the engine's reports of one fault from each agent's host (Engine::fault_report,
    // by host; input from other machines) as the fields a local report of the fault has, so a
    // run's report reads the same in both modes. Null: the per-host reports stand alone.
    nlohmann::json (*merge_reports)(const std::map<std::string, nlohmann::json>& by_host) = nullptr;
};

// Every kind, in the order `injector plan` and the schema list them.
const std::vector<const Kind*>& kinds();
const Kind* find(std::string_view name);
std::vector<std::string> kind_names();
const Kind& kind_of(const plan::Fault& f);

// `direction` and `share`, read the same way by every kind with two sides.
void load_sides(plan::FaultContext& ctx, plan::MapView& m, plan::Direction& direction, double& share);
std::vector<Key> side_keys();
// "T+5s  name: " and the fault's window, the start of every kind's description.
std::string headline(const plan::Fault& f);
// Lists up to this long are printed whole by `injector plan`.
inline constexpr size_t kShortList = 8;
// "a b c", or "a b ... z (N)" for a list longer than kShortList unless `all`.
std::string short_list(const std::vector<std::string>& v, bool all, const char* sep = " ");

}  // namespace inj::faults
