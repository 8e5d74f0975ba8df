// The scheduled game-day example (scripts/systemd): systemd parses the service and timer cleanly
// (systemd-analyze verify, with the unit's injector path pointed at this build) and the timer's
// calendar expression is valid.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "common/proc.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;

namespace {

std::string slurp(const std::string& p) {
    std::ifstream f(p);
    return std::string((std::istreambuf_iterator<char>(f)), {});
}

TEST(GamedayUnits, SystemdParsesTheServiceAndTheTimer) {
    if (access("/usr/bin/systemd-analyze", X_OK) != 0) GTEST_FAIL() << "systemd-analyze missing (package systemd)";
    auto dir = std::filesystem::temp_directory_path() / ("inj-units-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    auto service = slurp(inj::test::source_path("scripts/systemd/injector-gameday@.service"));
    auto timer = slurp(inj::test::source_path("scripts/systemd/injector-gameday@.timer"));
    ASSERT_NE(service.find("ExecStart=/usr/local/bin/injector run /etc/injector/plans/%i.yaml"), std::string::npos);
    ASSERT_NE(service.find("--report-dir /var/lib/injector/reports/%i $INJECTOR_RUN_ARGS"), std::string::npos);
    ASSERT_NE(service.find("EnvironmentFile=-/etc/injector/gameday-%i.env"), std::string::npos);
    // verify checks that ExecStart's binary exists: point it at this build.
    service =
        std::regex_replace(service, std::regex("/usr/local/bin/injector"), inj::test::binary_path("injector/injector"));
    std::ofstream(dir / "injector-gameday@.service") << service;
    std::ofstream(dir / "injector-gameday@.timer") << timer;
    auto r = inj::run({"systemd-analyze", "verify", (dir / "injector-gameday@zone-sever.service").string(),
                       (dir / "injector-gameday@zone-sever.timer").string()},
                      60s);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->exit_code, 0) << r->output;
    // verify reports unknown keys and bad values as warnings, with exit 0: none may appear.
    EXPECT_EQ(r->output, "") << r->output;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(timer, m, std::regex("OnCalendar=(.*)\n")));
    r = inj::run({"systemd-analyze", "calendar", m[1].str()}, 30s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 0) << r->output;
    EXPECT_NE(r->output.find("Next elapse: Thu"), std::string::npos) << r->output;
    std::filesystem::remove_all(dir);

    // The options the unit passes exist.
    r = inj::run(
        {inj::test::binary_path("injector/injector"), "run", "/nonexistent.yaml", "--quiet", "--report-dir", "/tmp"},
        30s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 64);
    EXPECT_EQ(r->output.find("unrecognised option"), std::string::npos) << r->output;
    // ... and those a fleet game day's environment file adds.
    r = inj::run({inj::test::binary_path("injector/injector"), "run", "/nonexistent.yaml", "--quiet", "--report-dir",
                  "/tmp", "--fleet", "https://198.18.0.10:2379", "--etcd-config", "/nonexistent.yaml"},
                 30s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 64);
    EXPECT_EQ(r->output.find("unrecognised option"), std::string::npos) << r->output;
}

}  // namespace
