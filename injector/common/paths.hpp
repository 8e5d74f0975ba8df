// Where the injector keeps machine state: run journals, lab state, the run lock.
#pragma once

#include <string>

namespace inj {
// /run/injector, or $INJECTOR_STATE_DIR (tests use a private one). tmpfs on purpose: state that
// describes kernel objects must not outlive a reboot that removed the objects.
std::string state_root();
std::string runs_root();  // state_root()/runs
}  // namespace inj
