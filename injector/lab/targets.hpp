// The lab as a provider of the Targets view: each plan host is the namespace, bridge port and
// cgroup the lab built for it; its services start again as the lab's commands say.
#pragma once

#include <memory>
#include <mutex>

#include "lab/lab.hpp"
#include "targets/targets.hpp"

namespace inj::lab {

class LabTargets : public targets::Targets {
public:
    // `plan` must outlive this view; the lab state is copied and kept current across restarts.
    LabTargets(const plan::Plan& plan, LabState lab);

    const std::vector<targets::Host>& hosts() const override { return hosts_; }
    std::optional<std::string> power_domain_cgroup(const std::string& pd) const override;
    std::vector<targets::ServiceInstance> services() const override;
    Result<std::vector<targets::ServiceInstance>> restart(const std::vector<std::string>& hosts,
                                                          const std::string& service) override;
    Result<void> await_ready(const targets::ServiceInstance& s, std::chrono::steady_clock::time_point deadline,
                             const std::atomic<bool>* cancel) const override;
    std::chrono::nanoseconds ready_timeout() const override { return plan_.lab.ready_timeout; }
    std::string describe() const override { return "lab " + id_; }
    std::string id() const override { return id_; }

    // The lab state as restarts left it (new service pids).
    LabState state() const;

private:
    const plan::Plan& plan_;
    std::string id_;
    std::vector<targets::Host> hosts_;
    mutable std::mutex mu_;  // lab_: restarts rewrite its services while others read them
    LabState lab_;
};

}  // namespace inj::lab
