// The fault filesystem daemon (`injector faultfs`): a libfuse3 low-level passthrough over one
// directory descriptor, multi-threaded, that applies the faults of its control block to every
// operation: latency per class, errors by errno/probability/operation/path, full disk, read-only,
// a token bucket, and volatile writes.
//
// Passthrough shape: every inode is an O_PATH descriptor of the backing file, keyed by (dev, ino),
// and the kernel's node id is the pointer; names are resolved with *at() calls relative to those
// descriptors, so the backing directory can be the mountpoint itself (opened before the mount:
// the service's path does not change). Reads reply with the backing descriptor so libfuse splices.
//
// Caching: with no fault in force the kernel keeps the page cache across opens and caches entries
// and attributes for a second (we are the only way to the backing files, so nothing goes stale).
// A read fault applies to reads that reach the disk; when one is armed the watcher drops the
// kernel's cache of every file so the next reads do (pages read afterwards are cached again, as
// they would be above a real slow disk). Volatile mode keeps no cache across opens and no
// attribute cache, and writeback caching stays off: every write reaches this process.
//
// Volatile writes: pages written and not yet made durable are held here per inode (a page map
// and the logical size) and served to reads; fsync/fdatasync and writes on O_SYNC/O_DSYNC handles
// write them to the backing file first. A power loss throws them away (the backing file is what
// a disk would hold after the cut). Metadata operations (create, rename, unlink, truncate,
// fallocate) go to the backing directory at once, as a journalling filesystem commits them:
// after a cut a file created and written without fsync exists, empty (what ext4 shows).
//
// When the owner (the run that set the faults) dies the watcher clears every fault; held
// volatile pages are then written to the backing files (no fsync: what the kernel's own writeback
// would do), and the daemon goes on serving a plain passthrough until it is unmounted.
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/log.hpp"
#include "faultfs/control.hpp"
#include "faultfs/faultfs.hpp"

