// Regression tests for what the fuzzers found in the agent's parsers (fuzz/desired_fuzz.cpp). Each
// input once crashed its parser.
#include <gtest/gtest.h>

#include "fleet/protocol.hpp"

namespace inj::fleet {
namespace {

TEST(FuzzFound, OutOfRangeNumbersAreRefusedNotUndefined) {
    // nlohmann converted 4.9e68 to int (undefined behaviour; UBSan stopped the fuzzer).
    EXPECT_FALSE(agent_info_from_json(R"({"host":"h1","pid":488888888888888888888888888888888888888888888888888888888888888888882})"));
    EXPECT_FALSE(desired_from_json(R"({"run":"r","lease_ttl_ms":1e300})"));
    EXPECT_FALSE(desired_from_json(R"({"run":"r","generation":-1})"));
    EXPECT_FALSE(desired_from_json(R"({"run":"r","faults":[{"index":1.5}]})"));
    EXPECT_FALSE(status_from_json(R"({"host":"h","updated_ns":"7"})"));
    auto d = desired_from_json(R"({"run":"r","generation":3,"lease_ttl_ms":3000,"faults":[{"index":0,"armed":true}]})");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->generation, 3u);
    EXPECT_EQ(d->lease_ttl_ms, 3000);
    ASSERT_EQ(d->faults.size(), 1u);
}

TEST(FuzzFound, TooManyDesiredFaultsAreRefused) {
    std::string f = R"({"run":"r","faults":[)";
    for (int i = 0; i < 2000; ++i) f += std::string(i ? "," : "") + R"({"index":0})";
    EXPECT_FALSE(desired_from_json(f + "]}"));
}

}  // namespace
}  // namespace inj::fleet
