// The FUSE operations on names and attributes: lookup, getattr/setattr, the entry makers,
// unlink/rename, directories.
#include "faultfs/fs.hpp"

namespace inj::faultfs::detail {

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
    if (g_fs->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
        conn->want |= FUSE_CAP_WRITEBACK_CACHE;
    else
        conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    // In place nothing but this filesystem reaches the backing files, so a changed mtime is our
    // own write and the cached pages are current: keep them (volatile mode drops them itself).
    if (g_fs->in_place) conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
    if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
    if (conn->capable & FUSE_CAP_FLOCK_LOCKS) conn->want |= FUSE_CAP_FLOCK_LOCKS;
    // The caller's umask is applied here (creation_mode), so a parent's default ACL can win.
    if (conn->capable & FUSE_CAP_DONT_MASK) conn->want |= FUSE_CAP_DONT_MASK;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Inode* p = inode_of(parent);
    if (int e = gate_child(kOpLookup, p, name)) return (void)reply(fuse_reply_err, req, e);
    if (p == &g_fs->root && std::strcmp(name, kTrashName) == 0) return (void)reply(fuse_reply_err, req, ENOENT);
    fuse_entry_param e;
    if (int err = do_lookup(p, name, &e)) return (void)reply(fuse_reply_err, req, err);
    reply(fuse_reply_entry, req, &e);
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
    if (int e = gate_in(kOpGetattr, in)) return (void)reply(fuse_reply_err, req, e);
    struct stat st;
    if (::fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
        return (void)reply(fuse_reply_err, req, errno);
    fix_size(in, &st);
    reply(fuse_reply_attr, req, &st, timeout());
}

// truncate(2) and ftruncate(2); the held pages follow the new size. Errno or 0.
int truncate_to(Inode* in, fuse_file_info* fi, const std::string& pp, uint64_t size) {
    std::lock_guard<std::mutex> lk(in->mu);
    int r = fi ? ::ftruncate(int(fi->fh), off_t(size)) : ::truncate(pp.c_str(), off_t(size));
    if (r != 0) return errno;
    if (in->dirty) {
        Dirty& d = *in->dirty;
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
    return 0;
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int valid, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpSetattr, in)) return (void)reply(fuse_reply_err, req, e);
    std::string pp = proc_path(in->fd);
    if (valid & FUSE_SET_ATTR_MODE) {
        int r = fi ? ::fchmod(int(fi->fh), attr->st_mode) : ::chmod(pp.c_str(), attr->st_mode);
        if (r != 0) return (void)reply(fuse_reply_err, req, errno);
    }
    if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
        uid_t u = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : uid_t(-1);
        gid_t g = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : gid_t(-1);
        if (::fchownat(in->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
            return (void)reply(fuse_reply_err, req, errno);
    }
    if (valid & FUSE_SET_ATTR_SIZE)
        if (int err = truncate_to(in, fi, pp, uint64_t(attr->st_size))) return (void)reply(fuse_reply_err, req, err);
    if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
        timespec tv[2];
        tv[0].tv_nsec = tv[1].tv_nsec = UTIME_OMIT;
        if (valid & FUSE_SET_ATTR_ATIME_NOW)
            tv[0].tv_nsec = UTIME_NOW;
        else if (valid & FUSE_SET_ATTR_ATIME)
            tv[0] = attr->st_atim;
        if (valid & FUSE_SET_ATTR_MTIME_NOW)
            tv[1].tv_nsec = UTIME_NOW;
        else if (valid & FUSE_SET_ATTR_MTIME)
            tv[1] = attr->st_mtim;
        int r = fi ? ::futimens(int(fi->fh), tv) : ::utimensat(AT_FDCWD, pp.c_str(), tv, 0);
        if (r != 0) return (void)reply(fuse_reply_err, req, errno);
    }
    struct stat st;
    if (::fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
        return (void)reply(fuse_reply_err, req, errno);
    fix_size(in, &st);
    reply(fuse_reply_attr, req, &st, timeout());
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpReadlink, in)) return (void)reply(fuse_reply_err, req, e);
    char buf[PATH_MAX + 1];
    ssize_t n = ::readlinkat(in->fd, "", buf, sizeof(buf));
    if (n < 0) return (void)reply(fuse_reply_err, req, errno);
    if (n >= ssize_t(sizeof(buf))) return (void)reply(fuse_reply_err, req, ENAMETOOLONG);
    buf[n] = 0;
    reply(fuse_reply_readlink, req, buf);
}

