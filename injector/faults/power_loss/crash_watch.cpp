// PowerEngine: power_loss at a crash point. inject() arms the rule on every volatile volume of
// the dark hosts and starts a watcher; the daemon that sees the nth matching operation applies
// its volume's loss there and then (faultfs/crash.cpp) and wakes the watcher, which takes the
// hosts dark as a timed power loss does (links, kill, the other volumes' losses). The volume
// stays without power (EIO) until heal, which powers it back before the services restart.
// Also the fault's report, and the merge of several hosts' reports (fleet mode).
#include "common/audit.hpp"
#include "common/log.hpp"
#include "faults/power_loss/crash_at.hpp"
#include "faults/power_loss/power_engine.hpp"

namespace inj::power {
namespace {

auto lg() { return log::get("power"); }
constexpr auto kWatchSlice = std::chrono::milliseconds(20);  // how often the watcher checks `stop`

double us_between(uint64_t a, uint64_t b) { return b >= a ? double(b - a) / 1e3 : 0.0; }

using nlohmann::json;

// A count or an instant; 0 when absent, negative or not an integer.
uint64_t uint_of(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer() || (!it->is_number_unsigned() && it->get<int64_t>() < 0)) return 0;
    return it->get<uint64_t>();
}
bool fired(const json& crash) {
    auto it = crash.find("fired");
    return it != crash.end() && it->is_boolean() && it->get<bool>();
}
// The fields of crash_report() that say where and when a crash point fired, those of the right type.
void copy_fired(const json& from, json& to) {
    for (auto k : {"volume", "operation", "path", "when"})
        if (auto it = from.find(k); it != from.end() && it->is_string()) to[k] = *it;
    for (auto k : {"nth", "realtime_ns"})
        if (auto it = from.find(k); it != from.end() && it->is_number_integer()) to[k] = uint_of(from, k);
    for (auto k : {"loss_applied_us", "dark_us"})
        if (auto it = from.find(k); it != from.end() && it->is_number()) to[k] = *it;
}

}  // namespace

Result<void> PowerEngine::arm_crash(size_t index, uint64_t deadline_ns) {
    Dark& d = *faults_[index];
    CrashWatch& w = *d.crash;
    const auto& f = plan_->method[index];
    const auto& at = *f.as<plan::PowerLossSpec>()->crash;
    auto n = disks_->arm_crash(d.hosts, faults::crash_rule(at));
    if (!n) return n.error();
    if (*n == 0)
        return plain_error("power", "fault " + f.name + ": no volatile volume on " + plan::join(d.hosts) +
                                        " is served through faultfs: the crash point has nowhere to fire");
    w.volumes = *n;
    w.stop = false;
    w.thread = std::thread([this, index, deadline_ns] { watch_crash(index, deadline_ns); });
    lg()->info("fault {}: crash point armed on {} volume(s): power goes {}", f.name, *n, faults::crash_text(at));
    return {};
}

void PowerEngine::watch_crash(size_t index, uint64_t deadline_ns) {
    Dark& d = *faults_[index];
    CrashWatch& w = *d.crash;
    const auto& f = plan_->method[index];
    while (!w.stop.load()) {
        auto fired = disks_->crash_fired(d.hosts, kWatchSlice);
        if (!fired) continue;
        {
            std::lock_guard lk(mu_);
            w.fired = *fired;
        }
        lg()->warn("fault {}: crash point fired on {}:{} ({} {} {}, match {}): the power goes", f.name, fired->host,
                   fired->volume, fired->info.after ? "after" : "before", fired->info.op, fired->info.path,
                   fired->info.nth);
        // As inject() of a timed power loss: the network first, then the processes and caches.
        last_cut_.arm_begin = monotonic_ns();
        Result<void> r = links_.arm(index, deadline_ns);
        last_cut_.arm_end = monotonic_ns();
        if (r) {
            d.dark = true;
            r = cut(index);
        }
        w.dark_ns = monotonic_ns();
        if (!r) {
            lg()->error("fault {}: cut at the crash point: {}", f.name, r.error().message());
            std::lock_guard lk(mu_);
            w.error = r.error().message();
        }
        return;
    }
}

