// stop_service: a service on the target hosts gets a signal; optionally started again at heal.
#pragma once

#include <csignal>
#include <string>

#include "plan/base.hpp"

namespace inj::plan {

struct StopServiceSpec : SpecBase {
    static constexpr const char* kind = "stop_service";
    std::string service;  // a service the target hosts run
    int signal = 9;       // SIGKILL, SIGSTOP or SIGTERM
    std::string signal_name = "KILL";
    // At heal: SIGSTOP is always undone (SIGCONT); a killed or terminated service is started
    // again only with `restart: true`, and its time to ready is its RTO.
    bool restart = false;
    std::optional<std::string> restarts() const {
        return restart && signal != SIGSTOP ? std::optional<std::string>(service) : std::nullopt;
    }
};

}  // namespace inj::plan
