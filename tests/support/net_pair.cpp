// The bridged pair of host namespaces (see net_pair.hpp).
#include "support/net_pair.hpp"

#include <arpa/inet.h>
#include <unistd.h>

namespace inj::test {

RunResult sh(const std::string& cmd, std::chrono::nanoseconds timeout) {
    auto r = run_shell(cmd, timeout);
    if (!r.ok()) return RunResult{-1, false, r.error().message(), {}};
    return r.value();
}

Cidr cidr(const char* text) { return *Cidr::parse(text); }

sockaddr_in addr_of(const char* ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

BridgedPair::BridgedPair(const std::string& tag, std::string addr_a, std::string addr_b)
    : addr_a_(std::move(addr_a)), addr_b_(std::move(addr_b)) {
    std::string id = std::to_string(getpid());
    ns_a_ = "inj-" + tag + "-a-" + id;
    ns_b_ = "inj-" + tag + "-b-" + id;
    fabric_ = "inj-" + tag + "-f-" + id;
}

Result<void> BridgedPair::create() {
    created_ = true;  // from the first command on, remove() has something to do
    const std::string f = "ip -n " + fabric_ + " ";
    const std::vector<std::string> cmds = {
        "ip netns add " + ns_a_,
        "ip netns add " + ns_b_,
        "ip netns add " + fabric_,
        f + "link add br0 type bridge",
        f + "link set br0 up",
        f + "link add pa type veth peer name eth0 netns " + ns_a_,
        f + "link add pb type veth peer name eth0 netns " + ns_b_,
        f + "link set pa master br0 up",
        f + "link set pb master br0 up",
        "ip -n " + ns_a_ + " addr add " + addr_a_ + " dev eth0",
        "ip -n " + ns_b_ + " addr add " + addr_b_ + " dev eth0",
        "ip -n " + ns_a_ + " link set eth0 up",
        "ip -n " + ns_a_ + " link set lo up",
        "ip -n " + ns_b_ + " link set eth0 up",
        "ip -n " + ns_b_ + " link set lo up",
    };
    for (auto& c : cmds) {
        auto r = sh(c);
        if (r.exit_code != 0) return plain_error(c, r.output);
    }
    return {};
}

Result<void> BridgedPair::remove() {
    if (!created_) return {};
    created_ = false;
    for (auto& ns : {ns_a_, ns_b_, fabric_}) sh("ip netns del " + ns + " 2>/dev/null");
    auto list = sh("ip netns list");
    std::string left;
    for (auto& ns : {ns_a_, ns_b_, fabric_})
        if (list.output.find(ns) != std::string::npos) left += " " + ns;
    if (!left.empty()) return plain_error("namespaces left behind", left);
    return {};
}

void BridgedPair::describe(plan::Plan& plan, lab::LabState& lab, const std::string& lab_id) const {
    plan.topology.zones = {{"za", {"pa"}, {}, std::nullopt, std::nullopt, {}},
                           {"zb", {"pb"}, {}, std::nullopt, std::nullopt, {}}};
    plan.topology.power_domains = {{"pa", "za", {}}, {"pb", "zb", {}}};
    plan.topology.hosts = {{"ha", "za", "pa", {cidr(addr_a_.c_str())}, {}, {}},
                           {"hb", "zb", "pb", {cidr(addr_b_.c_str())}, {}, {}}};
    lab.id = lab_id;
    lab.fabric_netns = fabric_;
    lab.hosts = {{"ha", 0, ns_a_, "pa", "", {cidr(addr_a_.c_str())}},
                 {"hb", 1, ns_b_, "pb", "", {cidr(addr_b_.c_str())}}};
}

}  // namespace inj::test
