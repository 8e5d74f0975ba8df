// The plan as the rest of the program sees it: parsed, validated, names resolved.
// Everything here keeps the YAML position it came from, so later checks (preflight, guards)
// can name file:line:col too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/duration.hpp"
#include "common/netaddr.hpp"

namespace inj::plan {

// A position in the plan file; line and col are 1-based, as editors show them.
struct Mark {
    std::string file;
    int line = 0;
    int col = 0;
    std::string str() const { return file + ":" + std::to_string(line) + ":" + std::to_string(col); }
};

struct Zone {
    std::string name;
    std::vector<std::string> power_domains;  // names, in plan order
    std::vector<Cidr> cidrs;                  // extra prefixes that belong to this zone
    // The zone's L2 segment in a lab. Given by the plan (`subnet`, `subnet6`) or, for IPv4,
    // assigned by the loader from 198.18.0.0/15. The gateway (the zone bridge in the fabric) is
    // subnet.nth(1); hosts get nth(2), nth(3), ... unless the plan gives their addresses.
    std::optional<Cidr> subnet;
    std::optional<Cidr> subnet6;
    Mark mark;
};

struct PowerDomain {
    std::string name;
    std::string zone;
    Mark mark;
};

struct Host {
    std::string name;
    std::string zone;
    std::string power_domain;
    // Interface addresses. In a lab, given by the plan or assigned from 198.18.0.0/15 by the
    // loader (so addresses[0] is always the primary IPv4 address after loading).
    std::vector<Cidr> addresses;
    std::vector<Cidr> cidrs;  // extra prefixes that belong to this host (not configured)
    Mark mark;
};

struct Topology {
    std::vector<Zone> zones;
    std::vector<PowerDomain> power_domains;
    std::vector<Host> hosts;

