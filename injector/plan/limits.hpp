// Bounds on what a plan may ask for, so no input (a file, or a plan an agent reads from etcd)
// can make the loader, the template expander or the runner use unbounded memory, stack or CPU.
// Each is above what a real game day needs: a whole data center (issue 16: ~32,000 hosts, a 2.1 MB
// plan with a line per host, loaded in under a second) fits twice. Exceeding one is a plan error at
// file:line:col (exit 64).
#pragma once

#include <chrono>
#include <cstddef>
#include <string_view>

namespace inj::plan::limits {

constexpr size_t kMaxPlanBytes = 8 << 20;  // 8 MiB of YAML; 32,000 hosts take 2.1 MB, an experiment ~6 KB
constexpr size_t kMaxZones = 256;
// Hosts, host groups' (count:) included: two data centers of 32,000 (loading is linear in hosts).
constexpr size_t kMaxHosts = 65536;
constexpr size_t kMaxServices = 256;
constexpr size_t kMaxFaults = 1024;
constexpr size_t kMaxProbes = 64;       // each probe is a thread sampling on its own
constexpr size_t kMaxListItems = 4096;  // any other list (links, addresses, peers, ...)
// Items of every list the loader walks, in all. YAML aliases share one node, so a small file
// could name one long list a thousand times; each use counts.
constexpr size_t kMaxTotalItems = 1 << 20;  // room for 65,536 hosts and their own lists
// {each:SVC:{each:SVC:...}} nests; two levels cover every real use, four is generous. Each level
// multiplies the output by the service's host count, so the output is bounded too.
constexpr int kMaxTemplateDepth = 4;
constexpr size_t kMaxTemplateBytes = 256 * 1024;
// A probe attempt costs a fork and exec of a shell (exec probes, ~1 ms of CPU) or a TCP connect,
// and a journal line. At 10 ms one probe costs at most ~10% of a core and 100 lines a second;
// below that the probes would measure the machine they load rather than the system under test.
constexpr std::chrono::milliseconds kMinProbeEvery{10};

// The most items the list at `path` may hold ("topology.hosts", "method", ...).
constexpr size_t max_items(std::string_view path) {
    if (path == "topology.zones") return kMaxZones;
    if (path == "topology.hosts") return kMaxHosts;
    if (path == "lab.services") return kMaxServices;
    if (path == "method") return kMaxFaults;
    if (path == "steady_state.probes") return kMaxProbes;
    return kMaxListItems;
}

}  // namespace inj::plan::limits
