// What /proc and the cgroup mounts say about a process: its cgroup in each hierarchy, its network
// namespace, whether it is alive. Shared by the container and process bindings; the parsers are
// pure so the unit tests feed them captured files.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/paths.hpp"
#include "common/result.hpp"

namespace inj::targets {

// The hierarchies a binding resolves: the v2 one ("unified": cgroup.freeze, cgroup.kill) and the
// v1 controllers power and storage faults use on a hybrid machine.
inline const std::vector<std::string>& used_hierarchies() {
    static const std::vector<std::string> h = {"unified", "freezer", "pids", "blkio"};
    return h;
}

// A cgroup directory per hierarchy ("freezer" -> "/sys/fs/cgroup/freezer/P/libpod-ID").
using CgroupDirs = std::map<std::string, std::string>;

// /proc/PID/cgroup: hierarchy -> path inside it ("/P/libpod-ID"). The v2 line ("0::/x") is keyed
// "unified"; a v1 line listing several controllers ("cpu,cpuacct") gives one key each; a named
// hierarchy ("name=systemd") keeps its name.
std::map<std::string, std::string> parse_proc_cgroup(std::string_view text);

// /proc/self/mountinfo: hierarchy -> mount point, for cgroup (v1, one key per controller named
// in the super options) and cgroup2 ("unified") mounts. The first mount of each wins.
std::map<std::string, std::string> parse_cgroup_mounts(std::string_view mountinfo);
// parse_cgroup_mounts of this machine's /proc/self/mountinfo.
std::map<std::string, std::string> cgroup_mounts();

// is_root_or_escaping(rel): common/paths.hpp.
using inj::is_root_or_escaping;

// The whole of a small file (/proc, /sys); an error names the path.
Result<std::string> read_small_file(const std::string& path);
// True while pid exists and is not a zombie.
bool pid_alive(pid_t pid);
// Every pid in /proc now.
std::vector<pid_t> all_pids();
// The pids whose parent is `pid` (from /proc/*/stat).
std::vector<pid_t> children_of(pid_t pid);
// /proc/PID/comm without its newline; empty when the process is gone.
std::string comm_of(pid_t pid);
// The directories of pid's cgroups in the used hierarchies that are mounted here. Errors when the
// pid is gone.
Result<CgroupDirs> pid_cgroup_dirs(pid_t pid);
// Same device and inode: the two paths name one namespace (or one file).
bool same_file(const std::string& a, const std::string& b);
// True when `path` is a namespace file (nsfs): /run/netns/NAME, /proc/PID/ns/net.
bool is_nsfs(const std::string& path);

}  // namespace inj::targets
