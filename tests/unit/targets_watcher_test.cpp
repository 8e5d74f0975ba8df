// The watcher process without privilege: its spec checks, "done" leaves everything alone, a
// runner that dies (or drops its handle) gets its restart commands run and recorded.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/paths.hpp"
#include "support/test_support.hpp"
#include "targets/procfs.hpp"
#include "targets/watcher.hpp"

namespace inj::targets {
namespace {

std::string injector_bin() { return test::binary_path("injector/injector"); }

struct TempDir {
    std::string path;
    TempDir() {
        char t[] = "/tmp/inj-watch-XXXXXX";
        path = ::mkdtemp(t);
    }
    ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

bool exists(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}

std::vector<nlohmann::json> events(const std::string& record) {
    std::vector<nlohmann::json> out;
    std::ifstream in(record);
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds bound) {
    auto until = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < until) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return cond();
}

TEST(TargetsWatcher, SpecRoundTripsAndBadSpecsAreRefused) {
    WatchSpec s{1234, {}, {{"podman", "start", "abc"}}, "/run/x.jsonl", 30};
    auto back = spec_from_json(spec_to_json(s));
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(back->runner, 1234);
    EXPECT_EQ(back->restart, s.restart);
    EXPECT_EQ(back->record, "/run/x.jsonl");
    EXPECT_EQ(back->restart_timeout_s, 30);
    s.container_runtime = {"podman", "--runtime", "runc"};
    s.containers = {"abc", "def"};
    auto with_containers = spec_from_json(spec_to_json(s));
    ASSERT_TRUE(with_containers.ok()) << with_containers.error().message();
    EXPECT_EQ(with_containers->container_runtime, s.container_runtime);
    EXPECT_EQ(with_containers->containers, s.containers);
    s.stop_containers = {"abc"};
    s.kill_cgroups = {};
    s.unmount = {"/srv/data"};
    auto with_volumes = spec_from_json(spec_to_json(s));
    ASSERT_TRUE(with_volumes.ok()) << with_volumes.error().message();
    EXPECT_EQ(with_volumes->stop_containers, s.stop_containers);
    EXPECT_EQ(with_volumes->unmount, s.unmount);
    for (const char* bad :
         {"", "[]", "{\"runner\": 1, \"record\": \"/r\"}", "{\"runner\": 50}", "{\"runner\": 50, \"record\": \"rel\"}",
          "{\"runner\": 50, \"record\": \"/r\", \"thaw\": [\"/sys/fs/cgroup/freezer\"]}",
          "{\"runner\": 50, \"record\": \"/r\", \"thaw\": [\"/sys/fs/cgroup/freezer/..\"]}",
          "{\"runner\": 50, \"record\": \"/r\", \"thaw\": [\"/tmp/x\"]}",
          "{\"runner\": 50, \"record\": \"/r\", \"restart\": [[]]}",
          "{\"runner\": 50, \"record\": \"/r\", \"restart\": [[1]]}",
          "{\"runner\": 50, \"record\": \"/r\", \"restart_timeout_s\": 0}",
          "{\"runner\": 50, \"record\": \"/r\", \"containers\": [\"abc\"]}",
          "{\"runner\": 50, \"record\": \"/r\", \"stop_containers\": [\"abc\"]}",
          "{\"runner\": 50, \"record\": \"/r\", \"unmount\": [\"/\"]}",
          "{\"runner\": 50, \"record\": \"/r\", \"unmount\": [\"data\"]}",
          "{\"runner\": 50, \"record\": \"/r\", \"unmount\": [\"/srv/../etc\"]}",
          "{\"runner\": 50, \"record\": \"/r\", \"kill_cgroups\": [\"/sys/fs/cgroup/unified\"]}",
          "{\"runner\": 50, \"record\": \"/r\", \"containers\": \"abc\", \"container_runtime\": [\"podman\"]}"})
        EXPECT_FALSE(spec_from_json(bad).ok()) << bad;
}

// The scratch directory is removed recursively by root: only a plain path strictly below the
// state root is accepted.
TEST(TargetsWatcher, ScratchIsOnlyADirectoryBelowTheStateRoot) {
    const std::string root = state_root();
    WatchSpec s{1234, {}, {}, "/run/x.jsonl", 30};
    s.scratch = root + "/agents/kv-1-R1";
    auto back = spec_from_json(spec_to_json(s));
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(back->scratch, s.scratch);
    s.scratch.clear();
    auto none = spec_from_json(spec_to_json(s));
    ASSERT_TRUE(none.ok()) << none.error().message();
    EXPECT_EQ(none->scratch, "");
    for (const std::string& bad : std::vector<std::string>{root, root + "/", "/etc", "agents/x", root + "/../etc",
                                                           root + "/a/..", root + "//a", root + "/./a", root + "x/a"}) {
        nlohmann::json j = nlohmann::json::parse(spec_to_json(s));
        j["scratch"] = bad;
        auto r = spec_from_json(j.dump());
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.error().message().find("scratch"), std::string::npos) << r.error().message();
    }
}

TEST(TargetsWatcher, ThawRefusesRootsAndNonCgroups) {
    EXPECT_FALSE(thaw_cgroup("/sys/fs/cgroup/freezer").ok());
    EXPECT_FALSE(thaw_cgroup("/sys/fs/cgroup/unified/").ok());
    EXPECT_FALSE(thaw_cgroup("/tmp").ok());
    EXPECT_FALSE(thaw_cgroup("").ok());
}

TEST(TargetsWatcher, DoneLeavesEverythingAlone) {
    TempDir d;
    WatchSpec s{::getpid(), {}, {{"touch", d.path + "/restarted"}}, d.path + "/record.jsonl"};
    auto w = Watcher::start(s, injector_bin());
    ASSERT_TRUE(w.ok()) << w.error().message();
    pid_t pid = w->pid();
    EXPECT_TRUE(pid_alive(pid));
    ASSERT_TRUE(w->done().ok());
    EXPECT_FALSE(pid_alive(pid));
    EXPECT_FALSE(exists(d.path + "/restarted"));
    auto ev = events(s.record);
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0]["event"], "watching");
    EXPECT_EQ(ev[1]["event"], "done");
}

