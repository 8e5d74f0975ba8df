// Pooled hosts: a data center's worth of hosts on one machine.
//
// A host that runs no service, holds no volume and that no probe, fault or powered link names one
// by one is only ever seen as its addresses: the classifier judges every packet by its source and
// destination address, and faults reach it through its zone or power domain. With the plan's
// `lab: { pool_idle_hosts: true }`, such hosts share one namespace per power domain (one veth to
// their zone's bridge, every address of theirs on its eth0, one cgroup for the domain's pool), so
// 32,000 hosts cost some 200 namespaces instead of 32,000. Hosts that are named keep their own.
#pragma once

#include <string>
#include <vector>

#include "plan/model.hpp"

namespace inj::lab {

struct HostRuntime;
struct LabState;

// Per host of plan.topology.hosts: whether it may share its power domain's pool (always false
// unless the plan asks for pools).
std::vector<bool> idle_hosts(const plan::Plan& plan);

// Names of a pool: namespace, fabric port and cgroup leaf. A host name never starts with '-',
// so none of these can be a host's own.
std::string pool_netns(const std::string& lab_id, int pool);
std::string pool_port(int pool);
inline constexpr const char* kPoolCgroupLeaf = "-pool";

// Every namespace, every fabric port and every cgroup of the lab's hosts once each, in host order
// (a pool's after its first host): what is created, configured and removed once per lab.
std::vector<const HostRuntime*> distinct_namespaces(const LabState& lab);
std::vector<std::string> distinct_cgroups(const LabState& lab);

}  // namespace inj::lab