namespace inj::faultfs {
namespace {

auto lg() { return log::get("faultfs"); }

constexpr size_t kPage = 4096;
constexpr double kCacheTimeout = 1.0;  // seconds, entries and attributes, with no volatile mode

uint64_t mono_ns() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

void sleep_ns(uint64_t ns) {
    if (ns == 0) return;
    timespec ts{time_t(ns / 1000000000ull), long(ns % 1000000000ull)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {}
}

uint64_t rnd() {
    thread_local uint64_t s = mono_ns() ^ (uint64_t(::gettid()) << 32) ^ 0x9e3779b97f4a7c15ull;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

struct Page {
    char data[kPage];
};

// Volatile data of one inode: pages written since the last durable point.
struct Dirty {
    std::map<uint64_t, std::unique_ptr<Page>> pages;  // page index -> content
    uint64_t size = 0;                                // logical size of the file
    int fd = -1;                                      // O_RDWR on the backing file (fill, flush)
    ~Dirty() {
        if (fd >= 0) ::close(fd);
    }
};

struct Inode {
    int fd = -1;  // O_PATH
    dev_t dev = 0;
    ino_t ino = 0;
    uint64_t nlookup = 0;  // guarded by Fs::mu
    std::mutex mu;         // guards dirty
    std::unique_ptr<Dirty> dirty;
    std::atomic<bool> has_dirty{false};
};

struct DirHandle {
    DIR* dp = nullptr;
    off_t offset = 0;
    dirent* entry = nullptr;
};

struct Fs {
    Inode root;
    std::mutex mu;  // the inode table
    std::map<std::pair<dev_t, ino_t>, Inode*> inodes;
    Control ctl;
    Block* b = nullptr;
    fuse_session* se = nullptr;
    std::mutex bucket_mu;
    uint64_t bucket_seq = ~0ull;
    uint64_t next_rb = 0, next_wb = 0, next_rio = 0, next_wio = 0;
    std::mutex dirty_mu;
    std::set<Inode*> dirty;  // inodes holding volatile pages (each pinned by one lookup count)
    std::atomic<bool> running{true};
    std::string root_path;  // the backing directory as /proc/self/fd shows it
    bool in_place = true;   // no --backing: the mount hides the backing directory
    bool writeback = false; // --writeback: the kernel's writeback cache (never with volatile mode)

    explicit Fs(Control c) : ctl(std::move(c)), b(ctl.block()) {}
};

Fs* g_fs = nullptr;

// The settings in force, re-read only when the sequence moved. Past the deadline: none.
const Settings& cur() {
    static const Settings kNone{};
    thread_local uint64_t seq = ~0ull;
    thread_local Settings s;
    uint64_t q = g_fs->b->seq.load(std::memory_order_acquire);
    if (q != seq) s = g_fs->ctl.read(&seq);
    if (s.deadline_ns && mono_ns() > s.deadline_ns) return kNone;
    return s;
}

// Volatile mode needs every write to reach this process when it is made; with the kernel's
// writeback cache it cannot hold, and is ignored.
bool volatile_mode() { return !g_fs->writeback && (cur().flags & kFlagVolatile); }
double timeout() { return volatile_mode() ? 0.0 : kCacheTimeout; }

Inode* inode_of(fuse_ino_t ino) {
    if (ino == FUSE_ROOT_ID) return &g_fs->root;
    return reinterpret_cast<Inode*>(ino);
}

std::string proc_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// The path inside the volume ("/member/wal/0.wal"), as the kernel knows it now: read from the
// descriptor, so renames of the file or of any directory above it are followed.
std::string path_of(Inode* in) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(proc_path(in->fd).c_str(), buf, sizeof(buf) - 1);
    if (n < 0) return {};
    std::string p(buf, size_t(n));
    const std::string& root = g_fs->root_path;
    if (p == root) return "/";
    if (p.size() > root.size() && p.compare(0, root.size(), root) == 0 && p[root.size()] == '/')
        return p.substr(root.size());
    return p;
}

std::string child_path(Inode* parent, const char* name) {
    std::string p = path_of(parent);
    return p == "/" ? "/" + std::string(name) : p + "/" + name;
}


// The fault gate every operation passes first: latency, then read-only, full and error rules.
// Returns the errno to reply with, or 0. `path` is computed only when a rule has a pattern.
template <typename PathFn>
int gate(uint32_t op, PathFn&& path, bool mutating_extra = false) {
    const Settings& s = cur();
    OpClass c = class_of(op);
    g_fs->b->counters.ops[c].fetch_add(1, std::memory_order_relaxed);
    const Latency& l = s.latency[c];
    if (l.fixed_ns || l.jitter_ns) {
        int64_t d = int64_t(l.fixed_ns);
        if (l.jitter_ns) d += int64_t(rnd() % (2 * l.jitter_ns + 1)) - int64_t(l.jitter_ns);
        g_fs->b->counters.delayed.fetch_add(1, std::memory_order_relaxed);
        if (d > 0) sleep_ns(uint64_t(d));
    }
    if (s.flags == 0 && s.nerrors == 0) return 0;
    int err = 0;
    if ((s.flags & kFlagReadOnly) && ((op & kOpsMutating) || mutating_extra)) err = EROFS;
    else if ((s.flags & kFlagFull) && (op & kOpsGrowing)) err = ENOSPC;
    else {
        std::string p;
        bool have_path = false;
        for (uint32_t i = 0; i < s.nerrors && i < kMaxErrorRules; ++i) {
            const ErrorRule& r = s.errors[i];
            if (!(r.ops & op)) continue;
            if (r.pattern[0]) {
                if (!have_path) {
                    p = path();
                    have_path = true;
                }
                if (::fnmatch(r.pattern, p.c_str(), 0) != 0) continue;
            }
            if (r.ppm >= 1000000 || rnd() % 1000000 < r.ppm) {
                err = r.err;
                break;
            }
        }
    }
    if (err) g_fs->b->counters.errors_injected.fetch_add(1, std::memory_order_relaxed);
    return err;
}

int gate_in(uint32_t op, Inode* in, bool mutating_extra = false) {
    return gate(op, [in] { return path_of(in); }, mutating_extra);
}
int gate_child(uint32_t op, Inode* parent, const char* name) {
    return gate(op, [parent, name] { return child_path(parent, name); });
}

// Token bucket for reads and writes (no burst): each operation reserves its bytes and one I/O
// on a virtual clock per direction and waits for its slot.
void throttle(bool write, size_t bytes) {
    const Settings& s = cur();
    uint64_t bps = write ? s.write_bps : s.read_bps;
    uint64_t iops = write ? s.write_iops : s.read_iops;
    if (!bps && !iops) return;
    uint64_t now = mono_ns(), until = now;
    {
        std::lock_guard<std::mutex> lk(g_fs->bucket_mu);
        uint64_t seq = g_fs->b->seq.load(std::memory_order_relaxed);
        if (seq != g_fs->bucket_seq) {  // new limits start from now, not from an old backlog
            g_fs->bucket_seq = seq;
            g_fs->next_rb = g_fs->next_wb = g_fs->next_rio = g_fs->next_wio = now;
        }
        // The operation starts at its slot on the schedule; the next slot is one transfer time
        // later. A client slower than the rate never waits; the time a client spends between
        // operations counts toward its wait, so the rate holds whatever the per-call overhead.
        if (bps) {
            uint64_t& next = write ? g_fs->next_wb : g_fs->next_rb;
            uint64_t start = std::max(next, now);
            next = start + uint64_t(double(bytes) * 1e9 / double(bps));
            until = std::max(until, start);
        }
        if (iops) {
            uint64_t& next = write ? g_fs->next_wio : g_fs->next_rio;
            uint64_t start = std::max(next, now);
            next = start + 1000000000ull / iops;
            until = std::max(until, start);
        }
    }
    if (until > now) {
        g_fs->b->counters.throttled_ns.fetch_add(until - now, std::memory_order_relaxed);
        sleep_ns(until - now);
    }
}

// --- inode table -------------------------------------------------------------------------------

void unref(Inode* in, uint64_t n) {
    if (in == &g_fs->root) return;
    std::unique_lock<std::mutex> lk(g_fs->mu);
    in->nlookup -= std::min(n, in->nlookup);
    if (in->nlookup > 0) return;
    g_fs->inodes.erase({in->dev, in->ino});
    lk.unlock();
    ::close(in->fd);
    delete in;
}

void pin(Inode* in) {
    std::lock_guard<std::mutex> lk(g_fs->mu);
    ++in->nlookup;
}

// Finds or adds the inode of `name` in `parent`; fills e. Returns an errno or 0.
int do_lookup(Inode* parent, const char* name, fuse_entry_param* e) {
    std::memset(e, 0, sizeof(*e));
    int fd = ::openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno;
    if (::fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
        int err = errno;
        ::close(fd);
        return err;
    }
    Inode* in = nullptr;
    {
        std::lock_guard<std::mutex> lk(g_fs->mu);
        auto it = g_fs->inodes.find({e->attr.st_dev, e->attr.st_ino});
        if (it != g_fs->inodes.end()) {
            in = it->second;
            ++in->nlookup;
        } else {
            in = new Inode;
            in->fd = fd;
            fd = -1;
            in->dev = e->attr.st_dev;
            in->ino = e->attr.st_ino;
            in->nlookup = 1;
            g_fs->inodes[{in->dev, in->ino}] = in;
        }
    }
    if (fd >= 0) ::close(fd);
    if (in->has_dirty.load()) {
        std::lock_guard<std::mutex> lk(in->mu);
        if (in->dirty) e->attr.st_size = off_t(in->dirty->size);
    }
    e->ino = reinterpret_cast<uintptr_t>(in);
    e->attr_timeout = e->entry_timeout = timeout();
    return 0;
}

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
    in->dirty = std::move(d);
    in->has_dirty = true;
    pin(in);  // stays in the table while it holds data, whatever the kernel forgets
    std::lock_guard<std::mutex> lk(g_fs->dirty_mu);
    g_fs->dirty.insert(in);
    return 0;
}

void count_dirty(int64_t delta) {
    if (delta >= 0) g_fs->b->counters.dirty_bytes.fetch_add(uint64_t(delta));
    else g_fs->b->counters.dirty_bytes.fetch_sub(uint64_t(-delta));
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
    Dirty& d = *in->dirty;
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
    if (::fstat(d.fd, &st) == 0 && uint64_t(st.st_size) < d.size && ::ftruncate(d.fd, off_t(d.size)) != 0)
        return errno;
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

// The power cut: every held page is thrown away; the kernel forgets what it cached of them.
void drop_all() {
    uint64_t dropped = 0;
    for (Inode* in : take_dirty()) {
        bool drop_ref;
        {
            std::lock_guard<std::mutex> lk(in->mu);
            if (in->dirty) dropped += in->dirty->pages.size() * kPage;
            drop_ref = end_dirty(in);
        }
        fuse_lowlevel_notify_inval_inode(g_fs->se, reinterpret_cast<uintptr_t>(in), 0, 0);
        if (drop_ref) unref(in, 1);
        unref(in, 1);
    }
    g_fs->b->counters.dropped_bytes.fetch_add(dropped);
    if (dropped) lg()->info("power loss: {} bytes of writes not made durable thrown away", dropped);
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

// --- operations --------------------------------------------------------------------------------

void fix_size(Inode* in, struct stat* st) {
    if (!in->has_dirty.load()) return;
    std::lock_guard<std::mutex> lk(in->mu);
    if (in->dirty) st->st_size = off_t(in->dirty->size);
}

void op_init(void*, fuse_conn_info* conn) {
    // Writeback caching only when asked (--writeback, for volumes that are not volatile): write()
    // then returns once in the page cache and the gate sees the kernel's writeback, so errors
    // and latency of writes surface at fsync/close, as they do above a real disk.
    if (g_fs->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) conn->want |= FUSE_CAP_WRITEBACK_CACHE;
    else conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    // In place nothing but this filesystem reaches the backing files, so a changed mtime is our
    // own write and the cached pages are current: keep them (volatile mode drops them itself).
    if (g_fs->in_place) conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
    if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
    if (conn->capable & FUSE_CAP_FLOCK_LOCKS) conn->want |= FUSE_CAP_FLOCK_LOCKS;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Inode* p = inode_of(parent);
    if (int e = gate_child(kOpLookup, p, name)) return (void)fuse_reply_err(req, e);
    fuse_entry_param e;
    if (int err = do_lookup(p, name, &e)) return (void)fuse_reply_err(req, err);
    fuse_reply_entry(req, &e);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
    unref(inode_of(ino), n);
    fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* f) {
    for (size_t i = 0; i < count; ++i) unref(inode_of(f[i].ino), f[i].nlookup);
    fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpGetattr, in)) return (void)fuse_reply_err(req, e);
    struct stat st;
    if (::fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return (void)fuse_reply_err(req, errno);
    fix_size(in, &st);
    fuse_reply_attr(req, &st, timeout());
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int valid, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpSetattr, in)) return (void)fuse_reply_err(req, e);
    std::string pp = proc_path(in->fd);
    if (valid & FUSE_SET_ATTR_MODE) {
        int r = fi ? ::fchmod(int(fi->fh), attr->st_mode) : ::chmod(pp.c_str(), attr->st_mode);
        if (r != 0) return (void)fuse_reply_err(req, errno);
    }
    if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
        uid_t u = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : uid_t(-1);
        gid_t g = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : gid_t(-1);
        if (::fchownat(in->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
            return (void)fuse_reply_err(req, errno);
    }
    if (valid & FUSE_SET_ATTR_SIZE) {
        std::lock_guard<std::mutex> lk(in->mu);
        int r = fi ? ::ftruncate(int(fi->fh), attr->st_size) : ::truncate(pp.c_str(), attr->st_size);
        if (r != 0) return (void)fuse_reply_err(req, errno);
        if (in->dirty) {  // the held pages follow the new size
            Dirty& d = *in->dirty;
            uint64_t size = uint64_t(attr->st_size);
            uint64_t first_gone = (size + kPage - 1) / kPage;
            for (auto it = d.pages.lower_bound(first_gone); it != d.pages.end();) {
                it = d.pages.erase(it);
                count_dirty(-int64_t(kPage));
            }
            if (size % kPage)
                if (auto it = d.pages.find(size / kPage); it != d.pages.end())
                    std::memset(it->second->data + size % kPage, 0, kPage - size % kPage);
            d.size = size;
        }
    }
    if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
        timespec tv[2];
        tv[0].tv_nsec = tv[1].tv_nsec = UTIME_OMIT;
        if (valid & FUSE_SET_ATTR_ATIME_NOW) tv[0].tv_nsec = UTIME_NOW;
        else if (valid & FUSE_SET_ATTR_ATIME) tv[0] = attr->st_atim;
        if (valid & FUSE_SET_ATTR_MTIME_NOW) tv[1].tv_nsec = UTIME_NOW;
        else if (valid & FUSE_SET_ATTR_MTIME) tv[1] = attr->st_mtim;
        int r = fi ? ::futimens(int(fi->fh), tv) : ::utimensat(AT_FDCWD, pp.c_str(), tv, 0);
        if (r != 0) return (void)fuse_reply_err(req, errno);
    }
    struct stat st;
    if (::fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return (void)fuse_reply_err(req, errno);
    fix_size(in, &st);
    fuse_reply_attr(req, &st, timeout());
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpReadlink, in)) return (void)fuse_reply_err(req, e);
    char buf[PATH_MAX + 1];
    ssize_t n = ::readlinkat(in->fd, "", buf, sizeof(buf));
    if (n < 0) return (void)fuse_reply_err(req, errno);
    if (n >= ssize_t(sizeof(buf))) return (void)fuse_reply_err(req, ENAMETOOLONG);
    buf[n] = 0;
    fuse_reply_readlink(req, buf);
}

