// The vocabulary shared by the plan model and the fault kinds' own parts: positions in the plan
// file, directions of a cut, and the kind-neutral account of what a fault does to the network
// (the classifier compiles rules from it without knowing which kind asked).
#pragma once

#include <optional>
#include <string>

namespace inj::plan {

// A position in the plan file; line and col are 1-based, as editors show them.
struct Mark {
    std::string file;
    int line = 0;
    int col = 0;
    std::string str() const { return file + ":" + std::to_string(line) + ":" + std::to_string(col); }
};

// A problem with the plan, where it is.
struct PlanError {
    Mark mark;         // 1-based; line 0 when the problem has no position (unreadable file)
    std::string path;  // field path, e.g. "method[2].target.zone"; empty for YAML syntax errors
    std::string message;
    // "file:line:col: path: message"
    std::string str() const;
};

enum class Direction { both, from, to };  // from: target->peer dropped; to: peer->target dropped
const char* to_string(Direction d);

struct LinkDegrade;  // faults/degrade_link/spec.hpp

// What a fault does to packets, for the classifier. A kind with no network part has none.
struct NetEffect {
    enum class Kind {
        cut,      // target <-> peer dropped per `direction`, for `share` of flows
        degrade,  // target <-> peer degraded per `direction` as `link` says; nobody is cut off
        isolate,  // every link of the target's hosts dropped both ways, control included, and
                  // every powered link and zone switch the target's power domains feed (cascades)
    };
    Kind kind = Kind::cut;
    Direction direction = Direction::both;
    double share = 1.0;                 // share of flows (1.0: all)
    const LinkDegrade* link = nullptr;  // degrade: the parameters (owned by the fault)
};

// Defaults for the hooks every fault kind's spec offers (a spec derives from this and hides
// what it has): the plan model, the classifier and the lab read faults through these only.
struct SpecBase {
    // Whether the fault has a peer side (`peer:`); kinds without one act on their target alone.
    static constexpr bool takes_peer = false;
    // Whether the target is hosts only (zones, power domains, hosts; no CIDRs).
    static constexpr bool host_target = true;
    std::optional<NetEffect> net() const { return std::nullopt; }
    // The volume the fault acts on through the fault filesystem, on each target host; or null.
    const std::string* volume() const { return nullptr; }
    // The services the fault takes down on its target hosts and brings back at heal (each one's
    // time to ready is an RTO): null for none, empty for every service of those hosts.
    std::optional<std::string> restarts() const { return std::nullopt; }
};

}  // namespace inj::plan
