// Readiness checks of lab services: a TCP connect from the control position, or a command that
// exits 0. Each retries every 100 ms until its deadline. Internal to the lab.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "common/result.hpp"

namespace inj::lab::ready {

using Deadline = std::chrono::steady_clock::time_point;

// Splits "198.18.0.2:2379" or "[2001:2::2]:2379"; the error says what is wrong with the text.
Result<std::pair<std::string, int>> split_host_port(const std::string& target);
// One TCP connect attempt from the calling thread's namespace, bounded by `timeout`.
Result<void> try_connect(const std::string& addr, int port, std::chrono::milliseconds timeout);
// Retries try_connect until it succeeds, the deadline passes or *cancel turns true (checked
// between attempts); the error is the last failure.
Result<void> wait_tcp(const std::string& target, Deadline deadline, const std::atomic<bool>* cancel = nullptr);
// Retries `sh -c command` (inside netns_path, or here when empty) until it exits 0 or the
// deadline passes; the error carries the last exit code and output.
Result<void> wait_exec(const std::string& command, const std::string& netns_path, Deadline deadline,
                       const std::atomic<bool>* cancel = nullptr);

}  // namespace inj::lab::ready
