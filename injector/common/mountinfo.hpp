// /proc/self/mountinfo, parsed once for everyone who asks what is mounted where (cgroup
// hierarchies, fault filesystems, overlays).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace inj {

struct MountEntry {
    std::string root;         // the mounted subtree of the source filesystem
    std::string mount_point;  // unescaped
    std::string fs_type;      // "cgroup2", "fuse.injector-faultfs", ...
    std::string source;
    std::string super_options;  // "rw,freezer"
};

// /proc/*/mounts and mountinfo write a blank, tab, newline or backslash as three octal digits.
std::string unescape_mount_field(const std::string& s);
// Every well-formed line of a mountinfo text; malformed lines are skipped.
std::vector<MountEntry> parse_mountinfo(std::string_view text);
// parse_mountinfo of /proc/self/mountinfo (empty when it cannot be read).
std::vector<MountEntry> read_mountinfo();

}  // namespace inj
