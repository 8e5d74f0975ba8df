// Plans, probes and checks the lab tests and benchmarks share: zone subnets as the loader
// assigns them, a one-host-per-zone topology, "does this address answer", cgroup state, and the
// check that a lab left nothing behind.
#pragma once

#include <string>

#include "common/netaddr.hpp"
#include "plan/model.hpp"

namespace inj::test {

// Zone i's segment: 198.18.(4*i).0/22, as the plan loader would assign it.
Cidr zone_subnet(int i);

// Zones named `zones[i]` (power domain "<zone>-p", subnet zone_subnet(i)), one host "<zone>1"
// each at its zone's .2; no services, no faults, safety.max_duration 2 min, lab ready within 30 s.
plan::Plan one_host_per_zone(const std::string& name, const std::vector<std::string>& zones);

// A TCP connect to addr:port from the network namespace `netns` ("" = the control position):
// true when something answered (connected, or refused by a live kernel).
bool answers(const std::string& netns, const std::string& addr, int port = 2379);

// The whole file (empty when it cannot be read).
std::string read_file(const std::string& path);

// Takes lab `id` down if its state is still there, and fails the current test (gtest) when that
// fails or the lab leaves anything behind. Nothing when id is empty.
void expect_lab_down(const std::string& id);

}  // namespace inj::test
