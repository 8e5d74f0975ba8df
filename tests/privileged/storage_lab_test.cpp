// Storage through the lab and the engines as the runner drives them: a volatile volume loses its
// un-fsynced writes at a kill-mode power_loss (byte for byte) and keeps the fsynced ones; a
// degrade_storage fault is seen by a program inside the host's namespace and healed without a
// remount; lab down unmounts every faultfs; `injector recover` unmounts leftover faultfs mounts
// once nothing uses them and names the users while something does. Brings up labs: run under
// /tmp/injector-priv.lock.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/proc.hpp"
#include "faultfs/faultfs.hpp"
#include "faults/power_loss/power_engine.hpp"
#include "lab/lab.hpp"
#include "lab/targets.hpp"
#include "net/net_engine.hpp"
#include "storage/storage_engine.hpp"
#include "support/lab_plans.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace inj::storage {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;

std::string slurp(const std::string& path) { return test::read_file(path); }

// What the writer service writes (the test knows the bytes without reading them from it).
std::string pattern(size_t repeat, bool reversed) {
    std::string one(256, 0);
    for (int i = 0; i < 256; ++i) one[size_t(i)] = char(reversed ? 255 - i : i);
    std::string out;
    for (size_t i = 0; i < repeat; ++i) out += one;
    return out;
}