// mknod, mkdir, symlink: make the entry, then look it up for the reply.
template <typename MakeFn>
void make_entry(fuse_req_t req, uint32_t op, fuse_ino_t parent, const char* name, MakeFn&& make) {
    Inode* p = inode_of(parent);
    if (int e = gate_child(op, p, name)) return (void)fuse_reply_err(req, e);
    if (make(p->fd) != 0) return (void)fuse_reply_err(req, errno);
    fuse_entry_param e;
    if (int err = do_lookup(p, name, &e)) return (void)fuse_reply_err(req, err);
    fuse_reply_entry(req, &e);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    make_entry(req, kOpCreate, parent, name, [&](int dfd) { return ::mknodat(dfd, name, mode, rdev); });
}
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    make_entry(req, kOpMkdir, parent, name, [&](int dfd) { return ::mkdirat(dfd, name, mode); });
}
void op_symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
    make_entry(req, kOpLink, parent, name, [&](int dfd) { return ::symlinkat(link, dfd, name); });
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char* name) {
    Inode* in = inode_of(ino);
    Inode* p = inode_of(parent);
    if (int e = gate_child(kOpLink, p, name)) return (void)fuse_reply_err(req, e);
    if (::linkat(AT_FDCWD, proc_path(in->fd).c_str(), p->fd, name, AT_SYMLINK_FOLLOW) != 0)
        return (void)fuse_reply_err(req, errno);
    fuse_entry_param e;
    if (int err = do_lookup(p, name, &e)) return (void)fuse_reply_err(req, err);
    fuse_reply_entry(req, &e);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Inode* p = inode_of(parent);
    if (int e = gate_child(kOpUnlink, p, name)) return (void)fuse_reply_err(req, e);
    fuse_reply_err(req, ::unlinkat(p->fd, name, 0) == 0 ? 0 : errno);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Inode* p = inode_of(parent);
    if (int e = gate_child(kOpRmdir, p, name)) return (void)fuse_reply_err(req, e);
    fuse_reply_err(req, ::unlinkat(p->fd, name, AT_REMOVEDIR) == 0 ? 0 : errno);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
               unsigned int flags) {
    Inode* p = inode_of(parent);
    Inode* np = inode_of(newparent);
    if (int e = gate_child(kOpRename, p, name)) return (void)fuse_reply_err(req, e);
    if (::syscall(SYS_renameat2, p->fd, name, np->fd, newname, flags) != 0) return (void)fuse_reply_err(req, errno);
    fuse_reply_err(req, 0);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpOpen, in)) return (void)fuse_reply_err(req, e);
    int fd = ::openat(in->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return (void)fuse_reply_err(req, errno);
    auto* d = new DirHandle;
    d->dp = ::fdopendir(fd);
    if (!d->dp) {
        int err = errno;
        ::close(fd);
        delete d;
        return (void)fuse_reply_err(req, err);
    }
    fi->fh = reinterpret_cast<uintptr_t>(d);
    if (!volatile_mode()) fi->cache_readdir = 1;
    if (fuse_reply_open(req, fi) == -ENOENT) {
        ::closedir(d->dp);
        delete d;
    }
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpReaddir, in)) return (void)fuse_reply_err(req, e);
    auto* d = reinterpret_cast<DirHandle*>(fi->fh);
    std::vector<char> buf(size);
    size_t used = 0;
    if (offset != d->offset) {
        ::seekdir(d->dp, offset);
        d->entry = nullptr;
        d->offset = offset;
    }
    while (true) {
        if (!d->entry) {
            errno = 0;
            d->entry = ::readdir(d->dp);
            if (!d->entry) {
                if (errno && used == 0) return (void)fuse_reply_err(req, errno);
                break;
            }
        }
        struct stat st {};
        st.st_ino = d->entry->d_ino;
        st.st_mode = mode_t(d->entry->d_type) << 12;
        off_t next = d->entry->d_off;
        size_t n = fuse_add_direntry(req, buf.data() + used, size - used, d->entry->d_name, &st, next);
        if (n > size - used) break;
        used += n;
        d->entry = nullptr;
        d->offset = next;
    }
    fuse_reply_buf(req, buf.data(), used);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    auto* d = reinterpret_cast<DirHandle*>(fi->fh);
    ::closedir(d->dp);
    delete d;
    fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpFsync, in)) return (void)fuse_reply_err(req, e);
    int fd = ::dirfd(reinterpret_cast<DirHandle*>(fi->fh)->dp);
    fuse_reply_err(req, (datasync ? ::fdatasync(fd) : ::fsync(fd)) == 0 ? 0 : errno);
}

