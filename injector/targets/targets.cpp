// The parts of the Targets view every provider shares.
#include "targets/targets.hpp"

namespace inj::targets {

const Host* Targets::host(const std::string& name) const { return index_.find(hosts(), name); }

const Volume* Targets::volume(const std::string& host_name, const std::string& volume) const {
    const Host* h = host(host_name);
    if (!h) return nullptr;
    for (auto& v : h->volumes)
        if (v.name == volume) return &v;
    return nullptr;
}

Result<void> Targets::serve_volumes(const std::vector<std::pair<std::string, std::string>>& volumes,
                                    const std::string& /*dir*/) {
    for (auto& [h, v] : volumes) {
        if (!acts_on(h)) continue;
        const Volume* vol = volume(h, v);
        if (!vol || vol->faultfs_control.empty())
            return plain_error("volume " + v + " on " + h, "not served through the fault filesystem by " + describe());
    }
    return {};
}

std::string Targets::judge_netns() const {
    std::string ns;
    for (auto& h : hosts())
        for (auto& j : h.judges) {
            if (ns.empty())
                ns = j.netns;
            else if (j.netns != ns)
                return {};
        }
    return ns;
}

}  // namespace inj::targets