void PowerEngine::end_crash(size_t index) {
    Dark& d = *faults_[index];
    CrashWatch& w = *d.crash;
    w.stop = true;
    if (w.thread.joinable()) w.thread.join();
    if (!w.volumes) return;
    w.volumes = 0;
    disks_->disarm_crash(d.hosts);
    std::lock_guard lk(mu_);
    w.ended = true;
    if (!w.fired)
        lg()->warn("fault {}: the crash point never fired ({}): nothing went dark", plan_->method[index].name,
                   faults::crash_text(*plan_->method[index].as<plan::PowerLossSpec>()->crash));
    audit::record("power_crash_disarmed", "fault " + plan_->method[index].name, true, {},
                  {w.fired ? "fired on " + w.fired->host + ":" + w.fired->volume : "never fired"});
}

nlohmann::json PowerEngine::crash_report(const Dark& d) const {
    const CrashWatch& w = *d.crash;
    nlohmann::json j = {{"armed_volumes", w.volumes}, {"fired", w.fired.has_value()}};
    if (!w.error.empty()) j["error"] = w.error;
    if (!w.fired) return j;
    const auto& i = w.fired->info;
    j["host"] = w.fired->host;
    j["volume"] = w.fired->volume;
    j["operation"] = i.op;
    j["path"] = i.path;
    j["nth"] = i.nth;
    j["when"] = i.after ? "after" : "before";
    j["realtime_ns"] = i.realtime_ns;
    // From the operation matching to its volume's loss applied, and to every host dark with
    // every volume's loss applied.
    j["loss_applied_us"] = us_between(i.monotonic_ns, i.applied_ns);
    if (w.dark_ns) j["dark_us"] = us_between(i.monotonic_ns, w.dark_ns);
    return j;
}

nlohmann::json PowerEngine::fault_report(size_t index) const {
    if (index >= faults_.size() || !faults_[index]) return nullptr;
    const Dark& d = *faults_[index];
    std::lock_guard lk(mu_);
    nlohmann::json j = nlohmann::json::object();
    if (d.crash) j["crash_point"] = crash_report(d);
    if (d.crash && d.crash->ended && !d.crash->fired)
        j["not_applied"] = "its crash point (" +
                           faults::crash_text(*plan_->method[index].as<plan::PowerLossSpec>()->crash) +
                           ") never fired: nothing went dark";
    if (d.lost.is_array() && !d.lost.empty()) j["lost"] = d.lost;
    return j.empty() ? nlohmann::json(nullptr) : j;
}

json merge_reports(const std::map<std::string, json>& by_host) {
    json lost = json::array(), crash;
    const json* first = nullptr;  // the crash point that fired first
    std::string first_host, error, not_applied;
    uint64_t armed = 0;
    for (auto& [host, r] : by_host) {
        if (!r.is_object()) continue;
        if (auto l = r.find("lost"); l != r.end() && l->is_array())
            for (auto& v : *l)
                if (v.is_object()) {
                    lost.push_back(v);
                    lost.back()["host"] = host;
                }
        if (auto n = r.find("not_applied"); not_applied.empty() && n != r.end() && n->is_string())
            not_applied = n->get<std::string>();
        auto c = r.find("crash_point");
        if (c == r.end() || !c->is_object()) continue;
        armed += uint_of(*c, "armed_volumes");
        if (auto e = c->find("error"); error.empty() && e != c->end() && e->is_string())
            error = host + ": " + e->get<std::string>();
        if (fired(*c) && (!first || uint_of(*c, "realtime_ns") < uint_of(*first, "realtime_ns"))) {
            first = &*c;
            first_host = host;
        }
        crash = {{"armed_volumes", armed}, {"fired", first != nullptr}};
    }
    json out = json::object();
    if (!crash.is_null()) {
        if (!error.empty()) crash["error"] = error;
        if (first) {
            crash["host"] = first_host;
            copy_fired(*first, crash);
        }
        out["crash_point"] = std::move(crash);
    }
    // Not applied when the crash point fired on no host at all.
    if (!first && !not_applied.empty()) out["not_applied"] = not_applied;
    if (!lost.empty()) out["lost"] = std::move(lost);
    return out;
}

}  // namespace inj::power
