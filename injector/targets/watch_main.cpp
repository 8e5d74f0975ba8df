// `injector watch`: the watcher process itself (see watcher.hpp). It reads its spec from stdin,
// opens a pidfd of the runner, answers "R", then waits for "D" on stdin (the runner restored
// everything) or for the runner to die (pidfd readable, or stdin closed without "D"); then it
// thaws and restarts, recording each step as a JSON line.
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/proc.hpp"
#include "faultfs/faultfs.hpp"
#include "targets/cgroups.hpp"
#include "targets/container.hpp"
#include "targets/watcher.hpp"

namespace inj::targets {
namespace {

using nlohmann::json;

std::string now_utc() {
    timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    tm t;
    ::gmtime_r(&ts.tv_sec, &t);
    char buf[40];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &t);
    char ms[24];
    std::snprintf(ms, sizeof(ms), ".%03ldZ", ts.tv_nsec / 1000000);
    return std::string(buf) + ms;
}

// One JSON line per step, one write() each (O_APPEND), so a reader never sees half a line.
void record(const std::string& path, json event) {
    event["time"] = now_utc();
    event["watcher"] = ::getpid();
    std::string line = event.dump() + "\n";
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return;
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
}

// Reads stdin up to the first newline: the spec.
bool read_line(std::string* out) {
    char c;
    while (true) {
        ssize_t n = ::read(0, &c, 1);
        if (n <= 0) return false;
        if (c == '\n') return true;
        out->push_back(c);
        if (out->size() > (1u << 20)) return false;
    }
}

void answer(const std::string& text) {
    (void)!::write(1, text.data(), text.size());
    int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
        ::dup2(null, 1);
        ::close(null);
    }
}

// True once "D" arrived on stdin; false when stdin closed (or failed) without it.
enum class Heard { nothing, done, closed };
Heard drain_stdin() {
    char buf[64];
    ssize_t n = ::read(0, buf, sizeof(buf));
    if (n <= 0) return Heard::closed;
    for (ssize_t i = 0; i < n; ++i)
        if (buf[i] == 'D') return Heard::done;
    return Heard::nothing;
}

}  // namespace

// Undoes what the runner left: every thaw first (a frozen service may hold what a restarted one
// needs), then the containers back to running, then every restart command in order. Returns the
// number of steps that failed.
// Served volumes: stop the containers that bind them and kill the processes that hold them open,
// then unmount whatever faultfs is still mounted there (the daemon exits with its mount). The
// start steps that follow bring the services back onto the real directories.
static int free_served_volumes(const WatchSpec& spec) {
    if (spec.unmount.empty()) return 0;
    int failed = 0;
    for (auto& id : spec.stop_containers) {
        std::vector<std::string> argv = spec.container_runtime;
        argv.insert(argv.end(), {"stop", "-t", "10", id});
        auto r = run(argv, std::chrono::seconds(spec.restart_timeout_s));
        bool ok = r && r->exit_code == 0;
        record(spec.record, {{"event", "stop_container"},
                             {"id", id},
                             {"ok", ok},
                             {"error", ok  ? ""
                                       : r ? r->output.substr(0, 300)
                                           : r.error().message()}});
        failed += !ok;
    }
    for (auto& dir : spec.kill_cgroups) {
        auto r = kill_cgroup_and_wait(dir, std::chrono::seconds(5));
        record(
            spec.record,
            {{"event", "kill_cgroup"}, {"cgroup", dir}, {"ok", r.ok()}, {"error", r.ok() ? "" : r.error().message()}});
        failed += !r.ok();
    }
    for (auto& mp : spec.unmount) {
        auto r = faultfs::stop(mp, 0);
        record(
            spec.record,
            {{"event", "unmount"}, {"mountpoint", mp}, {"ok", r.ok()}, {"error", r.ok() ? "" : r.error().message()}});
        failed += !r.ok();
    }
    return failed;
}

