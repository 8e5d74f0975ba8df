// Prometheus text-format metrics while a run is active, for teams that watch game days on
// dashboards: run phase, faults in force, drops per rule, probe success and latency. Served on a
// loopback address only (http_server.hpp).
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "report/http_server.hpp"
#include "runner/observer.hpp"

namespace inj::report {

class MetricsServer : public runner::RunObserver {
public:
    // Serves on `a` (LoopbackHttp::parse_address reads it from the command line).
    static Result<std::unique_ptr<MetricsServer>> start(const LoopbackHttp::Address& a);
    ~MetricsServer() override;

    void on_event(const nlohmann::json& ev) noexcept override;
    std::string render() const;  // the exposition text
    uint16_t port() const { return http_->port(); }
    std::string url() const { return http_->url(); }

private:
    MetricsServer() = default;

    struct Probe {
        uint64_t attempts = 0, failures = 0;
        bool last_ok = true;
        double last_latency_ms = 0;
        double window_ms = 10000;
        std::optional<double> slo;
        std::deque<std::pair<double, bool>> recent;
    };
    struct Fault {
        std::string kind;
        bool active = false;
        uint64_t dropped = 0, passed = 0;
    };
    mutable std::mutex mu_;
    std::string run_, plan_, phase_ = "starting", verdict_;
    std::optional<std::chrono::steady_clock::time_point> t0_;
    std::map<std::string, Fault> faults_;
    std::map<std::string, Probe> probes_;
    std::map<std::string, uint64_t> events_;
    std::unique_ptr<LoopbackHttp> http_;  // last: destroyed first
};

}  // namespace inj::report
