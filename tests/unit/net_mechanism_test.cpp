// Which mechanism carries each part of a degrade_link plan, given what the kernel offers, and
// the tc lines that set up the egress ports (HTB classes by mark, fq for EDT).
#include <gtest/gtest.h>

#include "net/compile.hpp"
#include "net/mechanism.hpp"
#include "net/shaper.hpp"

namespace inj::net {
namespace {

using namespace std::chrono_literals;

plan::Plan with_degrade(plan::LinkDegrade d) {
    plan::Plan p;
    plan::Fault f;
    f.name = "wan";
    f.spec = plan::DegradeLinkSpec{};
    std::get<plan::DegradeLinkSpec>(f.spec).link = d;
    f.mark = {"p.yaml", 12, 5};
    p.method = {f};
    return p;
}

Capabilities caps(bool fq, bool htb, bool tun) {
    Capabilities c;
    c.fq = fq;
    c.htb = htb;
    c.tun = tun;
    c.probed = true;
    return c;
}

TEST(NetMechanism, PlansWithoutDegradeNeedNothing) {
    plan::Plan p;
    plan::Fault f;
    f.spec = plan::SeverSpec{};
    p.method = {f};
    auto m = choose_mechanisms(p, caps(false, false, false));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m.value().latency, Mechanisms::Latency::none);
    EXPECT_FALSE(m.value().rate);
    EXPECT_TRUE(m.value().describe().empty());
    // And this machine is not even probed for them.
    EXPECT_TRUE(choose_mechanisms(p).ok());
}

TEST(NetMechanism, LatencyPrefersEdtThenTheDelayLine) {
    plan::LinkDegrade d;
    d.delay = 20ms;
    auto p = with_degrade(d);
    auto edt = choose_mechanisms(p, caps(true, true, true));
    ASSERT_TRUE(edt.ok());
    EXPECT_EQ(edt.value().latency, Mechanisms::Latency::edt);
    auto line = choose_mechanisms(p, caps(false, true, true));
    ASSERT_TRUE(line.ok());
    EXPECT_EQ(line.value().latency, Mechanisms::Latency::delay_line);
    ASSERT_EQ(line.value().describe().size(), 1u);
    EXPECT_NE(line.value().describe()[0].find("delay line"), std::string::npos);
}

TEST(NetMechanism, MissingMechanismsAreNamed) {
    plan::LinkDegrade d;
    d.delay = 20ms;
    d.rate_bps = 1'000'000;
    auto m = choose_mechanisms(with_degrade(d), caps(false, false, false));
    ASSERT_FALSE(m.ok());
    std::string e = m.error().message();
    EXPECT_NE(e.find("fault wan (p.yaml:12:5) adds latency"), std::string::npos) << e;
    EXPECT_NE(e.find("sch_fq"), std::string::npos) << e;
    EXPECT_NE(e.find("/dev/net/tun"), std::string::npos) << e;
    EXPECT_NE(e.find("sch_htb"), std::string::npos) << e;
    // Loss, corruption and duplication need nothing beyond the classifier.
    plan::LinkDegrade lossy;
    lossy.loss = 0.1;
    lossy.corrupt = 0.1;
    lossy.duplicate = 0.1;
    auto ok = choose_mechanisms(with_degrade(lossy), caps(false, false, false));
    ASSERT_TRUE(ok.ok());
    EXPECT_TRUE(ok.value().corrupt);
}

TEST(NetMechanism, ShaperLines) {
    auto htb = shaper_lines({"h0"}, {{3, 10'000'000}}, false);
    ASSERT_EQ(htb.size(), 3u);
    EXPECT_EQ(htb[0], "qdisc replace dev h0 root handle 1: htb default 0");
    EXPECT_EQ(htb[1], "class add dev h0 parent 1: classid 1:4 htb rate 10000000bit ceil 10000000bit");
    EXPECT_EQ(htb[2],
              "filter add dev h0 parent 1: protocol all prio 1 u32 match mark 0x1a7e0404 0xffffffff classid 1:4");
    EXPECT_EQ(rate_mark(3), 0x1a7e0404u);
    // EDT alone: fq at the root; EDT with a cap: every class (the default one too) ends in fq.
    EXPECT_EQ(shaper_lines({"h0", "h1"}, {}, true),
              (std::vector<std::string>{"qdisc replace dev h0 root fq", "qdisc replace dev h1 root fq"}));
    auto both = shaper_lines({"h0"}, {{0, 1'000'000}}, true);
    EXPECT_EQ(both[0], "qdisc replace dev h0 root handle 1: htb default ffff");
    EXPECT_EQ(std::count_if(both.begin(), both.end(), [](auto& l) { return l.find(" fq") != std::string::npos; }), 2);
    EXPECT_TRUE(shaper_lines({"h0"}, {}, false).empty());
}

TEST(NetMechanism, DescribeDegrade) {
    plan::LinkDegrade d;
    d.loss = 0.05;
    d.loss_burst = 4;
    d.delay = 50ms;
    d.jitter = 5ms;
    d.rate_bps = 10'000'000;
    d.protocol = 6;
    d.port_lo = 2379;
    d.port_hi = 2380;
    EXPECT_EQ(describe_degrade(d),
              "loss 5% (bursts of 4 on average), latency 50ms +- 5ms, rate cap 10 mbit/s on tcp port 2379-2380");
}

}  // namespace
}  // namespace inj::net
