// Output that never stops a run: a closed pipe (`injector run ... | head -2`), a pipe nobody
// reads, or a terminal paused with Ctrl-S must not kill the runner (SIGPIPE) nor block the thread
// that writes, because that thread may be the one that heals faults, enforces max_duration or
// answers SIGTERM. Writes to stdout and stderr either complete soon or are dropped (and counted).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace inj::output {

// Once, at the start of main: SIGPIPE turns into EPIPE (a no-op handler rather than SIG_IGN, so
// the services and shells the lab starts get the default action back at exec), and stdout and
// stderr, when they are a pipe or a terminal, are reopened as descriptions of their own with
// O_NONBLOCK (the shell's description stays as it was). std::cout and std::cerr then write
// through a buffer that waits at most a moment for room and drops once their reader is stuck.
void protect_stdio();

// One write of at most `s.size()` bytes once `fd` has room, waiting at most `timeout_ms`:
// bytes written, 0 when there was no room in time, -1 when the reader is gone or the fd broken.
// Never blocks longer than the timeout on a non-blocking fd, a pipe, or a socket.
long write_some(int fd, std::string_view s, int timeout_ms);

// All of `s`, waiting for room until `deadline`; false when not all of it could be written.
bool write_within(int fd, std::string_view s, std::chrono::steady_clock::time_point deadline);

// Bytes dropped by std::cout and std::cerr because their reader was stuck or gone.
uint64_t dropped_bytes();

}  // namespace inj::output
