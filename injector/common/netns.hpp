// Network namespaces: enter one for the calling thread (RAII), and name the paths iproute2 uses.
#pragma once

#include <optional>
#include <string>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace inj {

// Path of a named namespace as iproute2 creates it ("/run/netns/NAME").
std::string netns_path(const std::string& name);

// Switches the calling thread into a network namespace and back on destruction. Only this
// thread moves; other threads stay where they are.
class NetnsGuard {
public:
    static Result<NetnsGuard> enter(const std::string& path);
    // enter(path), or nothing (stay where the thread is) when path is empty.
    static Result<std::optional<NetnsGuard>> enter_unless_empty(const std::string& path);
    NetnsGuard(NetnsGuard&&) noexcept = default;
    NetnsGuard& operator=(NetnsGuard&&) = delete;
    ~NetnsGuard();

private:
    explicit NetnsGuard(Fd saved) : saved_fd_(std::move(saved)) {}
    Fd saved_fd_;  // the thread's namespace before enter(); empty once moved from
};

}  // namespace inj
