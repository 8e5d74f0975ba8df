// The runner's stdout is a pipe that `head -2` closes, or one nobody reads (as when a terminal is
// paused with Ctrl-S): the run must still heal on time, take its lab down, exit with its
// verdict's code, and leave nothing behind. Before the fix the first died of SIGPIPE (exit 141,
// the lab left up) and the second hung in a write while holding the journal's lock.
#include <gtest/gtest.h>
#include <sys/prctl.h>

#include "crash_support.hpp"

using namespace inj;
using namespace inj::crashtest;

namespace {

struct PipeRun {
    pid_t pid = -1;
    int read_fd = -1;
};

// `injector run PLAN --output json` with stdout into a fresh pipe of one page (so an unread
// pipe fills within the run) and stderr into `err`.
PipeRun start_piped(const std::string& plan, const std::string& err) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return {};
    fcntl(p[1], F_SETPIPE_SZ, 4096);
    std::string bin = injector();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);  // a failing test leaves no runner behind
        if (getppid() != parent) _exit(1);
        int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(p[1], 1);
        if (e >= 0) dup2(e, 2);
        signal(SIGPIPE, SIG_DFL);  // as a shell starts it
        execl(bin.c_str(), bin.c_str(), "run", plan.c_str(), "--output", "json", static_cast<char*>(nullptr));
        _exit(127);
    }
    close(p[1]);
    return {pid, p[0]};
}

// Reads `n` lines from fd (a bound of 2 minutes); false when the pipe closed first.
bool read_lines(int fd, int n) {
    auto until = Clock::now() + 2min;
    char c;
    while (n > 0 && Clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 1000) <= 0) continue;
        if (read(fd, &c, 1) != 1) return false;
        n -= c == '\n';
    }
    return n == 0;
}

class PipeTest : public ::testing::Test {
protected:
    void SetUp() override {
        ::unsetenv("INJECTOR_STATE_DIR");
        ASSERT_FALSE(tmp_.path().empty());
        ASSERT_EQ(leftovers(), "") << "the machine is not clean before the test (run `injector recover`)";
        PlanSpec s;
        s.name = "pipe-test";
        s.zones = 2;
        s.fault_at = "1s";
        s.fault_for = "3s";
        s.slo_window = "2s";
        s.max_duration = "1m";
        plan_ = tmp_.write("pipe.yaml", plan_yaml(s));
    }
    void TearDown() override {
        if (run_.pid > 0 && process_alive(run_.pid)) kill9(run_.pid);
        if (run_.read_fd >= 0) close(run_.read_fd);
        if (!leftovers().empty()) {
            auto r = cli({"recover"});
            std::fprintf(stderr, "teardown recover (exit %d):\n%s\n", r.exit_code, r.output.c_str());
        }
        EXPECT_EQ(leftovers(), "");
    }

    // The run exited with its verdict's code, healed its fault on time, and left nothing.
    void expect_whole_run(int code) {
        SCOPED_TRACE(slurp(tmp_.path() + "/err"));
        auto j = journal_of(run_.pid);
        ASSERT_TRUE(j) << "no journal for the run";
        std::optional<int> verdict_code;
        std::optional<double> heal_ms;
        bool lab_down = false;
        for (auto& e : runner::read_journal(*j)) {
            auto ev = e.value("event", "");
            if (ev == "verdict") verdict_code = e.value("exit_code", -1);
            if (ev == "heal") heal_ms = e.value("at_ms", 0.0);
            if (ev == "lab_down") lab_down = e.value("ok", false);
        }
        ASSERT_TRUE(verdict_code);
        EXPECT_EQ(code, *verdict_code) << "the process did not exit with its verdict's code";
        EXPECT_EQ(code, 0) << "the plan's probe is untouched by the cut: the run holds";
        ASSERT_TRUE(heal_ms) << "the fault was never healed";
        // Planned at T+1s for 3s: healed at T+4s (within the heal tick).
        EXPECT_NEAR(*heal_ms, 4000.0, 500.0);
        EXPECT_TRUE(lab_down);
        EXPECT_EQ(leftovers(), "");
    }

    TempDir tmp_;
    std::string plan_;
    PipeRun run_;
};

TEST_F(PipeTest, StdoutClosedAfterTwoLinesTheRunStillHealsAndCleansUp) {
    run_ = start_piped(plan_, tmp_.path() + "/err");
    ASSERT_GT(run_.pid, 0);
    ASSERT_TRUE(read_lines(run_.read_fd, 2));
    close(run_.read_fd);  // `| head -2` exits
    run_.read_fd = -1;
    int code = wait_exit(run_.pid, 90s);
    ASSERT_NE(code, 128 + SIGPIPE) << "killed by SIGPIPE";
    ASSERT_NE(code, -1) << "the run did not end within 90 s";
    expect_whole_run(code);
}

TEST_F(PipeTest, StdoutNeverReadTheRunStillHealsOnTimeAndExits) {
    run_ = start_piped(plan_, tmp_.path() + "/err");
    ASSERT_GT(run_.pid, 0);
    // Nobody reads: the one-page pipe is full long before the fault heals.
    int code = wait_exit(run_.pid, 90s);
    ASSERT_NE(code, -1) << "the run did not end within 90 s (blocked on its output)";
    // The pipe was full (the kernel refused more) and the runner said what it dropped.
    EXPECT_NE(slurp(tmp_.path() + "/err").find("bytes of progress output dropped"), std::string::npos)
        << "the pipe never filled: the test proves nothing";
    expect_whole_run(code);
}

}  // namespace