int undo_watch(const WatchSpec& spec, const std::string& why) {
    record(spec.record, {{"event", "runner_lost"}, {"runner", spec.runner}, {"why", why}});
    int failed = 0;
    for (auto& dir : spec.thaw) {
        auto r = thaw_cgroup(dir);
        record(spec.record, {{"event", "thaw"},
                             {"cgroup", dir},
                             {"ok", r.ok()},
                             {"error", r.ok() ? "" : r.error().message()},
                             {"state", freezer_state(dir)}});
        failed += !r.ok();
    }
    failed += free_served_volumes(spec);
    if (!spec.containers.empty()) {
        auto r = ensure_running(spec.container_runtime, spec.containers, std::chrono::seconds(spec.restart_timeout_s));
        record(spec.record, {{"event", "containers"},
                             {"ids", spec.containers},
                             {"ok", r.ok()},
                             {"error", r.ok() ? "" : r.error().message()}});
        failed += !r.ok();
    }
    for (auto& argv : spec.restart) {
        auto r = run(argv, std::chrono::seconds(spec.restart_timeout_s));
        json ev = {{"event", "restart"}, {"command", argv}};
        if (!r) {
            ev["ok"] = false;
            ev["error"] = r.error().message();
        } else {
            ev["ok"] = r->exit_code == 0;
            ev["exit"] = r->exit_code;
            ev["elapsed_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(r->elapsed).count();
            ev["output"] = r->output.substr(0, 500);
        }
        failed += !ev["ok"].get<bool>();
        record(spec.record, ev);
    }
    std::error_code ec;
    if (!spec.scratch.empty() && failed == 0 && std::filesystem::is_directory(spec.scratch, ec)) {
        std::filesystem::remove_all(spec.scratch, ec);
        record(spec.record,
               {{"event", "scratch_removed"}, {"dir", spec.scratch}, {"ok", !ec}, {"error", ec.message()}});
    }
    record(spec.record, {{"event", "undone"}, {"failed", failed}});
    return failed;
}

int main_watch(const std::vector<std::string>& args) {
    if (!args.empty()) {
        // Only Watcher::start runs it, with no arguments; a person who tries gets told why.
        std::string msg = "injector watch: unknown argument " + args[0] + " (it takes none: the spec comes on stdin)\n";
        (void)!::write(2, msg.data(), msg.size());
        return 64;
    }
    std::string line;
    if (!read_line(&line)) {
        answer("E no spec on stdin\n");
        return 64;
    }
    auto spec = spec_from_json(line);
    if (!spec) {
        answer("E " + spec.error().message() + "\n");
        return 64;
    }
    int pidfd = int(::syscall(SYS_pidfd_open, spec->runner, 0));
    if (pidfd < 0) {
        // Gone before we looked: undo at once.
        answer("R\n");
        record(spec->record, {{"event", "watching"}, {"runner", spec->runner}});
        return undo_watch(*spec, "the runner was gone when the watcher started") ? 1 : 0;
    }
    // The whole spec: if this watcher dies too, `injector recover` finds here what to undo.
    record(spec->record, {{"event", "watching"},
                          {"runner", spec->runner},
                          {"thaw", spec->thaw},
                          {"restart", spec->restart},
                          {"spec", spec_to_json(*spec)}});
    answer("R\n");
    while (true) {
        pollfd p[2] = {{0, POLLIN, 0}, {pidfd, POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return undo_watch(*spec, std::string("poll failed: ") + std::strerror(errno)) ? 1 : 0;
        }
        if (p[0].revents) {
            Heard h = drain_stdin();
            if (h == Heard::done) {
                record(spec->record, {{"event", "done"}, {"runner", spec->runner}});
                return 0;
            }
            // Closed without "done": the runner is dying or dropped its handle. Either way the
            // faults it was holding are nobody's any more.
            if (h == Heard::closed) return undo_watch(*spec, "the runner closed the pipe without done") ? 1 : 0;
        }
        if (p[1].revents) {
            // It may have said "done" just before exiting: read what is waiting first.
            ::fcntl(0, F_SETFL, O_NONBLOCK);
            if (drain_stdin() == Heard::done) {
                record(spec->record, {{"event", "done"}, {"runner", spec->runner}});
                return 0;
            }
            return undo_watch(*spec, "the runner (pid " + std::to_string(spec->runner) + ") died") ? 1 : 0;
        }
    }
}

}  // namespace inj::targets
