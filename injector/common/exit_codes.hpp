// Process exit codes, as in DESIGN.md; every command returns one of these.
#pragma once

namespace inj {
enum ExitCode : int {
    kExitHeld = 0,        // hypothesis held
    kExitViolated = 1,    // hypothesis violated: a weakness was found
    kExitAborted = 2,     // aborted by a safety guard; faults reverted
    kExitNotApplied = 3,  // plan could not be applied (capability, preflight, injection failed)
    kExitCleanup = 4,     // cleanup failed: the machine may not be clean
    kExitUsage = 64,      // usage error or invalid plan; nothing touched
};
}  // namespace inj
