// Network namespaces: enter one for the calling thread (RAII), and name the paths iproute2 uses.
#pragma once

#include <string>

#include "common/result.hpp"

namespace inj {

// Path of a named namespace as iproute2 creates it ("/run/netns/NAME").
std::string netns_path(const std::string& name);

// Switches the calling thread into a network namespace and back on destruction. Only this
// thread moves; other threads stay where they are.
class NetnsGuard {
public:
    static Result<NetnsGuard> enter(const std::string& path);
    NetnsGuard(NetnsGuard&& o) noexcept : saved_fd_(o.saved_fd_) { o.saved_fd_ = -1; }
    NetnsGuard& operator=(NetnsGuard&&) = delete;
    ~NetnsGuard();

private:
    explicit NetnsGuard(int saved) : saved_fd_(saved) {}
    int saved_fd_ = -1;
};

}  // namespace inj