void set_open_flags(fuse_file_info* fi) {
    // With no volatile mode we are the only way to the backing file: keep the page cache across
    // opens. In volatile mode a power loss changes file contents behind the kernel's back.
    fi->keep_cache = volatile_mode() ? 0 : 1;
}

// O_DIRECT stays between the program and the kernel (it bypasses the FUSE page cache, so every
// block reaches the gate); the backing file is written through its own cache, from buffers that
// need no alignment. With the writeback cache the kernel reads pages of write-only files and
// positions appends itself.
int backing_flags(int flags) {
    flags = (flags | O_CLOEXEC) & ~(O_NOFOLLOW | O_DIRECT);
    if (g_fs->writeback) {
        if ((flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
        flags &= ~O_APPEND;
    }
    return flags;
}

bool opens_for_write(int flags) { return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC); }

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
    Inode* p = inode_of(parent);
    if (int e = gate_child(kOpCreate, p, name)) return (void)fuse_reply_err(req, e);
    int fd = ::openat(p->fd, name, backing_flags(fi->flags | O_CREAT), mode);
    if (fd < 0) return (void)fuse_reply_err(req, errno);
    fi->fh = uint64_t(fd);
    fuse_entry_param e;
    if (int err = do_lookup(p, name, &e)) {
        ::close(fd);
        return (void)fuse_reply_err(req, err);
    }
    set_open_flags(fi);
    fuse_reply_create(req, &e, fi);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpOpen, in, opens_for_write(fi->flags))) return (void)fuse_reply_err(req, e);
    int flags = backing_flags(fi->flags);
    if (flags & O_TRUNC) {
        // Truncation through open drops held pages the same way setattr(size 0) does.
        std::lock_guard<std::mutex> lk(in->mu);
        if (in->dirty) {
            count_dirty(-int64_t(in->dirty->pages.size() * kPage));
            in->dirty->pages.clear();
            in->dirty->size = 0;
        }
    }
    int fd = ::open(proc_path(in->fd).c_str(), flags);
    if (fd < 0) return (void)fuse_reply_err(req, errno);
    fi->fh = uint64_t(fd);
    set_open_flags(fi);
    fuse_reply_open(req, fi);
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    ::close(int(fi->fh));
    fuse_reply_err(req, 0);
}

