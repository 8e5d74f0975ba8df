// The plan as the rest of the program sees it: parsed, validated, names resolved.
// Everything here keeps the YAML position it came from, so later checks (preflight, guards)
// can name file:line:col too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/duration.hpp"
#include "common/name_index.hpp"
#include "common/netaddr.hpp"
#include "faults/specs.hpp"
#include "plan/base.hpp"
#include "probes/spec.hpp"

namespace inj::plan {

struct Zone {
    std::string name;
    std::vector<std::string> power_domains;  // names, in plan order
    std::vector<Cidr> cidrs;                 // extra prefixes that belong to this zone
    // The zone's L2 segment in a lab. Given by the plan (`subnet`, `subnet6`) or, for IPv4,
    // assigned by the loader from 198.18.0.0/15. The gateway (the zone bridge in the fabric) is
    // subnet.nth(1); hosts get nth(2), nth(3), ... unless the plan gives their addresses.
    std::optional<Cidr> subnet;
    std::optional<Cidr> subnet6;
    // The power domain that feeds this zone's switch (`switch_power_domain`), if the plan says:
    // when it goes dark, every host of this zone is cut off, even from its zone neighbours,
    // though the hosts themselves keep power.
    std::optional<std::string> switch_power_domain;
    Mark mark;
};

// An inter-zone link fed by a power domain (`topology.links`): losing that domain cuts the two
// zones apart, wherever their hosts are powered from.
struct PoweredLink {
    std::string a, b;          // zone names
    std::string power_domain;  // what feeds it
    Mark mark;
};

struct PowerDomain {
    std::string name;
    std::string zone;
    Mark mark;
};

// How the runner knows a service (or the whole system) is up.
struct Check {
    enum class Kind { none, tcp, exec };
    Kind kind = Kind::none;
    std::string target;  // tcp: "host:port" template; exec: command template
    std::string in;      // host name the exec runs inside, or "control" (root namespace)
    Duration timeout{std::chrono::seconds(30)};
    Mark mark;
};

// How a volatile volume loses data at a power cut (`volume: { ..., loss: {...} }`, read by
// plan/load/volume.cpp; the storage engine hands it to the volume's faultfs daemon).
struct VolumeLoss {
    enum class Model { unsynced, torn, reorder };
    Model model = Model::unsynced;   // unsynced: every write not fsynced is lost
    uint32_t torn_sectors = 8;       // torn: the longest prefix of a write that lands; 0 = a random subset of its pages
    double survive = 0.5;            // reorder: the chance each unsynced write lands
    bool metadata_volatile = false;  // creations, renames, unlinks without a directory fsync are lost too
    Duration writeback{0};           // data dirty longer than this is written back; 0 = never
    uint64_t seed = 0;               // the random choices; 0 = from the clock
    Mark mark;
};
inline const char* to_string(VolumeLoss::Model m) {
    return m == VolumeLoss::Model::torn ? "torn" : m == VolumeLoss::Model::reorder ? "reorder" : "unsynced";
}

// What already exists that a plan host stands for, instead of a namespace the lab builds
// (`container:`, `netns:` + `cgroup:`/`pid:`/`pidfile:`, `local: true`). Resolved on the machine
// only when a run starts (targets/bound.cpp); the loader checks the shape.
struct Binding {
    enum class Kind { none, container, process, local };
    Kind kind = Kind::none;
    std::string container;           // container: NAME
    std::string runtime = "podman";  // runtime: podman | docker
    std::string netns;               // netns: NAME or path (process kind; default: the pid's)
    std::string cgroup;              // cgroup: PATH relative to the hierarchies
    std::optional<int> pid;          // pid: N
    std::string pidfile;             // pidfile: PATH
    std::string restart;             // restart: shell command that starts it again after a kill
    std::optional<Check> ready;      // ready: how to know it serves again (tcp/exec)
    struct Volume {
        std::string name, path;
        bool is_volatile = false;  // volatile: true — its disk has a volatile write cache
        VolumeLoss loss;           // what a power cut loses (volatile volumes)
        Mark mark;
    };
    // volumes: [{name, path, volatile, loss}]: real directories; a container's path is one of its
    // bind mounts, given as the host directory or the container's destination.
    std::vector<Volume> volumes;
    Mark mark;
    bool bound() const { return kind != Kind::none; }
    std::string describe() const;  // "container etcd-a", "cgroup system.slice/x.service", "this machine"
    // The one service a bound host runs, as faults and reports name it: the container's name,
    // else the plan host's.
    std::string service_name(const std::string& host) const { return kind == Kind::container ? container : host; }
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
    Binding binding;  // what exists that it stands for; none: the lab builds it
};

struct Topology {
    std::vector<Zone> zones;
    std::vector<PowerDomain> power_domains;
    std::vector<Host> hosts;
    std::vector<PoweredLink> links;

