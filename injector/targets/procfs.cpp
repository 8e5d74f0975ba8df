// /proc and cgroup-mount readers for the bindings (see procfs.hpp).
#include "targets/procfs.hpp"

#include <dirent.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/mountinfo.hpp"

namespace inj::targets {
namespace {

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    while (true) {
        size_t pos = s.find(sep, start);
        out.emplace_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
        if (pos == std::string_view::npos) return out;
        start = pos + 1;
    }
}

}  // namespace

std::map<std::string, std::string> parse_proc_cgroup(std::string_view text) {
    std::map<std::string, std::string> out;
    for (auto& line : split(text, '\n')) {
        // hierarchy-id:controller-list:path; the path may itself hold ':'.
        size_t a = line.find(':');
        if (a == std::string::npos) continue;
        size_t b = line.find(':', a + 1);
        if (b == std::string::npos) continue;
        std::string controllers = line.substr(a + 1, b - a - 1);
        std::string path = line.substr(b + 1);
        if (line.substr(0, a) == "0" && controllers.empty()) {
            out.emplace("unified", path);
            continue;
        }
        for (auto& c : split(controllers, ','))
            if (!c.empty()) out.emplace(c, path);
    }
    return out;
}

std::map<std::string, std::string> parse_cgroup_mounts(std::string_view mountinfo) {
    std::map<std::string, std::string> out;
    for (auto& m : parse_mountinfo(mountinfo)) {
        if (m.fs_type == "cgroup2") {
            out.emplace("unified", m.mount_point);
        } else if (m.fs_type == "cgroup") {
            for (auto& opt : split(m.super_options, ','))
                if (opt != "rw" && opt != "ro" && !opt.empty()) out.emplace(opt, m.mount_point);
        }
    }
    return out;
}

std::map<std::string, std::string> cgroup_mounts() {
    auto text = read_small_file("/proc/self/mountinfo");
    return text ? parse_cgroup_mounts(*text) : std::map<std::string, std::string>{};
}

Result<std::string> read_small_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return errno_error("read", path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool pid_alive(pid_t pid) {
    if (pid <= 0) return false;
    auto stat = read_small_file("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return false;
    // The state follows the command name, which is in parentheses and may hold anything.
    size_t close = stat->rfind(')');
    return close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] != 'Z' &&
           (*stat)[close + 2] != 'X';
}

std::vector<pid_t> all_pids() {
    std::vector<pid_t> out;
    DIR* d = ::opendir("/proc");
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
        char* end;
        long p = std::strtol(e->d_name, &end, 10);
        if (*end == 0 && p > 0) out.push_back(pid_t(p));
    }
    ::closedir(d);
    return out;
}

std::vector<pid_t> children_of(pid_t pid) {
    std::vector<pid_t> out;
    for (pid_t p : all_pids()) {
        auto stat = read_small_file("/proc/" + std::to_string(p) + "/stat");
        if (!stat) continue;
        size_t close = stat->rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream ss(stat->substr(close + 1));
        std::string state;
        long ppid = 0;
        if (ss >> state >> ppid && ppid == pid) out.push_back(p);
    }
    return out;
}

std::string comm_of(pid_t pid) {
    auto c = read_small_file("/proc/" + std::to_string(pid) + "/comm");
    if (!c) return {};
    std::string s = *c;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

Result<CgroupDirs> pid_cgroup_dirs(pid_t pid) {
    auto text = read_small_file("/proc/" + std::to_string(pid) + "/cgroup");
    if (!text) return Error{ESRCH, "read cgroups of pid " + std::to_string(pid), "the process is gone"};
    auto rel = parse_proc_cgroup(*text);
    auto mounts = cgroup_mounts();
    CgroupDirs out;
    for (auto& h : used_hierarchies()) {
        auto r = rel.find(h);
        auto m = mounts.find(h);
        if (r == rel.end() || m == mounts.end()) continue;
        out[h] = m->second + (r->second == "/" ? "" : r->second);
    }
    return out;
}

bool same_file(const std::string& a, const std::string& b) {
    struct stat sa, sb;
    return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

bool is_nsfs(const std::string& path) {
    struct statfs s;
    return ::statfs(path.c_str(), &s) == 0 && s.f_type == NSFS_MAGIC;
}

}  // namespace inj::targets
