// The fixture of the fault filesystem's privileged tests: a faultfs daemon mounted in place over
// a temp directory (no lab, no lock needed), driven through its control block as the
// StorageEngine drives it, and helpers that do real I/O from forked children.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <string>

#include "common/proc.hpp"
#include "faultfs/control.hpp"
#include "faultfs/faultfs.hpp"
#include "support/test_support.hpp"

namespace inj::faultfs::test {

namespace fs = std::filesystem;

// Runs fn in a forked child (a separate program image is not needed: the syscalls are what the
// kernel routes through FUSE); returns the child's exit code (fn's errno, 0 on success).
inline int in_child(const std::function<int()>& fn) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(fn());
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

inline int write_file(const std::string& path, const std::string& data, int flags = 0, bool sync = false) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | flags, 0644);
    if (fd < 0) return errno;
    if (::write(fd, data.data(), data.size()) != ssize_t(data.size())) return errno ? errno : EIO;
    if (sync && ::fsync(fd) != 0) return errno;
    if (::close(fd) != 0) return errno;
    return 0;
}

// An fsync of a directory (what makes its entries durable): errno or 0.
inline int fsync_dir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return errno;
    int r = ::fsync(fd) == 0 ? 0 : errno;
    ::close(fd);
    return r;
}

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 g(seed);
    std::string s(n, 0);
    for (auto& c : s) c = char(g());
    return s;
}

class FaultfsTest : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        base_ = fs::temp_directory_path() / ("inj-faultfs-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(base_);
        fs::create_directories(base_ / "vol");
        vol_ = (base_ / "vol").string();
        // Something under the directory before the mount: in place, it must still be there.
        std::ofstream(vol_ + "/before.txt") << "was here before the mount";
        auto pid = start({vol_, (base_ / "ctl").string(), "", (base_ / "daemon.log").string()});
        ASSERT_TRUE(pid) << pid.error().message();
        daemon_ = *pid;
        auto c = Control::open((base_ / "ctl").string());
        ASSERT_TRUE(c) << c.error().message();
        ctl_.emplace(std::move(*c));
    }
    void TearDown() override {
        ctl_.reset();
        if (daemon_) {
            auto r = stop(vol_, daemon_);
            EXPECT_TRUE(r) << r.error().message();
            EXPECT_FALSE(process_alive(daemon_));
        }
        if (!base_.empty()) {
            auto m = mounts();  // one list: begin and end of two temporaries would be undefined
            EXPECT_EQ(std::count(m.begin(), m.end(), vol_), 0);
            std::error_code ec;
            fs::remove_all(base_, ec);
        }
    }
    void set(const Settings& s) { ctl_->write(s, uint32_t(::getpid())); }
    std::string p(const std::string& rel) const { return vol_ + "/" + rel; }

    fs::path base_;
    std::string vol_;
    pid_t daemon_ = 0;
    std::optional<Control> ctl_;
};

inline ErrorRule rule(int err, uint32_t ops, uint32_t ppm = 1000000, const char* pattern = "") {
    ErrorRule r;
    r.err = err;
    r.ops = ops;
    r.ppm = ppm;
    std::strncpy(r.pattern, pattern, sizeof(r.pattern) - 1);
    return r;
}

}  // namespace inj::faultfs::test
