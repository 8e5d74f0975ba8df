// A fault filesystem serves any user as the directory underneath would: entries made through it
// belong to the caller (uid, gid, or the parent's gid when the parent is setgid), carry the
// caller's umask, chown/chmod pass through, and the kernel refuses what the modes refuse. The
// callers are forked children that drop to `nobody` (and a second unprivileged uid).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "support/faultfs_fixture.hpp"

namespace fs = std::filesystem;
using namespace inj::faultfs::test;

namespace inj::faultfs {
namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr uid_t kOther = 65533;  // a second unprivileged user, no name needed
constexpr gid_t kShared = 4242;  // the group of the setgid directory; neither user is in it

// fn runs as (uid, gid) with no supplementary groups and the given umask; returns its result.
int as_user(uid_t uid, gid_t gid, mode_t mask, const std::function<int()>& fn) {
    return in_child([&] {
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) return 120;
        ::umask(mask);
        return fn();
    });
}

struct stat stat_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st;
}

TEST_F(FaultfsTest, EntriesBelongToTheCallerWithItsUmaskAndTheParentsSetgidGroup) {
    ASSERT_EQ(::chmod(p("").c_str(), 0777), 0);  // through the mount: chmod passes through
    auto made = [&](mode_t mask) {
        return as_user(kNobody, kNogroup, mask, [&] {
            int fd = ::open(p("f").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0666);
            if (fd < 0 || ::write(fd, "x", 1) != 1 || ::close(fd) != 0) return errno;
            if (::mkdir(p("d").c_str(), 0777) != 0) return errno;
            if (::symlink("f", p("l").c_str()) != 0) return errno;
            if (::mkfifo(p("q").c_str(), 0666) != 0) return errno;
            return 0;
        });
    };
    ASSERT_EQ(made(027), 0);
    for (const char* n : {"f", "d", "l", "q"}) {
        struct stat st = stat_of(p(n));
        EXPECT_EQ(st.st_uid, kNobody) << n;
        EXPECT_EQ(st.st_gid, kNogroup) << n;
    }
    EXPECT_EQ(stat_of(p("f")).st_mode & 07777, 0640u);
    EXPECT_EQ(stat_of(p("d")).st_mode & 07777, 0750u);
    EXPECT_EQ(stat_of(p("q")).st_mode & 07777, 0640u);
    EXPECT_TRUE(S_ISFIFO(stat_of(p("q")).st_mode));

    // A setgid directory of another group: new entries take its group, directories its bit.
    ASSERT_EQ(::mkdir(p("sg").c_str(), 0777), 0);
    ASSERT_EQ(::chown(p("sg").c_str(), 0, kShared), 0);
    ASSERT_EQ(::chmod(p("sg").c_str(), 02777), 0);
    ASSERT_EQ(as_user(kNobody, kNogroup, 002,
                      [&] {
                          int fd = ::open(p("sg/f").c_str(), O_WRONLY | O_CREAT, 0666);
                          if (fd < 0) return errno;
                          ::close(fd);
                          return ::mkdir(p("sg/d").c_str(), 0777) == 0 ? 0 : errno;
                      }),
              0);
    EXPECT_EQ(stat_of(p("sg/f")).st_gid, kShared);
    EXPECT_EQ(stat_of(p("sg/f")).st_uid, kNobody);
    EXPECT_EQ(stat_of(p("sg/f")).st_mode & 07777, 0664u);
    EXPECT_EQ(stat_of(p("sg/d")).st_gid, kShared);
    EXPECT_EQ(stat_of(p("sg/d")).st_mode & 07777, 02775u);

    // What the daemon reported is what the directory underneath holds.
    ASSERT_TRUE(stop(vol_, daemon_));
    daemon_ = 0;
    EXPECT_EQ(stat_of(p("d")).st_uid, kNobody);
    EXPECT_EQ(stat_of(p("d")).st_mode & 07777, 0750u);
    EXPECT_EQ(stat_of(p("sg/d")).st_mode & 07777, 02775u);
    EXPECT_EQ(stat_of(p("sg/f")).st_gid, kShared);
}

TEST_F(FaultfsTest, PermissionsAreCheckedAsOnTheDirectoryUnderneath) {
    ASSERT_EQ(write_file(p("root-only"), "secret"), 0);
    ASSERT_EQ(::chmod(p("root-only").c_str(), 0600), 0);
    // The volume's root is root's 0755: nobody may not create in it.
    ASSERT_EQ(::chmod(p("").c_str(), 0755), 0);
    EXPECT_EQ(as_user(kNobody, kNogroup, 022, [&] { return ::mkdir(p("x").c_str(), 0755) == 0 ? 0 : errno; }), EACCES);
    EXPECT_EQ(as_user(kNobody, kNogroup, 022, [&] { return ::open(p("root-only").c_str(), O_RDONLY) < 0 ? errno : 0; }),
              EACCES);
    EXPECT_FALSE(fs::exists(p("x")));

    // A directory given to nobody (chown through the mount): nobody works in it, others do not.
    ASSERT_EQ(::mkdir(p("home").c_str(), 0700), 0);
    ASSERT_EQ(::chown(p("home").c_str(), kNobody, kNogroup), 0);
    EXPECT_EQ(stat_of(p("home")).st_uid, kNobody);
    EXPECT_EQ(as_user(kNobody, kNogroup, 077, [&] { return write_file(p("home/mine"), "data"); }), 0);
    EXPECT_EQ(as_user(kOther, kOther, 022, [&] { return ::open(p("home/mine").c_str(), O_RDONLY) < 0 ? errno : 0; }),
              EACCES);
    EXPECT_EQ(as_user(kOther, kOther, 022, [&] { return write_file(p("home/theirs"), "no"); }), EACCES);
    // The owner may chmod its file; another user may not (EPERM, as underneath).
    EXPECT_EQ(as_user(kNobody, kNogroup, 022, [&] { return ::chmod(p("home/mine").c_str(), 0644) == 0 ? 0 : errno; }),
              0);
    EXPECT_EQ(stat_of(p("home/mine")).st_mode & 07777, 0644u);
    EXPECT_EQ(as_user(kNobody, kNogroup, 022, [&] { return ::chmod(p("root-only").c_str(), 0666) == 0 ? 0 : errno; }),
              EPERM);
    // An unprivileged chown to someone else is refused; root's passes through.
    EXPECT_EQ(
        as_user(kNobody, kNogroup, 022, [&] { return ::chown(p("home/mine").c_str(), kOther, -1) == 0 ? 0 : errno; }),
        EPERM);
    ASSERT_EQ(::chown(p("home/mine").c_str(), kOther, kOther), 0);
    EXPECT_EQ(stat_of(p("home/mine")).st_uid, kOther);
    EXPECT_EQ(stat_of(p("home/mine")).st_gid, kOther);
    EXPECT_EQ(slurp(p("home/mine")), "data");
}

}  // namespace
}  // namespace inj::faultfs
