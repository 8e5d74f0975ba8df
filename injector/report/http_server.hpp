// A tiny HTTP responder for Prometheus scrapes, on a loopback address only (nothing else is
// accepted): GET /metrics (or /) answers with what `render` returns at that moment. One thread
// serves every connection from one poll loop, bounded in connections, request bytes and time per
// request, so a slow or hostile client delays nobody. The runner's `--metrics` and the agent's
// `--metrics` both serve through it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/result.hpp"

namespace inj::report {

class LoopbackHttp {
public:
    struct Address {
        bool v6 = false;
        std::string host;   // numeric: 127.x.y.z or ::1
        uint16_t port = 0;  // 0: any free port (tests)
    };
    // "127.0.0.1:9464", "[::1]:9464", "localhost:9464". Anything not loopback is refused.
    static std::optional<Address> parse_address(const std::string& text, std::string* why);
    // Listens on `a` (in the caller's network namespace) and serves until destroyed. `render` is
    // called from the server's thread, once per scrape.
    static Result<std::unique_ptr<LoopbackHttp>> start(const Address& a, std::function<std::string()> render);
    ~LoopbackHttp();
    LoopbackHttp(const LoopbackHttp&) = delete;
    LoopbackHttp& operator=(const LoopbackHttp&) = delete;

    uint16_t port() const { return port_; }
    std::string url() const;  // http://HOST:PORT/metrics

    static constexpr size_t kMaxConns = 8;       // connections served at once
    static constexpr size_t kMaxRequest = 8192;  // bytes of request head
    static constexpr int kRequestMs = 2000;      // per connection, request and answer

private:
    LoopbackHttp() = default;
    void serve();
    std::string answer(const std::string& request);

    int listen_fd_ = -1, stop_fd_ = -1;
    uint16_t port_ = 0;
    Address addr_;
    std::function<std::string()> render_;
    std::thread thread_;
};

// Prometheus text-format helpers: a label value escaped, a number with up to 10 significant
// digits, and a family's HELP and TYPE lines.
std::string prom_label(const std::string& v);
std::string prom_num(double v);
std::string prom_family(const char* name, const char* type, const char* help);

}  // namespace inj::report