void op_flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (int e = gate_in(kOpFlush, inode_of(ino))) return (void)fuse_reply_err(req, e);
    int r = ::close(::dup(int(fi->fh)));
    fuse_reply_err(req, r == 0 ? 0 : errno);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpRead, in)) return (void)fuse_reply_err(req, e);
    throttle(false, size);
    if (in->has_dirty.load()) {
        std::unique_lock<std::mutex> lk(in->mu);
        if (in->dirty) {
            Dirty& d = *in->dirty;
            uint64_t end = std::min<uint64_t>(uint64_t(off) + size, d.size);
            size_t n = end > uint64_t(off) ? size_t(end - uint64_t(off)) : 0;
            std::vector<char> buf(n, 0);
            for (size_t done = 0; done < n;) {
                ssize_t r = ::pread(d.fd, buf.data() + done, n - done, off + off_t(done));
                if (r < 0) return (void)fuse_reply_err(req, errno);
                if (r == 0) break;  // past the backing file's end: zeros (or held pages below)
                done += size_t(r);
            }
            for (auto it = d.pages.lower_bound(uint64_t(off) / kPage); it != d.pages.end(); ++it) {
                uint64_t ps = it->first * kPage;
                if (ps >= end) break;
                uint64_t from = std::max<uint64_t>(ps, uint64_t(off)), to = std::min<uint64_t>(ps + kPage, end);
                std::memcpy(buf.data() + (from - uint64_t(off)), it->second->data + (from - ps), to - from);
            }
            lk.unlock();
            return (void)fuse_reply_buf(req, buf.data(), n);
        }
    }
    fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
    bv.buf[0].flags = fuse_buf_flags(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    bv.buf[0].fd = int(fi->fh);
    bv.buf[0].pos = off;
    fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
}

