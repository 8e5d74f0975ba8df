// What the kinds that bring services back at heal share (power_loss, stop_service): the restore
// runs in a background thread the runner waits for (settled()), hurries once cancelled (an abort:
// no stagger, no more waiting for readiness), and each started service's readiness is awaited in
// a thread of its own, so a slow neighbour never adds to another service's measured RTO.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "runner/engine.hpp"
#include "targets/targets.hpp"

namespace inj::faults {

class Restorers {
public:
    Restorers() = default;
    Restorers(const Restorers&) = delete;
    Restorers& operator=(const Restorers&) = delete;
    ~Restorers() { stop(); }

    // Runs restore(await = true) in a background thread; without a thread (allocation or thread
    // creation failed) runs restore(false) here and returns what went wrong.
    Result<void> start(const std::function<void(bool await)>& restore);
    // No restore running.
    bool settled() const { return running_.load() == 0; }
    // Asks every restore to hurry (cancelled() turns true) and waits for them; start() may be
    // used again once resume() is called.
    void stop() noexcept;
    void resume() { cancel_ = false; }
    bool cancelled() const { return cancel_.load(); }
    const std::atomic<bool>& cancel_flag() const { return cancel_; }

private:
    std::vector<std::thread> threads_;
    std::atomic<int> running_{0};
    std::atomic<bool> cancel_{false};
};

// Sleeps `d`, or less once the restores are cancelled.
void sleep_unless_cancelled(std::chrono::nanoseconds d, const Restorers& r);

// The readiness waits of one restore: add() each service as it is started; the destructor (or
// join()) returns once every one is recorded.
class ReadinessWaits {
public:
    using Record = std::function<void(ServiceRecovery)>;
    // RTOs are timed from t0; readiness is awaited until t0 + the provider's ready_timeout().
    ReadinessWaits(const targets::Targets& targets, std::chrono::steady_clock::time_point t0,
                   const Restorers& restorers, Record record);
    ReadinessWaits(const ReadinessWaits&) = delete;
    ReadinessWaits& operator=(const ReadinessWaits&) = delete;
    ~ReadinessWaits() { join(); }

    // Awaits `s`'s readiness in its own thread; when `await` is false or the restores were
    // cancelled, records it at once as not awaited, saying `why_not`.
    void add(const targets::ServiceInstance& s, bool await, const std::string& why_not);
    void join() noexcept;

private:
    const targets::Targets& targets_;
    std::chrono::steady_clock::time_point t0_;
    const Restorers& restorers_;
    Record record_;
    std::vector<std::thread> threads_;
};

}  // namespace inj::faults
