// Root writes never follow a planted symlink (reports, report copies), and environment overrides
// of root paths count only when nobody else could have planted them.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/paths.hpp"
#include "common/safe_file.hpp"
#include "report/render.hpp"

namespace inj {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
    std::ifstream f(p);
    return std::string((std::istreambuf_iterator<char>(f)), {});
}

class SafeFile : public ::testing::Test {
protected:
    void SetUp() override {
        char t[] = "/tmp/inj-safe-XXXXXX";
        ASSERT_TRUE(mkdtemp(t));
        dir_ = t;
        std::ofstream(dir_ / "victim") << "keep";
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    fs::path dir_;
};

TEST_F(SafeFile, APlantedSymlinkIsReplacedNotWrittenThrough) {
    fs::create_symlink(dir_ / "victim", dir_ / "report.html");
    ASSERT_TRUE(write_file_nofollow((dir_ / "report.html").string(), "new"));
    EXPECT_EQ(slurp(dir_ / "victim"), "keep");
    EXPECT_FALSE(fs::is_symlink(dir_ / "report.html"));
    EXPECT_EQ(slurp(dir_ / "report.html"), "new");
}

TEST_F(SafeFile, ReportCopiesDoNotFollowSymlinksPlantedAtTheTargetOrItsTemporary) {
    // The previous writer wrote PATH.tmp with ofstream, then renamed: both names are planted.
    fs::create_directories(dir_ / "ci");
    fs::create_symlink(dir_ / "victim", dir_ / "ci" / "report.html");
    fs::create_symlink(dir_ / "victim", dir_ / "ci" / "report.html.tmp");
    fs::create_symlink(dir_ / "victim", dir_ / "ci" / "junit.xml.tmp");
    fs::create_directories(dir_ / "run");
    fs::copy_file(fs::path(INJ_SOURCE_DIR) / "tests/data/journals/zone-sever.jsonl", dir_ / "run" / "journal.jsonl");
    auto r = report::write_reports((dir_ / "run" / "journal.jsonl").string(), (dir_ / "ci" / "report.html").string(),
                                   (dir_ / "ci" / "junit.xml").string());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(slurp(dir_ / "victim"), "keep");
    EXPECT_NE(slurp(dir_ / "ci" / "report.html").find("<html"), std::string::npos);
}

TEST_F(SafeFile, ADirectorySymlinkIsRefused) {
    fs::create_directories(dir_ / "real");
    fs::create_symlink(dir_ / "real", dir_ / "link");
    EXPECT_FALSE(write_file_nofollow((dir_ / "link" / "x").string(), "new"));
    EXPECT_TRUE(fs::is_empty(dir_ / "real"));
    ASSERT_TRUE(copy_file_nofollow((dir_ / "victim").string(), (dir_ / "real" / "copy").string()));
    EXPECT_EQ(slurp(dir_ / "real" / "copy"), "keep");
    EXPECT_FALSE(copy_file_nofollow((dir_ / "link").string(), (dir_ / "real" / "copy2").string()));
}

TEST_F(SafeFile, UnsafeEnvironmentOverridesAreIgnored) {
    fs::create_directories(dir_ / "open");
    chmod((dir_ / "open").c_str(), 0777);
    fs::create_directories(dir_ / "group");
    chmod((dir_ / "group").c_str(), 0775);
    fs::create_directories(dir_ / "good");
    chmod((dir_ / "good").c_str(), 0755);
    fs::create_symlink(dir_ / "good", dir_ / "good-link");
    chmod(dir_.c_str(), 0755);
    for (auto bad :
         {dir_ / "open", dir_ / "group", dir_ / "good-link", dir_ / "open" / "new", fs::path("relative/dir")}) {
        setenv("INJECTOR_STATE_DIR", bad.c_str(), 1);
        EXPECT_FALSE(trusted_env_path("INJECTOR_STATE_DIR")) << bad;
        EXPECT_EQ(state_root(), "/run/injector") << bad;
    }
    for (auto good : {dir_ / "good", dir_ / "good" / "not-yet"}) {
        setenv("INJECTOR_STATE_DIR", good.c_str(), 1);
        EXPECT_EQ(trusted_env_path("INJECTOR_STATE_DIR").value_or(""), good.string());
        EXPECT_EQ(state_root(), good.string());
    }
    // An executable override (INJECTOR_BIN) that its group may rewrite is not run.
    std::ofstream(dir_ / "good" / "bin") << "#!/bin/sh\n";
    chmod((dir_ / "good" / "bin").c_str(), 0775);
    setenv("INJECTOR_BIN", (dir_ / "good" / "bin").c_str(), 1);
    EXPECT_FALSE(trusted_env_path("INJECTOR_BIN"));
    chmod((dir_ / "good" / "bin").c_str(), 0755);
    EXPECT_TRUE(trusted_env_path("INJECTOR_BIN"));
    unsetenv("INJECTOR_BIN");
    unsetenv("INJECTOR_STATE_DIR");
}

}  // namespace
}  // namespace inj
