// Helpers shared by tests: paths to sources and binaries, capability checks for privileged tests.
#pragma once

#include <cstdint>

#include <string>

namespace inj::test {

std::string source_path(const std::string& rel);  // INJ_SOURCE_DIR/rel
std::string binary_path(const std::string& rel);  // INJ_BINARY_DIR/rel
// True when the process holds the capability (checked with capget, not the uid).
bool has_cap(int cap);
// Empty when the process may run privileged tests (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_BPF),
// else the reason.
std::string privileged_missing();
// A TCP connection to 127.0.0.1:port (blocking, close-on-exec), or -1.
int connect_loopback(uint16_t port);
// Sends `request` to 127.0.0.1:port and returns all it answers until it closes (5 s bound); "" when
// nothing listens.
std::string http_exchange(uint16_t port, const std::string& request);

}  // namespace inj::test

// In a privileged test: skip with a reason only when the machine truly cannot run it.
#define INJ_REQUIRE_PRIVILEGE()                                         \
    do {                                                                \
        auto why_ = ::inj::test::privileged_missing();                  \
        if (!why_.empty()) GTEST_SKIP() << "needs privilege: " << why_; \
    } while (0)
