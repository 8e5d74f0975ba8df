// The terminal summary shows, under a power_loss fault, when each restored service was healthy
// again (its RTO) or that it was not.
#include <gtest/gtest.h>

#include <sstream>

#include "report/summary.hpp"

namespace inj::report {
namespace {

TEST(ReportSummary, PowerLossShowsRtoPerService) {
    runner::RunOutcome o;
    o.verdict = "held";
    o.plan_name = "pangyo-fire";
    runner::FaultRecord f;
    f.name = "pangyo-power";
    f.kind = "power_loss";
    f.injected_at = std::chrono::seconds(5);
    f.healed_at = std::chrono::seconds(25);
    f.recoveries.push_back({"etcd", "kv-1", 4242, std::chrono::milliseconds(1500), true, ""});
    f.recoveries.push_back({"api", "kv-1", 4243, std::chrono::seconds(30), false, "not ready after 30s"});
    o.faults.push_back(f);
    std::ostringstream os;
    print_summary(os, o, false);
    std::string s = os.str();
    EXPECT_NE(s.find("etcd on kv-1 healthy again after 1.5s (RTO, pid 4242)"), std::string::npos) << s;
    EXPECT_NE(s.find("api on kv-1 NOT healthy again: not ready after 30s"), std::string::npos) << s;
}

TEST(ReportSummary, AFleetStepShowsItsSpreadAndTheLeadItWasGiven) {
    runner::RunOutcome o;
    o.verdict = "held";
    runner::FaultRecord f;
    f.name = "cut";
    f.kind = "sever";
    f.injected_at = std::chrono::seconds(3);
    f.engine_report = {{"activation",
                        {{"agents_confirmed", 16},
                         {"spread_ms", 0.671},
                         {"late_max_ms", 0.0},
                         {"lead_ms", 230.0},
                         {"delivery_max_ms", 109.94},
                         {"clock_skew_ms", 35.5}}}};
    o.faults.push_back(f);
    std::ostringstream os;
    print_summary(os, o, false);
    std::string s = os.str();
    EXPECT_NE(s.find("fleet: 16 agents applied it within 0.671 ms of each other (last 0.000 ms after the agreed "
                     "instant; lead 230 ms, slowest receipt 109.9 ms)"),
              std::string::npos)
        << s;
    EXPECT_NE(s.find("fleet: an agent's clock is off the controller's by at least 35.5 ms"), std::string::npos) << s;
}

TEST(ReportSummary, ExpectationsAreListedMetOrNot) {
    runner::RunOutcome o;
    o.verdict = "violated";
    o.exit_code = 1;
    o.expectations.push_back({"rto etcd@kv-1", true, "etcd on kv-1 ready 126ms after power returned"});
    o.expectations.push_back({"rpo acknowledged-writes", false, "2 of 151 acknowledged records lost"});
    std::ostringstream os;
    print_summary(os, o, false);
    std::string s = os.str();
    EXPECT_NE(s.find("expectations:"), std::string::npos) << s;
    // Name, a status column, then the message.
    EXPECT_NE(s.find("  rto etcd@kv-1" + std::string(16, ' ') + "met      etcd on kv-1 ready 126ms"), std::string::npos)
        << s;
    EXPECT_NE(s.find("  rpo acknowledged-writes" + std::string(6, ' ') + "NOT MET  2 of 151 acknowledged records lost"),
              std::string::npos)
        << s;
}

}  // namespace
}  // namespace inj::report
