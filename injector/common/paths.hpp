// Where the injector keeps machine state: run journals, lab state, the run lock.
#pragma once

#include <string>
#include <string_view>

namespace inj {
// /run/injector, or $INJECTOR_STATE_DIR (tests use a private one). tmpfs on purpose: state that
// describes kernel objects must not outlive a reboot that removed the objects.
std::string state_root();
std::string runs_root();  // state_root()/runs

// True for a cgroup path relative to its hierarchy that names the root ("", "/", "//", "/.", ...)
// or climbs out of it (a ".." component): never a target's cgroup. The one rule for the plan
// loader (cgroup: of a binding) and for everything that writes to a cgroup.
bool is_root_or_escaping(std::string_view rel);
}  // namespace inj
