// `injector status`: the run in progress, labs that are up, recent runs and the audit log in brief.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "common/audit.hpp"
#include "common/exit_codes.hpp"
#include "common/paths.hpp"
#include "lab/lab.hpp"
#include "safety/preflight.hpp"

namespace inj::cli {

namespace {

// The audit log in brief: for the last run that changed the machine and for the last 24 hours,
// how many actions of each kind succeeded and failed, and every failure in full.
void print_audit_summary() {
    const std::string path = audit::log_path();
    auto entries = audit::read(path);
    if (entries.empty()) {
        std::cout << "audit log " << path << ": no records\n";
        return;
    }
    struct Counts {
        size_t ok = 0, failed = 0;
    };
    auto summarise = [](const std::vector<const audit::Entry*>& es, const std::string& title) {
        std::map<std::string, Counts> by_action;
        std::vector<const audit::Entry*> failures;
        for (auto* e : es) {
            auto& c = by_action[e->action];
            if (e->result == "ok")
                ++c.ok;
            else {
                ++c.failed;
                failures.push_back(e);
            }
        }
        std::cout << title << ": " << es.size() << " actions";
        if (es.empty()) {
            std::cout << "\n";
            return;
        }
        std::cout << ", " << failures.size() << " failed\n";
        for (auto& [action, c] : by_action)
            std::cout << "    " << action << ": " << c.ok << " ok"
                      << (c.failed ? ", " + std::to_string(c.failed) + " FAILED" : "") << "\n";
        for (auto* e : failures)
            std::cout << "    FAILED " << audit::format_time(e->time) << " [" << e->run << "] " << e->action << " "
                      << e->target << ": " << e->error << "\n";
    };
    std::string last_run = entries.back().run;
    std::vector<const audit::Entry*> in_last, in_day;
    auto since = std::chrono::system_clock::now() - std::chrono::hours(24);
    for (auto& e : entries) {
        if (e.run == last_run) in_last.push_back(&e);
        if (e.time >= since) in_day.push_back(&e);
    }
    std::cout << "audit log " << path << " (" << entries.size() << " records):\n";
    summarise(in_last, "  last run " + (last_run.empty() ? std::string("(no run id)") : last_run));
    summarise(in_day, "  last 24 h");
}

// The last ten runs under the runs directory, oldest first, with their verdicts.
void print_recent_runs() {
    std::error_code ec;
    std::vector<std::filesystem::path> runs;
    for (auto& e : std::filesystem::directory_iterator(runs_root(), ec)) runs.push_back(e.path());
    // Newest last, by the journal's last write (run ids given with --run-id do not sort by time).
    auto mtime = [](const std::filesystem::path& p) {
        std::error_code e;
        auto t = std::filesystem::last_write_time(p / "journal.jsonl", e);
        return e ? std::filesystem::file_time_type::min() : t;
    };
    std::sort(runs.begin(), runs.end(), [&](auto& a, auto& b) { return mtime(a) < mtime(b); });
    size_t from = runs.size() > 10 ? runs.size() - 10 : 0;
    if (!runs.empty()) std::cout << "recent runs:\n";
    for (size_t i = from; i < runs.size(); ++i) {
        std::string verdict = "(no verdict: in progress or interrupted)";
        std::ifstream f(runs[i] / "report.json");
        if (f) {
            auto j = nlohmann::json::parse(f, nullptr, false);
            if (!j.is_discarded())
                verdict = j.value("verdict", "?") + " (exit " + std::to_string(j.value("exit_code", -1)) + ") plan " +
                          j.value("plan", "?");
        }
        std::cout << "  " << runs[i].filename().string() << "  " << verdict << "\n";
    }
}

}  // namespace

po::options_description status_options() { return po::options_description{}; }

int cmd_status(const std::vector<std::string>& args) {
    po::variables_map vm;
    if (!positional_after(args, status_options(), vm).empty()) throw UsageError("status takes no arguments");
    if (auto h = safety::RunLock::holder())
        std::cout << "running: " << h->run_id << " (pid " << h->pid << ")\n";
    else
        std::cout << "no run in progress\n";
    auto labs = lab::list();
    for (auto& id : labs) {
        auto st = lab::load(id);
        std::cout << "lab " << id
                  << (st ? " (" + st->plan_name + ") up, " + std::to_string(st->hosts.size()) + " hosts"
                         : " (state unreadable)")
                  << "\n";
    }
    print_recent_runs();
    print_audit_summary();
    return kExitHeld;
}

}  // namespace inj::cli
