// Resolving netns, cgroup, pid and local bindings against this machine (see process.hpp).
#include "targets/process.hpp"

#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "common/netns.hpp"

namespace inj::targets {
namespace {

bool is_dir(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string trim_slashes(std::string s) {
    while (!s.empty() && s.front() == '/') s.erase(0, 1);
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

}  // namespace

Result<std::string> resolve_netns(const std::string& name_or_path) {
    if (name_or_path.empty()) return plain_error("netns binding", "empty name");
    std::string path = name_or_path.find('/') == std::string::npos ? netns_path(name_or_path) : name_or_path;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return errno_error("netns " + name_or_path, "looked for " + path);
    if (!is_nsfs(path)) return plain_error("netns " + name_or_path, path + " is not a namespace file");
    return path;
}

Result<CgroupDirs> resolve_cgroup_in(const std::string& rel, const std::map<std::string, std::string>& mounts) {
    if (is_root_or_escaping(rel))
        return plain_error("cgroup \"" + rel + "\"", "a root cgroup or a path leaving the hierarchy: refused");
    std::string clean = trim_slashes(rel);
    CgroupDirs out;
    std::string looked;
    for (auto& h : used_hierarchies()) {
        auto m = mounts.find(h);
        if (m == mounts.end()) continue;
        std::string dir = m->second + "/" + clean;
        looked += (looked.empty() ? "" : ", ") + dir;
        if (is_dir(dir)) out[h] = dir;
    }
    if (out.empty())
        return plain_error("cgroup " + rel,
                           "no such cgroup (looked for " + (looked.empty() ? "no hierarchy mounted" : looked) + ")");
    return out;
}

Result<CgroupDirs> resolve_cgroup(const std::string& rel) { return resolve_cgroup_in(rel, cgroup_mounts()); }

Result<ProcessTarget> resolve_pid(pid_t pid) {
    const std::string who = "pid " + std::to_string(pid);
    if (pid <= 1 || pid == ::getpid())
        return plain_error(who, "not a process that may be a target (pid 1 or the runner)");
    if (!pid_alive(pid)) return Error{ESRCH, who, "the process is gone"};
    ProcessTarget t;
    t.pid = pid;
    t.netns = "/proc/" + std::to_string(pid) + "/ns/net";
    auto dirs = pid_cgroup_dirs(pid);
    if (!dirs) return Error{ESRCH, who, "the process is gone"};
    auto mounts = cgroup_mounts();
    for (auto& [h, dir] : *dirs)
        if (dir != mounts[h]) t.cgroups[h] = dir;
    if (t.cgroups.empty())
        return plain_error(
            who, "lives in the root cgroup of every hierarchy: its processes cannot be told from the machine's");
    return t;
}

Result<pid_t> parse_pidfile(const std::string& text, const std::string& path) {
    size_t b = 0, e = text.size();
    while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
    std::string digits = text.substr(b, e - b);
    if (digits.empty() || digits.size() > 9 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return plain_error("pidfile " + path, "does not hold one decimal pid");
    long v = std::stol(digits);
    if (v <= 0) return plain_error("pidfile " + path, "holds pid " + digits);
    return pid_t(v);
}

Result<ProcessTarget> resolve_pidfile(const std::string& path) {
    auto text = read_small_file(path);
    if (!text) return errno_error("pidfile " + path, "reading it");
    INJ_ASSIGN_OR_RETURN(pid_t pid, parse_pidfile(*text, path));
    auto t = resolve_pid(pid);
    if (!t) return Error{t.error().code, "pidfile " + path, t.error().message()};
    return t;
}

Result<std::vector<std::string>> interfaces_in(const std::string& netns_path) {
    auto guard = NetnsGuard::enter(netns_path);
    if (!guard) return std::move(guard).error();
    // if_nameindex asks over netlink, in the namespace this thread is in now.
    struct if_nameindex* list = ::if_nameindex();
    if (!list) return errno_error("if_nameindex", netns_path);
    std::vector<std::pair<unsigned, std::string>> v;
    for (struct if_nameindex* i = list; i->if_index != 0; ++i)
        if (std::string(i->if_name) != "lo") v.emplace_back(i->if_index, i->if_name);
    ::if_freenameindex(list);
    std::sort(v.begin(), v.end());
    std::vector<std::string> out;
    for (auto& [idx, name] : v) out.push_back(name);
    return out;
}

Result<LocalTarget> resolve_local() {
    LocalTarget t;
    t.netns = "/proc/" + std::to_string(::getpid()) + "/ns/net";
    struct stat st;
    t.init_visible = ::stat("/proc/1/ns/net", &st) == 0;
    if (t.init_visible && !same_file("/proc/1/ns/net", t.netns))
        return plain_error("local binding",
                           "the runner is not in this machine's own network namespace (pid 1's): "
                           "run it there to drill this machine");
    INJ_ASSIGN_OR_RETURN(t.interfaces, interfaces_in(t.netns));
    return t;
}

}  // namespace inj::targets