// mknod, mkdir, symlink: make the entry, then look it up for the reply.
template <typename MakeFn>
void make_entry(fuse_req_t req, uint32_t op, fuse_ino_t parent, const char* name, MakeFn&& make) {
    Inode* p = inode_of(parent);
    if (int e = gate_child(op, p, name)) return (void)reply(fuse_reply_err, req, e);
    if (make(p->fd) != 0) return (void)reply(fuse_reply_err, req, errno);
    if (int err = own(req, p, name)) {
        ::unlinkat(p->fd, name, op == kOpMkdir ? AT_REMOVEDIR : 0);
        return (void)reply(fuse_reply_err, req, err);
    }
    if (int err = metadata_volatile() ? meta_created(p, name) : 0) return (void)reply(fuse_reply_err, req, err);
    fuse_entry_param e;
    if (int err = do_lookup(p, name, &e)) return (void)reply(fuse_reply_err, req, err);
    reply(fuse_reply_entry, req, &e);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    make_entry(req, kOpCreate, parent, name,
               [&](int dfd) { return ::mknodat(dfd, name, creation_mode(req, inode_of(parent), mode), rdev); });
}
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    make_entry(req, kOpMkdir, parent, name,
               [&](int dfd) { return ::mkdirat(dfd, name, creation_mode(req, inode_of(parent), mode)); });
}
void op_symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
    make_entry(req, kOpLink, parent, name, [&](int dfd) { return ::symlinkat(link, dfd, name); });
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char* name) {
    Inode* in = inode_of(ino);
    Inode* p = inode_of(parent);
    if (int e = gate_child(kOpLink, p, name)) return (void)reply(fuse_reply_err, req, e);
    if (::linkat(AT_FDCWD, proc_path(in->fd).c_str(), p->fd, name, AT_SYMLINK_FOLLOW) != 0)
        return (void)reply(fuse_reply_err, req, errno);
    if (int err = metadata_volatile() ? meta_created(p, name) : 0) return (void)reply(fuse_reply_err, req, err);
    fuse_entry_param e;
    if (int err = do_lookup(p, name, &e)) return (void)reply(fuse_reply_err, req, err);
    reply(fuse_reply_entry, req, &e);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Inode* p = inode_of(parent);
    if (int e = gate_child(kOpUnlink, p, name)) return (void)reply(fuse_reply_err, req, e);
    if (metadata_volatile()) return (void)reply(fuse_reply_err, req, meta_remove(p, name, false));
    reply(fuse_reply_err, req, ::unlinkat(p->fd, name, 0) == 0 ? 0 : errno);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Inode* p = inode_of(parent);
    if (int e = gate_child(kOpRmdir, p, name)) return (void)reply(fuse_reply_err, req, e);
    if (metadata_volatile()) return (void)reply(fuse_reply_err, req, meta_remove(p, name, true));
    reply(fuse_reply_err, req, ::unlinkat(p->fd, name, AT_REMOVEDIR) == 0 ? 0 : errno);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
               unsigned int flags) {
    Inode* p = inode_of(parent);
    Inode* np = inode_of(newparent);
    // A crash point on renames matches the destination too ("a rename over /data/current").
    std::string dest = (cur().crash.ops & kOpRename) ? child_path(np, newname) : std::string();
    rename_destination(dest.empty() ? nullptr : &dest);
    int e = gate_child(kOpRename, p, name);
    rename_destination(nullptr);
    if (e) return (void)reply(fuse_reply_err, req, e);
    if (metadata_volatile()) return (void)reply(fuse_reply_err, req, meta_rename(p, name, np, newname, flags));
    if (::syscall(SYS_renameat2, p->fd, name, np->fd, newname, flags) != 0)
        return (void)reply(fuse_reply_err, req, errno);
    reply(fuse_reply_err, req, 0);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpOpen, in)) return (void)reply(fuse_reply_err, req, e);
    int fd = ::openat(in->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return (void)reply(fuse_reply_err, req, errno);
    auto* d = new DirHandle;
    d->dp = ::fdopendir(fd);
    if (!d->dp) {
        int err = errno;
        ::close(fd);
        delete d;
        return (void)reply(fuse_reply_err, req, err);
    }
    fi->fh = reinterpret_cast<uintptr_t>(d);
    if (!volatile_mode()) fi->cache_readdir = 1;
    if (reply(fuse_reply_open, req, fi) == -ENOENT) {
        ::closedir(d->dp);
        delete d;
    }
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpReaddir, in)) return (void)reply(fuse_reply_err, req, e);
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
                if (errno && used == 0) return (void)reply(fuse_reply_err, req, errno);
                break;
            }
        }
        if (in == &g_fs->root && std::strcmp(d->entry->d_name, kTrashName) == 0) {  // hidden
            d->offset = d->entry->d_off;
            d->entry = nullptr;
            continue;
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
    reply(fuse_reply_buf, req, buf.data(), used);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    auto* d = reinterpret_cast<DirHandle*>(fi->fh);
    ::closedir(d->dp);
    delete d;
    reply(fuse_reply_err, req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpFsync, in)) return (void)reply(fuse_reply_err, req, e);
    int fd = ::dirfd(reinterpret_cast<DirHandle*>(fi->fh)->dp);
    if ((datasync ? ::fdatasync(fd) : ::fsync(fd)) != 0) return (void)reply(fuse_reply_err, req, errno);
    meta_durable(in);  // its entries are on the disk now
    reply(fuse_reply_err, req, 0);
}

void register_entry_ops(fuse_lowlevel_ops& o) {
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
}

}  // namespace inj::faultfs::detail
