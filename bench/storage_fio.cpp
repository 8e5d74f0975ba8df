// What the fault filesystem costs with no fault in force: fio (psync, buffered, one job, 3 s
// time-based runs on a 256 MiB file) for sequential 1 MiB and random 4 KiB reads and writes, on
// the native directory, through faultfs mounted over it in place, and through libfuse's own
// passthrough_ll example (built from /usr/share/doc/libfuse3-dev/examples with this tree), in the
// same run. Modes alternate run by run; medians of 5 runs (or argv[1]); ratios against native and
// against passthrough_ll. Needs root (FUSE mounts) and fio. Mounts are removed on every exit path.
// `storage_fio RUNS models`: instead, the native directory and faultfs with no fault against
// faultfs with each loss model of a volatile volume armed and idle (no cut) and with a crash point
// armed that never fires, in the same run, modes alternating; then the time from a power loss to
// the loss applied, per model: the runner's drop (request to answer) and a crash point (the
// matching operation to the loss applied), with 4 and 64 MiB of unsynced writes held
// (`storage_fio RUNS cuts`: only the latter). `storage_fio RUNS volumes`: the time from a power
// loss to every volume's loss applied, with 1, 4 and 8 volumes (each its own daemon).
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/log.hpp"
#include "common/proc.hpp"
#include "faultfs/control.hpp"
#include "faultfs/crash_point.hpp"
#include "faultfs/faultfs.hpp"

using namespace inj;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Case {
    const char* name;
    const char* rw;
    const char* bs;
    bool write;
};
constexpr Case kCases[] = {
    {"seq read 1M", "read", "1M", false},
    {"seq write 1M", "write", "1M", true},
    {"rand read 4k", "randread", "4k", false},
    {"rand write 4k", "randwrite", "4k", true},
};
enum Mode { kNative, kFaultfs, kFaultfsWb, kPassthrough, kModes };

