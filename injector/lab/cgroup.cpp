// cgroup v2 directories of a lab: found from /proc/mounts, killed with cgroup.kill, removed
// leaf first (a cgroup directory can only be removed once it has no children and no tasks).
#include "lab/cgroup.hpp"

#include "common/mountinfo.hpp"
#include "targets/cgroups.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace inj::lab::cgroup {
namespace {

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::string> child_dirs(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        if (e->d_type == DT_DIR) out.push_back(dir + "/" + n);
    }
    closedir(d);
    return out;
}

// Every pid in dir and below; used where cgroup.kill does not exist (kernels before 5.14).
void collect_pids(const std::string& dir, std::vector<pid_t>* out) {
    for (pid_t p : procs(dir)) out->push_back(p);
    for (auto& c : child_dirs(dir)) collect_pids(c, out);
}

}  // namespace

Result<std::string> v2_mount() {
    std::ifstream in("/proc/mounts");
    if (!in) return errno_error("open", "/proc/mounts");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string dev, mnt, type;
        if (!(ls >> dev >> mnt >> type)) continue;
        if (type == "cgroup2") return unescape_mount_field(mnt);
    }
    return plain_error("find cgroup2 mount",
                       "no cgroup2 hierarchy in /proc/mounts; the lab needs cgroup v2 "
                       "(mount -t cgroup2 none /sys/fs/cgroup/unified)");
}

Result<void> make(const std::string& dir) {
    for (size_t pos = 1; pos != std::string::npos;) {
        pos = dir.find('/', pos + 1);
        std::string part = dir.substr(0, pos);
        if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return errno_error("mkdir", part);
    }
    return {};
}

std::vector<pid_t> procs(const std::string& dir) {
    std::vector<pid_t> out;
    std::ifstream in(dir + "/cgroup.procs");
    pid_t p;
    while (in >> p) out.push_back(p);
    return out;
}

bool populated(const std::string& dir) {
    int v = targets::cgroup_event(dir, "populated");
    // No cgroup.events (a kernel without it): the processes listed say it.
    if (v < 0) return !procs(dir).empty();
    return v != 0;
}

Result<void> kill_all(const std::string& dir, std::chrono::milliseconds bound) {
    if (!exists(dir)) return {};
    std::string killfile = dir + "/cgroup.kill";
    if (exists(killfile)) {
        std::ofstream k(killfile);
        k << "1";
        k.flush();
        if (!k) return errno_error("write", killfile);
    } else {
        std::vector<pid_t> pids;
        collect_pids(dir, &pids);
        for (pid_t p : pids) ::kill(p, SIGKILL);
    }
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (populated(dir)) {
        if (std::chrono::steady_clock::now() >= deadline) {
            std::vector<pid_t> left;
            collect_pids(dir, &left);
            std::string list;
            for (pid_t p : left) list += (list.empty() ? "" : " ") + std::to_string(p);
            return plain_error("kill cgroup",
                               dir + " still has processes after " + std::to_string(bound.count()) + " ms: " + list);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return {};
}

Result<void> remove_tree(const std::string& dir) {
    if (!exists(dir)) return {};
    for (auto& c : child_dirs(dir)) INJ_TRY(remove_tree(c));
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return errno_error("rmdir", dir);
    return {};
}

}  // namespace inj::lab::cgroup
