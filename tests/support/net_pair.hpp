// Two host namespaces joined by a bridge in a third ("fabric") namespace, each host's eth0 a port
// of that bridge: the smallest world in which the net engine sees real traffic. Used by the
// privileged net tests; removed (and checked gone) by remove().
#pragma once

#include <netinet/in.h>

#include <string>

#include "common/proc.hpp"
#include "lab/lab.hpp"
#include "plan/model.hpp"

namespace inj::test {

// A command through /bin/sh; a failure to start comes back as exit -1 with the reason as output.
RunResult sh(const std::string& cmd, std::chrono::nanoseconds timeout = std::chrono::seconds(20));
// A CIDR literal the test knows is valid.
Cidr cidr(const char* text);
// An IPv4 socket address.
sockaddr_in addr_of(const char* ip, uint16_t port);

class BridgedPair {
public:
    // Names the namespaces inj-<tag>-{a,b,f}-<pid>; a and b get addr_a/addr_b (with prefix, e.g.
    // "198.18.250.1/24"). Nothing exists until create().
    BridgedPair(const std::string& tag, std::string addr_a, std::string addr_b);
    // Creates the namespaces, bridge, veths, addresses; an error names the command that failed.
    Result<void> create();
    // Deletes the namespaces; the error lists any that `ip netns list` still shows.
    Result<void> remove();

    // Zones za, zb (power domains pa, pb) with hosts ha, hb at addr_a/addr_b: the plan's topology
    // for this world, and the lab state the engines read (fabric and host namespaces, ports).
    void describe(plan::Plan& plan, lab::LabState& lab, const std::string& lab_id) const;

    const std::string& ns_a() const { return ns_a_; }
    const std::string& ns_b() const { return ns_b_; }
    const std::string& fabric() const { return fabric_; }

private:
    std::string ns_a_, ns_b_, fabric_, addr_a_, addr_b_;
    bool created_ = false;
};

}  // namespace inj::test
