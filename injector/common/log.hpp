// Named spdlog loggers, one per component (plan, runner, net, lab, power, storage, safety).
#pragma once

#include <spdlog/spdlog.h>
#include <functional>
#include <memory>
#include <string>

namespace inj::log {

// Returns the logger for a component, creating it on first use (stderr, shared level).
std::shared_ptr<spdlog::logger> get(const std::string& component);
// Sets the level for every component logger ("debug", "info", "warn", ...).
void set_level(spdlog::level::level_enum level);
// Sends every formatted log line to `fn` instead of stderr (the live view prints them above its
// block, so they do not tear the picture); nullptr restores stderr.
void redirect(std::function<void(const std::string&)> fn);

}  // namespace inj::log
