// Help texts, all generated from the command table: the program's usage, a command's usage and
// options, the manual page (roff) and the bash completion script.
#pragma once

#include <iosfwd>

#include "cli/commands.hpp"

namespace inj::cli {

void print_usage(std::ostream& os);
void print_command_help(std::ostream& os, const Command& c);
void print_man_page(std::ostream& os);
void print_bash_completion(std::ostream& os);
// What `injector --version` prints: version, git revision, BPF ABI version.
void print_version(std::ostream& os);

// The options every command accepts besides its own (--help, -h).
po::options_description help_option();

}  // namespace inj::cli
