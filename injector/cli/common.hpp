// Helpers every subcommand of the CLI shares: the usage error, plan loading that prints the
// plan's errors, option parsing with positional arguments, and the signal mask of long commands.
#pragma once

#include <signal.h>

#include <boost/program_options.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "plan/model.hpp"

namespace inj::cli {

namespace po = boost::program_options;

// A wrong command line: main prints the message and the usage, and exits 64.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Loads and validates; prints every error to stderr. nullopt means exit 64.
// text: set to the bytes validated (fleet mode publishes exactly those).
std::optional<plan::Plan> load_plan(const std::string& path, std::string* text = nullptr);

// Parses args against desc into vm; returns the positional arguments.
std::vector<std::string> positional_after(const std::vector<std::string>& args, const po::options_description& desc,
                                          po::variables_map& vm);

// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and those it starts), so a command can take
// them as events rather than die; returns the set blocked.
sigset_t block_stop_signals();

}  // namespace inj::cli
