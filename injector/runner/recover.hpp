// `injector recover`: reconciles the machine to clean after crashed or killed runs and labs.
//
// Three sources, each a safety net for the one before: (a) the state of every lab that is up
// (lab::down removes exactly what it names), (b) the run journals of runs that never wrote
// run_end (their lab, if it still has state, goes down; the journal is closed with a
// "recovered" event so a second recover has nothing to say), (c) a scan by name for anything of
// ours with no state left: namespaces inj-*, root links inj<id>c, lab routes through them,
// cgroups under <cgroup2>/injector, BPF pins under /sys/fs/bpf/injector, lab directories without
// a state file. Every removal is checked afterwards and written to the audit log.
#pragma once

#include <string>
#include <vector>

namespace inj::runner {

struct RecoverReport {
    std::vector<std::string> removed;  // one line per thing removed (or run closed)
    std::vector<std::string> failed;   // one line per thing that could not be removed, with why
    bool nothing() const { return removed.empty() && failed.empty(); }
};

// Does the work. The caller holds the run lock (no run may start meanwhile).
RecoverReport recover();

}  // namespace inj::runner
