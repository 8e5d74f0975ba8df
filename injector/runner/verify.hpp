// Read-back after recovery (RPO): every record a probe acknowledged during the run is asked for
// again, and the ones the system no longer has are listed. Also the expectations of a plan
// (expect.rto, expect.rpo) judged on what the run measured.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/proc.hpp"
#include "common/result.hpp"
#include "plan/model.hpp"
#include "runner/engine.hpp"

namespace inj::runner {

// A record a probe's successful attempt acknowledged, and when (relative to the run's t0).
struct AckedRecord {
    std::string record;
    std::chrono::nanoseconds at{0};
};

struct VerifyResult {
    std::string name;
    std::string probe;
    size_t acknowledged = 0;
    std::vector<AckedRecord> missing;  // in acknowledgement order
    std::string error;                 // the read-back itself failed (then missing is unknown)
    std::chrono::nanoseconds cost{0};
};

// Runs a shell command (in a host's namespace when netns is not empty) for the read-back.
using ShellRunner = std::function<Result<RunResult>(const std::string& command, std::chrono::nanoseconds timeout,
                                                    const std::string& netns, size_t max_output)>;

// Expands v.command for each record ({ack}) or once, runs it, and lists the records not read
// back. `expand` turns a template into a command ({ack} given as the extra var); `netns` is where
// v.in runs.
VerifyResult run_verify(
    const plan::Verify& v, const std::vector<AckedRecord>& records,
    const std::function<Result<std::string>(const std::string& text, const std::string& ack)>& expand,
    const std::string& netns, const ShellRunner& shell);

// One judged expectation: a test case of the run.
struct Expectation {
    std::string name;  // "rto etcd@kv-1", "rpo kv-readback"
    bool held = false;
    std::string message;  // what was measured against what was expected
};

// When a fault was in force, for the RPO's time window.
struct FaultWindow {
    std::string name;
    std::chrono::nanoseconds injected_at{0};
};

// expect.rto against every recovery of every power_loss (a recovery that never became ready
// fails whether or not an RTO is given); expect.rpo (0 records when the plan has verify steps
// but no rpo) against every verify result.
std::vector<Expectation> judge(const plan::Expect& expect,
                               const std::vector<std::pair<std::string, ServiceRecovery>>& recoveries,
                               const std::vector<VerifyResult>& verifies, const std::vector<FaultWindow>& faults);

}  // namespace inj::runner
