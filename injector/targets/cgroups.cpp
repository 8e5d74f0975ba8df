// Cgroup writes and waits for whole-host stops (cgroups.hpp).
#include "targets/cgroups.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/duration.hpp"
#include "common/fd.hpp"

namespace inj::targets {
namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(2);
}  // namespace

Result<void> write_control(const std::string& path, const std::string& value) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno_error("open", path);
    Fd owner(fd);
    ssize_t n = ::write(fd, value.data(), value.size());
    if (n != static_cast<ssize_t>(value.size())) {
        if (n >= 0) errno = EIO;
        return errno_error("write " + value, path);
    }
    return {};
}

int cgroup_event(const std::string& dir, const std::string& key) {
    std::ifstream in(dir + "/cgroup.events");
    std::string k;
    int v;
    while (in >> k >> v)
        if (k == key) return v;
    return -1;
}

Result<void> await_cgroups(const std::vector<std::string>& dirs, const std::string& key, int want,
                           std::chrono::nanoseconds bound) {
    auto until = Clock::now() + bound;
    std::vector<std::string> left = dirs;
    while (true) {
        left.erase(std::remove_if(left.begin(), left.end(), [&](auto& d) { return cgroup_event(d, key) == want; }),
                   left.end());
        if (left.empty()) return {};
        if (Clock::now() > until) {
            std::string names;
            for (auto& d : left) names += (names.empty() ? "" : ", ") + d;
            return plain_error("cgroup", "cgroup.events " + key + " not " + std::to_string(want) + " after " +
                                             format_duration(std::chrono::duration_cast<Duration>(bound)) + ": " +
                                             names);
        }
        std::this_thread::sleep_for(kPoll);
    }
}

RealtimeScope::RealtimeScope() {
    old_policy_ = sched_getscheduler(0);
    sched_param old{};
    if (old_policy_ < 0 || sched_getparam(0, &old) != 0) return;
    old_priority_ = old.sched_priority;
    sched_param p{};
    p.sched_priority = std::min(50, sched_get_priority_max(SCHED_FIFO));
    raised_ = sched_setscheduler(0, SCHED_FIFO, &p) == 0;
}

RealtimeScope::~RealtimeScope() {
    if (!raised_) return;
    sched_param old{};
    old.sched_priority = old_priority_;
    (void)sched_setscheduler(0, old_policy_, &old);
}

}  // namespace inj::targets

namespace inj::targets {

bool pid_in_cgroup(pid_t pid, const std::string& dir) {
    if (dir.empty() || pid <= 0) return false;
    std::ifstream in(dir + "/cgroup.procs");
    if (!in) return false;
    for (pid_t p; in >> p;)
        if (p == pid) return true;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(dir, ec))
        if (e.is_directory(ec) && pid_in_cgroup(pid, e.path().string())) return true;
    return false;
}

}  // namespace inj::targets