// A service that, on its first start, writes synced.bin (1 MiB, fsynced), then unsynced.bin
// (512 KiB, never fsynced) and appends a tail to synced.bin without fsync; then idles. Started
// again after the power returns, it finds synced.bin and only idles.
constexpr const char* kWriter = R"(import os, sys, time
d = sys.argv[1]
p = lambda n: os.path.join(d, n)
if not os.path.exists(p("synced.bin")):
    fd = os.open(p("synced.bin"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, bytes(range(256)) * 4096)
    os.fsync(fd)
    os.close(fd)
    fd = os.open(p("unsynced.bin"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, bytes(reversed(range(256))) * 2048)
    os.close(fd)
    fd = os.open(p("synced.bin"), os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"tail-not-synced")
    os.close(fd)
    open(p("written"), "w").close()
while True:
    time.sleep(1)
)";

// Two zones, one host each; `writer` on both with volume `data` (volatile on a1 only when asked),
// and the faults given.
plan::Plan two_hosts(const std::string& name, const std::string& script, bool volatile_a1,
                     std::vector<plan::Fault> faults) {
    plan::Plan p = test::one_host_per_zone(name, {"a", "b"});
    plan::Service w;
    w.name = "writer";
    w.hosts = {"a1"};
    w.volume = "data";
    w.volume_volatile = volatile_a1;
    w.command = "exec python3 " + script + " {volume}";
    p.lab.services.push_back(w);
    plan::Service idle = w;
    idle.name = "idler";
    idle.hosts = {"b1"};
    idle.volume_volatile = false;
    idle.command = "exec sleep 1000";
    p.lab.services.push_back(idle);
    p.method = std::move(faults);
    return p;
}

class StorageLabTest : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        dir_ = fs::temp_directory_path() / ("inj-storage-lab-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        script_ = (dir_ / "writer.py").string();
        std::ofstream(script_) << kWriter;
    }
    void TearDown() override {
        if (power_) power_->release();
        if (storage_) storage_->release();
        if (net_) net_->release();
        power_.reset();
        storage_.reset();
        net_.reset();
        targets_.reset();
        test::expect_lab_down(id_);
        EXPECT_TRUE(faultfs::mounts().empty());
        EXPECT_TRUE(faultfs::daemons().empty());
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // Lab up, then the engines prepared as the runner does (net, storage, power).
    void start(const plan::Plan& plan) {
        plan_ = plan;
        id_ = lab::id_for(plan_);
        auto l = lab::up(plan_);
        ASSERT_TRUE(l.ok()) << l.error().message();
        lab_ = std::move(*l);
        net_.emplace();
        storage_.emplace();
        power_.emplace(*net_, &*storage_);
        targets_ = std::make_unique<lab::LabTargets>(plan_, lab_);
        uint64_t deadline = monotonic_ns() + 120 * kSecond;
        // The shared facilities, then the power engine when a fault needs it (as faults::make_engines).
        bool power = std::any_of(plan_.method.begin(), plan_.method.end(),
                                 [](auto& f) { return f.template as<plan::PowerLossSpec>() != nullptr; });
        for (Engine* e : std::initializer_list<Engine*>{&*net_, &*storage_, &*power_}) {
            if (e == &*power_ && !power) continue;
            auto r = e->prepare(plan_, *targets_, deadline);
            ASSERT_TRUE(r.ok()) << e->name() << ": " << r.error().message();
        }
    }
    std::string vol(const std::string& host) const { return lab_.volume_path(host, "data"); }

    fs::path dir_;
    std::string script_, id_;
    plan::Plan plan_;
    lab::LabState lab_;
    std::optional<net::NetEngine> net_;
    std::optional<StorageEngine> storage_;
    std::optional<power::PowerEngine> power_;
    std::unique_ptr<lab::LabTargets> targets_;  // the view the engines act on
};

TEST_F(StorageLabTest, PowerLossThrowsAwayUnsyncedWritesOfAVolatileVolumeAndKeepsSyncedOnes) {
    plan::Fault f;
    f.name = "dark-a";
    f.spec = plan::PowerLossSpec{};
    f.duration = 30s;
    f.target.zones = {"a"};
    f.peer.rest = true;
    ASSERT_NO_FATAL_FAILURE(start(two_hosts("stvolatile", script_, true, {f})));
    // Only a1's volume is served through faultfs (volatile); b1's is a plain directory.
    ASSERT_EQ(lab_.faultfs.size(), 1u);
    EXPECT_EQ(lab_.faultfs[0].path, vol("a1"));
    auto mounted = faultfs::mounts();
    EXPECT_EQ(std::count(mounted.begin(), mounted.end(), vol("a1")), 1);
    EXPECT_EQ(std::count(mounted.begin(), mounted.end(), vol("b1")), 0);

    auto until = std::chrono::steady_clock::now() + 20s;
    while (!fs::exists(vol("a1") + "/written") && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(fs::exists(vol("a1") + "/written"));
    const std::string synced = pattern(4096, false), unsynced = pattern(2048, true);
    // Before the cut, every write is readable (held writes are served from the daemon).
    EXPECT_TRUE(slurp(vol("a1") + "/synced.bin") == synced + "tail-not-synced");
    EXPECT_TRUE(slurp(vol("a1") + "/unsynced.bin") == unsynced);

    auto in = power_->inject(0, monotonic_ns() + 60 * kSecond);
    ASSERT_TRUE(in.ok()) << in.error().message();
    // Byte for byte: the fsynced MiB is there, the tail appended after it and the never-synced
    // file's data are gone (the file exists, empty: its creation was metadata).
    EXPECT_TRUE(slurp(vol("a1") + "/synced.bin") == synced) << fs::file_size(vol("a1") + "/synced.bin");
    EXPECT_EQ(fs::file_size(vol("a1") + "/unsynced.bin"), 0u);

    auto h = power_->heal(0);
    ASSERT_TRUE(h.ok()) << h.error().message();
    // The restarted service found its synced file and left it alone; still exactly what was synced.
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(slurp(vol("a1") + "/synced.bin") == synced);
    // And the directory under the mount holds the same once the lab unmounts it (down, in TearDown).
    storage_->release();
    auto st = lab::load(id_);
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(lab::down(*st).ok());
    EXPECT_TRUE(faultfs::mounts().empty());
    id_.clear();
}

TEST_F(StorageLabTest, DegradeStorageIsSeenInsideTheHostAndHealedWithoutARemount) {
    plan::Fault f;
    f.name = "bad-disk";
    f.spec = plan::DegradeStorageSpec{};
    f.duration = 30s;
    f.target.hosts = {"a1"};
    f.peer.rest = true;
    std::get<plan::DegradeStorageSpec>(f.spec).disk.volume = "data";
    plan::StorageError e;
    e.errno_name = "EIO";
    e.err = EIO;
    e.ops = {"write"};
    std::get<plan::DegradeStorageSpec>(f.spec).disk.errors.push_back(e);
    std::get<plan::DegradeStorageSpec>(f.spec).disk.fsync.fixed = 30ms;
    // A second fault on the same volume, later: full disk.
    plan::Fault g = f;
    g.name = "full-disk";
    std::get<plan::DegradeStorageSpec>(g.spec).disk.errors.clear();
    std::get<plan::DegradeStorageSpec>(g.spec).disk.fsync = {};
    std::get<plan::DegradeStorageSpec>(g.spec).disk.full = true;
    ASSERT_NO_FATAL_FAILURE(start(two_hosts("stdegrade", script_, false, {f, g})));
    ASSERT_EQ(lab_.faultfs.size(), 1u);
    const auto* a1 = lab_.host("a1");
    ASSERT_NE(a1, nullptr);
    // dd inside a1's namespace, writing to its volume: what the service there would see.
    auto dd = [&](const std::string& extra) {
        return run({"ip", "netns", "exec", a1->netns, "dd", "if=/dev/zero", "of=" + vol("a1") + "/probe.bin", "bs=4k",
                    "count=4", "status=none", extra},
                   20s);
    };
    auto before = dd("conv=fsync");
    ASSERT_TRUE(before.ok());
    EXPECT_EQ(before->exit_code, 0) << before->output;

    auto in = storage_->inject(0, monotonic_ns() + 60 * kSecond);
    ASSERT_TRUE(in.ok()) << in.error().message();
    auto during = dd("conv=fsync");
    ASSERT_TRUE(during.ok());
    EXPECT_NE(during->exit_code, 0);
    EXPECT_NE(during->output.find("Input/output error"), std::string::npos) << during->output;
    // b1's volume is not touched by the fault.
    auto other = run({"dd", "if=/dev/zero", "of=" + vol("b1") + "/probe.bin", "bs=4k", "count=4", "status=none"}, 20s);
    ASSERT_TRUE(other.ok());
    EXPECT_EQ(other->exit_code, 0) << other->output;
    auto c = storage_->counters();
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0].fault, "bad-disk");
    EXPECT_GT(c[0].dropped, 0u);
    EXPECT_EQ(c[1].dropped, 0u);  // not in force: nothing of bad-disk's errors is counted for it

    auto h = storage_->heal(0);
    ASSERT_TRUE(h.ok()) << h.error().message();
    auto after = dd("conv=fsync");
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->exit_code, 0) << after->output;
    // The second fault, later, on the same volume: ENOSPC; its errors are its own.
    uint64_t bad_disk_errors = storage_->counters()[0].dropped;
    ASSERT_TRUE(storage_->inject(1, monotonic_ns() + 60 * kSecond).ok());
    auto full = dd("conv=fsync");
    ASSERT_TRUE(full.ok());
    EXPECT_NE(full->output.find("No space left on device"), std::string::npos) << full->output;
    ASSERT_TRUE(storage_->heal_all().ok());
    c = storage_->counters();
    EXPECT_EQ(c[0].dropped, bad_disk_errors);
    EXPECT_GT(c[1].dropped, 0u);
    EXPECT_EQ(dd("conv=fsync")->exit_code, 0);
    // Same daemon all along: nothing was remounted.
    EXPECT_EQ(faultfs::daemon_of(vol("a1")), lab_.faultfs[0].pid);
}

