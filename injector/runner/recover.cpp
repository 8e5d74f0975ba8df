// recover (see recover.hpp). Order matters: processes (cgroups) before the namespaces they hold,
// links before the routes through them, and a check after every removal, so the report never
// claims what did not happen.
#include "runner/recover.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "common/audit.hpp"
#include "common/log.hpp"
#include "common/netaddr.hpp"
#include "common/netns.hpp"
#include "common/paths.hpp"
#include "common/proc.hpp"
#include "common/ranges.hpp"
#include "faultfs/faultfs.hpp"
#include "lab/cgroup.hpp"
#include "lab/iproute.hpp"
#include "lab/lab.hpp"
#include "runner/journal.hpp"
#include "targets/watcher.hpp"

namespace inj::runner {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto kKillBound = 5s;
constexpr auto kCmdTimeout = 30s;
const char* kPinRoot = "/sys/fs/bpf/injector";

auto lg() { return log::get("recover"); }

// The names the lab gives what it creates (lab.cpp): namespaces inj-<id>-<name>, the root end
// of the control pair inj<id>c with a 1-8 character id.
const std::regex kRootLink("^inj[a-z0-9]{1,8}c$");

bool exists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
}

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::string comm_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string c;
    std::getline(in, c);
    return c;
}

class Recovery {
public:
    RecoverReport report;

    void removed(const std::string& action, const std::string& what, const std::string& line,
                 const std::vector<std::string>& items = {}) {
        audit::record(action, what, true, {}, items);
        report.removed.push_back(line);
    }
    void failed(const std::string& action, const std::string& what, const std::string& why) {
        audit::record(action, what, false, why);
        report.failed.push_back(what + ": " + why);
    }

    // (b) Runs that ended without run_end: bring their lab down if it still has state, and close
    // the journal so the run is not reported again.
    void interrupted_runs() {
        for (auto& id : entries(runs_root())) {
            std::string journal = runs_root() + "/" + id + "/journal.jsonl";
            if (!exists(journal)) continue;
            auto events = read_journal(journal);
            std::string lab_id;
            pid_t pid = 0;
            bool ended = false;
            for (auto& e : events) {
                std::string ev = e.value("event", "");
                if (ev == "run_end" || ev == "recovered") ended = true;
                if (ev == "lab_up_begin") lab_id = e.value("lab", "");
                if (ev == "run_start") pid = e.value("pid", 0);
            }
            // A run that never began a lab created nothing recover could remove.
            if (ended || lab_id.empty()) continue;
            if (pid > 0 && process_alive(pid) && comm_of(pid) == "injector") {
                lg()->warn("run {} (pid {}) is still alive; leaving it alone", id, pid);
                continue;
            }
            std::string labinfo = "lab " + lab_id;
            if (auto st = lab::load(lab_id); st) {
                if (down_lab(*st, "of interrupted run " + id))
                    labinfo += " removed";
                else
                    labinfo += " NOT removed";
            } else if (exists(lab::labs_root() + "/" + lab_id)) {
                labinfo += " state unreadable (removed by name below)";
            } else {
                labinfo += " already gone";
            }
            // Closing the journal is what makes recover idempotent for this run.
            auto j = Journal::reopen(id);
            if (!j) {
                failed("journal_close", journal, j.error().message());
                continue;
            }
            j->write("recovered", {{"by_pid", getpid()}, {"lab", lab_id}}, true);
            removed("journal_close", journal, "closed interrupted run " + id + " (" + labinfo + ")");
        }
    }

    // (b2) Runs on bound targets whose runner (or fleet agent) and watcher both died before the
    // watcher finished (its record has no "done" or "undone"): undo from the spec it recorded.
    // A runner's record is runs/<id>/watcher.jsonl; an agent's agents/<host>-<run>.watch.jsonl.
    void lost_watchers() {
        for (auto& id : entries(runs_root())) lost_watcher(runs_root() + "/" + id + "/watcher.jsonl", "run " + id);
        const std::string agents = state_root() + "/agents";
        for (auto& name : entries(agents)) {
            const std::string suffix = ".watch.jsonl";
            if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
                lost_watcher(agents + "/" + name, "agent record " + name.substr(0, name.size() - suffix.size()));
        }
    }

