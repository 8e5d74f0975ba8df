// Prometheus text-format metrics while a run is active, for teams that watch game days on
// dashboards: run phase, faults in force, drops per rule, probe success and latency. Served by a
// tiny HTTP responder on a loopback address only (nothing else is accepted), one thread, bounded
// in connections, request bytes and time per request.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/result.hpp"
#include "runner/observer.hpp"

namespace inj::report {

class MetricsServer : public runner::RunObserver {
public:
    struct Address {
        bool v6 = false;
        std::string host;   // numeric: 127.x.y.z or ::1
        uint16_t port = 0;  // 0: any free port (tests)
    };
    // "127.0.0.1:9464", "[::1]:9464", "localhost:9464". Anything not loopback is refused.
    static std::optional<Address> parse_address(const std::string& text, std::string* why);
    static Result<std::unique_ptr<MetricsServer>> start(const Address& a);
    ~MetricsServer() override;

    void on_event(const nlohmann::json& ev) noexcept override;
    std::string render() const;  // the exposition text
    uint16_t port() const { return port_; }
    std::string url() const;

    static constexpr size_t kMaxConns = 8;       // connections served at once
    static constexpr size_t kMaxRequest = 8192;  // bytes of request head
    static constexpr int kRequestMs = 2000;      // per connection, request and answer

private:
    MetricsServer() = default;
    void serve();
    std::string answer(const std::string& request);

    int listen_fd_ = -1, stop_fd_ = -1;
    uint16_t port_ = 0;
    Address addr_;
    std::thread thread_;

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
    uint64_t scrapes_ = 0;
};

}  // namespace inj::report
