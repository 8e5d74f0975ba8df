// `injector report JOURNAL`: regenerates a report (text, HTML or JUnit) from a run's journal.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.hpp"
#include "common/exit_codes.hpp"
#include "common/paths.hpp"
#include "report/render.hpp"

namespace inj::cli {

po::options_description report_options() {
    po::options_description d;
    d.add_options()("format", po::value<std::string>()->default_value("text"), "text, html or junit")(
        "output,o", po::value<std::string>()->default_value(""), "write here instead of stdout");
    return d;
}

int cmd_report(const std::vector<std::string>& args) {
    po::variables_map vm;
    auto files = positional_after(args, report_options(), vm);
    if (files.size() != 1) throw UsageError("report needs exactly one JOURNAL");
    auto fmt = report::parse_format(vm["format"].as<std::string>());
    if (!fmt) throw UsageError("--format must be text, html or junit");
    // A journal file, a run directory, or a run id (looked up under the runs directory).
    std::string path = files[0];
    if (!std::filesystem::exists(path) && std::filesystem::exists(runs_root() + "/" + path))
        path = runs_root() + "/" + path;
    if (std::filesystem::is_directory(path)) path += "/journal.jsonl";
    auto v = report::load_journal(path);
    if (!v) {
        std::cerr << "injector: " << path << ": not a run journal (missing, unreadable or no events)\n";
        return kExitUsage;
    }
    auto text = report::render(*v, *fmt);
    const auto& out = vm["output"].as<std::string>();
    if (out.empty()) {
        std::cout << text;
        return kExitHeld;
    }
    std::ofstream f(out, std::ios::trunc);
    f << text;
    if (!f.flush()) {
        std::cerr << "injector: cannot write " << out << "\n";
        return kExitNotApplied;
    }
    return kExitHeld;
}

}  // namespace inj::cli
