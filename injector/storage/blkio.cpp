// BlkThrottle: io.max (v2) or blkio.throttle (v1) on one device for one cgroup.
#include "storage/blkio.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "common/audit.hpp"
#include "common/log.hpp"

namespace inj::storage {
namespace {

auto lg() { return log::get("storage"); }

Result<void> write_file(const std::string& path, const std::string& value) {
    std::ofstream out(path);
    if (!out) return errno_error("open", path);
    out << value;
    out.flush();
    if (!out) return errno_error("write " + value, path);
    return {};
}

struct Hierarchy {
    std::string root;
    bool v2 = false;
};

// The v2 hierarchy when its root offers the io controller, else the v1 blkio one.
Result<Hierarchy> find_hierarchy() {
    std::ifstream mounts("/proc/self/mounts");
    std::string line, v1;
    std::string v2;
    while (std::getline(mounts, line)) {
        std::istringstream ss(line);
        std::string dev, dir, type, opts;
        ss >> dev >> dir >> type >> opts;
        if (type == "cgroup2" && v2.empty()) v2 = dir;
        if (type == "cgroup" && ("," + opts + ",").find(",blkio,") != std::string::npos) v1 = dir;
    }
    if (!v2.empty()) {
        std::ifstream c(v2 + "/cgroup.controllers");
        std::string w;
        while (c >> w)
            if (w == "io") return Hierarchy{v2, true};
    }
    if (!v1.empty()) return Hierarchy{v1, false};
    return plain_error(
        "blkio", "neither a cgroup v2 hierarchy with the io controller nor a cgroup v1 blkio hierarchy is mounted");
}

}  // namespace

Result<std::string> device_number(const std::string& device) {
    if (std::regex_match(device, std::regex("^[0-9]+:[0-9]+$"))) return device;
    struct stat st;
    if (::stat(device.c_str(), &st) != 0) return errno_error("stat", device);
    if (!S_ISBLK(st.st_mode)) return plain_error("blkio", device + " is not a block device");
    return std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
}

Result<BlkThrottle> BlkThrottle::create(const std::string& name, const std::string& device, const BlkLimits& limits) {
    auto devno = device_number(device);
    if (!devno) return devno.error();
    auto h = find_hierarchy();
    if (!h) return h.error();
    if (h->v2) {
        // io.max needs the controller enabled down the path: the root's subtree_control.
        INJ_TRY(write_file(h->root + "/cgroup.subtree_control", "+io"));
    }
    std::string dir = h->root + "/injector-" + name;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return errno_error("mkdir", dir);
    BlkThrottle t(dir, h->root, *devno, h->v2);
    auto r = t.set(limits);
    audit::record("blkio_throttle", dir + " on " + *devno, r, {t.mechanism()});
    if (!r) {
        (void)t.remove();
        return r.error();
    }
    return t;
}

BlkThrottle::BlkThrottle(BlkThrottle&& o) noexcept
    : dir_(std::move(o.dir_)), root_(std::move(o.root_)), devno_(std::move(o.devno_)), v2_(o.v2_) {
    o.dir_.clear();
}

BlkThrottle::~BlkThrottle() {
    if (dir_.empty()) return;
    if (auto r = remove(); !r) lg()->error("blkio: {}", r.error().message());
}

Result<void> BlkThrottle::add(pid_t pid) { return write_file(dir_ + "/cgroup.procs", std::to_string(pid)); }

Result<void> BlkThrottle::set(const BlkLimits& l) {
    if (v2_) {
        auto v = [](uint64_t x) { return x ? std::to_string(x) : std::string("max"); };
        return write_file(dir_ + "/io.max", devno_ + " rbps=" + v(l.read_bps) + " wbps=" + v(l.write_bps) +
                                                " riops=" + v(l.read_iops) + " wiops=" + v(l.write_iops));
    }
    // v1: 0 removes the rule for the device.
    for (auto [file, value] : {std::pair{"read_bps_device", l.read_bps},
                               {"write_bps_device", l.write_bps},
                               {"read_iops_device", l.read_iops},
                               {"write_iops_device", l.write_iops}})
        INJ_TRY(write_file(dir_ + "/blkio.throttle." + file, devno_ + " " + std::to_string(value)));
    return {};
}

Result<void> BlkThrottle::remove() {
    if (dir_.empty()) return {};
    struct stat st;
    if (::stat(dir_.c_str(), &st) != 0) {
        dir_.clear();
        return {};
    }
    std::ifstream procs(dir_ + "/cgroup.procs");
    std::vector<std::string> moved;
    std::string pid;
    while (procs >> pid) {
        (void)write_file(root_ + "/cgroup.procs", pid);
        moved.push_back(pid);
    }
    Result<void> r;
    if (::rmdir(dir_.c_str()) != 0) r = errno_error("rmdir", dir_);
    audit::record("blkio_unthrottle", dir_, r, moved);
    if (r) dir_.clear();
    return r;
}

}  // namespace inj::storage
