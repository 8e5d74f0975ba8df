// The runner's side of the watcher and the cgroup freezer writes it undoes (see watcher.hpp).
#include "targets/watcher.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "common/paths.hpp"
#include "common/safe_file.hpp"
#include "targets/cgroups.hpp"
#include "targets/procfs.hpp"

namespace inj::targets {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

bool exists(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}

// The directory must lie below a mounted cgroup hierarchy, not be its root.
Result<void> check_cgroup_dir(const std::string& given) {
    if (given.empty() || given[0] != '/') return plain_error("cgroup " + given, "not an absolute path");
    std::string dir = given;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    for (auto& [h, mnt] : cgroup_mounts()) {
        if (dir == mnt) return plain_error("cgroup " + given, "the root of the " + h + " hierarchy: refused");
        if (dir.size() > mnt.size() && dir.compare(0, mnt.size(), mnt) == 0 && dir[mnt.size()] == '/') {
            if (is_root_or_escaping(dir.substr(mnt.size())))
                return plain_error("cgroup " + dir, "the root of the " + h + " hierarchy: refused");
            return {};
        }
    }
    return plain_error("cgroup " + dir, "not under a mounted cgroup hierarchy");
}

Result<void> set_frozen(const std::string& dir, bool frozen, std::chrono::milliseconds bound) {
    INJ_TRY(check_cgroup_dir(dir));
    const bool v1 = exists(dir + "/freezer.state");
    if (!v1 && !exists(dir + "/cgroup.freeze")) return plain_error("cgroup " + dir, "no freezer here (gone?)");
    if (v1)
        INJ_TRY(write_control(dir + "/freezer.state", frozen ? "FROZEN" : "THAWED"));
    else
        INJ_TRY(write_control(dir + "/cgroup.freeze", frozen ? "1" : "0"));
    const std::string want = v1 ? (frozen ? "FROZEN" : "THAWED") : (frozen ? "1" : "0");
    auto until = Clock::now() + bound;
    while (freezer_state(dir) != want) {
        if (Clock::now() > until)
            return plain_error(std::string(frozen ? "freeze " : "thaw ") + dir,
                               "still " + freezer_state(dir) + " after " + std::to_string(bound.count()) + " ms");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return {};
}

}  // namespace

std::string freezer_state(const std::string& dir) {
    if (auto s = read_small_file(dir + "/freezer.state")) {
        std::string v = *s;
        while (!v.empty() && v.back() == '\n') v.pop_back();
        return v;
    }
    int frozen = cgroup_event(dir, "frozen");
    return frozen < 0 ? std::string() : std::to_string(frozen);
}

Result<void> thaw_cgroup(const std::string& dir, std::chrono::milliseconds bound) {
    return set_frozen(dir, false, bound);
}
Result<void> freeze_cgroup(const std::string& dir, std::chrono::milliseconds bound) {
    return set_frozen(dir, true, bound);
}

Result<void> kill_cgroup_and_wait(const std::string& dir, std::chrono::milliseconds bound) {
    INJ_TRY(check_cgroup_dir(dir));
    if (!exists(dir + "/cgroup.kill"))
        return plain_error("cgroup " + dir, "no cgroup.kill here (gone, or not cgroup v2)");
    INJ_TRY(write_control(dir + "/cgroup.kill", "1"));
    return await_cgroups({dir}, "populated", 0, bound);
}

std::string spec_to_json(const WatchSpec& s) {
    json j = {{"runner", s.runner},
              {"thaw", s.thaw},
              {"restart", s.restart},
              {"record", s.record},
              {"restart_timeout_s", s.restart_timeout_s},
              {"container_runtime", s.container_runtime},
              {"containers", s.containers},
              {"stop_containers", s.stop_containers},
              {"kill_cgroups", s.kill_cgroups},
              {"unmount", s.unmount}};
    if (!s.scratch.empty()) j["scratch"] = s.scratch;
    return j.dump();
}

Result<WatchSpec> spec_from_json(const std::string& text) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    auto bad = [](const std::string& what) { return plain_error("watch spec", what); };
    if (!j.is_object()) return bad("not a JSON object");
    WatchSpec s;
    auto runner = j.find("runner");
    if (runner == j.end() || !runner->is_number_integer() || runner->get<long long>() <= 1 ||
        runner->get<long long>() > 0x3fffffff)
        return bad("runner: a pid above 1");
    s.runner = pid_t(runner->get<long long>());
    auto record = j.find("record");
    if (record == j.end() || !record->is_string() || record->get<std::string>().empty() ||
        record->get<std::string>()[0] != '/')
        return bad("record: an absolute path");
    s.record = record->get<std::string>();
    auto timeout = j.find("restart_timeout_s");
    if (timeout != j.end()) {
        if (!timeout->is_number_integer() || timeout->get<long long>() < 1 || timeout->get<long long>() > 3600)
            return bad("restart_timeout_s: 1..3600");
        s.restart_timeout_s = int(timeout->get<long long>());
    }
    auto thaw = j.find("thaw");
    if (thaw != j.end()) {
        if (!thaw->is_array()) return bad("thaw: a list of cgroup directories");
        for (auto& d : *thaw) {
            if (!d.is_string()) return bad("thaw: a list of cgroup directories");
            INJ_TRY(check_cgroup_dir(d.get<std::string>()));
            s.thaw.push_back(d.get<std::string>());
        }
    }
    for (auto [key, out] : {std::pair{"container_runtime", &s.container_runtime},
                            std::pair{"containers", &s.containers}, std::pair{"stop_containers", &s.stop_containers},
                            std::pair{"kill_cgroups", &s.kill_cgroups}, std::pair{"unmount", &s.unmount}}) {
        auto list = j.find(key);
        if (list == j.end()) continue;
        if (!list->is_array()) return bad(std::string(key) + ": a list of strings");
        for (auto& a : *list) {
            if (!a.is_string() || a.get<std::string>().empty()) return bad(std::string(key) + ": a list of strings");
            out->push_back(a.get<std::string>());
        }
    }
    if ((!s.containers.empty() || !s.stop_containers.empty()) && s.container_runtime.empty())
        return bad("containers: a container_runtime is needed");
    for (auto& d : s.kill_cgroups) {
        INJ_TRY(check_cgroup_dir(d));
        if (!exists(d + "/cgroup.kill") && exists(d))
            return bad("kill_cgroups: " + d + " is not a cgroup v2 directory");
    }
    for (auto& m : s.unmount)
        if (m.size() < 2 || m[0] != '/' || m.find("/../") != std::string::npos || m.ends_with("/.."))
            return bad("unmount: absolute mountpoints other than /");
    if (auto scratch = j.find("scratch"); scratch != j.end()) {
        // Removed recursively by root: only a directory below the state root, named plainly.
        const std::string root = state_root() + "/";
        if (!scratch->is_string()) return bad("scratch: a directory under " + root);
        const std::string d = scratch->get<std::string>();
        if (!d.starts_with(root) || d.size() == root.size() || d.find("/../") != std::string::npos ||
            d.find("/./") != std::string::npos || d.ends_with("/..") || d.ends_with("/.") ||
            d.find("//") != std::string::npos)
            return bad("scratch: a directory under " + root);
        s.scratch = d;
    }
    auto restart = j.find("restart");
    if (restart != j.end()) {
        if (!restart->is_array()) return bad("restart: a list of commands");
        for (auto& c : *restart) {
            if (!c.is_array() || c.empty()) return bad("restart: each command a non-empty list of strings");
            std::vector<std::string> argv;
            for (auto& a : c) {
                if (!a.is_string()) return bad("restart: each command a non-empty list of strings");
                argv.push_back(a.get<std::string>());
            }
            s.restart.push_back(std::move(argv));
        }
    }
    return s;
}