    void lost_watcher(const std::string& path, const std::string& what) {
        if (!exists(path)) return;
        std::ifstream in(path);
        std::string line, spec_text;
        pid_t watcher = 0;
        bool finished = false;
        while (std::getline(in, line)) {
            auto e = nlohmann::json::parse(line, nullptr, false);
            if (!e.is_object()) continue;
            std::string ev = e.value("event", "");
            if (ev == "done" || ev == "undone") finished = true;
            if (ev == "watching" && e.contains("spec") && e["spec"].is_string()) {
                spec_text = e["spec"].get<std::string>();
                watcher = e.value("watcher", 0);
            }
        }
        if (finished || spec_text.empty()) return;
        auto spec = targets::spec_from_json(spec_text);
        if (!spec) {
            failed("watcher_undo", path, "unreadable spec: " + spec.error().message());
            return;
        }
        bool owner_alive = process_alive(spec->runner) && comm_of(spec->runner) == "injector";
        bool watcher_alive = watcher > 0 && process_alive(watcher) && comm_of(watcher) == "injector";
        if (owner_alive || watcher_alive) return;  // one of them still answers for the targets
        int bad = targets::undo_watch(*spec, "recover: the runner and its watcher are gone");
        if (bad)
            failed("watcher_undo", what, std::to_string(bad) + " undo steps failed (see " + path + ")");
        else
            removed("watcher_undo", what, "put back the bound targets of " + what + " (see " + path + ")");
    }

    bool down_lab(const lab::LabState& st, const std::string& why) {
        auto r = lab::down(st);
        std::string what = "lab " + st.id + " (plan " + st.plan_name + ")";
        if (!r) {
            failed("lab_down", what, r.error().message());
            return false;
        }
        removed("lab_down", what,
                "removed lab " + st.id + " " + why + (why.empty() ? "" : " ") + "(plan " + st.plan_name + ": " +
                    std::to_string(st.hosts.size()) +
                    " hosts, their namespaces, links, routes, cgroups, processes, volumes)");
        return true;
    }

    // (a) Every lab with state.
    void labs() {
        for (auto& id : lab::list()) {
            auto st = lab::load(id);
            if (!st) {
                // Removed by name in the orphan scan; the state directory goes once nothing is left.
                lg()->warn("lab {}: {}", id, st.error().message());
                unreadable_.insert(id);
                continue;
            }
            down_lab(*st, "");
        }
    }

    // (c) Anything of ours that no state names any more.
    void orphans() {
        orphan_cgroups();
        orphan_links();
        orphan_routes();
        orphan_netns();
        orphan_pins();
        orphan_faultfs();
        orphan_blkio();
        orphan_lab_dirs();
    }

private:
    std::set<std::string> unreadable_;

    void orphan_cgroups() {
        auto cg2 = lab::cgroup::v2_mount();
        if (!cg2) return;  // no cgroup2: the lab cannot have made any
        std::string root = *cg2 + "/injector";
        for (auto& name : entries(root)) {
            std::string dir = root + "/" + name;
            struct stat st;
            if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
            std::vector<pid_t> pids;
            collect(dir, &pids);
            auto k = lab::cgroup::kill_all(dir, kKillBound);
            if (!k) {
                failed("cgroup_kill", "cgroup " + dir, k.error().message());
                continue;
            }
            std::vector<std::string> killed;
            for (pid_t p : pids) killed.push_back(std::to_string(p));
            auto r = lab::cgroup::remove_tree(dir);
            if (!r || exists(dir)) {
                failed("cgroup_remove", "cgroup " + dir, r ? "still present after rmdir" : r.error().message());
                continue;
            }
            removed("cgroup_remove", dir,
                    "removed cgroup " + dir +
                        (pids.empty() ? "" : " (killed " + std::to_string(pids.size()) + " processes)"),
                    killed);
        }
        ::rmdir(root.c_str());  // the shared parent, once empty; failure means something is left, reported above
    }

