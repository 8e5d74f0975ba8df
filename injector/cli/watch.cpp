// `injector watch` (hidden): the watcher a run starts before freezing or killing real targets;
// it thaws and restarts them if the runner dies mid-fault. Its spec comes on stdin.
#include "cli/commands.hpp"
#include "targets/watcher.hpp"

namespace inj::cli {

po::options_description watch_options() { return po::options_description(); }

int cmd_watch(const std::vector<std::string>& args) { return targets::main_watch(args); }

}  // namespace inj::cli
