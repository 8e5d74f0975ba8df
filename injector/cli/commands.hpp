// The table of subcommands: what main dispatches on and what help, the man page and the shell
// completion are generated from, so a new subcommand is one row here and one file beside this.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cli/common.hpp"

namespace inj::cli {

// What a positional argument is, for the shell completion.
enum class Operand { none, plan_files, journal_or_run, lab_verb_then_plan, command_name };

struct Command {
    const char* name;
    // The arguments after the name, as the usage shows them; a line break continues the synopsis
    // on an indented line.
    const char* synopsis;
    const char* summary;      // one line: the man page's and the completion's short text
    const char* description;  // what it does, lines of at most 66 characters
    bool hidden;              // not listed in usage, man page or completion
    Operand operand;
    int (*handler)(const std::vector<std::string>& args);
    // The options the handler parses (the handler builds its parser from this same function).
    po::options_description (*options)();
};

const std::vector<Command>& commands();
const Command* find_command(std::string_view name);

// One declaration per subcommand, each defined in cli/<name>.cpp.
#define INJ_CLI_COMMAND(name)                             \
    int cmd_##name(const std::vector<std::string>& args); \
    po::options_description name##_options();
INJ_CLI_COMMAND(run)
INJ_CLI_COMMAND(report)
INJ_CLI_COMMAND(agent)
INJ_CLI_COMMAND(agents)
INJ_CLI_COMMAND(validate)
INJ_CLI_COMMAND(plan)
INJ_CLI_COMMAND(status)
INJ_CLI_COMMAND(abort)
INJ_CLI_COMMAND(recover)
INJ_CLI_COMMAND(lab)
INJ_CLI_COMMAND(faultfs)
INJ_CLI_COMMAND(watch)
INJ_CLI_COMMAND(version)
INJ_CLI_COMMAND(schema)
INJ_CLI_COMMAND(help)
#undef INJ_CLI_COMMAND

}  // namespace inj::cli