    static void collect(const std::string& dir, std::vector<pid_t>* out) {
        for (pid_t p : lab::cgroup::procs(dir)) out->push_back(p);
        for (auto& n : entries(dir)) {
            struct stat st;
            std::string c = dir + "/" + n;
            if (::lstat(c.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) collect(c, out);
        }
    }

    std::vector<std::string> root_links() {
        std::vector<std::string> out;
        for (auto& n : entries("/sys/class/net"))
            if (std::regex_match(n, kRootLink)) out.push_back(n);
        return out;
    }

    void orphan_links() {
        for (auto& l : root_links()) {
            auto r = run({"ip", "link", "del", l}, kCmdTimeout);
            if (lab::ip::link_exists(l)) {
                failed("link_delete", "link " + l, r ? r->output : r.error().message());
                continue;
            }
            removed("link_delete", l + " (root namespace)",
                    "removed link " + l + " (root namespace) and the routes through it");
        }
    }

    void orphan_routes() {
        for (const Cidr& range : {lab_range_v4(), lab_range_v6()}) {
            auto used = lab::ip::overlapping(range);
            if (!used) {
                failed("route_delete", "routes to " + range.str(), used.error().message());
                continue;
            }
            for (auto& e : *used) {
                if (e.what.rfind("route ", 0) != 0 || !std::regex_match(e.dev, kRootLink)) continue;
                auto r = run({"ip", e.prefix.addr.v6 ? "-6" : "-4", "route", "del", e.prefix.str(), "dev", e.dev},
                             kCmdTimeout);
                if (!r || r->exit_code != 0) {
                    failed("route_delete", e.what, r ? r->output : r.error().message());
                    continue;
                }
                removed("route_delete", e.what, "removed " + e.what);
            }
        }
    }

    // Processes still inside a namespace we are about to delete: without this the namespace
    // lives on, nameless, as long as they do.
    std::vector<std::string> kill_inside(const std::string& nspath) {
        std::vector<std::string> killed;
        struct stat ns;
        if (::stat(nspath.c_str(), &ns) != 0) return killed;
        for (auto& e : entries("/proc")) {
            if (e.find_first_not_of("0123456789") != std::string::npos) continue;
            struct stat st;
            if (::stat(("/proc/" + e + "/ns/net").c_str(), &st) != 0) continue;
            if (st.st_ino != ns.st_ino || st.st_dev != ns.st_dev) continue;
            pid_t pid = std::stoi(e);
            if (pid == getpid()) continue;
            std::string comm = comm_of(pid);
            if (::kill(pid, SIGKILL) == 0) killed.push_back(e + " (" + comm + ")");
        }
        return killed;
    }

    void orphan_netns() {
        for (auto& n : entries("/run/netns")) {
            if (n.rfind("inj-", 0) != 0) continue;
            auto killed = kill_inside(netns_path(n));
            auto r = run({"ip", "netns", "del", n}, kCmdTimeout);
            if (lab::ip::netns_exists(n)) {
                failed("netns_delete", "netns " + n, r ? r->output : r.error().message());
                continue;
            }
            removed("netns_delete", n,
                    "removed netns " + n +
                        (killed.empty() ? "" : " (killed " + std::to_string(killed.size()) + " processes in it)"),
                    killed);
        }
    }

    void orphan_pins() {
        if (!exists(kPinRoot)) return;
        std::error_code ec;
        std::vector<std::string> pins;
        for (auto it = fs::recursive_directory_iterator(kPinRoot, ec); !ec && it != fs::recursive_directory_iterator();
             it.increment(ec))
            if (!it->is_directory()) pins.push_back(it->path().string());
        fs::remove_all(kPinRoot, ec);
        if (ec || exists(kPinRoot)) {
            failed("pin_remove", std::string("BPF pins under ") + kPinRoot, ec ? ec.message() : "still present");
            return;
        }
        for (auto& p : pins) removed("pin_remove", p, "removed BPF pin " + p);
        if (pins.empty()) removed("pin_remove", kPinRoot, std::string("removed empty pin directory ") + kPinRoot);
    }

    // Fault filesystems no lab state names (a lab dir removed by hand, a host-mode mount whose run
    // died): unmounted once nothing uses them (a mount in use is named, with its users, and left:
    // its daemon has already dropped every fault, so it is a plain passthrough). Then daemons
    // whose mount is gone.
    void orphan_faultfs() {
        for (auto& mp : faultfs::mounts()) {
            auto users = faultfs::users(mp);
            if (!users.empty()) {
                std::string who;
                for (pid_t p : users) who += (who.empty() ? "" : ", ") + std::to_string(p) + " (" + comm_of(p) + ")";
                failed("faultfs_unmount", "faultfs " + mp, "in use by " + who + "; stop them and run recover again");
                continue;
            }
            pid_t pid = faultfs::daemon_of(mp);
            auto r = faultfs::stop(mp, pid);
            auto left = faultfs::mounts();
            if (!r || std::find(left.begin(), left.end(), mp) != left.end()) {
                failed("faultfs_unmount", "faultfs " + mp, r ? "still mounted" : r.error().message());
                continue;
            }
            removed("faultfs_unmount", mp,
                    "unmounted faultfs " + mp + (pid ? " (daemon " + std::to_string(pid) + " exited)" : ""));
        }
        auto still = faultfs::mounts();
        for (pid_t pid : faultfs::daemons()) {
            // A daemon whose mount is still there (in use, reported above) keeps serving it.
            if (std::find(still.begin(), still.end(), faultfs::mountpoint_of(pid)) != still.end()) continue;
            auto r = faultfs::stop("", pid);
            if (!r || process_alive(pid)) {
                failed("faultfs_daemon_kill", "faultfs daemon " + std::to_string(pid),
                       r ? "still alive" : r.error().message());
                continue;
            }
            removed("faultfs_daemon_kill", std::to_string(pid),
                    "stopped faultfs daemon " + std::to_string(pid) + " (no mount)");
        }
    }

    // Block throttling cgroups (storage/blkio.hpp) a dead run left: their processes go back to
    // the root of the hierarchy, unthrottled, and the cgroup is removed.
    void orphan_blkio() {
        std::vector<std::string> roots{"/sys/fs/cgroup/blkio"};
        if (auto cg2 = lab::cgroup::v2_mount()) roots.push_back(*cg2);
        for (auto& root : roots)
            for (auto& n : entries(root)) {
                if (n.rfind("injector-", 0) != 0) continue;
                std::string dir = root + "/" + n;
                std::vector<std::string> moved;
                {
                    std::ifstream procs(dir + "/cgroup.procs");
                    std::string pid;
                    while (procs >> pid) {
                        std::ofstream(root + "/cgroup.procs") << pid;
                        moved.push_back(pid);
                    }
                }
                if (::rmdir(dir.c_str()) != 0) {
                    failed("blkio_unthrottle", "cgroup " + dir, std::strerror(errno));
                    continue;
                }
                removed("blkio_unthrottle", dir, "removed block throttle cgroup " + dir, moved);
            }
    }

    // Lab directories with no readable state: a lab up killed before its first state write, or
    // an unreadable state whose objects the scan above has just removed by name.
    void orphan_lab_dirs() {
        for (auto& n : entries(lab::labs_root())) {
            if (n[0] == '.') continue;  // the labs' lock file and transient batch files
            std::string dir = lab::labs_root() + "/" + n;
            bool has_state = exists(dir + "/state.json");
            if (has_state && !unreadable_.count(n)) continue;  // a lab that is up and was not removed: reported above
            std::error_code ec;
            fs::remove_all(dir, ec);
            if (ec || exists(dir)) {
                failed("state_remove", "lab state " + dir, ec ? ec.message() : "still present");
                continue;
            }
            removed("state_remove", dir,
                    "removed lab directory " + dir + (has_state ? " (unreadable state)" : " (no state file)"));
        }
    }
};

}  // namespace

RecoverReport recover() {
    audit::set_run("recover-" + new_run_id());
    Recovery rec;
    rec.interrupted_runs();
    rec.lost_watchers();
    rec.labs();
    rec.orphans();
    return std::move(rec.report);
}

}  // namespace inj::runner
