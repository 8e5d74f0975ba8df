// Starting and running processes: inside a network namespace, inside a cgroup, with output to a
// file or captured, with a timeout. Never through a shell unless the caller asks for one.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace inj {

struct SpawnSpec {
    std::vector<std::string> argv;  // argv[0] is looked up in PATH
    std::string netns;              // path of a netns to enter first, or empty
    std::string cgroup_procs;       // a cgroup.procs file to join first, or empty
    std::string output;             // file for stdout+stderr (appended), or empty = /dev/null
    bool new_session = false;       // setsid(): detach from the terminal (services)
    bool die_with_parent = false;   // PR_SET_PDEATHSIG SIGKILL
};

// Forks and execs; returns the child's pid. The child reports exec failures through a pipe, so
// "command not found" is an error here, not a silent exit 127 later.
Result<pid_t> spawn(const SpawnSpec& spec);

struct RunResult {
    int exit_code = -1;  // exit status, or 128+signal; -1 when killed by the timeout
    bool timed_out = false;
    std::string output;      // stdout+stderr, the first max_output bytes
    bool truncated = false;  // the command printed more than max_output
    std::chrono::nanoseconds elapsed{0};
};

constexpr size_t kDefaultMaxOutput = 16 * 1024;

// Runs to completion (or timeout, then SIGKILL to its process group) capturing output.
Result<RunResult> run(const std::vector<std::string>& argv, std::chrono::nanoseconds timeout,
                      const std::string& netns = {}, size_t max_output = kDefaultMaxOutput);
// run() of "/bin/sh -c command".
Result<RunResult> run_shell(const std::string& command, std::chrono::nanoseconds timeout, const std::string& netns = {},
                            size_t max_output = kDefaultMaxOutput);

// True while pid exists (not reaped, not a zombie of ours).
bool process_alive(pid_t pid);
// Reaps each pid that is a child of this process once it has exited, waiting at most `bound` in
// all (a killed process leaves its cgroup before its parent can reap it). Pids that are not our
// children (ECHILD) are skipped at once. No zombies of killed services outlive the call.
void reap_children(const std::vector<pid_t>& pids, std::chrono::milliseconds bound);

}  // namespace inj