void op_write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in_buf, off_t off, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    size_t size = fuse_buf_size(in_buf);
    if (int e = gate_in(kOpWrite, in)) return (void)fuse_reply_err(req, e);
    throttle(true, size);
    const bool vol = volatile_mode();
    const bool sync = fi->flags & (O_SYNC | O_DSYNC);
    if (vol || in->has_dirty.load()) {
        std::unique_lock<std::mutex> lk(in->mu);
        if (vol) {
            if (int err = start_dirty(in)) return (void)fuse_reply_err(req, err);
            std::vector<char> buf(size);
            fuse_bufvec out = FUSE_BUFVEC_INIT(size);
            out.buf[0].mem = buf.data();
            ssize_t n = fuse_buf_copy(&out, in_buf, fuse_buf_copy_flags(0));
            if (n < 0) return (void)fuse_reply_err(req, int(-n));
            if (int err = dirty_write(in, buf.data(), size_t(n), off)) return (void)fuse_reply_err(req, err);
            if (sync) {  // O_SYNC/O_DSYNC: durable before the write returns
                if (int err = dirty_flush(in)) return (void)fuse_reply_err(req, err);
                if (::fdatasync(in->dirty->fd) != 0) return (void)fuse_reply_err(req, errno);
                bool drop_ref = end_dirty(in);
                lk.unlock();
                if (drop_ref) unref(in, 1);
            }
            return (void)fuse_reply_write(req, size_t(n));
        }
        // Volatile mode ended with pages still held: write them first, then pass through.
        lk.unlock();
        if (int err = flush_inode(in)) return (void)fuse_reply_err(req, err);
    }
    fuse_bufvec out = FUSE_BUFVEC_INIT(size);
    out.buf[0].flags = fuse_buf_flags(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    out.buf[0].fd = int(fi->fh);
    out.buf[0].pos = off;
    ssize_t n = fuse_buf_copy(&out, in_buf, fuse_buf_copy_flags(0));
    if (n < 0) return (void)fuse_reply_err(req, int(-n));
    fuse_reply_write(req, size_t(n));
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpFsync, in)) return (void)fuse_reply_err(req, e);
    if (int err = flush_inode(in)) return (void)fuse_reply_err(req, err);
    int fd = int(fi->fh);
    fuse_reply_err(req, (datasync ? ::fdatasync(fd) : ::fsync(fd)) == 0 ? 0 : errno);
}

