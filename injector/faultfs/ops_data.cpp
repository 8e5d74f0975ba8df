// The FUSE operations on file contents: create/open, read, write (volatile or through), fsync,
// statfs, fallocate, flock.
#include "faultfs/fs.hpp"

namespace inj::faultfs::detail {

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
    if (int e = gate_child(kOpCreate, p, name)) return (void)reply(fuse_reply_err, req, e);
    // O_EXCL first: only an entry this call made is given to the caller (another may have made
    // it since the kernel looked).
    int flags = backing_flags(fi->flags | O_CREAT);
    int fd = ::openat(p->fd, name, flags | O_EXCL, creation_mode(req, p, mode));
    bool made = fd >= 0;
    if (fd < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) fd = ::openat(p->fd, name, flags & ~O_CREAT);
    if (fd < 0) return (void)reply(fuse_reply_err, req, errno);
    if (int err = made ? own(req, p, name) : 0) {
        ::close(fd);
        ::unlinkat(p->fd, name, 0);
        return (void)reply(fuse_reply_err, req, err);
    }
    if (int err = made && metadata_volatile() ? meta_created(p, name) : 0) {
        ::close(fd);
        return (void)reply(fuse_reply_err, req, err);
    }
    fi->fh = uint64_t(fd);
    fuse_entry_param e;
    if (int err = do_lookup(p, name, &e)) {
        ::close(fd);
        return (void)reply(fuse_reply_err, req, err);
    }
    set_open_flags(fi);
    reply(fuse_reply_create, req, &e, fi);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpOpen, in, opens_for_write(fi->flags))) return (void)reply(fuse_reply_err, req, e);
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
    if (fd < 0) return (void)reply(fuse_reply_err, req, errno);
    fi->fh = uint64_t(fd);
    set_open_flags(fi);
    reply(fuse_reply_open, req, fi);
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    ::close(int(fi->fh));
    reply(fuse_reply_err, req, 0);
}

void op_flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (int e = gate_in(kOpFlush, inode_of(ino))) return (void)reply(fuse_reply_err, req, e);
    int r = ::close(::dup(int(fi->fh)));
    reply(fuse_reply_err, req, r == 0 ? 0 : errno);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpRead, in)) return (void)reply(fuse_reply_err, req, e);
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
                if (r < 0) {
                    int err = errno;
                    lk.unlock();  // never answer under the inode's lock (a crash point cuts there)
                    return (void)reply(fuse_reply_err, req, err);
                }
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
            return (void)reply(fuse_reply_buf, req, buf.data(), n);
        }
    }
    fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
    bv.buf[0].flags = fuse_buf_flags(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    bv.buf[0].fd = int(fi->fh);
    bv.buf[0].pos = off;
    reply(fuse_reply_data, req, &bv, FUSE_BUF_SPLICE_MOVE);
}

// A write held in volatile mode (O_SYNC/O_DSYNC: made durable before it returns). Errno or 0.
int volatile_write(Inode* in, fuse_bufvec* in_buf, size_t size, off_t off, bool sync, size_t& written) {
    bool drop_ref = false;
    {
        std::lock_guard<std::mutex> lk(in->mu);
        if (int err = start_dirty(in)) return err;
        std::vector<char> buf(size);
        fuse_bufvec out = FUSE_BUFVEC_INIT(size);
        out.buf[0].mem = buf.data();
        ssize_t n = fuse_buf_copy(&out, in_buf, fuse_buf_copy_flags(0));
        if (n < 0) return int(-n);
        if (int err = dirty_write(in, buf.data(), size_t(n), off)) return err;
        written = size_t(n);
        if (sync) {
            if (int err = dirty_flush(in)) return err;
            if (::fdatasync(in->dirty->fd) != 0) return errno;
            in->synced_ns = mono_ns();
            drop_ref = end_dirty(in);
        }
    }
    if (drop_ref) unref(in, 1);
    return 0;
}

void op_write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in_buf, off_t off, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    size_t size = fuse_buf_size(in_buf);
    if (int e = gate_in(kOpWrite, in)) return (void)reply(fuse_reply_err, req, e);
    throttle(true, size);
    if (volatile_mode()) {
        size_t n = 0;
        int err = volatile_write(in, in_buf, size, off, fi->flags & (O_SYNC | O_DSYNC), n);
        return (void)(err ? reply(fuse_reply_err, req, err) : reply(fuse_reply_write, req, n));
    }
    // Volatile mode ended with pages still held: write them first, then pass through.
    if (in->has_dirty.load())
        if (int err = flush_inode(in)) return (void)reply(fuse_reply_err, req, err);
    fuse_bufvec out = FUSE_BUFVEC_INIT(size);
    out.buf[0].flags = fuse_buf_flags(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    out.buf[0].fd = int(fi->fh);
    out.buf[0].pos = off;
    ssize_t n = fuse_buf_copy(&out, in_buf, fuse_buf_copy_flags(0));
    if (n < 0) return (void)reply(fuse_reply_err, req, int(-n));
    reply(fuse_reply_write, req, size_t(n));
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpFsync, in)) return (void)reply(fuse_reply_err, req, e);
    if (int err = flush_inode(in)) return (void)reply(fuse_reply_err, req, err);
    int fd = int(fi->fh);
    if ((datasync ? ::fdatasync(fd) : ::fsync(fd)) != 0) return (void)reply(fuse_reply_err, req, errno);
    in->synced_ns = mono_ns();
    reply(fuse_reply_err, req, 0);
}

void op_statfs(fuse_req_t req, fuse_ino_t ino) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpStatfs, in)) return (void)reply(fuse_reply_err, req, e);
    struct statvfs sv;
    if (::fstatvfs(in->fd, &sv) != 0) return (void)reply(fuse_reply_err, req, errno);
    const Settings& s = cur();
    if (s.flags & kFlagFull) sv.f_bfree = sv.f_bavail = 0;
    reply(fuse_reply_statfs, req, &sv);
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info* fi) {
    Inode* in = inode_of(ino);
    if (int e = gate_in(kOpFallocate, in)) return (void)reply(fuse_reply_err, req, e);
    int err = 0;
    {
        std::lock_guard<std::mutex> lk(in->mu);
        if (::fallocate(int(fi->fh), mode, off, len) != 0)
            err = errno;
        else if (in->dirty && !(mode & FALLOC_FL_KEEP_SIZE))
            in->dirty->size = std::max<uint64_t>(in->dirty->size, uint64_t(off + len));
    }
    reply(fuse_reply_err, req, err);
}

void op_flock(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, int op) {
    reply(fuse_reply_err, req, ::flock(int(fi->fh), op) == 0 ? 0 : errno);
}

void register_data_ops(fuse_lowlevel_ops& o) {
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
}

}  // namespace inj::faultfs::detail
