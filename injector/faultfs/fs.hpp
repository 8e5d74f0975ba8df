// Internal to the faultfs daemon (`injector faultfs`): the state shared by the files that
// implement it — the inode table, the volatile page cache, the settings in force and the fault
// gate every operation passes. fs.cpp (paths, ownership, token bucket, inode table),
// volatile_cache.cpp (held pages, power loss), loss.cpp (loss models, writeback, the lost
// account), metadata.cpp (volatile metadata), ops_entries.cpp and ops_data.cpp (the FUSE
// operations), daemon.cpp (the watcher and main_faultfs).
//
// The daemon is a libfuse3 low-level passthrough over one directory descriptor, multi-threaded,
// that applies the faults of its control block to every operation: latency per class, errors by
// errno/probability/operation/path, full disk, read-only, a token bucket, and volatile writes.
//
// Users: mounted allow_other,default_permissions, so the kernel checks every access against the
// modes and owners we report (those of the backing files). Entries are made by this daemon (root)
// and then given to the caller's uid and gid (the parent's gid under a setgid parent), with the
// caller's umask (FUSE_CAP_DONT_MASK; a default ACL on the parent wins, as underneath).
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
// a disk would hold after the cut), or keeps part of them as the loss model says (torn, reorder),
// and writes an account of what each file lost next to the control file. With a writeback age,
// an inode dirty for longer is written back as the kernel's flusher would. Metadata operations
// (create, rename, unlink, truncate, fallocate) go to the backing directory at once, as a
// journalling filesystem commits them: after a cut a file created and written without fsync
// exists, empty (what ext4 shows) — unless metadata is volatile too, and then creations,
// renames and unlinks that no fsync of their directory made durable are undone at the cut.
//
// When the owner (the run that set the faults) dies the watcher clears every fault; held
// volatile pages are then written to the backing files (no fsync: what the kernel's own writeback
// would do), and the daemon goes on serving a plain passthrough until it is unmounted.
#pragma once

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
#include <sys/xattr.h>
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
#include "faultfs/crash_point.hpp"
#include "faultfs/faultfs.hpp"