TEST(TargetsWatcher, RunnerKilledMeansRestartsRunAndAreRecorded) {
    TempDir d;
    const std::string record = d.path + "/record.jsonl";
    int sync[2];
    ASSERT_EQ(::pipe(sync), 0);
    pid_t runner = ::fork();
    if (runner == 0) {
        WatchSpec s{::getpid(), {}, {{"touch", d.path + "/restarted"}, {"false"}}, record};
        auto w = Watcher::start(s, injector_bin());
        char c = w.ok() ? 'R' : 'E';
        (void)!::write(sync[1], &c, 1);
        if (w.ok()) ::pause();
        ::_exit(1);
    }
    char c = 0;
    ASSERT_EQ(::read(sync[0], &c, 1), 1);
    ASSERT_EQ(c, 'R');
    ::close(sync[0]);
    ::close(sync[1]);
    EXPECT_FALSE(exists(d.path + "/restarted"));
    ::kill(runner, SIGKILL);
    ::waitpid(runner, nullptr, 0);
    ASSERT_TRUE(wait_for(
        [&] {
            auto ev = events(record);
            return !ev.empty() && ev.back()["event"] == "undone";
        },
        std::chrono::seconds(10)));
    EXPECT_TRUE(exists(d.path + "/restarted"));
    auto ev = events(record);
    ASSERT_EQ(ev.size(), 5u);
    EXPECT_EQ(ev[1]["event"], "runner_lost");
    EXPECT_EQ(ev[2]["event"], "restart");
    EXPECT_EQ(ev[2]["ok"], true);
    EXPECT_EQ(ev[3]["ok"], false);  // `false` exits 1: recorded, and the watcher goes on
    EXPECT_EQ(ev[3]["exit"], 1);
    EXPECT_EQ(ev[4]["failed"], 1);
}

