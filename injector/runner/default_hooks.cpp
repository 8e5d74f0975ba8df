// The real machine-facing parts of a run: the lab, its Targets view, the registry's engines.
#include <memory>

#include "common/audit.hpp"
#include "faultfs/faultfs.hpp"
#include "faults/facilities.hpp"
#include "lab/targets.hpp"
#include "runner/runner.hpp"
#include "safety/preflight.hpp"
#include "targets/bound.hpp"

namespace inj::runner {

RunHooks default_hooks() {
    RunHooks h;
    h.lab_up = [](const plan::Plan& p) { return lab::up(p); };
    h.lab_down = [](const lab::LabState& l) { return lab::down(l); };
    h.make_executor = [](const plan::Plan& p, const targets::Targets& t, const std::string& run) {
        return std::unique_ptr<ProbeExecutor>(std::make_unique<TargetsProbeExecutor>(p, t, run));
    };
    h.bind_targets = [](const plan::Plan& p) { return targets::bind(p); };
    h.start_watcher = [](const targets::WatchSpec& w) { return targets::Watcher::start(w, faultfs::binary()); };
    h.make_targets = [](const plan::Plan& p, const lab::LabState& l) {
        return std::unique_ptr<targets::Targets>(std::make_unique<lab::LabTargets>(p, l));
    };
    h.make_engines = [](const plan::Plan& p) { return faults::make_engines(p); };
    h.preflight = []() -> Result<void> {
        auto findings = safety::check_environment();
        // A run whose changes cannot be audited does not start.
        if (auto a = audit::check_writable(); !a) findings.push_back({"audit", a.error().message()});
        if (findings.empty()) return {};
        std::string msg;
        for (auto& f : findings) msg += (msg.empty() ? "" : "; ") + f.check + ": " + f.message;
        return plain_error(msg);
    };
    return h;
}

}  // namespace inj::runner
