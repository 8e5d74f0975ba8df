// What `injector agent --metrics ADDR` shows a Prometheus scrape: the agent's health and its
// contact with etcd, the run it drives (state, generation), each fault it holds on this host
// (armed, packets its rule dropped and passed, services it brought back and their RTO), and how
// many steps it applied and statuses it wrote, by state (each revert and each refusal writes one). The agent feeds it
// from its loop; a scrape reads a snapshot under the lock, so it never waits on etcd or on an engine.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fleet/protocol.hpp"

namespace inj::fleet {

class AgentMetrics {
public:
    struct FaultName {
        std::string name, kind;
    };

    void started(const AgentInfo& info);
    // The keepalive thread: whether etcd answered, and when it last did (monotonic ns).
    void contact(bool reachable, int64_t last_contact_mono_ns);
    void registered();  // a registration lease granted (again, after one lapsed)
    // A status the agent is about to write, with the names of its faults (by plan index) while a
    // plan is loaded; without them, the names known for the same run are kept. Shown at once:
    // what the agent did does not wait for etcd to take the write.
    void published(const Status& st, std::map<size_t, FaultName> names);
    void written(const std::string& state, bool ok);  // whether etcd took that status
    void stepped();  // a step (the run's load, an inject or a heal) applied and confirmed

    std::string render(int64_t now_mono_ns) const;

private:
    mutable std::mutex mu_;
    AgentInfo info_;
    bool reachable_ = false;
    int64_t last_contact_ns_ = 0;
    uint64_t registrations_ = 0, steps_ = 0, write_failures_ = 0;
    std::map<std::string, uint64_t> statuses_;  // by state
    Status last_;
    std::string names_run_;
    std::map<size_t, FaultName> names_;
};

}  // namespace inj::fleet
