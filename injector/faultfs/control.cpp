// The control block: creation, mapping, the seqlock writer and reader, the drop handshake.
#include "faultfs/control.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

namespace inj::faultfs {
namespace {

struct OpName {
    const char* name;
    uint32_t bits;
};
constexpr OpName kOpNames[] = {
    {"read", kOpRead},     {"write", kOpWrite},         {"fsync", kOpFsync},       {"metadata", kOpsMetadata},
    {"all", kOpsAll},      {"lookup", kOpLookup},       {"getattr", kOpGetattr},   {"setattr", kOpSetattr},
    {"open", kOpOpen},     {"create", kOpCreate},       {"mkdir", kOpMkdir},       {"unlink", kOpUnlink},
    {"rmdir", kOpRmdir},   {"rename", kOpRename},       {"link", kOpLink},         {"readdir", kOpReaddir},
    {"statfs", kOpStatfs}, {"fallocate", kOpFallocate}, {"readlink", kOpReadlink}, {"flush", kOpFlush},
};

#define INJ_E(x) \
    { #x, x }
constexpr std::pair<const char*, int> kErrnos[] = {
    INJ_E(EPERM),     INJ_E(ENOENT),  INJ_E(EINTR),        INJ_E(EIO),       INJ_E(ENXIO),     INJ_E(E2BIG),
    INJ_E(EBADF),     INJ_E(EAGAIN),  INJ_E(ENOMEM),       INJ_E(EACCES),    INJ_E(EFAULT),    INJ_E(EBUSY),
    INJ_E(EEXIST),    INJ_E(EXDEV),   INJ_E(ENODEV),       INJ_E(ENOTDIR),   INJ_E(EISDIR),    INJ_E(EINVAL),
    INJ_E(ENFILE),    INJ_E(EMFILE),  INJ_E(ETXTBSY),      INJ_E(EFBIG),     INJ_E(ENOSPC),    INJ_E(ESPIPE),
    INJ_E(EROFS),     INJ_E(EMLINK),  INJ_E(ENAMETOOLONG), INJ_E(ENOLCK),    INJ_E(ENOSYS),    INJ_E(ENOTEMPTY),
    INJ_E(ELOOP),     INJ_E(ENODATA), INJ_E(EOVERFLOW),    INJ_E(EBADMSG),   INJ_E(EILSEQ),    INJ_E(EOPNOTSUPP),
    INJ_E(ETIMEDOUT), INJ_E(ESTALE),  INJ_E(EDQUOT),       INJ_E(ECANCELED), INJ_E(ENOMEDIUM), INJ_E(EREMOTEIO),
    INJ_E(ENOTCONN),  INJ_E(EUCLEAN), INJ_E(ENOTSUP),
};
#undef INJ_E

Result<Block*> map(int fd, const std::string& path) {
    void* p = ::mmap(nullptr, sizeof(Block), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return errno_error("mmap control file", path);
    return static_cast<Block*>(p);
}

}  // namespace

OpClass class_of(uint32_t op) {
    if (op & kOpRead) return kClassRead;
    if (op & kOpWrite) return kClassWrite;
    if (op & kOpFsync) return kClassFsync;
    return kClassMetadata;
}

uint32_t ops_by_name(const std::string& name) {
    for (auto& o : kOpNames)
        if (name == o.name) return o.bits;
    return 0;
}

const char* op_name(uint32_t op_bit) {
    for (auto& o : kOpNames)
        if (o.bits == op_bit) return o.name;
    return "?";
}

int errno_by_name(const std::string& name) {
    for (auto& [n, e] : kErrnos)
        if (name == n) return e;
    return 0;
}

std::string errno_name(int err) {
    for (auto& [n, e] : kErrnos)
        if (err == e) return n;
    return std::to_string(err);
}

const char* class_name(OpClass c) {
    static const char* names[] = {"read", "write", "fsync", "metadata"};
    return c < kClasses ? names[c] : "?";
}

Result<Control> Control::create(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return errno_error("create control file", path);
    if (::ftruncate(fd, sizeof(Block)) != 0) {
        auto e = errno_error("size control file", path);
        ::close(fd);
        return e;
    }
    auto b = map(fd, path);
    ::close(fd);
    if (!b) return b.error();
    Block* blk = *b;
    // A fresh file reads as zeros: every atomic is 0, every setting clear. The magic goes last so
    // a reader that sees it sees an initialised block.
    blk->version = kVersion;
    blk->size = sizeof(Block);
    std::atomic_thread_fence(std::memory_order_release);
    blk->magic = kMagic;
    return Control(blk);
}

Result<Control> Control::open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno_error("open control file", path);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Block))) {
        ::close(fd);
        return plain_error("open control file", path + ": too small (not a faultfs control file)");
    }
    auto b = map(fd, path);
    ::close(fd);
    if (!b) return b.error();
    if ((*b)->magic != kMagic || (*b)->version != kVersion || (*b)->size != sizeof(Block)) {
        ::munmap(*b, sizeof(Block));
        return plain_error("open control file", path + ": not a faultfs control file of this version");
    }
    return Control(*b);
}

