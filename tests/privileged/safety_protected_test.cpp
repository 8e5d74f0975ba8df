// Protected by default, read from this machine: the default route's interface and gateway are
// what `ip route` says, and the ports a process named sshd listens on (a child of the test that
// takes that name, listening on an ephemeral IPv4 loopback and IPv6 wildcard port) are found
// through its socket inodes; a cut of the default interface is refused naming both.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include <gtest/gtest.h>

#include "common/proc.hpp"
#include "safety/protected_local.hpp"
#include "support/test_support.hpp"

namespace inj::safety {
namespace {

using namespace std::chrono_literals;

// A child named sshd listening on 127.0.0.1:0 and [::]:0; the two ports come back through a pipe.
pid_t fake_sshd(uint16_t* v4_port, uint16_t* v6_port) {
    int p[2];
    if (::pipe(p) != 0) return 0;
    pid_t pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_NAME, "sshd");
        uint16_t ports[2] = {0, 0};
        int a = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in s4{};
        s4.sin_family = AF_INET;
        s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int b = ::socket(AF_INET6, SOCK_STREAM, 0);
        int only6 = 1;
        ::setsockopt(b, IPPROTO_IPV6, IPV6_V6ONLY, &only6, sizeof(only6));
        sockaddr_in6 s6{};
        s6.sin6_family = AF_INET6;
        socklen_t l4 = sizeof(s4), l6 = sizeof(s6);
        if (::bind(a, reinterpret_cast<sockaddr*>(&s4), sizeof(s4)) == 0 && ::listen(a, 1) == 0 &&
            ::getsockname(a, reinterpret_cast<sockaddr*>(&s4), &l4) == 0 &&
            ::bind(b, reinterpret_cast<sockaddr*>(&s6), sizeof(s6)) == 0 && ::listen(b, 1) == 0 &&
            ::getsockname(b, reinterpret_cast<sockaddr*>(&s6), &l6) == 0) {
            ports[0] = ntohs(s4.sin_port);
            ports[1] = ntohs(s6.sin6_port);
        }
        (void)!::write(p[1], ports, sizeof(ports));
        ::pause();
        ::_exit(0);
    }
    ::close(p[1]);
    uint16_t ports[2] = {0, 0};
    bool ok = ::read(p[0], ports, sizeof(ports)) == sizeof(ports) && ports[0] && ports[1];
    ::close(p[0]);
    *v4_port = ports[0];
    *v6_port = ports[1];
    if (!ok) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return 0;
    }
    return pid;
}

TEST(ProtectedLocalMachine, DefaultRouteAndSshdPortsAreProtected) {
    INJ_REQUIRE_PRIVILEGE();
    uint16_t p4 = 0, p6 = 0;
    pid_t sshd = fake_sshd(&p4, &p6);
    ASSERT_NE(sshd, 0);
    auto prot = local_protected();
    ::kill(sshd, SIGKILL);
    ::waitpid(sshd, nullptr, 0);

    std::vector<std::string> seen;
    for (auto& p : prot) seen.push_back(p.describe());
    auto has = [&](const std::string& d) { return std::find(seen.begin(), seen.end(), d) != seen.end(); };
    EXPECT_TRUE(has("port " + std::to_string(p4) + " on 127.0.0.1")) << testing::PrintToString(seen);
    EXPECT_TRUE(has("port " + std::to_string(p6))) << testing::PrintToString(seen);

    auto route = run({"ip", "-4", "route", "show", "default"}, 10s);
    ASSERT_TRUE(route.ok() && route->exit_code == 0);
    std::string default_if;
    if (!route->output.empty()) {
        // "default via 192.0.2.1 dev eth0 ..."
        std::istringstream in(route->output);
        std::string w, via, dev;
        while (in >> w) {
            if (w == "via") in >> via;
            if (w == "dev" && dev.empty()) in >> dev;
        }
        default_if = dev;
        EXPECT_TRUE(has("interface " + dev)) << testing::PrintToString(seen);
        if (!via.empty()) {
            EXPECT_TRUE(has("address " + via)) << testing::PrintToString(seen);
        }
    }
    if (default_if.empty()) GTEST_SKIP() << "this machine has no IPv4 default route to protect";
    auto r = refusal(prot, Cut{{default_if}, {}, {}, {}});
    ASSERT_TRUE(r);
    EXPECT_NE(r->find("interface " + default_if), std::string::npos) << *r;
    EXPECT_NE(r->find("port " + std::to_string(p6) + " (a port a running sshd listens on)"), std::string::npos) << *r;
    EXPECT_EQ(r->find("port " + std::to_string(p4)), std::string::npos) << "loopback-only listener: " << *r;
}

}  // namespace
}  // namespace inj::safety
