// The real machine-facing parts of a run.
#include <memory>

#include "common/audit.hpp"

#include "net/net_engine.hpp"
#include "power/power_engine.hpp"
#include "runner/runner.hpp"
#include "safety/preflight.hpp"
#include "storage/storage_engine.hpp"

namespace inj::runner {

RunHooks default_hooks() {
    RunHooks h;
    h.lab_up = [](const plan::Plan& p) { return lab::up(p); };
    h.lab_down = [](const lab::LabState& l) { return lab::down(l); };
    h.make_executor = [](const plan::Plan& p, const lab::LabState& l, const std::string& run) {
        return std::unique_ptr<ProbeExecutor>(std::make_unique<LabProbeExecutor>(p, l, run));
    };
    // Net first: it is prepared first (power arms its rules) and healed first on abort (links
    // come back before the processes, as in a normal restore).
    // Storage before power: on abort the disks are healthy again before services restart on them.
    auto net = std::make_unique<net::NetEngine>();
    auto power = std::make_unique<power::PowerEngine>(*net);
    auto storage = std::make_unique<storage::StorageEngine>();
    // A kill-mode power_loss throws away the dark hosts' writes not yet durable (volatile volumes).
    power->set_power_loss_listener(storage.get());
    h.engines.push_back(std::move(net));
    h.engines.push_back(std::move(storage));
    h.engines.push_back(std::move(power));
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
