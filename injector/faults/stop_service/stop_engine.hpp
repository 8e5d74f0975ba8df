// The engine of stop_service: a service's processes on the target hosts get SIGKILL, SIGTERM or
// SIGSTOP (its whole process group, after checking the pid is in the host's cgroup); at heal a
// stopped service continues, and a killed one is started again (`restart: true`) by the target
// provider, in the background, its time to ready recorded as its RTO.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "faults/restorer.hpp"
#include "runner/engine.hpp"
#include "targets/targets.hpp"

namespace inj::faults {

class StopServiceEngine : public Engine {
public:
    ~StopServiceEngine() override { release(); }
    std::string_view name() const override { return "stop_service"; }
    Result<void> prepare(const plan::Plan& plan, targets::Targets& targets, uint64_t run_deadline_ns) override;
    Result<void> inject(size_t index, uint64_t deadline_ns) override;
    Result<void> heal(size_t index) override;
    Result<void> heal_all() noexcept override;
    std::vector<FaultCounters> counters() const override;
    std::vector<ServiceRecovery> recoveries(size_t index) const override;
    bool settled() const override { return restorers_.settled(); }
    void release() noexcept override;

private:
    struct Stopped {
        std::vector<std::string> hosts;                   // target hosts running the service
        std::vector<targets::ServiceInstance> signalled;  // what the inject reached
        bool on = false;
        std::vector<ServiceRecovery> recoveries;  // guarded by mu_
    };
    void bring_back(size_t index, bool await);

    const plan::Plan* plan_ = nullptr;
    targets::Targets* targets_ = nullptr;
    std::vector<std::optional<Stopped>> faults_;
    mutable std::mutex mu_;
    Restorers restorers_;  // restarts in the background; cancelled: no more waiting
};

}  // namespace inj::faults
