// mountinfo parsing (see mountinfo.hpp).
#include "common/mountinfo.hpp"

#include <fstream>
#include <sstream>

namespace inj {

std::string unescape_mount_field(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        bool octal = s[i] == '\\' && i + 3 < s.size();
        for (size_t k = 1; octal && k <= 3; ++k) octal = s[i + k] >= '0' && s[i + k] <= '7';
        if (octal) {
            out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
            i += 3;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
    std::vector<MountEntry> out;
    std::istringstream in{std::string(text)};
    std::string line;
    while (std::getline(in, line)) {
        // id parent major:minor root mount-point options [optional fields...] - type source super-options
        std::istringstream ls(line);
        std::vector<std::string> f;
        std::string w;
        while (ls >> w) f.push_back(w);
        size_t dash = 5;
        while (dash < f.size() && f[dash] != "-") ++dash;
        if (f.size() < 6 || dash + 2 >= f.size()) continue;
        out.push_back({unescape_mount_field(f[3]), unescape_mount_field(f[4]), f[dash + 1],
                       unescape_mount_field(f[dash + 2]), dash + 3 < f.size() ? f[dash + 3] : std::string()});
    }
    return out;
}

std::vector<MountEntry> read_mountinfo() {
    std::ifstream in("/proc/self/mountinfo");
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_mountinfo(ss.str());
}

}  // namespace inj
