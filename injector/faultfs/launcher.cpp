// Starting, finding and stopping faultfs daemons.
#include "faultfs/faultfs.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/mountinfo.hpp"
#include "common/proc.hpp"
#include "common/safe_file.hpp"
#include "faultfs/control.hpp"

namespace inj::faultfs {
namespace {

using Clock = std::chrono::steady_clock;

std::string read_link(const std::string& p) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(p.c_str(), buf, sizeof(buf) - 1);
    if (n < 0) return {};
    buf[n] = 0;
    return buf;
}

std::vector<std::string> cmdline(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::vector<std::string> v;
    std::string a;
    while (std::getline(in, a, '\0')) v.push_back(a);
    return v;
}

bool is_daemon(pid_t pid) {
    auto v = cmdline(pid);
    if (v.size() < 2 || v[1] != "faultfs") return false;
    auto base = v[0].substr(v[0].rfind('/') == std::string::npos ? 0 : v[0].rfind('/') + 1);
    return base == "injector";
}

std::vector<pid_t> all_pids() {
    std::vector<pid_t> v;
    DIR* d = ::opendir("/proc");
    if (!d) return v;
    while (dirent* e = ::readdir(d)) {
        char* end;
        long p = std::strtol(e->d_name, &end, 10);
        if (*end == 0 && p > 0) v.push_back(pid_t(p));
    }
    ::closedir(d);
    return v;
}

bool mounted(const std::string& mp) {
    for (auto& m : mounts())
        if (m == mp) return true;
    return false;
}

bool under(const std::string& path, const std::string& mp) {
    return path == mp || (path.size() > mp.size() && path.compare(0, mp.size(), mp) == 0 && path[mp.size()] == '/');
}

void wait_gone(pid_t pid, Clock::time_point until) {
    while (Clock::now() < until) {
        pid_t r = ::waitpid(pid, nullptr, WNOHANG);
        if (r == pid || (r < 0 && !process_alive(pid))) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

}  // namespace

std::string binary() {
    // Executed as root: an override counts only when nobody else could have planted it.
    if (auto e = trusted_env_path("INJECTOR_BIN")) return *e;
    std::string self = read_link("/proc/self/exe");
    if (self.size() >= 9 && self.compare(self.size() - 9, 9, "/injector") == 0) return self;
#ifdef INJ_INJECTOR_BIN
    return INJ_INJECTOR_BIN;
#else
    return "injector";
#endif
}

std::vector<std::string> mounts() {
    std::vector<std::string> out;
    for (auto& m : read_mountinfo())
        if (m.fs_type == kFsType) out.push_back(m.mount_point);
    return out;
}

std::vector<pid_t> daemons() {
    std::vector<pid_t> v;
    for (pid_t p : all_pids())
        if (is_daemon(p)) v.push_back(p);
    return v;
}

std::string mountpoint_of(pid_t daemon) {
    auto v = cmdline(daemon);
    return v.empty() ? std::string() : v.back();
}

pid_t daemon_of(const std::string& mountpoint) {
    for (pid_t p : daemons()) {
        auto v = cmdline(p);
        if (!v.empty() && v.back() == mountpoint) return p;
    }
    return 0;
}

std::vector<pid_t> users(const std::string& mp) {
    std::vector<pid_t> v;
    for (pid_t p : all_pids()) {
        if (p == ::getpid() || is_daemon(p)) continue;
        std::string base = "/proc/" + std::to_string(p);
        bool uses = under(read_link(base + "/cwd"), mp) || under(read_link(base + "/root"), mp);
        if (!uses)
            if (DIR* d = ::opendir((base + "/fd").c_str())) {
                while (dirent* e = ::readdir(d))
                    if (e->d_name[0] != '.' && under(read_link(base + "/fd/" + e->d_name), mp)) {
                        uses = true;
                        break;
                    }
                ::closedir(d);
            }
        if (uses) v.push_back(p);
    }
    return v;
}

Result<pid_t> start(const StartSpec& spec, std::chrono::milliseconds bound) {
    auto ctl = Control::create(spec.control);
    if (!ctl) return ctl.error();
    SpawnSpec s;
    s.argv = {binary(), "faultfs", "--control", spec.control};
    if (!spec.backing.empty()) s.argv.insert(s.argv.end(), {"--backing", spec.backing});
    if (spec.writeback) s.argv.push_back("--writeback");
    s.argv.push_back(spec.mountpoint);
    s.output = spec.log;
    s.new_session = true;  // not tied to the terminal or to the runner: it must outlive both
    auto pid = spawn(s);
    if (!pid) return pid.error();
    auto until = Clock::now() + bound;
    while (true) {
        if (ctl->block()->state.load() == uint32_t(DaemonState::serving) && mounted(spec.mountpoint)) return *pid;
        pid_t r = ::waitpid(*pid, nullptr, WNOHANG);
        if (r == *pid || !process_alive(*pid))
            return plain_error("faultfs on " + spec.mountpoint,
                               "the daemon exited before serving (log " + (spec.log.empty() ? "none" : spec.log) + ")");
        if (Clock::now() > until) {
            (void)stop(spec.mountpoint, *pid);
            return plain_error("faultfs on " + spec.mountpoint,
                               "not serving after " + std::to_string(bound.count()) + " ms");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

Result<void> stop(const std::string& mountpoint, pid_t pid, std::chrono::milliseconds bound) {
    if (pid == 0) pid = daemon_of(mountpoint);
    // Whose pid it is, decided before the unmount: a daemon on its way out no longer shows its
    // command line, and must still be waited for.
    const bool ours = pid > 0 && is_daemon(pid);
    std::string failed;
    if (mounted(mountpoint) && ::umount2(mountpoint.c_str(), 0) != 0) {
        // Busy (a process still has a file open there): detach it from the tree now; the
        // daemon exits when the last user lets go.
        if (errno != EINVAL && ::umount2(mountpoint.c_str(), MNT_DETACH) != 0 && errno != EINVAL)
            failed = "umount " + mountpoint + ": " + std::strerror(errno);
    }
    if (ours) {
        auto until = Clock::now() + bound;
        wait_gone(pid, until);
        if (process_alive(pid) && is_daemon(pid)) {
            ::kill(pid, SIGTERM);
            wait_gone(pid, Clock::now() + std::chrono::seconds(1));
        }
        if (process_alive(pid) && is_daemon(pid)) {
            ::kill(pid, SIGKILL);
            wait_gone(pid, Clock::now() + std::chrono::seconds(1));
        }
        if (process_alive(pid) && is_daemon(pid))
            failed += (failed.empty() ? "" : "; ") + std::string("daemon ") + std::to_string(pid) + " did not exit";
        else if (process_alive(pid))
            wait_gone(pid, Clock::now() + std::chrono::seconds(1));  // exiting: its command line is gone
    }
    if (!failed.empty()) return plain_error("faultfs stop", failed);
    return {};
}

}  // namespace inj::faultfs
