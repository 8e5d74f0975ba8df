// StorageEngine: fault settings composed per volume and published to the faultfs daemons.
#include "storage/storage_engine.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <thread>
#include <tuple>

#include "common/audit.hpp"
#include "common/duration.hpp"
#include "common/log.hpp"
#include "targets/targets.hpp"

namespace inj::storage {
namespace {

auto lg() { return log::get("storage"); }

constexpr auto kDropBound = std::chrono::seconds(5);

faultfs::Latency latency_of(const plan::IoLatency& l) {
    return {uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(l.fixed).count()),
            uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(l.jitter).count())};
}

uint64_t harsher_limit(uint64_t a, uint64_t b) {
    if (!a) return b;
    if (!b) return a;
    return std::min(a, b);
}

std::string bytes_text(uint64_t b) {
    if (b % (1024 * 1024) == 0) return std::to_string(b / (1024 * 1024)) + "MiB";
    if (b % 1024 == 0) return std::to_string(b / 1024) + "KiB";
    return std::to_string(b) + "B";
}

}  // namespace

std::string describe(const plan::StorageDegrade& sd) {
    std::vector<std::string> parts;
    std::string lat;
    for (auto [n, l] :
         {std::pair{"read", &sd.read}, {"write", &sd.write}, {"fsync", &sd.fsync}, {"metadata", &sd.metadata}})
        if (l->any())
            lat += (lat.empty() ? "latency " : ", ") + std::string(n) + " " + format_duration(l->fixed) +
                   (l->jitter.count() ? " +-" + format_duration(l->jitter) : "");
    if (!lat.empty()) parts.push_back(lat);
    for (auto& e : sd.errors) {
        std::string ops;
        for (auto& o : e.ops) ops += (ops.empty() ? "" : "/") + o;
        char p[32];
        std::snprintf(p, sizeof(p), "%g", e.probability);
        parts.push_back(e.errno_name + " p=" + p + " on " + (ops.empty() ? "all" : ops) +
                        (e.path.empty() ? "" : " at " + e.path));
    }
    if (sd.full) parts.push_back("full (ENOSPC)");
    if (sd.read_only) parts.push_back("read-only (EROFS)");
    std::string lim;
    if (sd.read_bps) lim += " read " + bytes_text(sd.read_bps) + "/s";
    if (sd.write_bps) lim += " write " + bytes_text(sd.write_bps) + "/s";
    if (sd.read_iops) lim += " read " + std::to_string(sd.read_iops) + " IOPS";
    if (sd.write_iops) lim += " write " + std::to_string(sd.write_iops) + " IOPS";
    if (!lim.empty()) parts.push_back("limit" + lim);
    std::string out;
    for (auto& x : parts) out += (out.empty() ? "" : "; ") + x;
    return out;
}

faultfs::Settings settings_of(const plan::StorageDegrade& sd) {
    faultfs::Settings s;
    s.latency[faultfs::kClassRead] = latency_of(sd.read);
    s.latency[faultfs::kClassWrite] = latency_of(sd.write);
    s.latency[faultfs::kClassFsync] = latency_of(sd.fsync);
    s.latency[faultfs::kClassMetadata] = latency_of(sd.metadata);
    for (auto& e : sd.errors) {
        if (s.nerrors == uint32_t(faultfs::kMaxErrorRules)) break;
        faultfs::ErrorRule& r = s.errors[s.nerrors++];
        r.err = e.err;
        r.ppm = uint32_t(std::min(1.0, e.probability) * 1e6 + 0.5);
        r.ops = 0;
        for (auto& op : e.ops) r.ops |= faultfs::ops_by_name(op);
        if (e.ops.empty()) r.ops = faultfs::kOpsAll;
        // The daemon matches paths from the volume root, with a leading '/'.
        std::string pattern = e.path.empty() ? "" : "/" + e.path;
        std::strncpy(r.pattern, pattern.c_str(), sizeof(r.pattern) - 1);
    }
    if (sd.full) s.flags |= faultfs::kFlagFull;
    if (sd.read_only) s.flags |= faultfs::kFlagReadOnly;
    s.read_bps = sd.read_bps;
    s.write_bps = sd.write_bps;
    s.read_iops = sd.read_iops;
    s.write_iops = sd.write_iops;
    return s;
}

void merge(faultfs::Settings& a, const faultfs::Settings& b) {
    for (size_t c = 0; c < size_t(faultfs::kClasses); ++c) {
        a.latency[c].fixed_ns = std::max(a.latency[c].fixed_ns, b.latency[c].fixed_ns);
        a.latency[c].jitter_ns = std::max(a.latency[c].jitter_ns, b.latency[c].jitter_ns);
    }
    for (uint32_t i = 0; i < b.nerrors && a.nerrors < uint32_t(faultfs::kMaxErrorRules); ++i)
        a.errors[a.nerrors++] = b.errors[i];
    a.flags |= b.flags;
    a.read_bps = harsher_limit(a.read_bps, b.read_bps);
    a.write_bps = harsher_limit(a.write_bps, b.write_bps);
    a.read_iops = harsher_limit(a.read_iops, b.read_iops);
    a.write_iops = harsher_limit(a.write_iops, b.write_iops);
}

