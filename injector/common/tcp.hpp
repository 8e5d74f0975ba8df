// One bounded TCP connect, the primitive behind readiness checks, tcp probes and the canaries
// that check a cut holds. Call it inside a NetnsGuard to connect from a lab host.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "common/netaddr.hpp"
#include "common/result.hpp"

namespace inj {

// Connects (non-blocking, bounded by timeout) and closes. On failure the error's code says how:
// ETIMEDOUT (nothing answered: e.g. a cut), ECONNREFUSED (a reset came back), or another errno.
Result<void> tcp_connect(const IpAddr& addr, int port, std::chrono::milliseconds timeout);

// Parses "198.18.0.2:2379" or "[2001:2::1]:2379".
Result<std::pair<IpAddr, int>> parse_host_port(std::string_view text);

}  // namespace inj
