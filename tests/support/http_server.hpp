// A small HTTP/1.1 server on 127.0.0.1 for tests and benchmarks of the http: and prometheus:
// probes: answers by path from a fixed table, one request per connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace inj::test {

// Answers GET/HEAD/POST by path (the request target, query included) with {status, body}; an
// unknown path gets 404; "/hang" reads the request and never answers (until destruction).
class TinyHttpServer {
public:
    explicit TinyHttpServer(std::map<std::string, std::pair<int, std::string>> routes);
    ~TinyHttpServer();
    TinyHttpServer(const TinyHttpServer&) = delete;
    TinyHttpServer& operator=(const TinyHttpServer&) = delete;
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
    uint16_t port() const { return port_; }
    std::string last_method() const;

private:
    void loop();
    std::map<std::string, std::pair<int, std::string>> routes_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::string last_method_;
    std::thread thread_;
};

}  // namespace inj::test
