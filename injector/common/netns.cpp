// setns(2) wrappers.
#include "common/netns.hpp"

#include <fcntl.h>
#include <sched.h>

#include <cstring>

#include "common/log.hpp"

namespace inj {

std::string netns_path(const std::string& name) { return "/run/netns/" + name; }

Result<NetnsGuard> NetnsGuard::enter(const std::string& path) {
    INJ_ASSIGN_OR_RETURN(Fd saved, open_fd("/proc/thread-self/ns/net", O_RDONLY));
    auto target = open_fd(path, O_RDONLY);
    if (!target) return Error{target.error().code, "open netns", path};
    if (setns(target->get(), CLONE_NEWNET) != 0) return errno_error("setns", path);
    return NetnsGuard(std::move(saved));
}

Result<std::optional<NetnsGuard>> NetnsGuard::enter_unless_empty(const std::string& path) {
    if (path.empty()) return std::optional<NetnsGuard>();
    INJ_ASSIGN_OR_RETURN(NetnsGuard g, enter(path));
    return std::optional<NetnsGuard>(std::move(g));
}

NetnsGuard::~NetnsGuard() {
    if (!saved_fd_) return;
    if (setns(saved_fd_.get(), CLONE_NEWNET) != 0)
        log::get("net")->error("could not return to the original network namespace: {}", std::strerror(errno));
}

}  // namespace inj
