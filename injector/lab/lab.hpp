// The lab: a plan's topology built as network namespaces on this machine, with its services.
//
// Shape: one "fabric" namespace holds a bridge per zone (each zone one L2 segment, its gateway
// address on the bridge) and routes between them (the backbone: inter-zone traffic crosses a
// routed zone boundary). Each host is its own namespace with eth0, whose veth peer "h<index>"
// is a port of its zone's bridge in the fabric (or, when the plan pools idle hosts, shares its
// power domain's pool namespace and port "p<n>": pools.hpp). The root namespace (the control position, where
// the runner and its probes live) reaches the lab through one veth pair to the fabric.
// Everything the lab creates is named from its id and recorded in its state file, so `lab down`
// and `injector recover` remove exactly that and nothing else.
#pragma once

#include <sys/types.h>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/netaddr.hpp"
#include "common/result.hpp"
#include "plan/model.hpp"

namespace inj::lab {

// Where lab state lives: /run/injector/labs/<id>/ (state.json, logs/, volumes).
std::string labs_root();

struct HostRuntime {
    std::string name;         // plan host name
    int index = 0;            // position in topology.hosts
    std::string netns;        // namespace name (path: netns_path(netns))
    std::string fabric_port;  // ifname of this host's veth peer inside the fabric namespace
    std::string cgroup;       // cgroup directory holding every process of this host
    std::vector<Cidr> addresses;
    bool pooled = false;  // shares netns, fabric_port and cgroup with its power domain's pool (pools.hpp)
};

struct ServiceProcess {
    std::string service;
    std::string host;
    pid_t pid = 0;    // the process started by the lab (it runs in the host's cgroup)
    std::string log;  // its stdout+stderr
};

// A volume served through the fault filesystem (degraded by a plan fault, or volatile): the
// daemon's filesystem is mounted in place over the volume directory.
struct FaultfsMount {
    std::string host;
    std::string volume;
    std::string path;     // the volume directory (and mountpoint)
    std::string control;  // the daemon's control file (faultfs/control.hpp)
    pid_t pid = 0;        // the daemon
};

struct LabState {
    std::string id;  // short id; every name the lab creates carries it
    std::string plan_name;
    std::string plan_file;
    std::string dir;           // labs_root()/id
    std::string fabric_netns;  // namespace name of the fabric
    std::string control_if;    // veth in the root namespace
    std::string control_port;  // its peer, inside the fabric
    Cidr control_addr;         // address of control_if (root side), with prefix
    Cidr control_gateway;      // address of control_port (fabric side)
    // IPv6 control pair, set when any zone or host of the plan has IPv6.
    std::optional<Cidr> control_addr6;
    std::optional<Cidr> control_gateway6;
    // Routes the lab added to the root namespace (via control_if): 198.18.0.0/15, 2001:2::/48.
    std::vector<Cidr> routes;
    std::string cgroup_root;  // parent of this lab's cgroups: <root>/<power domain>/<host>
    std::vector<HostRuntime> hosts;
    std::vector<ServiceProcess> services;
    std::vector<FaultfsMount> faultfs;
    // "creating" while up() runs (a crash leaves it so), "up" once every service is ready.
    std::string phase;

    const HostRuntime* host(const std::string& name) const;
    std::string volume_path(const std::string& host, const std::string& volume) const;
    // Parent cgroup of every host of a power domain ("" for hosts without one: "_").
    std::string power_domain_cgroup(const std::string& pd) const { return cgroup_root + "/" + (pd.empty() ? "_" : pd); }
    const FaultfsMount* faultfs_of(const std::string& host, const std::string& volume) const;
};

struct UpOptions {
    std::string id;  // empty: derived from the plan name
    bool start_services = true;
};

// Builds the topology and starts the services, waiting for their readiness checks. On any
// failure everything already created is removed before returning the error (which names the
// service and its log for a readiness failure).
Result<LabState> up(const plan::Plan& plan, const UpOptions& opts = {});
// Stops services (their cgroups are killed), removes namespaces, links, cgroups and state.
// Idempotent; reports each thing it could not remove in the error.
Result<void> down(const LabState& lab);
// Loads the state of a lab that is up, by id.
Result<LabState> load(const std::string& id);
// Ids of every lab with state on this machine.
std::vector<std::string> list();
// Everything of the lab still on this machine: namespaces, the root link and routes, cgroup
// directories, live processes, the state directory; one line each, empty when the machine is
// clean of it. An error only when the machine could not be inspected.
Result<std::vector<std::string>> leftovers(const LabState& lab);
// Where up() keeps the logs of a lab whose services failed to come up (the lab itself is removed;
// the readiness error names the log there): labs_root()/../failed-labs/<id>.
std::string failed_logs_dir(const std::string& id);
// The id `up` derives from a plan (so `lab down PLAN` finds the lab `lab up PLAN` made).
std::string id_for(const plan::Plan& plan);

// Starts again, as the lab defines them, the services the plan runs on `hosts` (hosts in the
// order given, a host's services in plan order), each in its host's namespace and cgroup; their
// entries in lab.services get the new pids and state.json is rewritten. For processes that are
// gone (a power cut): it does not stop anything. Readiness is the caller's (await_ready).
// `only`: that service alone (empty: every service of those hosts).
Result<std::vector<ServiceProcess>> restart_services(const plan::Plan& plan, LabState& lab,
                                                     const std::vector<std::string>& hosts,
                                                     const std::string& only = {});
// Waits for the readiness check of a started service (none defined: ready at once), bounded by
// the check's timeout and `deadline`; the error names the service, its log and its tail.
// A wait stops early (with an error) once *cancel turns true.
Result<void> await_ready(const plan::Plan& plan, const LabState& lab, const ServiceProcess& p,
                         std::chrono::steady_clock::time_point deadline, const std::atomic<bool>* cancel = nullptr);

// Expands a command template for a host of the lab: {host} {addr} {addr6} {zone}
// {power_domain} {volume} {lab} {endpoints:SVC} {addrs:SVC} {each:SVC:pattern}.
Result<std::string> expand(const std::string& tmpl, const plan::Plan& plan, const LabState& lab,
                           const std::string& host, const std::string& volume = {});

}  // namespace inj::lab
