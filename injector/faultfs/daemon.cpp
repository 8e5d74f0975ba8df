// The faultfs daemon's main: the session and its loop, and the watcher that acts on the control
// block (power loss, owner death, deadline, read faults armed).
#include "faultfs/fs.hpp"

namespace inj::faultfs::detail {

// --- the watcher -------------------------------------------------------------------------------

// The watcher's view of the settings: the last consistent copy (with its sequence and owner).
struct SeqWatch {
    Settings good;
    uint64_t good_seq = ~0ull;
    uint32_t good_owner = 0;
    uint64_t tracked = ~0ull;  // the odd sequence being timed, and since when
    std::chrono::steady_clock::time_point since;
};

// Reads the settings without waiting. A writer that died inside the seqlock left it odd and the
// settings half written: once that has lasted kStuckWriter, the last good settings are published
// again (so every worker and every later writer goes on). Past the deadline: cleared.
void settings_now(SeqWatch& w) {
    Block* b = g_fs->b;
    Settings s;
    uint64_t seq;
    if (!g_fs->ctl.try_read(s, &seq)) {
        if (!g_fs->ctl.writer_stuck(b->seq.load(), w.tracked, w.since)) return;
        lg()->warn("a writer (pid {}) died inside the control seqlock: the last good settings are in force again",
                   b->writer_pid.load());
        g_fs->ctl.write(w.good, w.good_owner);
        if (!g_fs->ctl.try_read(s, &seq)) return;
    }
    uint32_t owner = b->owner_pid.load();
    if (s.deadline_ns && mono_ns() > s.deadline_ns) {
        lg()->warn("fault deadline passed: every fault cleared");
        g_fs->ctl.clear();
        s = Settings{};
        owner = 0;
        seq = b->seq.load();
    }
    w.good = s;
    w.good_seq = seq;
    w.good_owner = owner;
}

// Acts on what the block asks and on the owner dying: drop volatile pages (power loss), write
// them back (volatile mode ended), clear every fault (owner gone), drop the page cache (a read
// fault armed). Woken by the doorbell futex; a 50 ms tick bounds the owner-death detection.
void watch() {
    Block* b = g_fs->b;
    uint32_t watched = 0;
    int pidfd = -1;
    bool had_read_faults = false;
    uint64_t seen_seq = ~0ull;
    SeqWatch sw;
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
            // A volume whose crash point fired lost its power already (and took no write
            // since): the runner's power loss finds nothing more to lose, and the account of
            // the crash point stays.
            if (!powered_off()) drop_all();
            b->drop_done.store(req, std::memory_order_release);
        }
        settings_now(sw);
        const Settings& s = sw.good;
        uint64_t seq = sw.good_seq;
        if (!powered_off()) writeback_expired(s);
        if (seq != seen_seq) {
            seen_seq = seq;
            if (!(s.flags & kFlagVolatile)) writeback_all();
            if (!(s.flags & kFlagVolatile) || !(s.flags & kFlagMetadataVolatile)) meta_commit_all();
            bool rf = read_faults(s);
            if (rf && !had_read_faults) invalidate_all();
            had_read_faults = rf;
        }
        timespec ts{0, 50 * 1000 * 1000};
        ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&b->doorbell), FUTEX_WAIT, bell, &ts, nullptr, 0);
    }
    if (pidfd >= 0) ::close(pidfd);
}

const fuse_lowlevel_ops kOps = [] {
    fuse_lowlevel_ops o{};
    register_entry_ops(o);
    register_data_ops(o);
    return o;
}();

}  // namespace inj::faultfs::detail

namespace inj::faultfs {

using namespace detail;

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
        if (args[i] == "--control")
            control = value();
        else if (args[i] == "--backing")
            backing = value();
        else if (args[i] == "--max-threads")
            max_threads = unsigned(std::stoul(value()));
        else if (args[i] == "--writeback")
            writeback = true;
        else if (!args[i].empty() && args[i][0] != '-' && mountpoint.empty())
            mountpoint = args[i];
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
    // Entries are made with the caller's umask (creation_mode), never this process's.
    ::umask(0);
    int root_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        lg()->error("open {}: {}", dir, std::strerror(errno));
        return 3;
    }
    Fs fs(std::move(*ctl));
    fs.writeback = writeback;
    fs.in_place = backing.empty();
    fs.control = control;
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
            meta_commit_all();
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