    const Zone* zone(const std::string& n) const;
    const PowerDomain* power_domain(const std::string& n) const;
    const Host* host(const std::string& n) const;
    int host_index(const std::string& n) const;  // -1 if absent
    // True when the hosts are bound to what exists (then every host is: the loader refuses a mix).
    bool bound() const { return !hosts.empty() && hosts.front().binding.bound(); }

    NameIndex<Host> by_name_;  // host() and host_index() in constant time at any size (not copied)
};

struct Service {
    std::string name;
    std::vector<std::string> hosts;
    std::string command;  // template: {host} {addr} {volume} {endpoints:SVC} ...
    std::optional<std::string> volume;
    // `volume: { name: x, volatile: true }`: the volume's disk has a volatile write cache, so a
    // power_loss of its host throws away every write not yet fsynced (served through faultfs).
    bool volume_volatile = false;
    VolumeLoss volume_loss;   // what its power cut loses (volatile volumes)
    std::optional<int> port;  // used by {endpoints:SVC}
    Check ready;
    Mark mark;
};

struct Lab {
    std::vector<Service> services;
    Duration ready_timeout{std::chrono::seconds(60)};
    // Hosts that run nothing and that no probe, fault or link names one by one share one
    // namespace per power domain (lab/pools.hpp): a data center of 32,000 hosts fits a machine.
    bool pool_idle_hosts = false;
};

struct Slo {
    std::optional<double> success_rate;  // minimum share of successful probes within window
    Duration window{std::chrono::seconds(10)};
    std::optional<Duration> max_latency;  // every successful probe must be faster
};

struct Probe {
    enum class Kind { exec, tcp, http, prometheus };
    std::string name;
    Kind kind = Kind::exec;
    std::string target;  // exec: command template; tcp: "host:port" template; http, prometheus: URL template
    std::optional<probes::HttpCheck> http;      // kind http (plan/probe_http.cpp loads it)
    std::optional<probes::MetricCheck> metric;  // kind prometheus
    std::string in = "control";                 // host name, or "control"
    // What a successful attempt acknowledged (`acknowledges`, a template expanded with the same
    // {seq} as the attempt, e.g. "drill-{seq}"): the records a verify step reads back (RPO).
    std::optional<std::string> acknowledges;
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

// One entry of the method: the part every kind has, and the kind's own keys (`spec`, one of
// faults/specs.hpp). Code outside a kind's module reads the spec only through the hooks of
// plan::SpecBase (net(), volume(), takes_peer), never by naming the kind.
struct Fault {
    std::string name;
    Duration at{0};
    Duration duration{0};
    Selector target;
    Selector peer;  // rest=true when the plan leaves it out (or the kind takes none)
    FaultSpec spec;
    Mark mark;

