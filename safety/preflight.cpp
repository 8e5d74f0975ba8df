// Environment checks and the machine-wide run lock.
#include "safety/preflight.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/paths.hpp"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

namespace inj::safety {

bool has_capability(int cap) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &hdr, data) != 0) return false;
    return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

std::vector<Finding> check_environment() {
    std::vector<Finding> out;
    struct Need {
        int cap;
        const char* name;
        const char* why;
    };
    const Need needs[] = {
        {CAP_NET_ADMIN, "CAP_NET_ADMIN", "to build lab namespaces, links and routes"},
        {CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "to enter namespaces (setns) and mount"},
        {CAP_BPF, "CAP_BPF", "to load the classifier"},
        {CAP_KILL, "CAP_KILL", "to stop lab services in their cgroups"},
    };
    for (auto& n : needs)
        if (!has_capability(n.cap))
            out.push_back({"capability", std::string(n.name) + " is missing (" + n.why + "); run as root or grant it"});
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        out.push_back({"btf", "/sys/kernel/btf/vmlinux is missing: the kernel needs CONFIG_DEBUG_INFO_BTF"});
    struct statfs sfs {};
    if (statfs("/sys/fs/bpf", &sfs) != 0 || static_cast<unsigned long>(sfs.f_type) != BPF_FS_MAGIC) {
        std::error_code ec;
        std::filesystem::create_directories("/sys/fs/bpf", ec);
        if (mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) != 0)
            out.push_back({"bpffs", std::string("bpffs is not mounted at /sys/fs/bpf and mounting it failed: ") +
                                        std::strerror(errno)});
    }
    std::ifstream mounts("/proc/mounts");
    std::string line;
    bool cg2 = false;
    while (std::getline(mounts, line)) {
        std::istringstream ss(line);
        std::string dev, dir, type;
        ss >> dev >> dir >> type;
        if (type == "cgroup2") cg2 = true;
    }
    if (!cg2)
        out.push_back({"cgroup2", "no cgroup2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup/unified)"});
    return out;
}

namespace {
std::string lock_path() { return state_root() + "/lock"; }
}  // namespace

Result<RunLock> RunLock::acquire(const std::string& run_id) {
    std::error_code ec;
    std::filesystem::create_directories(state_root(), ec);
    INJ_ASSIGN_OR_RETURN(Fd lock, open_fd(lock_path(), O_RDWR | O_CREAT, 0644));
    const int fd = lock.get();
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        lock.reset();
        auto h = holder();
        std::string who = h ? "run " + h->run_id + " (pid " + std::to_string(h->pid) + ")" : "another run";
        return Error{err, "another run holds the machine lock", who + "; one run per machine at a time"};
    }
    std::string text = run_id + " " + std::to_string(getpid()) + "\n";
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
        return errno_error("write", lock_path());
    return RunLock(std::move(lock));
}

RunLock::~RunLock() {
    if (!fd_) return;
    if (ftruncate(fd_.get(), 0) != 0) { /* the content is informational; the flock is what counts */
    }
}

std::optional<RunLock::Holder> RunLock::holder() {
    auto lock = open_fd(lock_path(), O_RDONLY);
    if (!lock) return std::nullopt;
    // If we can take a shared lock, nobody holds the exclusive one.
    if (flock(lock->get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;  // closing unlocks
    char buf[128] = {};
    ssize_t n = pread(lock->get(), buf, sizeof buf - 1, 0);
    lock->reset();
    Holder h;
    if (n > 0) {
        std::istringstream ss(std::string(buf, static_cast<size_t>(n)));
        ss >> h.run_id >> h.pid;
    }
    return h;
}

}  // namespace inj::safety
