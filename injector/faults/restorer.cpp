// Background restores and readiness waits (restorer.hpp).
#include "faults/restorer.hpp"

#include <algorithm>

namespace inj::faults {

using Clock = std::chrono::steady_clock;

Result<void> Restorers::start(const std::function<void(bool await)>& restore) {
    ++running_;
    try {
        threads_.emplace_back([this, restore] {
            restore(true);
            --running_;
        });
        return {};
    } catch (const std::exception& e) {  // no thread: restore here, without waiting
        --running_;
        restore(false);
        return plain_error("restore",
                           std::string("no restore thread (") + e.what() + "): restored without awaiting readiness");
    }
}

void Restorers::stop() noexcept {
    cancel_ = true;
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

void sleep_unless_cancelled(std::chrono::nanoseconds d, const Restorers& r) {
    auto until = Clock::now() + d;
    while (!r.cancelled() && Clock::now() < until)
        std::this_thread::sleep_for(
            std::min<std::chrono::nanoseconds>(std::chrono::milliseconds(10), until - Clock::now()));
}

ReadinessWaits::ReadinessWaits(const targets::Targets& targets, Clock::time_point t0, const Restorers& restorers,
                               Record record)
    : targets_(targets), t0_(t0), restorers_(restorers), record_(std::move(record)) {}

void ReadinessWaits::add(const targets::ServiceInstance& s, bool await, const std::string& why_not) {
    if (!await || restorers_.cancelled()) {
        record_({s.service, s.host, s.pid, Clock::now() - t0_, false, why_not, false});
        return;
    }
    threads_.emplace_back([this, s] {
        auto ready = targets_.await_ready(s, t0_ + targets_.ready_timeout(), &restorers_.cancel_flag());
        record_({s.service, s.host, s.pid, Clock::now() - t0_, ready.ok(),
                 ready ? std::string() : ready.error().message(), ready.ok() || !restorers_.cancelled()});
    });
}

void ReadinessWaits::join() noexcept {
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

}  // namespace inj::faults
