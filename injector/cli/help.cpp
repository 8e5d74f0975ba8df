// The program's usage, each command's help and the `help` command (see help.hpp). The usage
// lays the table out as the hand-written usage always looked: synopsis, then the description
// from column 23, on the same line when the synopsis leaves room.
#include "cli/help.hpp"

#include <iostream>
#include <sstream>

#include "common/exit_codes.hpp"

namespace inj::cli {

namespace {

constexpr size_t kDescColumn = 23;
constexpr size_t kOptionColumn = 26;

constexpr const char* kUsageHead = R"(usage: injector [--log-level LEVEL] COMMAND [ARGS]

Rehearse the loss of a zone, a power domain or a disk, safely.

commands:
)";

constexpr const char* kUsageTail = R"(
global options: --log-level LEVEL (trace, debug, info, warn, err), -v/--verbose (debug),
                --version, -h/--help; `injector COMMAND --help` shows a command's options

exit codes: 0 hypothesis held, 1 violated, 2 aborted by a safety guard, 3 could not be applied,
            4 cleanup failed, 64 usage error or invalid plan
)";

std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

// "name synopsis" and the synopsis's continuation lines, each indented by `indent`.
std::vector<std::string> synopsis_lines(const Command& c, size_t indent) {
    auto lines = split_lines(c.synopsis);
    if (lines.empty()) lines.push_back("");
    lines[0] = std::string(c.name) + (lines[0].empty() ? "" : " " + lines[0]);
    for (size_t i = 1; i < lines.size(); ++i) lines[i] = std::string(indent, ' ') + lines[i];
    return lines;
}

}  // namespace

po::options_description help_option() {
    po::options_description d;
    d.add_options()("help,h", "print this help and exit");
    return d;
}

void print_usage(std::ostream& os) {
    os << kUsageHead;
    for (auto& c : commands()) {
        if (c.hidden) continue;
        auto syn = synopsis_lines(c, 9);
        auto desc = split_lines(c.description);
        for (size_t i = 0; i + 1 < syn.size(); ++i) os << (i == 0 ? "  " : "") << syn[i] << "\n";
        std::string last = (syn.size() == 1 ? "  " : "") + syn.back();
        size_t d = 0;
        if (last.size() < kDescColumn - 1 && !desc.empty()) {
            os << last << std::string(kDescColumn - last.size(), ' ') << desc[d++] << "\n";
        } else {
            os << last << "\n";
        }
        for (; d < desc.size(); ++d) os << std::string(kDescColumn, ' ') << desc[d] << "\n";
    }
    os << kUsageTail;
}

void print_command_help(std::ostream& os, const Command& c) {
    auto syn = synopsis_lines(c, std::string("usage: injector ").size() + std::string(c.name).size() + 1);
    for (auto& line : syn) os << (&line == &syn[0] ? "usage: injector " : "") << line << "\n";
    os << "\n" << c.description << "\n\noptions:\n";
    // Laid out here rather than by boost, whose printing adds blank lines around groups.
    for (auto& d : {c.options(), help_option()}) {
        for (auto& o : d.options()) {
            std::string label = "  " + o->format_name();
            if (auto param = o->format_parameter(); !param.empty()) label += " " + param;
            os << label << std::string(label.size() < kOptionColumn ? kOptionColumn - label.size() : 1, ' ')
               << o->description() << "\n";
        }
    }
}

po::options_description help_options() {
    po::options_description d;
    d.add_options()("man", po::bool_switch(), "print the manual page (roff); the build writes it to injector.1")(
        "bash-completion", po::bool_switch(), "print the bash completion script");
    return d;
}

int cmd_help(const std::vector<std::string>& args) {
    po::variables_map vm;
    auto rest = positional_after(args, help_options(), vm);
    if (rest.size() > 1) throw UsageError("help takes at most one COMMAND");
    if (vm["man"].as<bool>()) {
        print_man_page(std::cout);
        return kExitHeld;
    }
    if (vm["bash-completion"].as<bool>()) {
        print_bash_completion(std::cout);
        return kExitHeld;
    }
    if (rest.empty()) {
        print_usage(std::cout);
        return kExitHeld;
    }
    auto* c = find_command(rest[0]);
    if (!c) throw UsageError("unknown command " + rest[0]);
    print_command_help(std::cout, *c);
    return kExitHeld;
}

}  // namespace inj::cli