// A FUSE mount over `dir` for the life of the scope.
class Mount {
public:
    Mount() = default;
    Mount(const Mount&) = delete;
    ~Mount() { stop(); }
    bool start_faultfs(const std::string& dir, const std::string& work, bool writeback) {
        mp_ = dir;
        auto p = faultfs::start({dir, work + "/ctl", "", work + "/faultfs.log", writeback});
        if (!p) {
            std::fprintf(stderr, "faultfs: %s\n", p.error().message().c_str());
            return false;
        }
        pid_ = *p;
        return true;
    }
    bool start_passthrough(const std::string& bin, const std::string& source, const std::string& mp) {
        mp_ = mp;
        SpawnSpec s;
        s.argv = {bin, "-f", "-o", "source=" + source + ",allow_other", mp};
        auto p = spawn(s);
        if (!p) return false;
        pid_ = *p;
        for (int i = 0; i < 500; ++i) {
            auto m = run_shell("grep -q ' " + mp + " ' /proc/self/mounts", 5s);
            if (m && m->exit_code == 0) return true;
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }
    void stop() {
        if (!pid_) return;
        ::umount2(mp_.c_str(), MNT_DETACH);
        for (int i = 0; i < 300 && ::waitpid(pid_, nullptr, WNOHANG) == 0 && process_alive(pid_); ++i)
            std::this_thread::sleep_for(10ms);
        if (process_alive(pid_)) ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = 0;
    }

private:
    std::string mp_;
    pid_t pid_ = 0;
};

// One fio run in `dir`; bytes/s and IOPS.
std::pair<double, double> fio(const std::string& dir, const Case& c) {
    auto r = run({"fio", "--name=bench", "--directory=" + dir, "--filename=bench.dat", "--size=256M",
                  "--ioengine=psync", "--rw=" + std::string(c.rw), "--bs=" + std::string(c.bs), "--numjobs=1",
                  "--time_based", "--runtime=3", "--ramp_time=0", "--output-format=json",
                  // Warm cache in every mode: fio's default drops the file's cache before each
                  // job, which on FUSE drops only the upper cache and compares disk to memory.
                  "--invalidate=0", std::string("--end_fsync=") + (c.write ? "1" : "0")},
                 2min);
    if (!r || r->exit_code != 0) {
        std::fprintf(stderr, "fio failed: %s\n", r ? r->output.c_str() : r.error().message().c_str());
        return {0, 0};
    }
    auto start = r->output.find('{');
    auto j = nlohmann::json::parse(r->output.substr(start == std::string::npos ? 0 : start), nullptr, false);
    if (j.is_discarded()) return {0, 0};
    auto& job = j["jobs"][0][c.write ? "write" : "read"];
    return {job["bw_bytes"].get<double>(), job["iops"].get<double>()};
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// The loss models, armed on a volatile volume and idle (no power cut during the run).
struct ModelMode {
    const char* name;
    bool armed;
    faultfs::Loss loss;
    bool crash = false;   // a crash point armed too, on every write, that never matches its path
    bool native = false;  // the directory itself, no FUSE
};
std::vector<ModelMode> model_modes() {
    using faultfs::Loss;
    std::vector<ModelMode> m = {
        {"no fault (today's faultfs)", false, {}}, {"native", false, {}, false, true}, {"volatile unsynced", true, {}}};
    Loss torn;
    torn.model = Loss::Model::torn;
    torn.torn_sectors = 8;
    m.push_back({"torn 8 sectors", true, torn});
    Loss pages = torn;
    pages.torn_pages = true;
    m.push_back({"torn pages", true, pages});
    Loss reorder;
    reorder.model = Loss::Model::reorder;
    m.push_back({"reorder", true, reorder});
    Loss meta;
    meta.metadata_volatile = true;
    m.push_back({"metadata volatile", true, meta});
    Loss wb;
    wb.writeback = 30s;
    m.push_back({"writeback 30s", true, wb});
    m.push_back({"unsynced + crash point on writes", true, {}, true});
    return m;
}

// Arms a mode on the mounted volume (the control file in `work`).
bool arm_mode(const ModelMode& mode, const fs::path& work) {
    auto ctl = faultfs::Control::open((work / "ctl").string());
    if (!ctl) return false;
    faultfs::Settings s;
    if (mode.armed) faultfs::to_settings(mode.loss, s);
    if (mode.crash) return faultfs::arm_crash(*ctl, s, {"write", "/never/*", 1, false}, uint32_t(::getpid())).ok();
    ctl->write(s, uint32_t(::getpid()));
    return true;
}

void print_table(const std::vector<ModelMode>& modes, const std::vector<std::vector<std::vector<double>>>& bw,
                 int runs) {
    std::printf("| case |");
    for (auto& m : modes) std::printf(" %s |", m.name);
    std::printf("\n|---|");
    for (size_t m = 0; m < modes.size(); ++m) std::printf("---:|");
    std::printf("\n");
    for (size_t c = 0; c < std::size(kCases); ++c) {
        double base = median(bw[c][0]);
        std::printf("| %s | %.0f |", kCases[c].name, base);
        for (size_t m = 1; m < modes.size(); ++m) {
            double v = median(bw[c][m]);
            std::printf(" %.0f (%.0f%%) |", v, 100.0 * v / base);
        }
        std::printf("\n");
    }
    std::printf("(MiB/s, medians of %d runs per mode, modes alternating; %% of no fault)\n", runs);
}

// Writes `mib` MiB of unsynced data to `dir`/cut.dat in 64 KiB writes (random offsets, so the
// held pages are scattered as a database leaves them). Returns the open descriptor, or -1.
int write_unsynced(const std::string& dir, int mib) {
    int fd = ::open((dir + "/cut.dat").c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0) return -1;
    std::string buf(65536, 'x');
    uint64_t x = 88172645463325252ull;
    int n = mib * 16;
    for (int i = 0; i < n; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (::pwrite(fd, buf.data(), buf.size(), off_t(x % uint64_t(n)) * 65536) < 0) break;
    }
    return fd;
}

// The time from a power loss to the loss applied, per model and amount held: the runner's drop
// (drop_volatile, request to answer) and a crash point before an fsync (match to applied).
int run_cut_latency(int runs, const fs::path& work) {
    auto modes = model_modes();
    std::string dir = (work / "faultfs").string();
    std::printf("\n| model | held MiB | drop: request to applied (ms) | crash point: match to applied (ms) |\n");
    std::printf("|---|---:|---:|---:|\n");
    for (const ModelMode& mode : modes) {
        if (!mode.armed || mode.crash) continue;
        for (int mib : {4, 64}) {
            std::vector<double> drop, crash;
            for (int r = 0; r < runs; ++r) {
                Mount mount;
                if (!mount.start_faultfs(dir, work.string(), false)) return 3;
                auto ctl = faultfs::Control::open((work / "ctl").string());
                if (!ctl) return 3;
                faultfs::Settings s;
                faultfs::to_settings(mode.loss, s);
                ctl->write(s, uint32_t(::getpid()));
                int fd = write_unsynced(dir, mib);
                auto t0 = std::chrono::steady_clock::now();
                if (!ctl->drop_volatile(60s)) return 3;
                drop.push_back(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
                ::close(fd);
                auto arm = faultfs::arm_crash(*ctl, s, {"fsync", "/cut.dat", 1, false}, uint32_t(::getpid()));
                if (!arm) return 3;
                fd = write_unsynced(dir, mib);
                ::fsync(fd);  // the crash point: refused once the loss is applied
                auto f = faultfs::wait_crash(*ctl, *arm, 60s);
                ::close(fd);
                if (!f) return 3;
                crash.push_back(double(f->applied_ns - f->monotonic_ns) / 1e6);
                ctl->clear();
                mount.stop();
                fs::remove(dir + "/cut.dat");
            }
            std::printf("| %s | %d | %.2f | %.2f |\n", mode.name, mib, median(drop), median(crash));
        }
    }
    std::printf("(medians of %d runs; 64 KiB writes at random offsets, held unsynced)\n", runs);
    return 0;
}

// The time from a power loss to every volume's loss applied, with N volumes (1, 4, 8) of one
// host each holding 4 MiB unsynced under a model: the drops one after another, as the storage
// engine's lose_unsynced() asks them, against all requested at once (one thread per volume),
// in the same run. The 1-volume row is the baseline.
int run_volume_cuts(int runs, const fs::path& work) {
    std::printf("\n| model | volumes | one after another (ms) | all at once (ms) |\n|---|---:|---:|---:|\n");
    for (const ModelMode& mode : model_modes()) {
        if (!mode.armed || mode.crash || std::string(mode.name) == "torn pages") continue;
        for (int n : {1, 4, 8}) {
            std::vector<double> seq, par;
            for (int r = 0; r < runs; ++r)
                for (bool parallel : {false, true}) {
                    std::vector<std::unique_ptr<Mount>> mounts;
                    std::vector<faultfs::Control> ctls;
                    std::vector<int> fds;
                    for (int v = 0; v < n; ++v) {
                        fs::path vw = work / ("vol" + std::to_string(v));
                        fs::create_directories(vw / "d");
                        mounts.push_back(std::make_unique<Mount>());
                        if (!mounts.back()->start_faultfs((vw / "d").string(), vw.string(), false)) return 3;
                        auto ctl = faultfs::Control::open((vw / "ctl").string());
                        if (!ctl) return 3;
                        faultfs::Settings s;
                        faultfs::to_settings(mode.loss, s);
                        ctl->write(s, uint32_t(::getpid()));
                        fds.push_back(write_unsynced((vw / "d").string(), 4));
                        ctls.push_back(std::move(*ctl));
                    }
                    auto t0 = std::chrono::steady_clock::now();
                    bool ok = true;
                    if (parallel) {
                        std::vector<std::thread> ts;
                        std::atomic<bool> good{true};
                        for (auto& c : ctls)
                            ts.emplace_back([&c, &good] {
                                if (!c.drop_volatile(60s)) good = false;
                            });
                        for (auto& t : ts) t.join();
                        ok = good;
                    } else {
                        for (auto& c : ctls) ok = ok && c.drop_volatile(60s).ok();
                    }
                    double ms =
                        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
                    if (!ok) return 3;
                    (parallel ? par : seq).push_back(ms);
                    for (int fd : fds) ::close(fd);
                    for (auto& c : ctls) c.clear();
                    mounts.clear();
                    for (int v = 0; v < n; ++v) fs::remove_all(work / ("vol" + std::to_string(v)));
                }
            std::printf("| %s | %d | %.2f | %.2f |\n", mode.name, n, median(seq), median(par));
        }
    }
    std::printf(
        "(medians of %d runs; each volume a faultfs daemon holding 4 MiB of 64 KiB writes at random "
        "offsets)\n",
        runs);
    return 0;
}

int run_models(int runs, const fs::path& work) {
    auto modes = model_modes();
    std::string dir = (work / "faultfs").string();
    // Lay the file out once, durable, before any mode: reads then measure the same file.
    fio(dir, kCases[1]);
    fio((work / "native").string(), kCases[1]);
    std::vector<std::vector<std::vector<double>>> bw(std::size(kCases), std::vector<std::vector<double>>(modes.size()));
    for (int run_i = 0; run_i < runs; ++run_i) {
        for (size_t m = 0; m < modes.size(); ++m) {
            Mount mount;
            std::string target = modes[m].native ? (work / "native").string() : dir;
            if (!modes[m].native) {
                if (!mount.start_faultfs(dir, work.string(), false)) return 3;
                if (!arm_mode(modes[m], work)) return 3;
            }
            for (size_t c = 0; c < std::size(kCases); ++c) bw[c][m].push_back(fio(target, kCases[c]).first / 1048576.0);
            if (auto ctl = faultfs::Control::open((work / "ctl").string()); ctl && !modes[m].native) ctl->clear();
            mount.stop();
        }
        std::fprintf(stderr, "run %d/%d done\n", run_i + 1, runs);
    }
    print_table(modes, bw, runs);
    return run_cut_latency(runs, work);
}

}  // namespace

int main(int argc, char** argv) {
    log::set_level(spdlog::level::warn);
    int runs = argc > 1 ? std::atoi(argv[1]) : 5;
    std::string passthrough = PASSTHROUGH_LL_BIN;
    fs::path work = fs::temp_directory_path() / ("inj-storage-fio-" + std::to_string(::getpid()));
    fs::create_directories(work / "native");
    fs::create_directories(work / "faultfs");
    fs::create_directories(work / "pt-src");
    fs::create_directories(work / "pt-mnt");
    if (argc > 2 &&
        (std::string(argv[2]) == "models" || std::string(argv[2]) == "cuts" || std::string(argv[2]) == "volumes")) {
        std::string what = argv[2];
        int rc = what == "models" ? run_models(runs, work)
                 : what == "cuts" ? run_cut_latency(runs, work)
                                  : run_volume_cuts(runs, work);
        std::error_code ec;
        fs::remove_all(work, ec);
        return rc;
    }

    // [case][mode] -> samples of MiB/s and IOPS
    std::vector<std::vector<std::vector<double>>> bw(std::size(kCases), std::vector<std::vector<double>>(kModes));
    auto iops = bw;
    for (int run_i = 0; run_i < runs; ++run_i) {
        for (int m = 0; m < kModes; ++m) {
            Mount mount;
            std::string dir;
            if (m == kNative) dir = (work / "native").string();
            if (m == kFaultfs || m == kFaultfsWb) {
                dir = (work / "faultfs").string();
                if (!mount.start_faultfs(dir, work.string(), m == kFaultfsWb)) return 3;
            }
            if (m == kPassthrough) {
                dir = (work / "pt-mnt").string();
                if (!mount.start_passthrough(passthrough, (work / "pt-src").string(), dir)) {
                    std::fprintf(stderr, "passthrough_ll did not mount\n");
                    return 3;
                }
            }
            for (size_t c = 0; c < std::size(kCases); ++c) {
                auto [b, i] = fio(dir, kCases[c]);
                bw[c][size_t(m)].push_back(b / 1048576.0);
                iops[c][size_t(m)].push_back(i);
            }
            mount.stop();
        }
        std::fprintf(stderr, "run %d/%d done\n", run_i + 1, runs);
    }
    std::printf(
        "| case | native | faultfs | faultfs --writeback | passthrough_ll | faultfs / native | "
        "wb / native | faultfs / pt_ll | wb / pt_ll |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t c = 0; c < std::size(kCases); ++c) {
        double n = median(bw[c][kNative]), f = median(bw[c][kFaultfs]), w = median(bw[c][kFaultfsWb]),
               p = median(bw[c][kPassthrough]);
        std::printf("| %s | %.0f | %.0f | %.0f | %.0f | %.0f%% | %.0f%% | %.2fx | %.2fx |\n", kCases[c].name, n, f, w,
                    p, 100.0 * f / n, 100.0 * w / n, f / p, w / p);
    }
    std::printf("(MiB/s, medians)\nIOPS (medians): ");
    for (size_t c = 0; c < std::size(kCases); ++c)
        std::printf("%s%s native %.0f / faultfs %.0f / wb %.0f / passthrough_ll %.0f", c ? "; " : "", kCases[c].name,
                    median(iops[c][kNative]), median(iops[c][kFaultfs]), median(iops[c][kFaultfsWb]),
                    median(iops[c][kPassthrough]));
    std::printf("\n(%d runs per mode, modes alternating)\n", runs);
    std::error_code ec;
    fs::remove_all(work, ec);
    return 0;
}