void op_statfs(fuse_req_t req, fuse_ino_t ino) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpStatfs, in)) return (void)fuse_reply_err(req, e);
    struct statvfs sv;
    if (::fstatvfs(in->fd, &sv) != 0) return (void)fuse_reply_err(req, errno);
    const Settings& s = cur();
    if (s.flags & kFlagFull) sv.f_bfree = sv.f_bavail = 0;
    fuse_reply_statfs(req, &sv);
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpFallocate, in)) return (void)fuse_reply_err(req, e);
    std::lock_guard<std::mutex> lk(in->mu);
    if (::fallocate(int(fi->fh), mode, off, len) != 0) return (void)fuse_reply_err(req, errno);
    if (in->dirty && !(mode & FALLOC_FL_KEEP_SIZE)) in->dirty->size = std::max<uint64_t>(in->dirty->size, uint64_t(off + len));
    fuse_reply_err(req, 0);
}

void op_flock(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, int op) {
    fuse_reply_err(req, ::flock(int(fi->fh), op) == 0 ? 0 : errno);
}

const fuse_lowlevel_ops kOps = [] {
    fuse_lowlevel_ops o{};
    o.init = op_init;
    o.lookup = op_lookup;
    o.forget = op_forget;
    o.forget_multi = op_forget_multi;
    o.getattr = op_getattr;
    o.setattr = op_setattr;
    o.readlink = op_readlink;
    o.mknod = op_mknod;
    o.mkdir = op_mkdir;
    o.symlink = op_symlink;
    o.link = op_link;
    o.unlink = op_unlink;
    o.rmdir = op_rmdir;
    o.rename = op_rename;
    o.opendir = op_opendir;
    o.readdir = op_readdir;
    o.releasedir = op_releasedir;
    o.fsyncdir = op_fsyncdir;
    o.create = op_create;
    o.open = op_open;
    o.release = op_release;
    o.flush = op_flush;
    o.read = op_read;
    o.write_buf = op_write_buf;
    o.fsync = op_fsync;
    o.statfs = op_statfs;
    o.fallocate = op_fallocate;
    o.flock = op_flock;
    return o;
}();

// --- the watcher -------------------------------------------------------------------------------

// Acts on what the block asks and on the owner dying: drop volatile pages (power loss), write
// them back (volatile mode ended), clear every fault (owner gone), drop the page cache (a read
// fault armed). Woken by the doorbell futex; a 50 ms tick bounds the owner-death detection.
void watch() {
    Block* b = g_fs->b;
    uint32_t watched = 0;
    int pidfd = -1;
    bool had_read_faults = false;
    uint64_t seen_seq = ~0ull;
    while (g_fs->running.load()) {
        uint32_t bell = b->doorbell.load(std::memory_order_acquire);
        uint32_t owner = b->owner_pid.load();
        if (owner != watched) {
            if (pidfd >= 0) ::close(pidfd);
            pidfd = -1;
            watched = owner;
            if (owner) {
                pidfd = int(::syscall(SYS_pidfd_open, pid_t(owner), 0));
                if (pidfd < 0 && errno == ESRCH) {
                    lg()->warn("owner pid {} is already gone: every fault cleared", owner);
                    g_fs->ctl.clear();
                    b->counters.owner_lost.fetch_add(1);
                    watched = 0;
                }
            }
        }
        if (pidfd >= 0) {
            pollfd p{pidfd, POLLIN, 0};
            if (::poll(&p, 1, 0) > 0) {
                lg()->warn("owner pid {} died: every fault cleared, serving as a plain passthrough", watched);
                g_fs->ctl.clear();
                b->counters.owner_lost.fetch_add(1);
                ::close(pidfd);
                pidfd = -1;
                watched = 0;
            }
        }
        uint64_t req = b->drop_req.load(std::memory_order_acquire);
        if (req != b->drop_done.load()) {
            drop_all();
            b->drop_done.store(req, std::memory_order_release);
        }
        uint64_t seq;
        Settings s = g_fs->ctl.read(&seq);
        if (s.deadline_ns && mono_ns() > s.deadline_ns) {
            lg()->warn("fault deadline passed: every fault cleared");
            g_fs->ctl.clear();
            s = g_fs->ctl.read(&seq);
        }
        if (seq != seen_seq) {
            seen_seq = seq;
            if (!(s.flags & kFlagVolatile)) writeback_all();
            bool rf = read_faults(s);
            if (rf && !had_read_faults) invalidate_all();
            had_read_faults = rf;
        }
        timespec ts{0, 50 * 1000 * 1000};
        ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&b->doorbell), FUTEX_WAIT, bell, &ts, nullptr, 0);
    }
    if (pidfd >= 0) ::close(pidfd);
}

}  // namespace

