// The kernel's block throttling (cgroup v2 io.max or v1 blkio.throttle, whichever the machine
// has) on a loop device this test creates and removes: dd with O_DIRECT inside the throttled
// cgroup runs at the cap within 10%, and at full speed once lifted. No lab.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "common/proc.hpp"
#include "storage/blkio.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace inj::storage {
namespace {

class BlkioTest : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        file_ = fs::temp_directory_path() / ("inj-blkio-" + std::to_string(::getpid()) + ".img");
        auto t = run({"truncate", "-s", "128M", file_.string()}, 10s);
        ASSERT_TRUE(t && t->exit_code == 0);
        auto l = run({"losetup", "--find", "--show", file_.string()}, 10s);
        ASSERT_TRUE(l.ok());
        ASSERT_EQ(l->exit_code, 0) << l->output;
        loop_ = l->output.substr(0, l->output.find('\n'));
        ASSERT_EQ(loop_.rfind("/dev/loop", 0), 0u) << loop_;
    }
    void TearDown() override {
        if (!loop_.empty()) {
            auto d = run({"losetup", "-d", loop_}, 10s);
            EXPECT_TRUE(d && d->exit_code == 0) << (d ? d->output : d.error().message());
        }
        std::error_code ec;
        fs::remove(file_, ec);
    }

    // Seconds `dd ARGS` takes when run inside the throttled cgroup (moved there before exec).
    double dd_in(BlkThrottle* t, const std::vector<std::string>& args) {
        int gate[2];
        EXPECT_EQ(::pipe(gate), 0);
        pid_t pid = ::fork();
        if (pid == 0) {
            char c;
            ::close(gate[1]);
            if (::read(gate[0], &c, 1) != 1) ::_exit(120);
            std::vector<char*> argv;
            std::vector<std::string> a{"dd"};
            a.insert(a.end(), args.begin(), args.end());
            a.push_back("status=none");
            for (auto& s : a) argv.push_back(s.data());
            argv.push_back(nullptr);
            ::execvp("dd", argv.data());
            ::_exit(127);
        }
        ::close(gate[0]);
        if (t) {
            auto r = t->add(pid);
            EXPECT_TRUE(r.ok()) << r.error().message();
        }
        auto t0 = std::chrono::steady_clock::now();
        EXPECT_EQ(::write(gate[1], "g", 1), 1);
        ::close(gate[1]);
        int st = 0;
        ::waitpid(pid, &st, 0);
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }

    fs::path file_;
    std::string loop_;
};

TEST_F(BlkioTest, DirectWritesAndReadsRunAtTheCapWithinTenPercent) {
    constexpr double kRate = 8.0 * 1024 * 1024;
    auto t = BlkThrottle::create("test-" + std::to_string(::getpid()), loop_, {uint64_t(kRate), uint64_t(kRate), 0, 0});
    ASSERT_TRUE(t.ok()) << t.error().message();
    std::string of = "of=" + loop_, inf = "if=" + loop_;
    double w = dd_in(&*t, {"if=/dev/zero", of, "bs=1M", "count=24", "oflag=direct"});
    double r = dd_in(&*t, {inf, "of=/dev/null", "bs=1M", "count=24", "iflag=direct"});
    double wrate = 24.0 * 1048576 / w, rrate = 24.0 * 1048576 / r;
    std::cout << t->mechanism() << " at 8 MiB/s on " << loop_ << ": write " << wrate / 1048576 << " MiB/s, read "
              << rrate / 1048576 << " MiB/s\n";
    EXPECT_NEAR(wrate / kRate, 1.0, 0.10);
    EXPECT_NEAR(rrate / kRate, 1.0, 0.10);
    // IOPS: 4 KiB direct writes capped at 100/s.
    ASSERT_TRUE(t->set({0, 0, 0, 100}).ok());
    double io = dd_in(&*t, {"if=/dev/zero", of, "bs=4k", "count=300", "oflag=direct"});
    std::cout << "  write IOPS capped at 100: " << 300.0 / io << "\n";
    EXPECT_NEAR((300.0 / io) / 100.0, 1.0, 0.10);
    // Lifted: the same write is far faster.
    ASSERT_TRUE(t->set({}).ok());
    double free_run = dd_in(&*t, {"if=/dev/zero", of, "bs=1M", "count=24", "oflag=direct"});
    EXPECT_LT(free_run, w / 3);
    std::string dir = t->dir();
    ASSERT_TRUE(t->remove().ok());
    EXPECT_FALSE(fs::exists(dir));
}

TEST_F(BlkioTest, NotABlockDeviceIsRefused) {
    auto t = BlkThrottle::create("bad", file_.string(), {1, 0, 0, 0});
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.error().message().find("is not a block device"), std::string::npos) << t.error().message();
}

}  // namespace
}  // namespace inj::storage