Result<Watcher> Watcher::start(const WatchSpec& spec, const std::string& injector_bin,
                               std::chrono::milliseconds bound) {
    INJ_ASSIGN_OR_RETURN(Pipe in, make_pipe());
    INJ_ASSIGN_OR_RETURN(Pipe ready, make_pipe());
    pid_t pid = ::fork();
    if (pid < 0) return errno_error("fork", "watcher");
    if (pid == 0) {
        // Its own session: a kill of the runner's process group must not reach it.
        ::setsid();
        ::dup2(in.read.get(), 0);
        ::dup2(ready.write.get(), 1);
        int null = ::open("/dev/null", O_WRONLY);
        if (null >= 0) ::dup2(null, 2);
        // Nothing else of the runner's: a descriptor it forgot to mark close-on-exec would
        // otherwise live on in a process that outlives it.
        ::syscall(SYS_close_range, 3u, ~0u, 0u);
        execl(injector_bin.c_str(), injector_bin.c_str(), "watch", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    in.read.reset();
    ready.write.reset();
    Watcher w(pid, std::move(in.write));
    std::string line = spec_to_json(spec) + "\n";
    // A watcher that died already makes this EPIPE (main turns SIGPIPE into EPIPE).
    if (::write(w.to_watcher_.get(), line.data(), line.size()) != ssize_t(line.size()))
        return errno_error("hand the spec to the watcher", injector_bin + " watch");
    pollfd p{ready.read.get(), POLLIN, 0};
    int n = ::poll(&p, 1, int(bound.count()));
    char answer[512] = {};
    ssize_t got = n > 0 ? ::read(ready.read.get(), answer, sizeof(answer) - 1) : 0;
    if (got >= 1 && answer[0] == 'R') return w;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    std::string why = got > 0 ? std::string(answer, size_t(got)) : (n == 0 ? "no answer in time" : "exited");
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return plain_error("start the watcher (" + injector_bin + " watch)", why);
}

Result<void> Watcher::done(std::chrono::milliseconds bound) {
    if (!to_watcher_) return plain_error("watcher", "done() called twice");
    if (::write(to_watcher_.get(), "D", 1) != 1) return errno_error("tell the watcher done", std::to_string(pid_));
    to_watcher_.reset();
    auto until = Clock::now() + bound;
    while (Clock::now() < until) {
        int st = 0;
        pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) return {};
        if (r < 0) return errno_error("wait for the watcher", std::to_string(pid_));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return plain_error("watcher " + std::to_string(pid_), "did not exit after done");
}

Result<void> Watcher::undo(std::chrono::milliseconds bound) {
    if (!to_watcher_) return plain_error("watcher", "already told done");
    to_watcher_.reset();  // a closed pipe without "D": the watcher undoes
    auto until = Clock::now() + bound;
    while (Clock::now() < until) {
        int st = 0;
        pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return {};
            return plain_error("watcher " + std::to_string(pid_), "some step of its undo failed (see its record)");
        }
        if (r < 0) return errno_error("wait for the watcher", std::to_string(pid_));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return plain_error("watcher " + std::to_string(pid_),
                       "still undoing after " + std::to_string(bound.count()) + " ms");
}

}  // namespace inj::targets
