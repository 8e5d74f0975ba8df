// After the faults: the plan's verify steps read back every record its probes acknowledged, and
// its expectations (expect.rto, expect.rpo) are judged on what the run measured.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plan/model.hpp"
#include "runner/probe.hpp"
#include "runner/verify.hpp"
#include "targets/targets.hpp"

namespace inj::runner {

struct FaultRecord;

// Runs every verify step of the plan against the records the samplers of its probe acknowledged
// (their time relative to t0), in the namespace of the host the step names ("control": ours);
// `each` sees each result as it is known.
std::vector<VerifyResult> read_back(const plan::Plan& plan, const std::vector<std::unique_ptr<ProbeSampler>>& samplers,
                                    std::chrono::steady_clock::time_point t0, const targets::Targets& targets,
                                    const std::string& run_id, const std::function<void(const VerifyResult&)>& each);

// expect.rto and expect.rpo against the recoveries and injection instants of the run's faults and
// its read-backs.
std::vector<Expectation> judge_run(const plan::Expect& expect, const std::vector<FaultRecord>& faults,
                                   const std::vector<VerifyResult>& verifies);

}  // namespace inj::runner
