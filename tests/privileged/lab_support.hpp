// Shared by the lab's privileged tests: plans built in C++ (addresses assigned here the way the
// loader does), a fixture that always takes its lab down and proves the machine clean, and TCP
// reachability checks between namespaces without any helper process.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lab/lab.hpp"
#include "plan/model.hpp"

namespace inj::lab::test {

struct ZoneSpec {
    std::string name;
    std::vector<std::string> hosts;
};

// Zone i gets 198.18.(4i).0/22 (and 2001:2:0:(i+1)::/64 with v6); hosts nth(2), nth(3), ...
plan::Plan make_plan(const std::string& name, const std::vector<ZoneSpec>& zones, bool v6 = false);

// Everything named after the id still on the machine, found by name rather than through a
// LabState (so it also works after a failed up, which returns no state).
std::vector<std::string> traces_of(const std::string& id);

// Listens on addr:port inside `to_ns` ("" = root namespace), connects from `from_ns`, accepts.
// Returns "" on success, else what failed.
std::string tcp_reach(const std::string& from_ns, const std::string& to_ns, const IpAddr& addr, int port);

// Brings labs up and always takes them down, then checks that nothing of them is left.
class LabFixture : public ::testing::Test {
protected:
    void TearDown() override;
    // up() that remembers the id for teardown even when up fails.
    Result<LabState> bring_up(const plan::Plan& plan, const UpOptions& opts = {});
    std::vector<std::string> ids_;
};

}  // namespace inj::lab::test