    // The kind's name as plans write it ("sever").
    const char* kind() const {
        return std::visit([](auto& s) { return std::remove_cvref_t<decltype(s)>::kind; }, spec);
    }
    template <class S>
    const S* as() const {
        return std::get_if<S>(&spec);
    }
    template <class S>
    S* as() {
        return std::get_if<S>(&spec);
    }
    std::optional<NetEffect> net() const {
        return std::visit([](auto& s) { return s.net(); }, spec);
    }
    // Whether its network part isolates its targets from everything (a power loss's dark hosts).
    bool isolates() const {
        auto e = net();
        return e && e->kind == NetEffect::Kind::isolate;
    }
    const std::string* volume() const {
        return std::visit([](auto& s) { return s.volume(); }, spec);
    }
    std::optional<std::string> restarts() const {
        return std::visit([](auto& s) { return s.restarts(); }, spec);
    }
    bool takes_peer() const {
        return std::visit([](auto& s) { return std::remove_cvref_t<decltype(s)>::takes_peer; }, spec);
    }
};

// The worst moment a plan may reach: preflight refuses a plan whose timeline exceeds any bound.
struct BlastRadius {
    std::optional<int> max_hosts;           // "max_hosts: 2"
    std::optional<double> max_hosts_share;  // "max_hosts: 50%" (0..1)
    std::optional<int> max_zones;
    std::optional<int> max_power_domains;
    Mark mark;
};

// Something no fault may touch, whatever the plan says.
struct Protected {
    // interface and port: of this machine, for plans bound to what exists (targets/protect.cpp)
    enum class Kind { zone, power_domain, host, cidr, interface, port };
    Kind kind = Kind::zone;
    std::string name;          // zone/power_domain/host/interface name
    std::optional<Cidr> cidr;  // for Kind::cidr
    Mark mark;
};

// A guard on a probe: trips (abort, exit 2) when the probe shows the run went off plan.
struct AbortWhen {
    std::string probe;
    std::optional<double> success_rate_below;  // over the last `window` of samples
    std::optional<Duration>
        latency_above;  // every sample of the last `window` slower (or the last one, if no window given)
    std::optional<int> failures_in_a_row;       // N consecutive failures
    Duration window{std::chrono::seconds(10)};  // YAML `for:`
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

// A read-back after recovery (`verify:`): every record `probe` acknowledged during the run must
// be readable again. With {ack} in the command it runs once per record and must succeed; without,
// it runs once and every record must appear as a line (trimmed) of its output.
struct Verify {
    std::string name;
    std::string probe;                           // whose acknowledged records
    std::string command;                         // template; {ack} = one record
    std::string in = "control";                  // host name, or "control"
    Duration timeout{std::chrono::seconds(30)};  // for the whole step
    bool per_record = false;                     // the command holds {ack}
    Mark mark;
};

// What the plan expects of recovery. rto: every service a power_loss took down is ready again
// within this of power returning. rpo: acknowledged records that may be lost, as a count
// (`rpo: 0`: none) or as a time window (`rpo: 5s`: only records acknowledged within 5 s before
// the fault may be lost).
struct Expect {
    std::optional<Duration> rto;
    std::optional<long long> rpo_records;
    std::optional<Duration> rpo_window;
    Mark mark, rto_mark, rpo_mark;
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
    std::vector<Verify> verify;
    Expect expect;
};

// The plan hosts a zone / power-domain / host selector stands for, in plan host order (CIDRs are
// not resolved here: power_loss, the user of this, does not take them).
std::vector<std::string> selected_hosts(const Topology& t, const Selector& s);

// Power domains a power_loss target darkens as a whole: a zone's domains, named domains (a list of
// hosts darkens hosts, not their domains). In topology order.
std::vector<std::string> darkened_power_domains(const Topology& t, const Selector& s);

// What else goes dark with a power domain: links and zone switches it feeds.
struct Cascade {
    enum class Kind { link, zone_switch };
    Kind kind = Kind::link;
    std::string power_domain;  // the dark domain that feeds it
    std::string a, b;          // link: the two zones; zone_switch: a = the zone
    std::string str() const;   // "link pangyo<->ansan (fed by pangyo-b)"
};
std::vector<Cascade> cascades(const Topology& t, const Selector& target);
// The (host, volume) pairs the lab serves through the fault filesystem: every volume a
// degrade_storage fault targets on its hosts, and every volatile volume. Plan order, no repeats.
std::vector<std::pair<std::string, std::string>> faultfs_volumes(const Plan& plan);
// True when `volume` on `host` is declared volatile by a service (lab) or by the host's binding.
bool volume_volatile(const Plan& plan, const std::string& host, const std::string& volume);
// The loss model of a volatile `volume` on `host`; nullptr when it is not volatile.
const VolumeLoss* volume_loss(const Plan& plan, const std::string& host, const std::string& volume);
// The names of the volumes `host` has: its lab services' or its binding's.
std::vector<std::string> volumes_of(const Plan& plan, const std::string& host);

}  // namespace inj::plan