// An undo that went through removes the runner's scratch directory (an agent's served-volume
// sockets and logs); one with a failed step keeps it, with the record, for whoever looks next.
TEST(TargetsWatcher, UndoRemovesTheScratchDirectoryOnlyWhenEveryStepWorked) {
    TempDir d;
    ::chmod(d.path.c_str(), 0755);  // trusted as a state root (not writable by others)
    const std::string root = d.path + "/state";
    ::setenv("INJECTOR_STATE_DIR", root.c_str(), 1);
    ASSERT_EQ(state_root(), root);
    for (bool fail : {false, true}) {
        const std::string scratch = root + "/agents/kv-1-R" + std::to_string(fail);
        std::filesystem::create_directories(scratch);
        std::ofstream(scratch + "/faultfs-kv-1-data.log") << "log\n";
        WatchSpec s{::getpid(), {}, {{fail ? "false" : "true"}}, d.path + "/record" + std::to_string(fail) + ".jsonl"};
        s.scratch = scratch;
        auto w = Watcher::start(s, injector_bin());
        ASSERT_TRUE(w.ok()) << w.error().message();
        EXPECT_EQ(w->undo().ok(), !fail);
        EXPECT_EQ(exists(scratch), fail) << scratch;
        bool recorded = false;
        for (auto& e : events(s.record)) recorded |= e["event"] == "scratch_removed";
        EXPECT_EQ(recorded, !fail);
    }
    ::unsetenv("INJECTOR_STATE_DIR");
}

TEST(TargetsWatcher, DroppingTheHandleWithoutDoneUndoes) {
    TempDir d;
    WatchSpec s{::getpid(), {}, {{"touch", d.path + "/restarted"}}, d.path + "/record.jsonl"};
    pid_t pid = 0;
    {
        auto w = Watcher::start(s, injector_bin());
        ASSERT_TRUE(w.ok()) << w.error().message();
        pid = w->pid();
    }
    EXPECT_TRUE(wait_for([&] { return exists(d.path + "/restarted"); }, std::chrono::seconds(10)));
    ::waitpid(pid, nullptr, 0);
}

// The runner's own restore failed: undo() has the watcher do it all again now, waits for it,
// and says whether every step of it worked.
TEST(TargetsWatcher, UndoRestoresNowAndReportsAFailedStep) {
    TempDir d;
    WatchSpec s{::getpid(), {}, {{"touch", d.path + "/restarted"}}, d.path + "/record.jsonl"};
    auto w = Watcher::start(s, injector_bin());
    ASSERT_TRUE(w.ok()) << w.error().message();
    const pid_t pid = w->pid();
    ASSERT_TRUE(w->undo().ok());
    EXPECT_TRUE(exists(d.path + "/restarted")) << "done before undo() returns";
    EXPECT_FALSE(pid_alive(pid)) << "reaped";
    auto ev = events(s.record);
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.back()["event"], "undone");
    EXPECT_FALSE(w->undo().ok()) << "once only";

    WatchSpec bad{::getpid(), {}, {{"false"}}, d.path + "/record2.jsonl"};
    auto w2 = Watcher::start(bad, injector_bin());
    ASSERT_TRUE(w2.ok()) << w2.error().message();
    auto r = w2->undo();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("some step of its undo failed"), std::string::npos) << r.error().message();
}

TEST(TargetsWatcher, ABadSpecIsReportedByStart) {
    TempDir d;
    WatchSpec s{::getpid(), {"/sys/fs/cgroup/freezer"}, {}, d.path + "/record.jsonl"};
    auto w = Watcher::start(s, injector_bin());
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.error().message().find("the root of the freezer hierarchy"), std::string::npos) << w.error().message();
}

}  // namespace
}  // namespace inj::targets
