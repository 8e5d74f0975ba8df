#include "runner/readback.hpp"

#include "common/proc.hpp"
#include "plan/template.hpp"
#include "runner/runner.hpp"

namespace inj::runner {

std::vector<VerifyResult> read_back(const plan::Plan& plan, const std::vector<std::unique_ptr<ProbeSampler>>& samplers,
                                    std::chrono::steady_clock::time_point t0, const targets::Targets& targets,
                                    const std::string& run_id, const std::function<void(const VerifyResult&)>& each) {
    std::vector<VerifyResult> results;
    for (auto& v : plan.verify) {
        std::vector<AckedRecord> records;
        for (auto& s : samplers)
            if (s->probe().name == v.probe)
                for (auto& smp : s->samples())
                    if (smp.ok && !smp.ack.empty()) records.push_back({smp.ack, smp.at - t0});
        std::string netns;
        if (v.in != "control")
            if (auto* h = targets.host(v.in)) netns = h->netns;
        auto expand = [&](const std::string& text, const std::string& ack) -> Result<std::string> {
            plan::TemplateContext ctx;
            ctx.plan = &plan;
            ctx.volume_path = [&](const std::string& h, const std::string& vol) {
                auto* found = targets.volume(h, vol);
                return found ? found->path : std::string();
            };
            ctx.vars = {{"run", run_id}, {"lab", targets.id()}, {"ack", ack}};
            return plan::expand_template(text, ctx);
        };
        auto r = run_verify(v, records, expand, netns,
                            [](const std::string& c, std::chrono::nanoseconds t, const std::string& ns, size_t max) {
                                return run_shell(c, t, ns, max);
                            });
        each(r);
        results.push_back(std::move(r));
    }
    return results;
}

std::vector<Expectation> judge_run(const plan::Expect& expect, const std::vector<FaultRecord>& faults,
                                   const std::vector<VerifyResult>& verifies) {
    std::vector<std::pair<std::string, ServiceRecovery>> recs;
    std::vector<FaultWindow> windows;
    for (auto& f : faults) {
        for (auto& r : f.recoveries) recs.emplace_back(f.name, r);
        if (f.injected_at) windows.push_back({f.name, *f.injected_at});
    }
    return judge(expect, recs, verifies, windows);
}

}  // namespace inj::runner