Result<void> StorageEngine::prepare(const plan::Plan& plan, targets::Targets& targets, uint64_t run_deadline_ns) {
    release();
    plan_ = &plan;
    run_deadline_ns_ = run_deadline_ns;
    for (auto& h : targets.hosts())
        for (auto& m : h.volumes) {
            if (m.faultfs_control.empty()) continue;
            auto c = faultfs::Control::open(m.faultfs_control);
            if (!c)
                return Error{c.error().code, "storage: faultfs of " + m.name + " on " + h.name, c.error().message()};
            if (c->block()->state.load() != uint32_t(faultfs::DaemonState::serving))
                return plain_error("storage", "the faultfs daemon of " + m.path + " is not serving (see its log in " +
                                                  targets.describe() + ")");
            Volume v{
                h.name, m.name, m.path, m.faultfs_control, std::move(*c), plan::volume_volatile(plan, h.name, m.name)};
            if (const plan::VolumeLoss* l = plan::volume_loss(plan, h.name, m.name)) v.loss = *l;
            // Accounts of cuts before this run (a reused lab) are not this run's losses.
            v.cuts_before = v.ctl.block()->counters.lost_reports.load();
            volumes_.push_back(std::move(v));
        }
    faults_.assign(plan.method.size(), std::nullopt);
    for (size_t i = 0; i < plan.method.size(); ++i) {
        const auto& f = plan.method[i];
        const auto* spec = f.as<plan::DegradeStorageSpec>();
        if (!spec) continue;
        Active a;
        for (auto& h : plan::selected_hosts(plan.topology, f.target)) {
            if (!targets.acts_on(h)) continue;  // another agent's host
            auto it = std::find_if(volumes_.begin(), volumes_.end(),
                                   [&](const Volume& v) { return v.host == h && v.volume == spec->disk.volume; });
            if (it == volumes_.end())
                return plain_error("storage", "fault " + f.name + ": volume " + spec->disk.volume + " on " + h +
                                                  " is not served through faultfs in " + targets.describe());
            a.volumes.push_back(size_t(it - volumes_.begin()));
        }
        faults_[i] = std::move(a);
    }
    // Volatile volumes hold un-fsynced writes from now on; every block gets this run as owner.
    std::vector<std::string> vol;
    for (size_t v = 0; v < volumes_.size(); ++v) {
        publish(v);
        if (volumes_[v].is_volatile) {
            const plan::VolumeLoss& l = volumes_[v].loss;
            vol.push_back(volumes_[v].path + " (loss model " + to_string(l.model) + ", metadata " +
                          (l.metadata_volatile ? "volatile" : "durable") + ")");
        }
    }
    if (!vol.empty()) audit::record("storage_volatile_on", targets.describe(), true, {}, vol);
    return {};
}

faultfs::Settings StorageEngine::compose(size_t volume) const {
    faultfs::Settings s;
    uint64_t deadline = 0;
    for (size_t i = 0; i < faults_.size(); ++i) {
        if (!faults_[i] || !faults_[i]->on) continue;
        const auto& vs = faults_[i]->volumes;
        if (std::find(vs.begin(), vs.end(), volume) == vs.end()) continue;
        merge(s, settings_of(plan_->method[i].as<plan::DegradeStorageSpec>()->disk));
        if (faults_[i]->deadline_ns)
            deadline = deadline ? std::min(deadline, faults_[i]->deadline_ns) : faults_[i]->deadline_ns;
    }
    if (volumes_[volume].is_volatile) faultfs::to_settings(to_loss(volumes_[volume].loss), s);
    s.crash = volumes_[volume].crash;
    s.deadline_ns = deadline ? deadline : run_deadline_ns_;
    return s;
}

void StorageEngine::publish(size_t volume) {
    std::lock_guard lk(publish_mu_);
    volumes_[volume].ctl.write(compose(volume), uint32_t(::getpid()));
}

faultfs::Loss to_loss(const plan::VolumeLoss& l) {
    faultfs::Loss f;
    f.model = l.model == plan::VolumeLoss::Model::torn      ? faultfs::Loss::Model::torn
              : l.model == plan::VolumeLoss::Model::reorder ? faultfs::Loss::Model::reorder
                                                            : faultfs::Loss::Model::unsynced;
    f.torn_sectors = l.torn_sectors;
    f.torn_pages = l.torn_sectors == 0;
    f.survive = l.survive;
    f.metadata_volatile = l.metadata_volatile;
    f.writeback = l.writeback;
    f.seed = l.seed;
    return f;
}

Result<void> StorageEngine::inject(size_t index, uint64_t deadline_ns) {
    if (!plan_ || index >= faults_.size() || !faults_[index])
        return plain_error("storage", "fault " + std::to_string(index) + " is not a prepared degrade_storage fault");
    auto& a = *faults_[index];
    if (!a.on) std::tie(a.base_errors, a.base_ops) = totals(a);
    a.on = true;
    a.deadline_ns = deadline_ns;
    std::vector<std::string> paths;
    for (size_t v : a.volumes) {
        publish(v);
        paths.push_back(volumes_[v].host + ":" + volumes_[v].path);
    }
    audit::record("storage_degrade", "fault " + plan_->method[index].name, true, {}, paths, audit::Sync::page_cache);
    lg()->info("fault {}: volume {} degraded on {} hosts", plan_->method[index].name, *plan_->method[index].volume(),
               a.volumes.size());
    return {};
}

