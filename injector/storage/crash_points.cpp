// StorageEngine: crash points on the volatile volumes (power_loss `at: {...}`) and the accounts of
// what each power cut lost, for the power engine (faults/parts.hpp).
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "common/audit.hpp"
#include "common/log.hpp"
#include "faultfs/lost_report.hpp"
#include "storage/storage_engine.hpp"

namespace inj::storage {

bool StorageEngine::on_hosts(const Volume& v, const std::vector<std::string>& hosts) const {
    return v.is_volatile && std::find(hosts.begin(), hosts.end(), v.host) != hosts.end();
}

Result<size_t> StorageEngine::arm_crash(const std::vector<std::string>& hosts, const faultfs::CrashRule& rule) {
    std::vector<std::string> armed;
    {
        std::lock_guard lk(publish_mu_);
        for (size_t i = 0; i < volumes_.size(); ++i) {
            Volume& v = volumes_[i];
            if (!on_hosts(v, hosts)) continue;
            // A fresh arming id per volume (the daemon counts matches from it).
            auto id = faultfs::arm_crash(v.ctl, compose(i), rule, uint32_t(::getpid()));
            if (!id)
                return Error{id.error().code, "storage: crash point on " + v.host + ":" + v.path, id.error().message()};
            v.crash = v.ctl.read().crash;
            armed.push_back(v.host + ":" + v.path + " arm " + std::to_string(*id));
        }
    }
    audit::record("storage_crash_armed", rule.op + " " + rule.path + " nth " + std::to_string(rule.nth), true, {},
                  armed, audit::Sync::page_cache);
    return armed.size();
}

std::optional<faults::CrashFired> StorageEngine::crash_fired(const std::vector<std::string>& hosts,
                                                             std::chrono::milliseconds wait) {
    auto check = [&]() -> std::optional<faults::CrashFired> {
        for (auto& v : volumes_)
            if (on_hosts(v, hosts) && v.crash.arm)
                if (auto f = faultfs::crash_fired(v.ctl, v.crash.arm)) return faults::CrashFired{v.host, v.volume, *f};
        return std::nullopt;
    };
    if (auto f = check()) return f;
    // Sleep on the first armed volume's futex: that one wakes us at once, the others within `wait`.
    auto first = std::find_if(volumes_.begin(), volumes_.end(),
                              [&](const Volume& v) { return on_hosts(v, hosts) && v.crash.arm; });
    if (first == volumes_.end())
        std::this_thread::sleep_for(wait);
    else
        (void)faultfs::wait_crash(first->ctl, first->crash.arm, wait);
    return check();
}

void StorageEngine::disarm_crash(const std::vector<std::string>& hosts) {
    std::lock_guard lk(publish_mu_);
    for (size_t i = 0; i < volumes_.size(); ++i) {
        Volume& v = volumes_[i];
        if (!on_hosts(v, hosts) || !v.crash.ops) continue;
        v.crash = faultfs::CrashPoint{};
        v.ctl.write(compose(i), uint32_t(::getpid()));
    }
}

nlohmann::json StorageEngine::lost_accounts(const std::vector<std::string>& hosts) const {
    nlohmann::json out = nlohmann::json::array();
    for (auto& v : volumes_) {
        if (!on_hosts(v, hosts) || v.ctl.block()->counters.lost_reports.load() == v.cuts_before) continue;
        auto r = faultfs::read_lost_report(v.control);
        if (!r) {
            out.push_back({{"host", v.host}, {"volume", v.volume}, {"error", r.error().message()}});
            continue;
        }
        if (!*r) continue;
        out.push_back({{"host", v.host},
                       {"volume", v.volume},
                       {"account", faultfs::to_json(**r)},
                       {"summary", faultfs::summarize(**r, v.volume + " on " + v.host)}});
    }
    return out;
}

}  // namespace inj::storage
