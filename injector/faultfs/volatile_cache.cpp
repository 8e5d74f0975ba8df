// Volatile writes: pages held per inode until fsync, served to reads, thrown away at a power
// loss, written back when volatile mode ends; and dropping the kernel's cache for read faults.
#include "faultfs/fs.hpp"

namespace inj::faultfs::detail {

// --- volatile pages ----------------------------------------------------------------------------

// Starts holding volatile pages for `in` (caller holds in->mu). Errno or 0.
int start_dirty(Inode* in) {
    if (in->dirty) return 0;
    auto d = std::make_unique<Dirty>();
    d->fd = ::open(proc_path(in->fd).c_str(), O_RDWR | O_CLOEXEC);
    if (d->fd < 0) return errno;
    struct stat st;
    if (::fstat(d->fd, &st) != 0) return errno;
    d->size = uint64_t(st.st_size);
    d->dirtied_ns = mono_ns();
    in->dirty = std::move(d);
    in->has_dirty = true;
    pin(in);  // stays in the table while it holds data, whatever the kernel forgets
    std::lock_guard<std::mutex> lk(g_fs->dirty_mu);
    g_fs->dirty.insert(in);
    return 0;
}

void count_dirty(int64_t delta) {
    if (delta >= 0)
        g_fs->b->counters.dirty_bytes.fetch_add(uint64_t(delta));
    else
        g_fs->b->counters.dirty_bytes.fetch_sub(uint64_t(-delta));
}

// Ends holding pages for `in` (caller holds in->mu). Returns true if the caller must unref.
bool end_dirty(Inode* in) {
    if (!in->dirty) return false;
    count_dirty(-int64_t(in->dirty->pages.size() * kPage));
    in->dirty.reset();
    in->has_dirty = false;
    std::lock_guard<std::mutex> lk(g_fs->dirty_mu);
    g_fs->dirty.erase(in);
    return true;
}

// Copies buf into the held pages at off (caller holds in->mu, dirty started).
int dirty_write(Inode* in, const char* buf, size_t size, off_t off) {
    // Passed the gate before a crash point cut the power, and arriving after the cut: refused.
    if (powered_off() && !firing()) return EIO;
    Dirty& d = *in->dirty;
    ++d.writes;
    d.write_bytes += size;
    if (cur().loss_model != kLossUnsynced) d.log.push_back({uint64_t(off), std::string(buf, size)});
    if (d.ops.size() < Dirty::kMaxOps) d.ops.push_back({uint64_t(off), size});
    uint64_t pos = uint64_t(off), end = pos + size;
    while (pos < end) {
        uint64_t idx = pos / kPage, in_page = pos % kPage;
        size_t n = std::min<uint64_t>(kPage - in_page, end - pos);
        auto& p = d.pages[idx];
        if (!p) {
            p = std::make_unique<Page>();
            std::memset(p->data, 0, kPage);
            count_dirty(kPage);
            // A page written only in part keeps the rest of what the file held there.
            if ((in_page != 0 || n != kPage) && idx * kPage < d.size) {
                ssize_t r = ::pread(d.fd, p->data, kPage, off_t(idx * kPage));
                if (r < 0) return errno;
            }
        }
        std::memcpy(p->data + in_page, buf + (pos - uint64_t(off)), n);
        pos += n;
    }
    d.size = std::max(d.size, end);
    return 0;
}

// Writes the held pages of `in` to the backing file (caller holds in->mu). No fsync here.
int dirty_flush(Inode* in) {
    if (!in->dirty) return 0;
    Dirty& d = *in->dirty;
    for (auto& [idx, p] : d.pages) {
        uint64_t start = idx * kPage;
        if (start >= d.size) continue;
        size_t n = std::min<uint64_t>(kPage, d.size - start);
        for (size_t done = 0; done < n;) {
            ssize_t w = ::pwrite(d.fd, p->data + done, n - done, off_t(start + done));
            if (w < 0) return errno;
            done += size_t(w);
        }
    }
    struct stat st;
    if (::fstat(d.fd, &st) == 0 && uint64_t(st.st_size) < d.size && ::ftruncate(d.fd, off_t(d.size)) != 0) return errno;
    return 0;
}

// fsync's first half, and the writeback when volatile mode ends: held pages to the backing file.
int flush_inode(Inode* in) {
    if (!in->has_dirty.load()) return 0;
    bool drop_ref;
    {
        std::lock_guard<std::mutex> lk(in->mu);
        if (int err = dirty_flush(in)) return err;
        drop_ref = end_dirty(in);
    }
    if (drop_ref) unref(in, 1);
    return 0;
}

// Every inode holding pages: taken out of the set, each pinned once (the set's pin moves to us).
std::vector<Inode*> take_dirty() {
    std::lock_guard<std::mutex> lk(g_fs->dirty_mu);
    std::vector<Inode*> v(g_fs->dirty.begin(), g_fs->dirty.end());
    for (Inode* in : v) pin(in);
    return v;
}

// The power cut: what the loss model does not keep of every held page is thrown away, volatile
// metadata is undone, and the account written. One cut at a time.
Invalidations cut(const Trigger* trigger) {
    std::lock_guard<std::mutex> cut_lk(g_fs->cut_mu);
    const Settings s = cur();
    uint64_t rng = s.loss_seed ? s.loss_seed : (mono_ns() | 1);
    uint64_t dropped = 0;
    std::vector<FileLoss> account;
    Invalidations inv;
    for (Inode* in : take_dirty()) {
        bool drop_ref;
        {
            std::lock_guard<std::mutex> lk(in->mu);
            if (in->dirty) {
                dropped += in->dirty->pages.size() * kPage;
                account.push_back(apply_loss(in, s, rng));
            }
            drop_ref = end_dirty(in);
        }
        if (drop_ref) unref(in, 1);
        inv.inodes.push_back(in);  // keeps take_dirty's pin until invalidate()
    }
    auto entries = meta_undo_all(inv.entries);
    write_lost_account(s, account, entries, trigger);
    g_fs->b->counters.dropped_bytes.fetch_add(dropped);
    if (dropped) lg()->info("power loss: {} bytes of writes not made durable thrown away", dropped);
    return inv;
}

// The kernel forgets what it cached of the files and entries a cut changed.
void invalidate(Invalidations& inv) {
    for (Inode* in : inv.inodes) {
        fuse_lowlevel_notify_inval_inode(g_fs->se, reinterpret_cast<uintptr_t>(in), 0, 0);
        unref(in, 1);
    }
    for (auto& [dir, name] : inv.entries) fuse_lowlevel_notify_inval_entry(g_fs->se, dir, name.c_str(), name.size());
    inv = {};
}

void drop_all() {
    Invalidations inv = cut(nullptr);
    invalidate(inv);
}

void writeback_all() {
    for (Inode* in : take_dirty()) {
        if (int err = flush_inode(in)) lg()->error("writeback of {}: {}", path_of(in), std::strerror(err));
        unref(in, 1);
    }
}

// Drops the kernel's page cache of every file, so reads reach the (now faulty) disk.
void invalidate_all() {
    std::vector<Inode*> v;
    {
        std::lock_guard<std::mutex> lk(g_fs->mu);
        for (auto& [k, in] : g_fs->inodes) {
            ++in->nlookup;
            v.push_back(in);
        }
    }
    for (Inode* in : v) {
        fuse_lowlevel_notify_inval_inode(g_fs->se, reinterpret_cast<uintptr_t>(in), 0, 0);
        unref(in, 1);
    }
}

bool read_faults(const Settings& s) {
    if (s.latency[kClassRead].fixed_ns || s.latency[kClassRead].jitter_ns || s.read_bps || s.read_iops) return true;
    for (uint32_t i = 0; i < s.nerrors && i < kMaxErrorRules; ++i)
        if (s.errors[i].ops & kOpRead) return true;
    return false;
}

}  // namespace inj::faultfs::detail
