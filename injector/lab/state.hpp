// The lab's state file (state.json): written before anything is created and rewritten as things
// are created, so `lab down` and `injector recover` can remove a lab whose runner crashed.
// Internal to the lab.
#pragma once

#include <string>

#include "common/result.hpp"
#include "lab/lab.hpp"

namespace inj::lab::state {

std::string file_of(const std::string& dir);  // dir/state.json
// Writes dir/state.json atomically (temporary file, fsync, rename): a reader never sees half.
Result<void> save(const LabState& lab);
Result<LabState> read(const std::string& file);

}  // namespace inj::lab::state