namespace inj::faultfs::detail {

inline auto lg() { return log::get("faultfs"); }

constexpr size_t kPage = 4096;
constexpr double kCacheTimeout = 1.0;  // seconds, entries and attributes, with no volatile mode

inline uint64_t mono_ns() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

inline void sleep_ns(uint64_t ns) {
    if (ns == 0) return;
    timespec ts{time_t(ns / 1000000000ull), long(ns % 1000000000ull)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {}
}

inline uint64_t rnd() {
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
    uint64_t dirtied_ns = 0;  // when the first held page was written (the kernel's dirtied_when)
    uint64_t writes = 0;      // write operations held, and their bytes (the lost account)
    uint64_t write_bytes = 0;
    // Each held write in order, kept when the loss model picks among writes (torn, reorder).
    struct Write {
        uint64_t off;
        std::string data;
    };
    std::vector<Write> log;
    // Each held write's place, for the lost account (every model; the first kMaxOps).
    struct Op {
        uint64_t off;
        uint64_t len;
    };
    static constexpr size_t kMaxOps = 64;
    std::vector<Op> ops;
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
    std::atomic<uint64_t> synced_ns{0};  // the last fsync (or O_SYNC write) that made it durable
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
    std::string root_path;   // the backing directory as /proc/self/fd shows it
    bool in_place = true;    // no --backing: the mount hides the backing directory
    bool writeback = false;  // --writeback: the kernel's writeback cache (never with volatile mode)
    std::string control;     // the control file's path (the lost account goes next to it)
    uint64_t cuts = 0;       // power losses applied (under cut_mu)
    std::mutex cut_mu;       // one power cut at a time (the watcher's drop, a crash point)
    NthCounter crash_count;  // matches of the armed crash point, per arming
    // The arming whose crash point fired: while it is still the one in force the volume has no
    // power and every operation fails with EIO.
    std::atomic<uint32_t> off_arm{0};

    explicit Fs(Control c) : ctl(std::move(c)), b(ctl.block()) {}
};

extern Fs* g_fs;

// The settings in force, re-read only when the sequence moved. Past the deadline: none.
inline const Settings& cur() {
    static const Settings kNone{};
    thread_local uint64_t seq = ~0ull;
    thread_local Settings s;
    // Never waits: while a writer is inside (or one died there) the last settings read stay in
    // force; the watcher takes a dead writer's sequence over.
    uint64_t q = g_fs->b->seq.load(std::memory_order_acquire);
    if (q != seq && !(q & 1)) {
        Settings t;
        uint64_t got;
        if (g_fs->ctl.try_read(t, &got)) {
            s = t;
            seq = got;
        }
    }
    if (s.deadline_ns && mono_ns() > s.deadline_ns) return kNone;
    return s;
}

// Volatile mode needs every write to reach this process when it is made; with the kernel's
// writeback cache it cannot hold, and is ignored.
inline bool volatile_mode() { return !g_fs->writeback && (cur().flags & kFlagVolatile); }
inline double timeout() { return volatile_mode() ? 0.0 : kCacheTimeout; }

inline Inode* inode_of(fuse_ino_t ino) {
    if (ino == FUSE_ROOT_ID) return &g_fs->root;
    return reinterpret_cast<Inode*>(ino);
}

inline std::string proc_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// The path inside the volume ("/member/wal/0.wal"), as the kernel knows it now (fs.cpp).
std::string path_of(Inode* in);
std::string child_path(Inode* parent, const char* name);

// Crash points (crash.cpp). The volume has no power: a crash point fired and is still armed.
inline bool powered_off() {
    uint32_t a = g_fs->off_arm.load(std::memory_order_acquire);
    return a && cur().crash.arm == a;
}
// An operation the armed crash point may match, on `path`: EIO when it fired before the
// operation (the loss is applied), else 0 (and, fired after it, the loss applies at its reply).
int crash_check(const Settings& s, uint32_t op, const std::string& path);
// Every reply goes through reply(): a crash point that fired after an operation applies its loss
// before the operation is answered, and the kernel's caches are told of a cut once the held
// operation is answered (it may hold locks the kernel needs for that).
void before_reply();
void after_reply();
bool firing();                                     // this thread performs the operation a crash point fired after
void rename_destination(const std::string* dest);  // the rename this thread gates, for crash_check
template <typename F, typename... A>
int reply(F f, A... a) {
    before_reply();
    int r = f(a...);
    after_reply();
    return r;
}

// The fault gate every operation passes first: the power state and the crash point, latency,
// then read-only, full and error rules. Returns the errno to reply with, or 0. `path` is
// computed only when a rule has a pattern or the crash point names the operation.
template <typename PathFn>
int gate(uint32_t op, PathFn&& path, bool mutating_extra = false) {
    const Settings& s = cur();
    OpClass c = class_of(op);
    g_fs->b->counters.ops[c].fetch_add(1, std::memory_order_relaxed);
    if (g_fs->off_arm.load(std::memory_order_relaxed) && powered_off()) return EIO;
    if (s.crash.ops & op)
        if (int e = crash_check(s, op, path())) return e;
    const Latency& l = s.latency[c];
    if (l.fixed_ns || l.jitter_ns) {
        int64_t d = int64_t(l.fixed_ns);
        if (l.jitter_ns) d += int64_t(rnd() % (2 * l.jitter_ns + 1)) - int64_t(l.jitter_ns);
        g_fs->b->counters.delayed.fetch_add(1, std::memory_order_relaxed);
        if (d > 0) sleep_ns(uint64_t(d));
    }
    if (s.flags == 0 && s.nerrors == 0) return 0;
    int err = 0;
    if ((s.flags & kFlagReadOnly) && ((op & kOpsMutating) || mutating_extra))
        err = EROFS;
    else if ((s.flags & kFlagFull) && (op & kOpsGrowing))
        err = ENOSPC;
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

inline int gate_in(uint32_t op, Inode* in, bool mutating_extra = false) {
    return gate(
        op, [in] { return path_of(in); }, mutating_extra);
}
inline int gate_child(uint32_t op, Inode* parent, const char* name) {
    return gate(op, [parent, name] { return child_path(parent, name); });
}

// Entries made for a caller (fs.cpp): the mode its umask leaves (unless the parent has a default
// ACL, which the backing filesystem applies instead), and the new entry given to the caller's
// uid and gid (the parent's gid when the parent is setgid). Errno or 0.
mode_t creation_mode(fuse_req_t req, Inode* parent, mode_t mode);
int own(fuse_req_t req, Inode* parent, const char* name);

// Token bucket for reads and writes (fs.cpp).
void throttle(bool write, size_t bytes);

// The inode table (fs.cpp).
void unref(Inode* in, uint64_t n);
void pin(Inode* in);
int do_lookup(Inode* parent, const char* name, fuse_entry_param* e);

// Volatile pages (volatile_cache.cpp).
int start_dirty(Inode* in);
void count_dirty(int64_t delta);
bool end_dirty(Inode* in);
int dirty_write(Inode* in, const char* buf, size_t size, off_t off);
int dirty_flush(Inode* in);
int flush_inode(Inode* in);
std::vector<Inode*> take_dirty();
// What a cut must tell the kernel once no held operation blocks it: inodes whose pages changed
// (pinned) and entries that went away or came back.
struct Invalidations {
    std::vector<Inode*> inodes;
    std::vector<std::pair<fuse_ino_t, std::string>> entries;
};
// The crash point that caused a cut, for the lost account.
struct Trigger {
    uint32_t op = 0;
    std::string path;
    uint32_t nth = 0;
    bool after = false;
    uint64_t realtime_ns = 0;
};
// The power cut: the loss model applied to every held write, volatile metadata undone, the
// account written (trigger: the crash point, or null for the runner's request).
Invalidations cut(const Trigger* trigger);
void invalidate(Invalidations& inv);  // tells the kernel, unpins
void drop_all();                      // cut + invalidate, from the watcher
void writeback_all();
void invalidate_all();

// Volatile metadata (metadata.cpp). The trash of entries unlinked or replaced while metadata is
// volatile, hidden in the volume's root.
constexpr const char* kTrashName = ".injector-faultfs-trash";
bool metadata_volatile();
int meta_created(Inode* dir, const char* name);                // errno or 0 (EIO, undone: the power is off)
int meta_remove(Inode* dir, const char* name, bool is_rmdir);  // errno or 0
int meta_rename(Inode* from, const char* name, Inode* to, const char* newname, unsigned flags);
void meta_durable(Inode* dir);  // an fsync of dir
void meta_commit_all();         // volatile metadata ended: everything is durable
// Entry operations older than the writeback age are durable: the filesystem's journal commits
// them in the background as the flusher writes data back (ext4 every few seconds).
void meta_expire(uint64_t age_ns);
// The cut: the undone (operation, path, directory whose fsync was missing); the entries the
// kernel must forget are added to `stale`.
struct UndoneEntry {
    std::string op, path, dir;
};
std::vector<UndoneEntry> meta_undo_all(std::vector<std::pair<fuse_ino_t, std::string>>& stale);

// Loss models (loss.cpp). What one file lost at a cut.
struct FileLoss {
    std::string path;
    uint64_t held_bytes = 0;  // bytes of held pages
    uint64_t writes = 0, write_bytes = 0;
    uint64_t kept_writes = 0;  // writes (or parts) the model let reach the disk, and their bytes
    uint64_t kept_bytes = 0;
    uint64_t dirty_age_ns = 0;   // how long before the cut the oldest unsynced write was made
    uint64_t synced_age_ns = 0;  // how long before the cut its last fsync was; 0: none while volatile
    struct Op {
        uint64_t off, len, kept;
    };
    std::vector<Op> ops;  // the first Dirty::kMaxOps writes, and what of each was kept
};
// Applies the model to the held writes of `in` before they are thrown away (caller holds in->mu):
// the parts that survive are written to the backing file.
FileLoss apply_loss(Inode* in, const Settings& s, uint64_t& rng);
void write_lost_account(const Settings& s, const std::vector<FileLoss>& files, const std::vector<UndoneEntry>& entries,
                        const Trigger* trigger);
// Writes back every inode dirty for longer than the writeback age (watcher, each tick).
void writeback_expired(const Settings& s);
bool read_faults(const Settings& s);

// Operations (ops_entries.cpp, ops_data.cpp).
void fix_size(Inode* in, struct stat* st);
void register_entry_ops(fuse_lowlevel_ops& o);
void register_data_ops(fuse_lowlevel_ops& o);

}  // namespace inj::faultfs::detail
