// iproute2 as the lab drives it: batches of commands (one process configures a whole namespace,
// which is what keeps a 256-host lab to about a second) and JSON queries of the root namespace.
// Internal to the lab.
#pragma once

#include <string>
#include <vector>

#include "common/netaddr.hpp"
#include "common/result.hpp"

namespace inj::lab::ip {

// Writes `lines` to `file` and runs `ip [-n netns] [-force] -batch file`. Without force the batch
// stops at the first failing line and the error quotes ip's message (which names that line).
Result<void> batch(const std::vector<std::string>& lines, const std::string& file, const std::string& netns = {},
                   bool force = false);

// One namespace's batch for batch_all.
struct Job {
    std::vector<std::string> lines;
    std::string file;
    std::string netns;
};
// Runs the jobs with up to `width` ip processes at once (each `ip -n` pays for a namespace
// switch, so hundreds of hosts go several at a time). Stops starting jobs after the first
// failure and returns it once the running ones have finished.
Result<void> batch_all(const std::vector<Job>& jobs, int width);

// A route or an address of the root namespace that lies on a prefix.
struct Entry {
    Cidr prefix;
    std::string dev;
    std::string what;  // "route 198.18.0.0/15 dev x table main" or "address 198.18.0.1/24 on x"
};
// Routes (every table) and addresses of the calling thread's namespace that overlap `range`.
Result<std::vector<Entry>> overlapping(const Cidr& range);

// True when an interface of that name exists in the calling thread's namespace.
bool link_exists(const std::string& ifname);
// True when iproute2's named namespace exists (/run/netns/NAME).
bool netns_exists(const std::string& name);

}  // namespace inj::lab::ip
