// injector: the command line's entry point. Reads the global options, dispatches to a command of
// the table in cli/commands.cpp, answers --help for every command, and maps every outcome to the
// exit codes of DESIGN.md. The only catch-all of the program is here, around every command.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/help.hpp"
#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "common/output.hpp"

using namespace inj;
namespace po = boost::program_options;

namespace {

// True when the command's arguments ask for its help (before a "--", which ends the options).
bool asks_for_help(const std::vector<std::string>& args) {
    for (auto& a : args) {
        if (a == "--") return false;
        if (a == "--help" || a == "-h") return true;
    }
    return false;
}

// The global options before the command; returns -1 to go on to the command, else an exit code.
int global_options(std::vector<std::string>& args) {
    std::string level = "info";
    while (!args.empty() && args[0].size() > 1 && args[0][0] == '-') {
        if (args[0] == "--help" || args[0] == "-h") {
            cli::print_usage(std::cout);
            return kExitHeld;
        }
        if (args[0] == "--version") {
            cli::print_version(std::cout);
            return kExitHeld;
        }
        if (args[0] == "--log-level" && args.size() > 1) {
            level = args[1];
            args.erase(args.begin(), args.begin() + 2);
        } else if (args[0] == "-v" || args[0] == "--verbose") {
            level = "debug";
            args.erase(args.begin());
        } else {
            throw cli::UsageError("unknown option " + args[0]);
        }
    }
    log::set_level(spdlog::level::from_str(level));
    return -1;
}

int dispatch(std::vector<std::string> args, std::string& cmd) {
    if (int rc = global_options(args); rc >= 0) return rc;
    if (args.empty()) throw cli::UsageError("missing COMMAND");
    cmd = args[0];
    args.erase(args.begin());
    const cli::Command* c = cli::find_command(cmd);
    if (!c) throw cli::UsageError("unknown command " + cmd);
    if (asks_for_help(args)) {
        cli::print_command_help(std::cout, *c);
        return kExitHeld;
    }
    // A closed or stuck stdout/stderr never kills or blocks a run (the faultfs daemon keeps its
    // own descriptors as the lab gave them).
    if (cmd != "faultfs") output::protect_stdio();
    return c->handler(args);
}

}  // namespace

int main(int argc, char** argv) {
    std::string cmd;
    try {
        return dispatch({argv + 1, argv + argc}, cmd);
    } catch (const cli::UsageError& e) {
        std::cerr << "injector: " << e.what() << "\n\n";
        cli::print_usage(std::cerr);
        return kExitUsage;
    } catch (const po::error& e) {
        std::cerr << "injector: " << e.what() << " (injector " << cmd << " --help lists its options)\n";
        return kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << "injector: internal error: " << e.what() << "\n";
        return kExitNotApplied;
    } catch (...) {
        std::cerr << "injector: internal error: an exception of unknown type\n";
        return kExitNotApplied;
    }
}
