// Regression tests for what the fuzzers found in the agent's parsers (fuzz/desired_fuzz.cpp), each
// input once crashed its parser; and the engine reports an agent carries back in its status.
#include <gtest/gtest.h>

#include <sstream>

#include "faults/power_loss/power_engine.hpp"
#include "fleet/fleet_engine.hpp"
#include "fleet/protocol.hpp"
#include "report/summary.hpp"

namespace inj::fleet {
namespace {

TEST(FuzzFound, OutOfRangeNumbersAreRefusedNotUndefined) {
    // nlohmann converted 4.9e68 to int (undefined behaviour; UBSan stopped the fuzzer).
    EXPECT_FALSE(agent_info_from_json(
        R"({"host":"h1","pid":488888888888888888888888888888888888888888888888888888888888888888882})"));
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

TEST(FleetLead, TheLeadCoversTwiceTheSlowestRecentDeliveryWithinItsBounds) {
    using std::chrono::milliseconds;
    const milliseconds floor{150}, cap{5000};
    EXPECT_EQ(choose_lead({}, floor, cap), floor);                         // nothing seen yet: the floor
    EXPECT_EQ(choose_lead({3.1, 20, 7}, floor, cap), floor);               // a quiet fleet keeps the floor
    EXPECT_EQ(choose_lead({12, 100, 40}, floor, cap), milliseconds(210));  // the slowest step, twice, + 10
    EXPECT_EQ(choose_lead({100.2}, floor, cap), milliseconds(211));        // rounded up, never short
    EXPECT_EQ(choose_lead({4000}, floor, cap), cap);
    EXPECT_EQ(choose_lead({1e300}, floor, cap), cap);  // an absurd delivery cannot overflow the lead
    EXPECT_EQ(choose_lead({500}, milliseconds(2000), cap), milliseconds(2000));
}

// A status of `run`'s step `gen` that says when its agent received the step.
Status st(const char* run, uint64_t gen, uint64_t received) {
    Status s;
    s.run = run;
    s.generation = gen;
    s.received_ns = received;
    return s;
}

TEST(FleetLead, TheSlowestDeliveryIsOfThisRunAndStepOnly) {
    const uint64_t pub = 1'000'000'000'000;
    std::map<std::string, Status> m = {
        {"a", st("r1", 5, pub + 12'000'000)},
        {"b", st("r1", 5, pub + 30'500'000)},
        {"c", st("r1", 4, pub + 900'000'000)},  // an older step: not this one's delivery
        {"d", st("r2", 5, pub + 800'000'000)},  // another run
        {"e", st("r1", 5, pub - 50'000'000)},   // a clock behind the controller's: 0, not negative
        {"f", st("r1", 5, 0)},                  // an agent that does not say
    };
    EXPECT_DOUBLE_EQ(slowest_delivery(m, "r1", 5, pub), 30.5);
    m.erase("b");
    m.erase("a");
    EXPECT_DOUBLE_EQ(slowest_delivery(m, "r1", 5, pub), 0);
}

// One clock is what the agreed instant assumes: a receipt outside [publish, read] proves an
// agent's clock is off by at least the distance, and nothing inside it proves anything.
TEST(FleetLead, AReceiptOutsidePublishAndReadProvesAClockSkew) {
    const uint64_t pub = 5'000'000'000'000, read = pub + 40'000'000;  // read 40 ms after publish
    std::map<std::string, Status> m = {
        {"in-sync", st("r", 3, pub + 10'000'000)},
        {"behind", st("r", 3, pub - 250'000'000)},  // stamped 250 ms before the publish
        {"ahead", st("r", 3, read + 1'500'000)},    // 1.5 ms after the controller read it
        {"silent", st("r", 3, 0)},
        {"other-step", st("r", 2, pub - 900'000'000)},
        {"other-run", st("q", 3, pub - 900'000'000)},
    };
    auto skews = clock_skews(m, "r", 3, pub, read);
    EXPECT_EQ(skews.size(), 2u);
    EXPECT_DOUBLE_EQ(skews["behind"], -250.0);
    EXPECT_DOUBLE_EQ(skews["ahead"], 1.5);
    EXPECT_TRUE(clock_skews({{"in-sync", m["in-sync"]}}, "r", 3, pub, read).empty());
}

TEST(FleetLead, AStatusCarriesWhenItsStepWasReceived) {
    Status s;
    s.host = "h";
    s.run = "r";
    s.generation = 2;
    s.received_ns = 1234567890123;
    auto back = status_from_json(to_json(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->received_ns, 1234567890123u);
    EXPECT_FALSE(status_from_json(R"({"host":"h","received_ns":-5})"));
    EXPECT_FALSE(status_from_json(R"({"host":"h","received_ns":1.5e300})"));
    auto old = status_from_json(R"({"host":"h","run":"r","generation":2})");  // an agent that does not say
    ASSERT_TRUE(old);
    EXPECT_EQ(old->received_ns, 0u);
}

TEST(FuzzFound, TooManyDesiredFaultsAreRefused) {
    std::string f = R"({"run":"r","faults":[)";
    for (int i = 0; i < 2000; ++i) f += std::string(i ? "," : "") + R"({"index":0})";
    EXPECT_FALSE(desired_from_json(f + "]}"));
}

// A power engine's report as crash_watch.cpp writes it: a crash point that fired on `host` and
// its volume's account of the cut.
nlohmann::json power_report(const std::string& host, uint64_t fired_at, size_t entries = 2) {
    nlohmann::json account = nlohmann::json::array();
    for (size_t i = 0; i < entries; ++i)
        account.push_back("write /data/wal-" + std::to_string(i) + " 4096 bytes not fsynced");
    return {{"crash_point",
             {{"armed_volumes", 1},
              {"fired", true},
              {"host", host},
              {"volume", "etcd-data"},
              {"operation", "fsync"},
              {"path", "/data/wal"},
              {"nth", 3},
              {"when", "before"},
              {"realtime_ns", fired_at},
              {"loss_applied_us", 12.5},
              {"dark_us", 800.0}}},
            {"lost",
             {{{"host", host},
               {"volume", "etcd-data"},
               {"account", {{"entries", account}}},
               {"summary", {"etcd-data on " + host + ": " + std::to_string(entries) + " writes lost"}}}}}};
}

Status status_with(const nlohmann::json& report) {
    Status s;
    s.host = "kv-1";
    s.run = "r";
    s.generation = 3;
    s.state = "ready";
    AppliedFault a;
    a.index = 0;
    a.recoveries.push_back({"etcd", 42, 480'000'000, true, ""});
    a.report = report;
    s.faults.push_back(a);
    return s;
}

// The status document with the first fault's report replaced by `report_text` (any JSON text).
std::string with_report_text(const std::string& report_text) {
    std::string doc = to_json(status_with(nullptr));
    const std::string key = R"("recoveries":)";
    return doc.insert(doc.find(key), R"("report":)" + report_text + ",");
}

TEST(FleetReports, AnAgentsReportComesBackWhole) {
    const auto r = power_report("kv-1", 1'700'000'000'000'000'000ull);
    auto back = status_from_json(to_json(status_with(r)));
    ASSERT_TRUE(back);
    ASSERT_EQ(back->faults.size(), 1u);
    EXPECT_EQ(back->faults[0].report, r);
    EXPECT_EQ(back->faults[0].report_error, "");
    // No report (an agent of a kind with none, or an older agent): none, and no complaint.
    auto none = status_from_json(to_json(status_with(nullptr)));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->faults[0].report.is_null());
    EXPECT_EQ(none->faults[0].report_error, "");
}

TEST(FleetReports, AMalformedOrOversizedReportIsIgnoredAndTheStatusStands) {
    for (const std::string bad : {R"("lost everything")", "[1,2]", "7", "true"}) {
        auto s = status_from_json(with_report_text(bad));
        ASSERT_TRUE(s) << bad;
        EXPECT_TRUE(s->faults[0].report.is_null()) << bad;
        EXPECT_NE(s->faults[0].report_error.find("not an object"), std::string::npos) << s->faults[0].report_error;
        // The confirmation and the restore it carries are still read.
        EXPECT_EQ(s->generation, 3u);
        ASSERT_EQ(s->faults[0].recoveries.size(), 1u);
        EXPECT_EQ(s->faults[0].recoveries[0].rto_ns, 480'000'000u);
    }
    auto big = power_report("kv-1", 1, 400).dump();
    ASSERT_GT(big.size(), kMaxFaultReportBytes);
    auto s = status_from_json(with_report_text(big));
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->faults[0].report.is_null());
    EXPECT_NE(s->faults[0].report_error.find("bytes, over the limit of 4096"), std::string::npos)
        << s->faults[0].report_error;
    EXPECT_EQ(s->faults[0].recoveries.size(), 1u);
    // A status that is not JSON at all is refused whole, as before.
    EXPECT_FALSE(status_from_json(with_report_text("{\"crash_point\":")));
}

TEST(FleetReports, AnAgentCutsALongReportToTheBoundKeepingWhatSaysWhatHappened) {
    auto big = power_report("kv-1", 1'700'000'000'000'000'000ull, 400);
    // A path that is not UTF-8 (file names are any bytes): written, never thrown.
    big["lost"][0]["account"]["entries"][0] = std::string("write /data/\xff\xfe 1 byte");
    const size_t whole = big.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();
    auto b = bounded_report(big);
    const std::string text = b.dump();
    EXPECT_LE(text.size(), kMaxFaultReportBytes);
    EXPECT_EQ(b["truncated_from_bytes"].get<size_t>(), whole);
    EXPECT_EQ(b["crash_point"], big["crash_point"]);
    EXPECT_EQ(b["lost"][0]["summary"], big["lost"][0]["summary"]);
    EXPECT_EQ(b["lost"][0]["volume"], "etcd-data");
    // The status document with it parses back on the controller, within its limit.
    auto s = status_from_json(to_json(status_with(b)));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->faults[0].report_error, "");
    EXPECT_EQ(s->faults[0].report, b);
    // A short report is left as it is, and tiny bounds still give an object.
    EXPECT_EQ(bounded_report(power_report("kv-1", 5)), power_report("kv-1", 5));
    EXPECT_TRUE(bounded_report(big, 10).is_object());
    EXPECT_LE(bounded_report(big, 100).dump().size(), 100u);
}

// The fleet's summary of one power loss reads as a local one does: the terminal summary prints
// the same crash point and lost lines from the agents' merged reports.
TEST(FleetReports, PowerReportsOfSeveralHostsMergeIntoTheLocalFields) {
    std::map<std::string, nlohmann::json> by_host = {{"kv-1", power_report("kv-1", 2000)},
                                                     {"kv-2", power_report("kv-2", 1000)}};
    // A host speaks for itself only; the crash point that fired first (kv-2's) is the run's.
    by_host["kv-1"]["lost"][0]["host"] = "kv-9";
    auto m = power::merge_reports(by_host);
    EXPECT_EQ(m["crash_point"]["armed_volumes"], 2);
    EXPECT_EQ(m["crash_point"]["host"], "kv-2");
    EXPECT_EQ(m["crash_point"]["realtime_ns"], 1000);
    ASSERT_EQ(m["lost"].size(), 2u);
    EXPECT_EQ(m["lost"][0]["host"], "kv-1");
    EXPECT_EQ(m["lost"][1]["host"], "kv-2");

    auto summary = [](const nlohmann::json& engine) {
        runner::RunOutcome o;
        o.verdict = "held";
        runner::FaultRecord f;
        f.name = "pangyo-power";
        f.kind = "power_loss";
        f.engine_report = engine;
        o.faults.push_back(f);
        std::ostringstream os;
        report::print_summary(os, o, false);
        const std::string s = os.str();
        return s.substr(s.find("crash point"));
    };
    auto local = power_report("kv-2", 1000);
    EXPECT_EQ(summary(power::merge_reports({{"kv-2", local}})), summary(local));

    // Wrong types from a hostile agent are left out, never thrown at the report's readers.
    nlohmann::json hostile = {{"crash_point", {{"fired", "yes"}, {"armed_volumes", -1}}},
                              {"lost", {7, "x", {{"summary", 3}}}}};
    auto h = power::merge_reports({{"kv-3", hostile}, {"kv-4", {{"crash_point", {{"fired", true}, {"nth", "3"}}}}}});
    EXPECT_EQ(h["crash_point"]["host"], "kv-4");
    EXPECT_FALSE(h["crash_point"].contains("nth"));
    EXPECT_EQ(h["lost"].size(), 1u);
    EXPECT_NO_THROW(summary(h));
    EXPECT_TRUE(power::merge_reports({{"kv-5", "not an object"}}).empty());
    EXPECT_FALSE(m.contains("not_applied"));
}

// A crash point that fired on no agent's host: the fleet's report says the fault was not
// applied, as a local one does (the runner then ends a run that otherwise held not_applied);
// fired on any one host, it was.
TEST(FleetReports, ACrashPointThatFiredNowhereIsNotAppliedAnywhereItFiredItIs) {
    const nlohmann::json never = {{"crash_point", {{"armed_volumes", 0}, {"fired", false}}},
                                  {"not_applied", "its crash point (rename data/*) never fired: nothing went dark"}};
    auto none = power::merge_reports({{"kv-1", never}, {"kv-2", never}});
    EXPECT_EQ(none.value("not_applied", ""), never["not_applied"]);
    auto one = power::merge_reports({{"kv-1", never}, {"kv-2", power_report("kv-2", 1000)}});
    EXPECT_FALSE(one.contains("not_applied")) << one.dump();
    EXPECT_EQ(one["crash_point"]["host"], "kv-2");
}

}  // namespace
}  // namespace inj::fleet
