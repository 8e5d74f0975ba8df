// The faultfs daemon's plumbing: paths inside the volume, the token bucket, the inode table.
#include "faultfs/fs.hpp"

namespace inj::faultfs::detail {

Fs* g_fs = nullptr;

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

mode_t creation_mode(fuse_req_t req, Inode* parent, mode_t mode) {
    // The kernel leaves the umask to us (FUSE_CAP_DONT_MASK) so that a default ACL on the parent
    // can win over it, as it does on the directory underneath; this daemon's own umask is 0.
    if (::getxattr(proc_path(parent->fd).c_str(), "system.posix_acl_default", nullptr, 0) > 0) return mode;
    return mode & ~fuse_req_ctx(req)->umask;
}

int own(fuse_req_t req, Inode* parent, const char* name) {
    // Made by this daemon (root), the entry must belong to whoever asked for it: otherwise a
    // service running as its own user cannot use the directories it just made.
    const fuse_ctx* c = fuse_req_ctx(req);
    struct stat pst;
    if (::fstatat(parent->fd, "", &pst, AT_EMPTY_PATH) != 0) return errno;
    gid_t gid = (pst.st_mode & S_ISGID) ? pst.st_gid : c->gid;
    if (c->uid == ::geteuid() && gid == ::getegid()) return 0;  // already so
    struct stat st;
    if (::fstatat(parent->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
    if (::fchownat(parent->fd, name, c->uid, gid, AT_SYMLINK_NOFOLLOW) != 0) return errno;
    // A chown drops setuid/setgid from files; what the caller asked for (and the kernel allowed)
    // stays. Only the new setgid bit inherited from the directory is the backing filesystem's.
    if (!S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) &&
        ::fchmodat(parent->fd, name, st.st_mode & 07777, 0) != 0)
        return errno;
    return 0;
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

}  // namespace inj::faultfs::detail