    const Zone* zone(const std::string& n) const;
    const PowerDomain* power_domain(const std::string& n) const;
    const Host* host(const std::string& n) const;
    int host_index(const std::string& n) const;  // -1 if absent
};

// How the runner knows a service (or the whole system) is up.
struct Check {
    enum class Kind { none, tcp, exec };
    Kind kind = Kind::none;
    std::string target;   // tcp: "host:port" template; exec: command template
    std::string in;       // host name the exec runs inside, or "control" (root namespace)
    Duration timeout{std::chrono::seconds(30)};
    Mark mark;
};

struct Service {
    std::string name;
    std::vector<std::string> hosts;
    std::string command;              // template: {host} {addr} {volume} {endpoints:SVC} ...
    std::optional<std::string> volume;
    std::optional<int> port;          // used by {endpoints:SVC}
    Check ready;
    Mark mark;
};

struct Lab {
    std::vector<Service> services;
    Duration ready_timeout{std::chrono::seconds(60)};
};

struct Slo {
    std::optional<double> success_rate;  // minimum share of successful probes within window
    Duration window{std::chrono::seconds(10)};
    std::optional<Duration> max_latency; // every successful probe must be faster
};

struct Probe {
    enum class Kind { exec, tcp };
    std::string name;
    Kind kind = Kind::exec;
    std::string target;          // exec: command template; tcp: "host:port" template
    std::string in = "control";  // host name, or "control"
    Duration every{std::chrono::seconds(1)};
    Duration timeout{std::chrono::seconds(2)};
    Slo slo;
    Mark mark;
};

// A set of fault-domain members. Empty with rest=true means "every lab endpoint not in the
// other side of the fault".
struct Selector {
    std::vector<std::string> zones;
    std::vector<std::string> power_domains;
    std::vector<std::string> hosts;
    std::vector<Cidr> cidrs;
    bool rest = false;
    Mark mark;
    bool empty() const { return zones.empty() && power_domains.empty() && hosts.empty() && cidrs.empty(); }
};

enum class FaultKind { sever, degrade_link, power_loss, degrade_storage };
enum class Direction { both, from, to };  // from: target->peer dropped; to: peer->target dropped
// What a power_loss does to the processes of the dark hosts: SIGKILL all (a power cut) or freeze
// them (the "hung host" gray failure: alive, holding locks and leases, answering nobody).
enum class PowerMode { kill, freeze };

// How power comes back after a power_loss: hosts in `order` first (then the other target hosts
// in plan order), `stagger` apart, as racks come back one after another.
struct Restore {
    Duration stagger{0};
    std::vector<std::string> order;  // host names, each one of the fault's target hosts
    Mark mark;
};

// What a degrade_link does to the packets it matches (each part optional; zero = off).
struct LinkDegrade {
    double loss = 0.0;          // probability a packet is dropped
    double loss_burst = 1.0;    // mean run of consecutive losses (1: independent losses)
    Duration delay{0};          // added one-way latency
    Duration jitter{0};         // delay varies uniformly within delay +- jitter
    uint64_t rate_bps = 0;      // bandwidth cap, bits per second (0: none)
    double corrupt = 0.0;       // probability a packet has a byte flipped (bad checksum)
    double duplicate = 0.0;     // probability a packet is sent twice
    int protocol = 0;           // IPPROTO_TCP/UDP/ICMP(V6); 0: every protocol
    uint16_t port_lo = 0;       // ports (either end's) the fault applies to; 0-65535: all
    uint16_t port_hi = 65535;
    Mark mark;
};

struct Fault {
    std::string name;
    FaultKind kind = FaultKind::sever;
    Duration at{0};
    Duration duration{0};
    Selector target;
    Selector peer;         // rest=true when the plan leaves it out
    Direction direction = Direction::both;
    double share = 1.0;    // share of flows affected (1.0 = all); below 1 is a gray failure
    PowerMode power_mode = PowerMode::kill;  // power_loss only
    Restore restore;                         // power_loss only
    LinkDegrade degrade;                     // degrade_link only
    Mark mark;
};

// The worst moment a plan may reach: preflight refuses a plan whose timeline exceeds any bound.
struct BlastRadius {
    std::optional<int> max_hosts;          // "max_hosts: 2"
    std::optional<double> max_hosts_share; // "max_hosts: 50%" (0..1)
    std::optional<int> max_zones;
    std::optional<int> max_power_domains;
    Mark mark;
};

// Something no fault may touch, whatever the plan says.
struct Protected {
    enum class Kind { zone, power_domain, host, cidr, interface };
    Kind kind = Kind::zone;
    std::string name;          // zone/power_domain/host/interface name
    std::optional<Cidr> cidr;  // for Kind::cidr
    Mark mark;
};

// A guard on a probe: trips (abort, exit 2) when the probe shows the run went off plan.
struct AbortWhen {
    std::string probe;
    std::optional<double> success_rate_below;  // over the last `window` of samples
    std::optional<Duration> latency_above;     // every sample of the last `window` slower (or the last one, if no window given)
    std::optional<int> failures_in_a_row;      // N consecutive failures
    Duration window{std::chrono::seconds(10)}; // YAML `for:`
    bool window_given = false;
    Mark mark;
};

struct Safety {
    Duration max_duration{0};  // mandatory; no fault outlives it
    BlastRadius blast_radius;
    std::vector<Protected> protected_targets;  // YAML `protected:`
    std::vector<AbortWhen> abort_when;
    Mark mark;
};

struct Plan {
    std::string file;
    std::string name;
    std::string description;
    Topology topology;
    Lab lab;
    std::vector<Probe> probes;
    std::vector<Fault> method;
    Safety safety;
};

const char* to_string(FaultKind k);
const char* to_string(Direction d);
const char* to_string(PowerMode m);

// The plan hosts a zone / power-domain / host selector stands for, in plan host order (CIDRs are
// not resolved here: power_loss, the user of this, does not take them).
std::vector<std::string> selected_hosts(const Topology& t, const Selector& s);

}  // namespace inj::plan
