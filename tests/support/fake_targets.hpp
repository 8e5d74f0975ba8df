// A Targets view over a fixed list of hosts that starts, restarts and waits for nothing: the
// base of the tests' hand-made views, each overriding only what its test looks at.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "targets/targets.hpp"

namespace inj::test {

class StaticTargets : public targets::Targets {
public:
    explicit StaticTargets(std::vector<targets::Host> hosts = {}, bool partial = false, std::string name = "fake")
        : hosts_(std::move(hosts)), partial_(partial), name_(std::move(name)) {}
    const std::vector<targets::Host>& hosts() const override { return hosts_; }
    bool partial() const override { return partial_; }
    std::vector<targets::ServiceInstance> services() const override { return {}; }
    Result<std::vector<targets::ServiceInstance>> restart(const std::vector<std::string>&,
                                                          const std::string&) override {
        return std::vector<targets::ServiceInstance>{};
    }
    Result<void> await_ready(const targets::ServiceInstance&, std::chrono::steady_clock::time_point,
                             const std::atomic<bool>*) const override {
        return {};
    }
    std::string describe() const override { return name_; }

protected:
    std::vector<targets::Host> hosts_;
    bool partial_;
    std::string name_;
};

}  // namespace inj::test
