// What of a lab is still on the machine (lab.hpp: leftovers).
#include "lab/lab.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/proc.hpp"
#include "faultfs/faultfs.hpp"
#include "lab/cgroup.hpp"
#include "lab/iproute.hpp"
#include "lab/pools.hpp"

namespace inj::lab {

Result<std::vector<std::string>> leftovers(const LabState& lab) {
    std::vector<std::string> out;
    if (ip::netns_exists(lab.fabric_netns)) out.push_back("netns " + lab.fabric_netns);
    for (auto* h : distinct_namespaces(lab))
        if (ip::netns_exists(h->netns)) out.push_back("netns " + h->netns);
    if (ip::link_exists(lab.control_if)) out.push_back("link " + lab.control_if + " (root namespace)");
    for (auto& r : lab.routes) {
        auto used = ip::overlapping(r);
        if (!used) return used.error();
        for (auto& e : *used)
            if (e.dev == lab.control_if) out.push_back(e.what);
    }
    std::vector<std::string> cgs{lab.cgroup_root};
    for (auto& c : distinct_cgroups(lab)) cgs.push_back(c);
    for (auto& c : cgs) {
        if (c.empty() || !std::filesystem::exists(c)) continue;
        out.push_back("cgroup " + c);
        for (pid_t p : cgroup::procs(c)) out.push_back("process " + std::to_string(p) + " in " + c);
    }
    // A recorded pid counts only while it is still in this lab's cgroup: after down the number
    // may belong to an unrelated process.
    std::string marker = "/injector/" + lab.id + "/";
    for (auto& p : lab.services) {
        if (!process_alive(p.pid)) continue;
        std::ifstream in("/proc/" + std::to_string(p.pid) + "/cgroup");
        std::string line;
        while (std::getline(in, line))
            if (line.rfind("0::", 0) == 0 && line.find(marker) != std::string::npos)
                out.push_back("process " + std::to_string(p.pid) + " (" + p.service + " on " + p.host + ")");
    }
    auto mounted = faultfs::mounts();
    for (auto& m : lab.faultfs) {
        if (std::find(mounted.begin(), mounted.end(), m.path) != mounted.end())
            out.push_back("faultfs mount " + m.path);
        if (pid_t p = faultfs::daemon_of(m.path))
            out.push_back("process " + std::to_string(p) + " (faultfs daemon of " + m.path + ")");
    }
    if (std::filesystem::exists(lab.dir)) out.push_back("state " + lab.dir);
    return out;
}

}  // namespace inj::lab
