// Loss models of a volatile volume: what a power loss keeps of the writes not made durable
// (torn: a prefix in sectors or a random subset of pages of each write; reorder: any subset of
// the writes), the kernel's writeback of data dirty longer than its expiry age, and the account
// of what each cut threw away, written next to the control file for the report.
#include <nlohmann/json.hpp>

#include <fstream>

#include "faultfs/fs.hpp"

namespace inj::faultfs::detail {
namespace {

uint64_t next(uint64_t& x) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

// Writes [off, off + n) of a held write to the backing file, only where its pages are still held
// (pages written back, or cut away by a truncation, are not the write's to change any more) and
// within the file's logical size. Returns the bytes written.
uint64_t persist(Dirty& d, uint64_t off, const char* data, uint64_t n) {
    uint64_t end = std::min(off + n, d.size), done = 0;
    for (uint64_t pos = off; pos < end;) {
        uint64_t idx = pos / kPage, to = std::min(end, (idx + 1) * kPage);
        if (d.pages.count(idx)) {
            ssize_t w = ::pwrite(d.fd, data + (pos - off), to - pos, off_t(pos));
            if (w > 0) done += uint64_t(w);
        }
        pos = to;
    }
    return done;
}

const char* model_name(uint32_t m) {
    switch (m) {
        case kLossTorn: return "torn";
        case kLossReorder: return "reorder";
        default: return "unsynced";
    }
}

}  // namespace

FileLoss apply_loss(Inode* in, const Settings& s, uint64_t& rng) {
    Dirty& d = *in->dirty;
    FileLoss f;
    f.path = path_of(in);
    f.held_bytes = d.pages.size() * kPage;
    f.writes = d.writes;
    f.write_bytes = d.write_bytes;
    uint64_t now = mono_ns(), synced = in->synced_ns.load();
    f.dirty_age_ns = now - std::min(now, d.dirtied_ns);
    f.synced_age_ns = synced ? now - std::min(now, synced) : 0;
    for (const Dirty::Op& o : d.ops) f.ops.push_back({o.off, o.len, 0});
    size_t i = 0;  // the write being applied
    auto keep = [&](uint64_t off, const char* data, uint64_t n) {
        uint64_t w = persist(d, off, data, n);
        if (w) ++f.kept_writes;
        f.kept_bytes += w;
        if (i < f.ops.size()) f.ops[i].kept += w;
    };
    for (const Dirty::Write& w : d.log) {
        const char* data = w.data.data();
        uint64_t n = w.data.size();
        if (s.loss_model == kLossReorder) {
            if (next(rng) % 1000000 < s.survive_ppm) keep(w.off, data, n);
        } else if (s.loss_model == kLossTorn && s.torn_sectors) {
            // A prefix of 0..torn_sectors sectors, as a disk that stopped mid-request leaves it.
            uint64_t len = std::min<uint64_t>(n, (next(rng) % (s.torn_sectors + 1)) * kSector);
            keep(w.off, data, len);
        } else if (s.loss_model == kLossTorn) {
            // Each page of the write on its own: a random subset reached the platter.
            for (uint64_t pos = w.off; pos < w.off + n;) {
                uint64_t to = std::min(w.off + n, (pos / kPage + 1) * kPage);
                if (next(rng) & 1) keep(pos, data + (pos - w.off), to - pos);
                pos = to;
            }
        }
        ++i;
    }
    return f;
}

namespace {

// Why a file lost what it lost: the fsync that was missing, and what the model kept.
std::string file_reason(const Settings& s, const FileLoss& f) {
    auto ms = [](uint64_t ns) { return std::to_string(ns / 1000000) + " ms"; };
    std::string r = std::to_string(f.writes) + " write(s) of " + std::to_string(f.write_bytes) +
                    " bytes not made durable: no fsync of " + f.path + " after them (";
    r += f.synced_age_ns ? "its last fsync was " + ms(f.synced_age_ns) + " before the cut"
                         : "never fsynced while the volume was volatile";
    r += "; oldest unsynced write " + ms(f.dirty_age_ns) + " before the cut";
    if (s.writeback_ns) r += ", younger than the writeback age of " + ms(s.writeback_ns);
    r += "); model " + std::string(model_name(s.loss_model)) + ": ";
    if (s.loss_model == kLossUnsynced)
        r += "every unsynced write lost";
    else
        r += std::to_string(f.kept_writes) + " write(s) or parts kept, " + std::to_string(f.kept_bytes) + " bytes";
    return r;
}

nlohmann::json file_json(const Settings& s, const FileLoss& f) {
    nlohmann::json ops = nlohmann::json::array();
    for (const FileLoss::Op& o : f.ops)
        ops.push_back({{"operation", "write"}, {"offset", o.off}, {"bytes", o.len}, {"bytes_kept", o.kept}});
    return {{"path", f.path},
            {"writes", f.writes},
            {"write_bytes", f.write_bytes},
            {"held_bytes", f.held_bytes},
            {"writes_kept", f.kept_writes},
            {"bytes_kept", f.kept_bytes},
            {"bytes_lost", f.write_bytes - std::min(f.write_bytes, f.kept_bytes)},
            {"missing", "fsync of " + f.path},
            {"last_fsync_ns_before_cut", f.synced_age_ns},
            {"oldest_write_ns_before_cut", f.dirty_age_ns},
            {"reason", file_reason(s, f)},
            {"operations", ops},
            {"operations_listed", ops.size()}};
}

}  // namespace

void write_lost_account(const Settings& s, const std::vector<FileLoss>& files, const std::vector<UndoneEntry>& entries,
                        const Trigger* trigger) {
    nlohmann::json entries_j = nlohmann::json::array();
    for (const UndoneEntry& e : entries)
        entries_j.push_back({{"operation", e.op},
                             {"path", e.path},
                             {"missing", "fsync of directory " + e.dir},
                             {"reason", e.op + " of " + e.path + " not made durable: no fsync of directory " + e.dir +
                                            " after it (metadata: volatile)"}});
    nlohmann::json files_j = nlohmann::json::array();
    for (const FileLoss& f : files) files_j.push_back(file_json(s, f));
    nlohmann::json j = {{"cut", ++g_fs->cuts},
                        {"monotonic_ns", mono_ns()},
                        {"model", model_name(s.loss_model)},
                        {"metadata", (s.flags & kFlagMetadataVolatile) ? "volatile" : "durable"},
                        {"writeback_ns", s.writeback_ns},
                        {"files", files_j},
                        {"entries", entries_j}};
    if (trigger)
        j["trigger"] = {{"kind", "crash point"},
                        {"operation", op_name(trigger->op)},
                        {"path", trigger->path},
                        {"nth", trigger->nth},
                        {"when", trigger->after ? "after" : "before"},
                        {"realtime_ns", trigger->realtime_ns}};
    else
        j["trigger"] = {{"kind", "power loss"}};
    // Replaced whole (a temp file renamed over it): a reader never sees half an account.
    std::string path = lost_path(g_fs->control), tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << j.dump(2) << "\n";
        if (!out) {
            lg()->error("write {}: {}", tmp, std::strerror(errno));
            return;
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) lg()->error("rename {}: {}", path, std::strerror(errno));
    g_fs->b->counters.lost_reports.fetch_add(1);
}

void writeback_expired(const Settings& s) {
    if (!s.writeback_ns || !(s.flags & kFlagVolatile)) return;
    if (s.flags & kFlagMetadataVolatile) meta_expire(s.writeback_ns);
    uint64_t now = mono_ns();
    for (Inode* in : take_dirty()) {
        bool expired;
        {
            std::lock_guard<std::mutex> lk(in->mu);
            expired = in->dirty && now - in->dirty->dirtied_ns >= s.writeback_ns;
        }
        // As the kernel's flusher does: every dirty page of an expired inode, no fsync.
        if (expired)
            if (int err = flush_inode(in)) lg()->error("writeback of {}: {}", path_of(in), std::strerror(err));
        unref(in, 1);
    }
}

}  // namespace inj::faultfs::detail
