// setns(2) wrappers.
#include "common/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include "common/log.hpp"

namespace inj {

std::string netns_path(const std::string& name) { return "/run/netns/" + name; }

Result<NetnsGuard> NetnsGuard::enter(const std::string& path) {
    int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (saved < 0) return errno_error("open", "/proc/thread-self/ns/net");
    int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) {
        auto e = errno_error("open netns", path);
        close(saved);
        return e;
    }
    if (setns(target, CLONE_NEWNET) != 0) {
        auto e = errno_error("setns", path);
        close(target);
        close(saved);
        return e;
    }
    close(target);
    return NetnsGuard(saved);
}

NetnsGuard::~NetnsGuard() {
    if (saved_fd_ < 0) return;
    if (setns(saved_fd_, CLONE_NEWNET) != 0)
        log::get("net")->error("could not return to the original network namespace: {}", std::strerror(errno));
    close(saved_fd_);
}

}  // namespace inj
