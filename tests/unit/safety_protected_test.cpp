// Protected by default: the parsers of /proc/net/{route,ipv6_route,tcp,tcp6} on files captured
// on a test machine (tests/data/protected/: default via 192.0.2.1 and fd00::1 on eth0; listeners
// on [::]:2222 inode 639395, 127.0.0.1:2223 inode 639396, [::1]:2224 inode 639397, 0.0.0.0:2024),
// and the refusal of cuts that would hit what is protected.
#include <gtest/gtest.h>

#include "safety/protected_local.hpp"
#include "support/test_support.hpp"
#include "targets/procfs.hpp"

namespace inj::safety {
namespace {

std::string fixture(const std::string& name) {
    auto t = targets::read_small_file(test::source_path("tests/data/protected/" + name));
    EXPECT_TRUE(t.ok()) << name;
    return t.ok() ? *t : std::string();
}
IpAddr ip(const char* s) { return *IpAddr::parse(s); }
Cidr cidr(const char* s) { return *Cidr::parse(s); }

TEST(ProtectedLocal, DefaultRoutesV4AndV6) {
    auto v4 = parse_default_routes_v4(fixture("route"));
    ASSERT_EQ(v4.size(), 1u);
    EXPECT_EQ(v4[0].interface, "eth0");
    ASSERT_TRUE(v4[0].gateway);
    EXPECT_EQ(v4[0].gateway->str(), "192.0.2.1");
    // The lo unreachable default (flags 0x200) is not a way out.
    auto v6 = parse_default_routes_v6(fixture("ipv6_route"));
    ASSERT_EQ(v6.size(), 1u);
    EXPECT_EQ(v6[0].interface, "eth0");
    ASSERT_TRUE(v6[0].gateway);
    EXPECT_EQ(v6[0].gateway->str(), "fd00::1");
    // A default without a gateway (a point-to-point link), and garbage lines.
    auto ptp = parse_default_routes_v4(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "ppp0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth9\tzz\n\n");
    ASSERT_EQ(ptp.size(), 1u);
    EXPECT_EQ(ptp[0].interface, "ppp0");
    EXPECT_FALSE(ptp[0].gateway);
}

TEST(ProtectedLocal, TcpListenersV4AndV6) {
    auto v4 = parse_tcp_listeners(fixture("tcp"), false);
    ASSERT_EQ(v4.size(), 2u);  // the TIME_WAIT line is not a listener
    EXPECT_EQ(v4[0].address.str(), "127.0.0.1");
    EXPECT_EQ(v4[0].port, 2223);
    EXPECT_EQ(v4[0].inode, 639396u);
    EXPECT_EQ(v4[1].address.str(), "0.0.0.0");
    EXPECT_EQ(v4[1].port, 2024);
    auto v6 = parse_tcp_listeners(fixture("tcp6"), true);
    ASSERT_EQ(v6.size(), 2u);
    EXPECT_EQ(v6[0].address.str(), "::");
    EXPECT_EQ(v6[0].port, 2222);
    EXPECT_EQ(v6[1].address.str(), "::1");
    EXPECT_EQ(v6[1].port, 2224);
    EXPECT_EQ(v6[1].inode, 639397u);
    auto picked = listeners_with_inodes(v6, {639395});
    ASSERT_EQ(picked.size(), 1u);
    EXPECT_EQ(picked[0].port, 2222);
}

ProtectedList fixture_protected() {
    auto routes = parse_default_routes_v4(fixture("route"));
    auto v6 = parse_default_routes_v6(fixture("ipv6_route"));
    routes.insert(routes.end(), v6.begin(), v6.end());
    auto all = parse_tcp_listeners(fixture("tcp6"), true);
    auto v4 = parse_tcp_listeners(fixture("tcp"), false);
    all.insert(all.end(), v4.begin(), v4.end());
    // sshd holds [::]:2222 and 127.0.0.1:2223.
    return protected_from(routes, listeners_with_inodes(all, {639395, 639396}));
}

TEST(ProtectedLocal, WhatIsProtectedByDefault) {
    auto p = fixture_protected();
    std::vector<std::string> d;
    for (auto& x : p) d.push_back(x.describe());
    EXPECT_EQ(d, (std::vector<std::string>{"interface eth0", "address 192.0.2.1", "address fd00::1", "port 2222",
                                           "port 2223 on 127.0.0.1"}));
}

TEST(ProtectedLocal, CutsThatHitProtectedThingsAreRefusedByName) {
    auto p = fixture_protected();
    // The default route's interface, whole.
    auto r = refusal(p, Cut{{"eth0"}, {}, {}, {}});
    ASSERT_TRUE(r);
    EXPECT_NE(r->find("interface eth0 (the interface of this machine's default route)"), std::string::npos) << *r;
    EXPECT_NE(r->find("port 2222 (a port a running sshd listens on)"), std::string::npos) << *r;
    EXPECT_EQ(r->find("2223"), std::string::npos) << "a loopback listener is not cut through eth0: " << *r;
    // Another interface, only sshd's port: the wildcard listener is reachable there.
    auto port = refusal(p, Cut{{"eth1"}, {2222}, {ip("198.18.0.1")}, {}});
    ASSERT_TRUE(port);
    EXPECT_NE(port->find("port 2222"), std::string::npos);
    EXPECT_EQ(port->find("eth0"), std::string::npos);
    // Another interface, another port: fine.
    EXPECT_FALSE(refusal(p, Cut{{"eth1"}, {5432}, {ip("198.18.0.1")}, {}}));
    // Cutting eth0 only towards lab peers leaves the operator's path: fine; towards the
    // gateway: refused.
    EXPECT_FALSE(refusal(p, Cut{{"eth0"}, {}, {}, {cidr("198.18.0.0/15")}}));
    auto gw = refusal(p, Cut{{"eth0"}, {}, {}, {cidr("192.0.2.0/24")}});
    ASSERT_TRUE(gw);
    EXPECT_NE(gw->find("address 192.0.2.1 (the gateway of this machine's default route (via eth0))"), std::string::npos)
        << *gw;
    auto gw6 = refusal(p, Cut{{"eth0"}, {}, {}, {cidr("::/0")}});
    ASSERT_TRUE(gw6);
    EXPECT_NE(gw6->find("fd00::1"), std::string::npos);
    // Nothing cut: nothing refused.
    EXPECT_FALSE(refusal(p, Cut{}));
}

TEST(ProtectedLocal, PlanEntries) {
    auto i = parse_protected_entry("interface", "eth1");
    ASSERT_TRUE(i.ok());
    auto p = parse_protected_entry("port", "5432");
    ASSERT_TRUE(p.ok());
    ProtectedList list{*i, *p};
    auto r = refusal(list, Cut{{"eth1"}, {}, {}, {}});
    ASSERT_TRUE(r);
    EXPECT_NE(r->find("interface eth1 (named in the plan's protected list)"), std::string::npos) << *r;
    EXPECT_NE(r->find("port 5432"), std::string::npos) << *r;
    for (auto [k, v] : std::vector<std::pair<const char*, const char*>>{{"interface", ""},
                                                                        {"interface", "a/b"},
                                                                        {"interface", "sixteen-chars-xx"},
                                                                        {"interface", "a b"},
                                                                        {"port", "0"},
                                                                        {"port", "65536"},
                                                                        {"port", "22x"},
                                                                        {"port", ""},
                                                                        {"port", "-1"},
                                                                        {"address", "1.2.3.4"}}) {
        auto bad = parse_protected_entry(k, v);
        EXPECT_FALSE(bad.ok()) << k << "=" << v;
    }
}

}  // namespace
}  // namespace inj::safety
