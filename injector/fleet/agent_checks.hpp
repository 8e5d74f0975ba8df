// What an agent checks before it obeys a desired state: limits of its own (deadlines, lease
// TTLs), and that no rule of the plan would cut what keeps this machine reachable (its path to
// etcd, its default route, the peers of its SSH sessions). Pure functions over the documents and
// over /proc (a root path, so tests can hand in their own), so each check is tested on its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/netaddr.hpp"
#include "fleet/protocol.hpp"
#include "net/compile.hpp"

namespace inj::fleet {

struct AgentLimits {
    std::chrono::milliseconds max_fault_duration{std::chrono::hours(1)};  // no deadline further away
    // The run lease the agent accepts: etcd's minimum lease is 2 s; 0 would turn the agent's own
    // dead man's switch off, and a very long one leaves faults in force long after the controller died.
    int min_lease_ttl_ms = 2000;
    int max_lease_ttl_ms = 600'000;
};

// The document alone: lease TTL in range, run and fault deadlines set and within the limit.
// Returns why it is refused, or "".
std::string check_desired(const Desired& d, const AgentLimits& lim, uint64_t now_real_ns);

// The key that carried it: bound to a lease (etcd deletes it when the controller dies), that
// lease alive (ttl_s > 0) and granted a TTL in range. Returns why it is refused, or "".
std::string check_desired_lease(int64_t lease, int64_t ttl_s, int64_t granted_s, const AgentLimits& lim);

// An address this machine must keep reaching, and what it is ("etcd endpoint", "default route").
struct KeepReachable {
    IpAddr addr;
    std::string what;
};

// Every fault of the plan with a classifier rule, judged on `host`'s addresses: a rule that would
// drop traffic between this host and one of `keep` (either way). Returns why, or "". Isolations
// (a power_loss's dark hosts) are not judged: the agent exempts every `keep` address from them
// (net::exempt), so a dark host still hears its controller and can be given its power back.
std::string check_cuts(const plan::Plan& plan, const net::Tables& tables, const std::string& host,
                       const std::vector<KeepReachable>& keep);

// etcd endpoint strings -> their IP addresses: literal ones as given, names resolved (every
// address a name has now; a name that does not resolve gives none).
std::vector<IpAddr> endpoint_addrs(const std::string& endpoints);

// The gateways of this network namespace's default routes (IPv4 and IPv6), from proc_root/net/route
// and proc_root/net/ipv6_route.
std::vector<IpAddr> default_gateways(const std::string& proc_root = "/proc");

// Peers of established TCP connections to a port some sshd process listens on (read from
// proc_root/<pid>/comm, fd links and net/tcp, net/tcp6).
std::vector<IpAddr> ssh_peers(const std::string& proc_root = "/proc");

// SHA-256 of bytes, lower-case hex.
std::string sha256_hex(const std::string& bytes);

}  // namespace inj::fleet
