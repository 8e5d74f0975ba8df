// Preflight checks on the plan itself, before anything on the machine is touched: the blast
// radius of every moment of the timeline, the protected set, and the reachability of the probes
// that abort_when relies on. Pure functions of the plan and its compiled tables (net::drops() is
// the exact userspace mirror of the BPF verdict), so `injector plan` shows the same answers the
// runner acts on, and a refusal exits 3 with the machine unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/duration.hpp"
#include "common/netaddr.hpp"
#include "net/compile.hpp"
#include "plan/model.hpp"

namespace inj::safety {

// One reason the run must not start.
struct Refusal {
    std::string check;    // "blast_radius", "protected", "abort_path"
    std::string fault;    // the refused fault; for blast_radius the faults in force ("a, b")
    plan::Mark mark;      // the fault (protected), the bound (blast_radius) or the abort_when item
    std::string message;  // names the fault or moment, the bound or protected target, and why
    // "file:line:col: check: message" (the file alone when the mark has no line)
    std::string str() const;
};

// A stretch of the timeline [from, to) during which the same set of faults is in force.
struct Moment {
    Duration from{0};
    Duration to{0};
    std::vector<size_t> faults;  // indexes into plan.method, in plan order
    uint64_t armed = 0;          // rule bits of those faults (net::Tables::rule_of_fault)
    std::string str() const;     // "T+5s..T+35s"
};

// Every distinct moment with at least one fault in force, in time order.
std::vector<Moment> moments(const plan::Plan& plan, const net::Tables& t);

// What a moment makes unreachable.
//
// Two hosts are in contact when packets between their primary addresses pass both ways
// (net::drops() false in both directions; a partial cut counts as lost contact, since some
// flows die). The *connected majority* is the largest group of hosts all pairwise in contact.
// When several groups tie for largest, no group can claim to be "the rest of the lab", so only
// hosts in every largest group count as connected (conservative: a 2-2 split cuts off all 4).
// A host without power (in the target of a power_loss in force) is never part of the majority:
// it is cut off, and the majority is sought among the live hosts only (one dark host and one live
// one are no tie). The search runs over fault domains (classes of hosts the rules treat alike),
// so its cost follows the number of distinct domains, not the number of hosts.
// Hosts outside the connected majority are *cut off*; a zone or power domain is cut off when any
// of its hosts is.
struct Impact {
    Moment moment;
    std::vector<std::string> cut_off;        // host names, plan order
    std::vector<std::string> touched;        // hosts in the target of a fault in force
    std::vector<std::string> zones;          // zones with a cut-off host, plan order
    std::vector<std::string> power_domains;  // power domains with a cut-off host, plan order
    size_t hosts_total = 0;
    double share() const { return hosts_total ? double(cut_off.size()) / double(hosts_total) : 0.0; }
};

Impact impact(const plan::Plan& plan, const net::Tables& t, const Moment& m);
// impact() of each moment, with what the moments share (each host's rule masks, each fault's
// hosts) computed once: preflight and the preview of a many-fault plan at data-center size.
std::vector<Impact> impacts(const plan::Plan& plan, const net::Tables& t, const std::vector<Moment>& ms);

// One configured bound measured at one moment, for previews ("max_zones 1: 1 OK").
struct BoundCheck {
    std::string bound;     // "max_hosts", "max_hosts (share)", "max_zones", "max_power_domains"
    std::string limit;     // "2", "50%"
    std::string measured;  // "1", "33.3%"
    bool exceeded = false;
};
std::vector<BoundCheck> bounds_at(const plan::BlastRadius& b, const Impact& i);

// The addresses that are always protected, whatever the plan says: the lab's control link (the
// root namespace, where the runner and its probes live) and loopback. Each with its reason.
struct AlwaysProtected {
    Cidr cidr;
    std::string what;
};
const std::vector<AlwaysProtected>& always_protected();

// The control position's addresses in a lab (the root end of the control link), as probes that
// run `in: control` use them as source.
IpAddr control_address(bool v6);

// The individual checks; check_plan runs all three.
std::vector<Refusal> check_blast_radius(const plan::Plan& plan, const net::Tables& t);
std::vector<Refusal> check_protected(const plan::Plan& plan, const net::Tables& t);
std::vector<Refusal> check_abort_path(const plan::Plan& plan, const net::Tables& t);

// Every refusal of the plan, empty when it may run. `t` is net::compile(plan).
std::vector<Refusal> check_plan(const plan::Plan& plan, const net::Tables& t);

}  // namespace inj::safety