Result<void> StorageEngine::heal(size_t index) {
    if (!plan_ || index >= faults_.size() || !faults_[index])
        return plain_error("storage", "fault " + std::to_string(index) + " is not a prepared degrade_storage fault");
    auto& a = *faults_[index];
    if (!a.on) return {};
    a.on = false;
    for (size_t v : a.volumes) publish(v);
    auto [e, o] = totals(a);
    a.errors += e - a.base_errors;
    a.ops += o - a.base_ops;
    audit::record("storage_heal", "fault " + plan_->method[index].name, true, {}, {}, audit::Sync::page_cache);
    return {};
}

Result<void> StorageEngine::heal_all() noexcept {
    try {
        std::vector<size_t> healed;
        for (size_t i = 0; i < faults_.size(); ++i)
            if (faults_[i] && faults_[i]->on) {
                faults_[i]->on = false;
                healed.push_back(i);
            }
        if (healed.empty()) return {};
        for (size_t v = 0; v < volumes_.size(); ++v) publish(v);
        for (size_t i : healed) {
            auto& a = *faults_[i];
            auto [e, o] = totals(a);
            a.errors += e - a.base_errors;
            a.ops += o - a.base_ops;
        }
        return {};
    } catch (const std::exception& e) {
        return plain_error("storage heal_all", e.what());
    }
}

std::pair<uint64_t, uint64_t> StorageEngine::totals(const Active& a) const {
    uint64_t errors = 0, ops = 0;
    for (size_t v : a.volumes) {
        auto& k = volumes_[v].ctl.block()->counters;
        errors += k.errors_injected.load();
        for (auto& o : k.ops) ops += o.load();
    }
    return {errors, ops};
}

std::vector<FaultCounters> StorageEngine::counters() const {
    std::vector<FaultCounters> out;
    for (size_t i = 0; i < faults_.size(); ++i) {
        if (!faults_[i]) continue;
        const Active& a = *faults_[i];
        FaultCounters c;
        c.fault = plan_->method[i].name;
        c.dropped = a.errors;
        c.passed = a.ops;
        if (a.on) {
            auto [e, o] = totals(a);
            c.dropped += e - a.base_errors;
            c.passed += o - a.base_ops;
        }
        out.push_back(std::move(c));
    }
    return out;
}

Result<void> StorageEngine::lose_unsynced(const std::vector<std::string>& hosts) {
    // Every dark volume at once, as the power goes from all of them at once: one thread per
    // volume beyond the first (each waits on its own daemon), this thread takes the first.
    struct Drop {
        Volume* v;
        uint64_t before = 0;
        Result<void> r;
    };
    std::vector<Drop> drops;
    for (auto& v : volumes_)
        if (v.is_volatile && std::find(hosts.begin(), hosts.end(), v.host) != hosts.end()) drops.push_back({&v});
    auto drop = [](Drop& d) {
        d.before = d.v->ctl.block()->counters.dropped_bytes.load();
        d.r = d.v->ctl.drop_volatile(std::chrono::duration_cast<std::chrono::milliseconds>(kDropBound));
    };
    std::vector<std::thread> others;
    for (size_t i = 1; i < drops.size(); ++i) {
        try {
            others.emplace_back(drop, std::ref(drops[i]));
        } catch (const std::system_error&) {
            drop(drops[i]);  // no thread to be had: this one does it, a little later
        }
    }
    if (!drops.empty()) drop(drops[0]);
    for (auto& t : others) t.join();
    std::string failed;
    std::vector<std::string> dropped;
    for (auto& d : drops) {
        if (!d.r) {
            failed += (failed.empty() ? "" : "; ") + d.v->path + ": " + d.r.error().message();
            continue;
        }
        uint64_t n = d.v->ctl.block()->counters.dropped_bytes.load() - d.before;
        dropped.push_back(d.v->host + ":" + d.v->path + " " + std::to_string(n) + " bytes");
        lg()->info("power loss of {}: {} bytes not yet durable on {} thrown away", d.v->host, n, d.v->volume);
    }
    Result<void> r = failed.empty() ? Result<void>() : Result<void>(plain_error("storage: power loss", failed));
    if (!dropped.empty() || !failed.empty()) audit::record("storage_volatile_drop", "power loss", r, dropped);
    return r;
}

void StorageEngine::release() noexcept {
    try {
        // Owner 0, no faults, no volatile mode: the daemons write held pages back and serve a
        // plain passthrough until the lab unmounts them.
        for (auto& v : volumes_) v.ctl.clear();
        volumes_.clear();
        faults_.clear();
        plan_ = nullptr;
    } catch (const std::exception& e) {
        lg()->error("release: {}", e.what());
    }
}

}  // namespace inj::storage
