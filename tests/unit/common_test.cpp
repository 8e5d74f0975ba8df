// Durations, addresses and process helpers shared by every component.
#include <gtest/gtest.h>

#include "common/duration.hpp"
#include "common/netaddr.hpp"
#include "common/proc.hpp"

using namespace inj;
using namespace std::chrono_literals;

TEST(Duration, ParsesUnitsAndSums) {
    EXPECT_EQ(*parse_duration("500ms"), 500ms);
    EXPECT_EQ(*parse_duration("30s"), 30s);
    EXPECT_EQ(*parse_duration("5m"), 5min);
    EXPECT_EQ(*parse_duration("1h30m"), 90min);
    EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
    EXPECT_EQ(*parse_duration("0"), 0s);
    EXPECT_EQ(*parse_duration(" 2us "), 2us);
}

TEST(Duration, RejectsNegativeAndGarbageWithReason) {
    std::string why;
    EXPECT_FALSE(parse_duration("-5s", &why));
    EXPECT_EQ(why, "negative duration");
    EXPECT_FALSE(parse_duration("5", &why));
    EXPECT_NE(why.find("missing unit"), std::string::npos);
    EXPECT_FALSE(parse_duration("5 parsecs", &why));
    EXPECT_FALSE(parse_duration("soon", &why));
    EXPECT_FALSE(parse_duration("", &why));
    EXPECT_FALSE(parse_duration("10d", &why));
    EXPECT_NE(why.find("unknown unit"), std::string::npos);
}

TEST(Duration, FormatsForHumans) {
    EXPECT_EQ(format_duration(30s), "30s");
    EXPECT_EQ(format_duration(1500ms), "1.5s");
    EXPECT_EQ(format_duration(250ms), "250ms");
    EXPECT_EQ(format_duration(150s), "2m30s");
    EXPECT_EQ(format_duration(0s), "0s");
}

TEST(NetAddr, ParsesV4V6AndPrefixes) {
    auto c = Cidr::parse("198.18.4.7/22");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->network().str(), "198.18.4.0/22");
    EXPECT_TRUE(c->contains(*IpAddr::parse("198.18.7.255")));
    EXPECT_FALSE(c->contains(*IpAddr::parse("198.18.8.0")));
    EXPECT_EQ(c->network().nth(2).str(), "198.18.4.2");
    EXPECT_EQ(c->network().nth(300).str(), "198.18.5.44");
    auto v6 = Cidr::parse("2001:2:0:1::/64");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->addr.v6);
    EXPECT_EQ(v6->nth(16).str(), "2001:2:0:1::10");
    EXPECT_FALSE(v6->contains(*IpAddr::parse("198.18.0.1")));
    auto host = Cidr::parse("198.18.0.1");
    ASSERT_TRUE(host);
    EXPECT_EQ(host->prefix, 32);
    std::string why;
    EXPECT_FALSE(Cidr::parse("198.18.0.0/33", &why));
    EXPECT_FALSE(Cidr::parse("300.1.1.1", &why));
    EXPECT_FALSE(Cidr::parse("198.18.0.0/", &why));
}

TEST(NetAddr, LabRanges) {
    EXPECT_TRUE(lab_range_v4().contains(*Cidr::parse("198.19.255.0/30")));
    EXPECT_FALSE(lab_range_v4().contains(*Cidr::parse("10.0.0.0/24")));
    EXPECT_TRUE(lab_range_v4().overlaps(*Cidr::parse("198.0.0.0/8")));
    EXPECT_TRUE(lab_range_v6().contains(*IpAddr::parse("2001:2::5")));
}

TEST(Proc, RunCapturesOutputAndExitCode) {
    auto r = run_shell("echo hello; exit 3", 5s);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->exit_code, 3);
    EXPECT_EQ(r->output, "hello\n");
    EXPECT_FALSE(r->timed_out);
}

TEST(Proc, TimeoutKillsTheProcessGroup) {
    auto r = run_shell("sleep 30 & sleep 30", 200ms);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->timed_out);
    EXPECT_LT(r->elapsed, 5s);
}

TEST(Proc, MissingProgramIsAnError) {
    auto r = run({"/nonexistent/program"}, 1s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ENOENT);
    EXPECT_EQ(r.error().op, "exec");
}