Control& Control::operator=(Control&& o) noexcept {
    if (this != &o) {
        if (b_) ::munmap(b_, sizeof(Block));
        b_ = o.b_;
        o.b_ = nullptr;
    }
    return *this;
}

Control::~Control() {
    if (b_) ::munmap(b_, sizeof(Block));
}

void to_settings(const Loss& loss, Settings& s) {
    s.flags |= kFlagVolatile;
    if (loss.metadata_volatile) s.flags |= kFlagMetadataVolatile;
    s.loss_model = loss.model == Loss::Model::torn      ? kLossTorn
                   : loss.model == Loss::Model::reorder ? kLossReorder
                                                        : kLossUnsynced;
    s.torn_sectors = loss.torn_pages ? 0 : std::max<uint32_t>(loss.torn_sectors, 1);
    s.survive_ppm = uint32_t(std::clamp(loss.survive, 0.0, 1.0) * 1e6);
    s.writeback_ns = uint64_t(std::max<int64_t>(loss.writeback.count(), 0));
    s.loss_seed = loss.seed;
}

bool loss_model_by_name(const std::string& name, Loss::Model& out) {
    if (name == "unsynced")
        out = Loss::Model::unsynced;
    else if (name == "torn")
        out = Loss::Model::torn;
    else if (name == "reorder")
        out = Loss::Model::reorder;
    else
        return false;
    return true;
}

std::string lost_path(const std::string& control) { return control + ".lost.json"; }

bool Control::writer_stuck(uint64_t seq, uint64_t& tracked, std::chrono::steady_clock::time_point& since) const {
    auto now = std::chrono::steady_clock::now();
    if (!(seq & 1) || seq != tracked) {
        tracked = seq;
        since = now;
        return false;
    }
    if (now - since < kStuckWriter) return false;
    // 0: killed between taking the sequence and naming itself (a window of a few instructions).
    uint32_t pid = b_->writer_pid.load(std::memory_order_relaxed);
    return pid == 0 || (::kill(pid_t(pid), 0) != 0 && errno == ESRCH);
}

void Control::write(const Settings& s, uint32_t owner_pid) {
    // Writers are the runner and the daemon (clearing on owner death): take the odd sequence with
    // a CAS so two writers never interleave. A sequence left odd by a writer that died inside is
    // taken over (q -> q + 2 keeps it odd, and ours).
    uint64_t tracked = ~0ull;
    auto since = std::chrono::steady_clock::now();
    uint64_t q = b_->seq.load(std::memory_order_relaxed);
    while (true) {
        if (q & 1) {
            if (writer_stuck(q, tracked, since) &&
                b_->seq.compare_exchange_strong(q, q + 2, std::memory_order_acquire)) {
                b_->counters.stuck_writers.fetch_add(1);
                q += 1;  // now "even q, taken": finishing below stores q + 2
                break;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(50));
            q = b_->seq.load(std::memory_order_relaxed);
            continue;
        }
        if (b_->seq.compare_exchange_weak(q, q + 1, std::memory_order_acquire)) break;
    }
    b_->writer_pid.store(uint32_t(::getpid()), std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    std::memcpy(static_cast<void*>(&b_->settings), &s, sizeof(Settings));
    b_->owner_pid.store(owner_pid, std::memory_order_relaxed);
    b_->writer_pid.store(0, std::memory_order_relaxed);
    b_->seq.store(q + 2, std::memory_order_release);
    ring();
}

bool Control::try_read(Settings& out, uint64_t* seq_out) const {
    uint64_t q1 = b_->seq.load(std::memory_order_acquire);
    if (q1 & 1) return false;
    std::memcpy(static_cast<void*>(&out), &b_->settings, sizeof(Settings));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (b_->seq.load(std::memory_order_relaxed) != q1) return false;
    if (seq_out) *seq_out = q1;
    return true;
}

Settings Control::read(uint64_t* seq_out) const {
    Settings s;
    uint64_t tracked = ~0ull;
    auto since = std::chrono::steady_clock::now();
    while (!try_read(s, seq_out)) {
        uint64_t q = b_->seq.load(std::memory_order_relaxed);
        // A writer that died inside left half-written settings: void them rather than wait forever.
        if (writer_stuck(q, tracked, since))
            const_cast<Control*>(this)->clear();
        else
            std::this_thread::yield();
    }
    return s;
}

void Control::clear() { write(Settings{}, 0); }

void Control::ring() {
    b_->doorbell.fetch_add(1, std::memory_order_release);
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&b_->doorbell), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

Result<void> Control::drop_volatile(std::chrono::milliseconds bound) {
    uint64_t want = b_->drop_req.fetch_add(1, std::memory_order_acq_rel) + 1;
    ring();
    auto until = std::chrono::steady_clock::now() + bound;
    while (b_->drop_done.load(std::memory_order_acquire) < want) {
        if (b_->state.load() != static_cast<uint32_t>(DaemonState::serving))
            return plain_error("faultfs drop volatile writes", "the daemon is not serving");
        if (std::chrono::steady_clock::now() > until)
            return plain_error("faultfs drop volatile writes",
                               "no answer from the daemon (pid " + std::to_string(b_->daemon_pid.load()) + ")");
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return {};
}

}  // namespace inj::faultfs
