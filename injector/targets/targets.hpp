// The Targets view: what every plan host is bound to, as the engines see it. Engines act on
// this view only (no engine includes lab/): where a host's traffic is judged, the cgroup holding
// its processes, its volumes' real paths, and how its services are started again. The lab is one
// provider (lab/targets.cpp); existing containers, processes and this machine, and agents on
// other machines, are others.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/name_index.hpp"
#include "common/result.hpp"
#include "targets/watcher.hpp"

namespace inj::targets {

// A volume of a host: the real directory, and the fault filesystem serving it if any.
struct Volume {
    std::string name;
    std::string path;
    std::string faultfs_control;  // the daemon's control file; empty when not served through faultfs
    pid_t faultfs_pid = 0;
};

// Where a host's packets are judged: an interface that sees every packet the host sends, in a
// namespace. In a lab, tcx ingress of the host's port on its zone bridge; for what exists (no
// fabric), tcx egress of each of its own interfaces.
struct JudgePoint {
    std::string netns;  // path (/run/netns/NAME or /proc/PID/ns/net)
    std::string ifname;
    bool ingress = true;
    bool isolations_only = false;  // dark hosts' rules only (NF_RULE_ISOLATE, netfault_isolate)
};

struct Host {
    std::string name;  // plan host name
    std::string zone, power_domain;
    std::string netns;      // path of the namespace its processes live in
    std::string interface;  // its own interface there (eth0 in a lab)
    std::vector<JudgePoint> judges;
    bool netns_stable = true;  // the netns path outlives the host's processes (false: /proc/PID/ns/net)
    std::string cgroup;        // cgroup directory (v2) holding every process of the host
    std::vector<Volume> volumes;
};

// A service process a provider started (or found) on a host.
struct ServiceInstance {
    std::string service;
    std::string host;
    pid_t pid = 0;
};

class Targets {
public:
    virtual ~Targets() = default;
    virtual const std::vector<Host>& hosts() const = 0;
    const Host* host(const std::string& name) const;
    // A view of some of the plan's hosts only: a fleet agent's, which holds the host it stands
    // for. Engines act on the hosts it has and leave the others to their own agents (on a
    // complete view a host missing is an error).
    virtual bool partial() const { return false; }
    // Whether an engine acts on plan host `name` through this view: always on a complete view
    // (where a missing host is then an error to report), only on its own hosts on a partial one.
    bool acts_on(const std::string& name) const { return !partial() || host(name) != nullptr; }
    const Volume* volume(const std::string& host, const std::string& volume) const;

    // A cgroup holding every host of power domain `pd` and nothing else, so one write reaches
    // all of them; nullopt when the provider has none.
    virtual std::optional<std::string> power_domain_cgroup(const std::string& /*pd*/) const { return std::nullopt; }
    // The namespace every judge point shares, where a delay line's taps and rate classes can
    // live: a lab's fabric, or the namespace of hosts judged at their own interfaces (an agent's
    // one host); empty when the judge points are spread over several.
    virtual std::string judge_netns() const;

    // The service processes running now (a snapshot: restarts change it). Thread-safe.
    virtual std::vector<ServiceInstance> services() const = 0;
    // Starts again, as the provider defines them, `service` (empty: every service) on each host
    // of `hosts`, in that order; returns what it started. For processes that are gone.
    // Thread-safe against services() and other restarts.
    virtual Result<std::vector<ServiceInstance>> restart(const std::vector<std::string>& hosts,
                                                         const std::string& service = {}) = 0;
    // Waits for a started service's readiness (bounded by its check's timeout and `deadline`);
    // stops early, with an error, once *cancel turns true.
    virtual Result<void> await_ready(const ServiceInstance& s, std::chrono::steady_clock::time_point deadline,
                                     const std::atomic<bool>* cancel) const = 0;
    // How long a restored service may take to become ready.
    virtual std::chrono::nanoseconds ready_timeout() const { return std::chrono::seconds(60); }
    // The provider's name for reports ("lab 1a2b3c"), and its id for templates ({lab}).
    virtual std::string describe() const = 0;
    virtual std::string id() const { return {}; }

    // What a watcher must undo if process `owner` dies mid-fault (real things a run may leave
    // frozen or stopped), its record appended to `record`; nullopt when the provider needs none
    // (a lab is the tool's own: `recover` and `lab down` put it back).
    virtual std::optional<WatchSpec> watch_spec(pid_t /*owner*/, const std::string& /*record*/) const {
        return std::nullopt;
    }
    // One line per host: what it is bound to and every real thing a run may touch (none for a lab).
    virtual std::vector<std::string> touched() const { return {}; }

    // Serves `volumes` ((host, volume) pairs) through the fault filesystem now, for a provider
    // that does it on demand: what exists gets a daemon over its real directory and its service
    // restarted onto it. `dir` holds the daemons' control files and logs. A lab serves its
    // volumes when it comes up: here, every pair must be served already.
    virtual Result<void> serve_volumes(const std::vector<std::pair<std::string, std::string>>& volumes,
                                       const std::string& dir);
    // Puts back what the provider changed for the run (served volumes: each service stopped,
    // the daemon unmounted, the service started again on the real directory). Idempotent.
    virtual Result<void> release() { return {}; }

private:
    NameIndex<Host> index_;  // host() in constant time for large views
};

}  // namespace inj::targets
