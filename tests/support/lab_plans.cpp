// The shared lab plans and checks (see lab_plans.hpp).
#include "support/lab_plans.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <optional>

#include "common/netns.hpp"
#include "common/ranges.hpp"
#include "common/tcp.hpp"
#include "lab/cgroup.hpp"
#include "lab/lab.hpp"
#include "lab/state.hpp"

using namespace std::chrono_literals;

namespace inj::test {

Cidr zone_subnet(int i) { return Cidr{lab_range_v4().nth(static_cast<uint64_t>(4 * i) << 8), 22}; }

plan::Plan one_host_per_zone(const std::string& name, const std::vector<std::string>& zones) {
    plan::Plan p;
    p.name = name;
    p.file = "<test " + name + ">";
    p.lab.ready_timeout = 30s;
    p.safety.max_duration = 2min;
    for (size_t i = 0; i < zones.size(); ++i) {
        plan::Zone z;
        z.name = zones[i];
        z.power_domains = {z.name + "-p"};
        z.subnet = zone_subnet(static_cast<int>(i));
        p.topology.zones.push_back(z);
        p.topology.power_domains.push_back({z.name + "-p", z.name, {}});
        plan::Host h;
        h.name = z.name + "1";
        h.zone = z.name;
        h.power_domain = z.name + "-p";
        h.addresses.push_back(Cidr{z.subnet->nth(2), 22});
        p.topology.hosts.push_back(h);
    }
    return p;
}

bool answers(const std::string& netns, const std::string& addr, int port) {
    auto g = NetnsGuard::enter_unless_empty(netns.empty() ? "" : netns_path(netns));
    if (!g) return false;
    auto r = tcp_connect(*IpAddr::parse(addr), port, 700ms);
    return r || r.error().code == ECONNREFUSED;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void expect_lab_down(const std::string& id) {
    if (id.empty()) return;
    auto st = lab::load(id);
    if (!st) return;
    auto d = lab::down(*st);
    EXPECT_TRUE(d.ok()) << d.error().message();
    auto left = lab::leftovers(*st);
    ASSERT_TRUE(left.ok()) << left.error().message();
    EXPECT_TRUE(left->empty()) << "lab " << id << " left: " << left->front();
}

}  // namespace inj::test
