// `injector faultfs` (hidden): the fault filesystem daemon the lab starts for each degraded or
// volatile volume. Its arguments are parsed by the daemon itself; the options here are for help.
#include "faultfs/faultfs.hpp"
#include "cli/commands.hpp"

namespace inj::cli {

po::options_description faultfs_options() {
    po::options_description d;
    d.add_options()("control", po::value<std::string>(), "the control file a run drives the faults through")(
        "backing", po::value<std::string>(), "serve this directory (default: the mount point's own)")(
        "max-threads", po::value<unsigned>(), "FUSE worker threads (default 16)")(
        "writeback", po::bool_switch(), "use the kernel's writeback cache (never with volatile mode)");
    return d;
}

int cmd_faultfs(const std::vector<std::string>& args) { return faultfs::main_faultfs(args); }

}  // namespace inj::cli
