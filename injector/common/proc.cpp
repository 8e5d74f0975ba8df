// fork/exec with the namespace and cgroup joined in the child before exec.
#include "common/proc.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "common/fd.hpp"

namespace inj {
namespace {

// In the child: report errno through fd and exit.
[[noreturn]] void child_fail(int fd, int stage) {
    int payload[2] = {stage, errno};
    (void)!write(fd, payload, sizeof payload);
    _exit(127);
}

const char* stage_name(int stage) {
    switch (stage) {
        case 1: return "open netns";
        case 2: return "setns";
        case 3: return "join cgroup";
        case 4: return "open output";
        case 5: return "exec";
        default: return "child setup";
    }
}

pid_t fork_child(const SpawnSpec& spec, int out_fd, bool own_pgrp, Error* err) {
    // The child reports a failed setup step through this pipe; exec closes it (O_CLOEXEC), so
    // EOF means the exec happened.
    auto status_pipe = make_pipe();
    if (!status_pipe) {
        *err = status_pipe.error();
        return -1;
    }
    Fd& status_read = status_pipe->read;
    const int status_write = status_pipe->write.get();
    std::vector<char*> argv;
    for (auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *err = errno_error("fork");
        return -1;
    }
    if (pid == 0) {
        // The child from here on: it execs or _exits, so no destructor runs and the descriptors
        // it opens are plain ints (O_CLOEXEC: exec closes them).
        status_read.reset();
        if (spec.die_with_parent) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(1);
        }
        if (spec.new_session)
            setsid();
        else if (own_pgrp)
            setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (!spec.netns.empty()) {
            int fd = open(spec.netns.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) child_fail(status_write, 1);
            if (setns(fd, CLONE_NEWNET) != 0) child_fail(status_write, 2);
        }
        if (!spec.cgroup_procs.empty()) {
            int fd = open(spec.cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, "0", 1) != 1) child_fail(status_write, 3);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        if (out_fd >= 0) {
            dup2(out_fd, 1);
            dup2(out_fd, 2);
        } else if (!spec.output.empty()) {
            int fd = open(spec.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd < 0) child_fail(status_write, 4);
            dup2(fd, 1);
            dup2(fd, 2);
        } else {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        // Nothing of ours beyond 0-2 reaches the program: a service a restart: command starts
        // outlives us, and must not hold our journal, our lock or a caller's flock open.
        syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
        execvp(argv[0], argv.data());
        child_fail(status_write, 5);
    }
    status_pipe->write.reset();
    int payload[2] = {0, 0};
    ssize_t n;
    do n = read(status_read.get(), payload, sizeof payload);
    while (n < 0 && errno == EINTR);
    status_read.reset();
    if (n == sizeof payload) {
        waitpid(pid, nullptr, 0);
        *err = Error{payload[1], stage_name(payload[0]), spec.argv.empty() ? "" : spec.argv[0]};
        return -1;
    }
    return pid;
}

}  // namespace

Result<pid_t> spawn(const SpawnSpec& spec) {
    if (spec.argv.empty()) return plain_error("spawn", "empty command");
    Error err;
    pid_t pid = fork_child(spec, -1, false, &err);
    if (pid < 0) return err;
    return pid;
}

Result<RunResult> run(const std::vector<std::string>& argv, std::chrono::nanoseconds timeout, const std::string& netns,
                      size_t max_output) {
    using clock = std::chrono::steady_clock;
    if (argv.empty()) return plain_error("run", "empty command");
    INJ_ASSIGN_OR_RETURN(Pipe out, make_pipe());
    SpawnSpec spec{argv, netns};
    // A helper outliving a killed caller would go on changing the machine (an `ip -batch`
    // creating namespaces after `injector recover` has removed the lab's): it dies with us.
    spec.die_with_parent = true;
    Error err;
    auto start = clock::now();
    pid_t pid = fork_child(spec, out.write.get(), true, &err);
    out.write.reset();  // ours closed, EOF comes when the child's copies are gone
    if (pid < 0) return err;
    RunResult r;
    auto deadline = start + timeout;
    char buf[4096];
    bool eof = false;
    while (!eof) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) {
            r.timed_out = true;
            break;
        }
        pollfd p{out.read.get(), POLLIN, 0};
        int pr = poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
        if (pr < 0 && errno != EINTR) break;
        if (pr <= 0) continue;
        ssize_t n = read(out.read.get(), buf, sizeof buf);
        if (n <= 0) {
            eof = true;
            break;
        }
        size_t room = max_output - std::min(max_output, r.output.size());
        if (static_cast<size_t>(n) > room) r.truncated = true;
        r.output.append(buf, std::min<size_t>(static_cast<size_t>(n), room));
    }
    out.read.reset();
    int status = 0;
    if (r.timed_out) {
        kill(-pid, SIGKILL);  // the child's own process group: only what this call started
        waitpid(pid, &status, 0);
        r.exit_code = -1;
    } else {
        // Output closed; the process may still be exiting. Wait for it within the deadline.
        while (true) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) break;
            if (clock::now() >= deadline) {
                kill(-pid, SIGKILL);
                waitpid(pid, &status, 0);
                r.timed_out = true;
                r.exit_code = -1;
                break;
            }
            usleep(1000);
        }
        if (!r.timed_out) r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    r.elapsed = clock::now() - start;
    return r;
}

Result<RunResult> run_shell(const std::string& command, std::chrono::nanoseconds timeout, const std::string& netns,
                            size_t max_output) {
    return run({"/bin/sh", "-c", command}, timeout, netns, max_output);
}

void reap_children(const std::vector<pid_t>& pids, std::chrono::milliseconds bound) {
    auto deadline = std::chrono::steady_clock::now() + bound;
    for (pid_t pid : pids) {
        while (pid > 0) {
            pid_t r = ::waitpid(pid, nullptr, WNOHANG);
            if (r == pid || (r < 0 && errno != EINTR)) break;  // reaped, or not ours (ECHILD)
            if (std::chrono::steady_clock::now() >= deadline) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
}

bool process_alive(pid_t pid) {
    if (pid <= 0) return false;
    if (kill(pid, 0) != 0) return errno == EPERM;
    // A zombie still answers kill(0); read its state.
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE* f = std::fopen(path, "r");
    if (!f) return false;
    char line[512] = {};
    bool alive = true;
    if (std::fgets(line, sizeof line, f)) {
        const char* rp = std::strrchr(line, ')');
        if (rp && rp[1] == ' ' && rp[2] == 'Z') alive = false;
    }
    std::fclose(f);
    return alive;
}

}  // namespace inj
