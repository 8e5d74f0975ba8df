// Volatile metadata (kFlagMetadataVolatile): creations, renames and unlinks that no fsync of their
// directory made durable are undone at a power loss, as ext4 loses a directory entry that was
// never committed. Each such operation is logged with what undoes it; an unlinked entry (or one a
// rename replaced) is moved into a hidden trash directory in the backing root instead of being
// removed, so it can come back. An fsync of the directory makes its operations durable (their
// trash is emptied); the cut undoes the rest, newest first.
#include "faultfs/fs.hpp"

namespace inj::faultfs::detail {
namespace {

struct MetaOp {
    enum Kind { created, renamed, removed } kind;
    Inode* dir;  // the directory of the entry (pinned while logged)
    std::string name;
    Inode* from_dir = nullptr;  // renamed: where it came from (pinned)
    std::string from_name;
    std::string trash;  // removed, or the entry a rename replaced: its name in the trash
    bool exchange = false;
    uint64_t at_ns = mono_ns();  // when it was made (the writeback age commits it)
};

std::mutex g_mu;
std::vector<MetaOp> g_log;
int g_trash = -1;  // O_PATH of the trash directory, made on first use
uint64_t g_trash_seq = 0;

int trash_fd() {
    if (g_trash >= 0) return g_trash;
    if (::mkdirat(g_fs->root.fd, kTrashName, 0700) != 0 && errno != EEXIST) return -1;
    g_trash = ::openat(g_fs->root.fd, kTrashName, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return g_trash;
}

// Removes an entry and, for a directory, everything under it.
void remove_tree(int dfd, const char* name) {
    if (::unlinkat(dfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM)) return;
    int fd = ::openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        if (DIR* dp = ::fdopendir(fd)) {
            std::vector<std::string> names;
            while (dirent* e = ::readdir(dp))
                if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.push_back(e->d_name);
            for (auto& n : names) remove_tree(::dirfd(dp), n.c_str());
            ::closedir(dp);
        } else {
            ::close(fd);
        }
    }
    ::unlinkat(dfd, name, AT_REMOVEDIR);
}

void forget(MetaOp& op) {
    if (!op.trash.empty() && g_trash >= 0) remove_tree(g_trash, op.trash.c_str());
    unref(op.dir, 1);
    if (op.from_dir) unref(op.from_dir, 1);
}

// Moves dir/name to the trash; returns its trash name, or "" (errno set).
std::string to_trash(Inode* dir, const char* name) {
    int t = trash_fd();
    if (t < 0) return {};
    std::string tn = "t" + std::to_string(++g_trash_seq);
    if (::renameat(dir->fd, name, t, tn.c_str()) != 0) return {};
    return tn;
}

bool empty_dir(int dfd, const char* name) {
    int fd = ::openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    DIR* dp = ::fdopendir(fd);
    if (!dp) {
        ::close(fd);
        return false;
    }
    bool empty = true;
    while (dirent* e = ::readdir(dp))
        if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) empty = false;
    ::closedir(dp);
    return empty;
}

}  // namespace

bool metadata_volatile() { return volatile_mode() && (cur().flags & kFlagMetadataVolatile); }

// An operation that passed the gate before a crash point cut the power, and logs after the cut:
// it happened after the loss, so it is refused (and undone) instead of surviving it.
bool after_cut() { return powered_off() && !firing(); }

int meta_created(Inode* dir, const char* name) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (after_cut()) {
        remove_tree(dir->fd, name);
        return EIO;
    }
    pin(dir);
    g_log.push_back({MetaOp::created, dir, name});
    return 0;
}

