// Helpers every subcommand of the CLI shares (see common.hpp).
#include "cli/common.hpp"

#include <iostream>

#include "plan/loader.hpp"

namespace inj::cli {

std::optional<plan::Plan> load_plan(const std::string& path, std::string* text) {
    auto r = plan::load_file(path);
    for (auto& e : r.errors) std::cerr << e.str() << "\n";
    if (!r.errors.empty() || !r.plan) return std::nullopt;
    if (text) *text = std::move(r.text);
    return std::move(*r.plan);
}

std::vector<std::string> positional_after(const std::vector<std::string>& args, const po::options_description& desc,
                                          po::variables_map& vm) {
    po::options_description all;
    all.add(desc).add_options()("args", po::value<std::vector<std::string>>(), "");
    po::positional_options_description pos;
    pos.add("args", -1);
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
    return vm.count("args") ? vm["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
}

sigset_t block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

}  // namespace inj::cli
