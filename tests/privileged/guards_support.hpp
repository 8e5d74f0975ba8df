// Running the real `injector` binary in the background on a small lab plan, and watching its
// journal: shared by the abort-trigger tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace inj::test {

// A two-zone lab (one host each, a standalone etcd per host: it starts in ~100 ms and answers
// TCP on 2379), a tcp probe from control to b1, one sever of zone a for `duration` at `at`.
// `extra_safety` is appended under `safety:`; `extra_probe` under the probe list.
std::string small_plan(const std::string& name, const std::string& at, const std::string& duration,
                       const std::string& max_duration, const std::string& extra_safety = "",
                       const std::string& extra_probes = "");

class BackgroundRun {
public:
    // Writes the plan to a temp file and starts `injector run PLAN --run-id ID --json`.
    BackgroundRun(const std::string& plan_yaml, const std::string& run_id);
    ~BackgroundRun();  // kills the run if still going (by pid: we started it), then recovers
    // Waits for an event in the journal; returns it or nullopt after `timeout`.
    std::optional<nlohmann::json> wait_event(const std::string& event, std::chrono::milliseconds timeout);
    // Waits for the process to exit; returns its exit code (-1 on timeout).
    int wait_exit(std::chrono::milliseconds timeout);
    nlohmann::json report() const;  // report.json of the run
    std::vector<nlohmann::json> journal() const;
    std::string output() const;
    pid_t pid() const { return pid_; }
    const std::string& run_id() const { return run_id_; }
    std::string lab_id() const;

private:
    std::string dir_, plan_path_, out_path_, run_id_;
    pid_t pid_ = -1;
    int exit_code_ = -1;
    bool reaped_ = false;
};

// TCP connect from inside a namespace; true when the peer answered (connected or refused).
bool answers(const std::string& netns, const std::string& addr, int port, std::chrono::milliseconds timeout);

}  // namespace inj::test
