// power_loss's crash point (`at: { op, path, nth, when }`): read from the plan, described for
// `injector plan`, its JSON Schema, and the fault filesystem's rule it stands for.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "faultfs/crash_point.hpp"
#include "plan/reader.hpp"

namespace inj::faults {

// Reads the map `f` into a crash point; problems go through ctx (file:line:col, the field) and
// give nullopt. The target's hosts must have a volatile volume (the crash point is armed there).
std::optional<plan::CrashAt> load_crash_at(plan::FaultContext& ctx, const plan::Field& f, const plan::Fault& fault);
// "after the 1st rename of data/* " for `injector plan` and logs.
std::string crash_text(const plan::CrashAt& c);
// The volatile volumes of `hosts` the crash point is armed on ("data on app-1").
std::vector<std::string> crash_volumes(const plan::Plan& plan, const std::vector<std::string>& hosts);
// The `at` key's schema for power_loss: a time, or a crash point.
nlohmann::json crash_at_schema();
// The daemon's rule for it.
faultfs::CrashRule crash_rule(const plan::CrashAt& c);

}  // namespace inj::faults
