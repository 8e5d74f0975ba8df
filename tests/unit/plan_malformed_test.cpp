// Plan loader: malformed durations, sizes, rates and probabilities are plan errors at
// file:line:col on the field (exit 64 from the CLI), never an exception out of the loader (which
// the CLI reports as "internal error", exit 3). Each value is one a user or a fuzzer produced.
#include <gtest/gtest.h>

#include "common/duration.hpp"
#include "plan_test_util.hpp"

namespace inj::plan::test {
namespace {

const std::string kFault = "  - { name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }";

// The plan with `value` quoted in the fault's `at` (the first field every fault has).
std::string at(const std::string& value) {
    return with(kBase, kFault,
                "  - { name: f1, fault: sever, at: '" + value + "', duration: 10s, target: { zone: z1 } }");
}

const char* kBadDurations[] = {".s",
                               ".",
                               "..s",
                               "s",
                               "1",
                               "1.2.3s",
                               "ms",
                               "5 parsecs",
                               "1e3s",
                               "-1s",
                               "+1s",
                               "1s-",
                               "0x10s",
                               "nan",
                               "inf",
                               "infs",
                               "1ss",
                               "1s2",
                               "1.s.",
                               "\t",
                               "1 s s",
                               "99999999999999999999999999999999999999999h",
                               "1000000000000000000000000000000000000000000000000000000000000000000000000000000000000s",
                               "0.0000000000000000000000000000000000000000000000000000000000000000000000001"};

TEST(PlanMalformed, DurationsNeverThrow) {
    for (const char* bad : kBadDurations) {
        std::string why;
        EXPECT_FALSE(parse_duration(bad, &why).has_value()) << bad;
        EXPECT_FALSE(why.empty()) << bad;
    }
}

TEST(PlanMalformed, DurationsAreErrorsAtTheirPosition) {
    for (const char* bad : kBadDurations) {
        std::string y = at(bad);
        expect_error(load(y), pos(y, std::string("'") + bad), "method[0].at", "bad duration");
    }
}

TEST(PlanMalformed, GoodDurationsStillParse) {
    using namespace std::chrono_literals;
    EXPECT_EQ(*parse_duration(".5s"), 500ms);
    EXPECT_EQ(*parse_duration("1.s"), 1s);
    EXPECT_EQ(*parse_duration("1h0.5m"), 3630s);
}

TEST(PlanMalformed, Sizes) {
    const std::string fault =
        "{ name: slow, fault: degrade_storage, at: 2s, duration: 20s, target: { host: h1 }, volume: data, "
        "limit: { read_bps: 'VALUE' } }";
    std::string base =
        with(kBase, "safety:",
             "lab:\n  services:\n    - { name: kv, hosts: [h1, h2], volume: data, command: \"kv --dir {volume}\" }\n"
             "safety:");
    for (const char* bad : {".", "..MiB", "1.2.3MiB", "MiB", "", "/s", "1 parsec", "0.0001", "1e6", "-1MiB", "1MiB/s/s",
                            "99999999999999999999999999999999999999GiB"}) {
        std::string f = fault;
        f.replace(f.find("VALUE"), 5, bad);
        std::string y = with(base, kFault, "  - " + f);
        auto r = load(y);
        EXPECT_FALSE(r.plan.has_value()) << bad;
        bool found = false;
        for (auto& e : r.errors)
            if (e.path == "method[0].limit.read_bps") {
                found = true;
                EXPECT_EQ(std::to_string(e.mark.line) + ":" + std::to_string(e.mark.col),
                          pos(y, std::string("'") + bad + "'"))
                    << bad << ": " << e.str();
            }
        EXPECT_TRUE(found) << bad << "\n" << dump(r);
    }
}

std::string degrade(const std::string& extra) {
    return with(
        kBase, kFault,
        "  - { name: wan, fault: degrade_link, at: 1s, duration: 10s, target: { zone: z1 }, peer: { zone: z2 }, " +
            extra + " }");
}

TEST(PlanMalformed, Rates) {
    for (const char* bad : {".", ".mbit", "1..2mbit", "mbit", "nanmbit", "infgbit", "1e400mbit", "-5mbit", "10mbit/s",
                            "9999999999999999999999999999999999999999gbit"}) {
        std::string y = degrade(std::string("rate: '") + bad + "'");
        auto r = load(y);
        EXPECT_FALSE(r.plan.has_value()) << bad;
        bool found = false;
        for (auto& e : r.errors) found |= e.path == "method[0].rate";
        EXPECT_TRUE(found) << bad << "\n" << dump(r);
    }
}

TEST(PlanMalformed, Probabilities) {
    for (const char* bad :
         {".", "%", ".%", "nan", "nan%", "inf", "-0.1", "1.01", "101%", "0.5%%", "5 %", "1e999", "0x1p-2x", "one"}) {
        std::string y = degrade(std::string("loss: '") + bad + "'");
        auto r = load(y);
        EXPECT_FALSE(r.plan.has_value()) << bad;
        bool found = false;
        for (auto& e : r.errors)
            if (e.path.rfind("method[0].loss", 0) == 0) {
                found = true;
                EXPECT_EQ(std::to_string(e.mark.line) + ":" + std::to_string(e.mark.col),
                          pos(y, std::string("'") + bad + "'"))
                    << bad;
            }
        EXPECT_TRUE(found) << bad << "\n" << dump(r);
    }
}

TEST(PlanMalformed, ALineBeginningWithACommaIsAPlanErrorNotAHang) {
    // Found by fuzz/plan_fuzz.cpp: yaml-cpp 0.7 loops forever, its memory growing, on these.
    for (const char* text : {",cm:m:", ",a", "  ,a", "# c\n,a", "- a\n,b", "# pangyo's room\n,a", "x: it's\n,a"}) {
        auto r = load_string(text, "t.yaml");
        ASSERT_FALSE(r.errors.empty()) << text;
        EXPECT_NE(r.errors[0].message.find("may not begin with ','"), std::string::npos) << text;
    }
    // Inside a flow collection a line may begin with ',' (and quoted text may hold one).
    auto r = load_string("name: [x\n,a]\ndescription: \"\n,x\"\n", "t.yaml");
    for (auto& e : r.errors) EXPECT_EQ(e.message.find("may not begin with ','"), std::string::npos) << e.str();
}

}  // namespace
}  // namespace inj::plan::test