int meta_remove(Inode* dir, const char* name, bool is_rmdir) {
    struct stat st;
    if (::fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
    if (is_rmdir && !S_ISDIR(st.st_mode)) return ENOTDIR;
    if (!is_rmdir && S_ISDIR(st.st_mode)) return EISDIR;
    if (is_rmdir && !empty_dir(dir->fd, name)) return ENOTEMPTY;
    std::lock_guard<std::mutex> lk(g_mu);
    if (after_cut()) return EIO;
    std::string tn = to_trash(dir, name);
    if (tn.empty()) return errno ? errno : EIO;
    pin(dir);
    g_log.push_back({MetaOp::removed, dir, name, nullptr, {}, tn});
    return 0;
}

int meta_rename(Inode* from, const char* name, Inode* to, const char* newname, unsigned flags) {
    struct stat src, dst;
    if (::fstatat(from->fd, name, &src, AT_SYMLINK_NOFOLLOW) != 0) return errno;
    bool replaces =
        !(flags & (RENAME_NOREPLACE | RENAME_EXCHANGE)) && ::fstatat(to->fd, newname, &dst, AT_SYMLINK_NOFOLLOW) == 0;
    if (replaces && (dst.st_dev != src.st_dev || dst.st_ino != src.st_ino)) {
        // The checks rename(2) would make against the entry it replaces, which goes to the trash.
        if (S_ISDIR(src.st_mode) && !S_ISDIR(dst.st_mode)) return ENOTDIR;
        if (!S_ISDIR(src.st_mode) && S_ISDIR(dst.st_mode)) return EISDIR;
        if (S_ISDIR(dst.st_mode) && !empty_dir(to->fd, newname)) return ENOTEMPTY;
    } else {
        replaces = false;
    }
    std::lock_guard<std::mutex> lk(g_mu);
    if (after_cut()) return EIO;
    std::string tn;
    if (replaces && (tn = to_trash(to, newname)).empty()) return errno ? errno : EIO;
    if (::syscall(SYS_renameat2, from->fd, name, to->fd, newname, flags) != 0) {
        int err = errno;
        if (!tn.empty()) ::renameat(trash_fd(), tn.c_str(), to->fd, newname);
        return err;
    }
    pin(to);
    pin(from);
    g_log.push_back({MetaOp::renamed, to, newname, from, name, tn, bool(flags & RENAME_EXCHANGE)});
    return 0;
}

void meta_durable(Inode* dir) {
    std::lock_guard<std::mutex> lk(g_mu);
    std::vector<MetaOp> keep;
    for (MetaOp& op : g_log) {
        if (op.dir == dir || op.from_dir == dir)
            forget(op);
        else
            keep.push_back(std::move(op));
    }
    g_log.swap(keep);
}

void meta_expire(uint64_t age_ns) {
    uint64_t now = mono_ns();
    std::lock_guard<std::mutex> lk(g_mu);
    // The log is in time order: what is old enough is a prefix.
    size_t n = 0;
    while (n < g_log.size() && now - g_log[n].at_ns >= age_ns) forget(g_log[n++]);
    g_log.erase(g_log.begin(), g_log.begin() + long(n));
}

void meta_commit_all() {
    std::lock_guard<std::mutex> lk(g_mu);
    for (MetaOp& op : g_log) forget(op);
    g_log.clear();
    if (g_trash >= 0) {
        ::close(g_trash);
        g_trash = -1;
        ::unlinkat(g_fs->root.fd, kTrashName, AT_REMOVEDIR);
    }
}

std::vector<UndoneEntry> meta_undo_all(std::vector<std::pair<fuse_ino_t, std::string>>& stale) {
    std::vector<UndoneEntry> undone;
    auto node = [](Inode* d) { return d == &g_fs->root ? fuse_ino_t(FUSE_ROOT_ID) : reinterpret_cast<uintptr_t>(d); };
    std::lock_guard<std::mutex> lk(g_mu);
    for (auto it = g_log.rbegin(); it != g_log.rend(); ++it) {
        MetaOp& op = *it;
        const char* n = op.name.c_str();
        std::string dir = path_of(op.dir);
        if (op.kind == MetaOp::created) {
            undone.push_back({"create", child_path(op.dir, n), dir});
            remove_tree(op.dir->fd, n);
        } else if (op.kind == MetaOp::removed) {
            undone.push_back({"unlink", child_path(op.dir, n), dir});
            ::renameat(g_trash, op.trash.c_str(), op.dir->fd, n);
        } else {
            // Both directories' fsyncs were missing (either one would have made it durable).
            std::string from = path_of(op.from_dir);
            undone.push_back({"rename", child_path(op.from_dir, op.from_name.c_str()) + " -> " + child_path(op.dir, n),
                              from == dir ? dir : from + " and " + dir});
            ::syscall(SYS_renameat2, op.dir->fd, n, op.from_dir->fd, op.from_name.c_str(),
                      op.exchange ? RENAME_EXCHANGE : 0u);
            if (!op.trash.empty()) ::renameat(g_trash, op.trash.c_str(), op.dir->fd, n);
            stale.push_back({node(op.from_dir), op.from_name});
        }
        op.trash.clear();
        stale.push_back({node(op.dir), op.name});
    }
    for (MetaOp& op : g_log) forget(op);
    g_log.clear();
    // The kernel is told by the caller, outside this lock: it may wait for a directory that an
    // operation blocked on it holds.
    return undone;
}

}  // namespace inj::faultfs::detail