TEST_F(StorageLabTest, RecoverUnmountsLeftoverFaultfsOnceNothingUsesIt) {
    // A faultfs no lab knows about (its run died, its state is gone), over a temp directory.
    std::string mp = (dir_ / "vol").string();
    fs::create_directories(mp);
    auto pid = faultfs::start({mp, (dir_ / "ctl").string(), "", (dir_ / "daemon.log").string()});
    ASSERT_TRUE(pid.ok()) << pid.error().message();
    // A process holding a file there: recover names it and leaves the mount.
    pid_t user = ::fork();
    if (user == 0) {
        int fd = ::open((mp + "/held").c_str(), O_WRONLY | O_CREAT, 0644);
        (void)fd;
        ::pause();
        ::_exit(0);
    }
    auto until = std::chrono::steady_clock::now() + 5s;
    while (!fs::exists(mp + "/held") && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
    std::this_thread::sleep_for(50ms);
    auto inj = test::binary_path("injector/injector");
    auto busy = run({inj, "recover"}, 60s);
    ASSERT_TRUE(busy.ok());
    EXPECT_EQ(busy->exit_code, 4) << busy->output;
    EXPECT_NE(busy->output.find("in use by " + std::to_string(user)), std::string::npos) << busy->output;
    auto m = faultfs::mounts();
    EXPECT_EQ(std::count(m.begin(), m.end(), mp), 1);
    ::kill(user, SIGKILL);
    ::waitpid(user, nullptr, 0);
    auto clean = run({inj, "recover"}, 60s);
    ASSERT_TRUE(clean.ok());
    EXPECT_EQ(clean->exit_code, 0) << clean->output;
    EXPECT_NE(clean->output.find("unmounted faultfs " + mp), std::string::npos) << clean->output;
    EXPECT_TRUE(faultfs::mounts().empty());
    EXPECT_FALSE(process_alive(*pid));
    // The data written through it is in the directory itself.
    EXPECT_TRUE(fs::exists(mp + "/held"));
}

}  // namespace
}  // namespace inj::storage