int main_faultfs(const std::vector<std::string>& args) {
    // Whatever the starter left open (beyond stdio) must not live as long as this daemon: a run
    // lock or a BPF link held here would outlive the run that owns it.
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
    std::string control, backing, mountpoint;
    unsigned max_threads = 16;
    bool writeback = false;
    for (size_t i = 0; i < args.size(); ++i) {
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) throw std::runtime_error(args[i] + " needs a value");
            return args[++i];
        };
        if (args[i] == "--control") control = value();
        else if (args[i] == "--backing") backing = value();
        else if (args[i] == "--max-threads") max_threads = unsigned(std::stoul(value()));
        else if (args[i] == "--writeback") writeback = true;
        else if (!args[i].empty() && args[i][0] != '-' && mountpoint.empty()) mountpoint = args[i];
        else {
            std::fprintf(stderr, "usage: injector faultfs --control FILE [--backing DIR] [--writeback] MOUNTPOINT\n");
            return 64;
        }
    }
    if (control.empty() || mountpoint.empty()) {
        std::fprintf(stderr, "usage: injector faultfs --control FILE [--backing DIR] [--writeback] MOUNTPOINT\n");
        return 64;
    }
    // A control file that does not exist yet is created (all clear): `injector faultfs` can be
    // started by hand over a directory and driven by a run later.
    auto ctl = ::access(control.c_str(), F_OK) == 0 ? Control::open(control) : Control::create(control);
    if (!ctl) {
        lg()->error("{}", ctl.error().message());
        return 3;
    }
    // The backing directory is opened before the mount, so with no --backing the filesystem goes
    // over the directory in place and serves what was under it.
    std::string dir = backing.empty() ? mountpoint : backing;
    int root_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        lg()->error("open {}: {}", dir, std::strerror(errno));
        return 3;
    }
    Fs fs(std::move(*ctl));
    fs.writeback = writeback;
    fs.in_place = backing.empty();
    g_fs = &fs;
    struct stat st;
    ::fstat(root_fd, &st);
    fs.root.fd = root_fd;
    fs.root.dev = st.st_dev;
    fs.root.ino = st.st_ino;
    fs.root.nlookup = 2;
    {
        char buf[PATH_MAX];
        ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(root_fd)).c_str(), buf, sizeof(buf) - 1);
        fs.root_path = n > 0 ? std::string(buf, size_t(n)) : dir;
    }
    fs.b->daemon_pid.store(uint32_t(::getpid()));

    std::vector<std::string> argv_s{"injector-faultfs", "-o",
                                    "allow_other,default_permissions,fsname=injector-faultfs,subtype=injector-faultfs"};
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    fuse_args fargs = FUSE_ARGS_INIT(int(argv.size()), argv.data());
    fuse_session* se = fuse_session_new(&fargs, &kOps, sizeof(kOps), &fs);
    if (!se) {
        lg()->error("fuse_session_new failed");
        return 3;
    }
    fs.se = se;
    int rc = 3;
    if (fuse_set_signal_handlers(se) == 0) {
        if (fuse_session_mount(se, mountpoint.c_str()) == 0) {
            lg()->info("faultfs on {} (backing {}), control {}", mountpoint, dir, control);
            fs.b->state.store(uint32_t(DaemonState::serving));
            std::thread watcher(watch);
            fuse_loop_config* cfg = fuse_loop_cfg_create();
            fuse_loop_cfg_set_clone_fd(cfg, 0);
            fuse_loop_cfg_set_max_threads(cfg, max_threads);
            rc = fuse_session_loop_mt(se, cfg) == 0 ? 0 : 1;
            fuse_loop_cfg_destroy(cfg);
            fs.running = false;
            fs.ctl.ring();
            watcher.join();
            // Pages still held when the mount goes away are written back: nothing but a power
            // loss throws data away.
            writeback_all();
            fuse_session_unmount(se);
            lg()->info("faultfs on {}: unmounted", mountpoint);
        } else {
            lg()->error("mount {} failed", mountpoint);
        }
        fuse_remove_signal_handlers(se);
    }
    fs.b->state.store(uint32_t(DaemonState::stopped));
    fuse_session_destroy(se);
    g_fs = nullptr;
    return rc;
}

}  // namespace inj::faultfs
