// run_verify() with a scripted shell, and judge() of expect.rto / expect.rpo: the read-back of
// acknowledged records and the verdict on recovery, without a lab.
#include <gtest/gtest.h>

#include "runner/verify.hpp"

namespace inj::runner {
namespace {

using namespace std::chrono_literals;

std::vector<AckedRecord> records(int n) {
    std::vector<AckedRecord> out;
    for (int i = 1; i <= n; ++i) out.push_back({"k-" + std::to_string(i), std::chrono::seconds(i)});
    return out;
}

Result<std::string> expand(const std::string& text, const std::string& ack) {
    std::string s = text;
    auto at = s.find("{ack}");
    if (at != std::string::npos) s.replace(at, 5, ack);
    return s;
}

plan::Verify verify(std::string command) {
    plan::Verify v;
    v.name = "readback";
    v.probe = "put";
    v.command = std::move(command);
    v.per_record = v.command.find("{ack}") != std::string::npos;
    v.timeout = 10s;
    return v;
}

TEST(RunnerVerify, OneCommandListsTheRecordsItStillHas) {
    std::string seen;
    auto shell = [&](const std::string& c, std::chrono::nanoseconds, const std::string&, size_t) -> Result<RunResult> {
        seen = c;
        RunResult r;
        r.exit_code = 0;
        r.output = "k-1\n\nk-2\r\n  k-4  \nnoise\n";  // k-3 and k-5 are gone
        return r;
    };
    auto r = run_verify(verify("get k- --prefix"), records(5), expand, "", shell);
    EXPECT_EQ(seen, "get k- --prefix");
    EXPECT_EQ(r.acknowledged, 5u);
    ASSERT_EQ(r.missing.size(), 2u);
    EXPECT_EQ(r.missing[0].record, "k-3");
    EXPECT_EQ(r.missing[1].record, "k-5");
    EXPECT_TRUE(r.error.empty());
}

TEST(RunnerVerify, PerRecordCommandsExitNonZeroForLostRecords) {
    std::vector<std::string> seen;
    auto shell = [&](const std::string& c, std::chrono::nanoseconds, const std::string&, size_t) -> Result<RunResult> {
        seen.push_back(c);
        RunResult r;
        r.exit_code = c == "get k-2" ? 1 : 0;
        return r;
    };
    auto r = run_verify(verify("get {ack}"), records(3), expand, "", shell);
    EXPECT_EQ(seen, (std::vector<std::string>{"get k-1", "get k-2", "get k-3"}));
    ASSERT_EQ(r.missing.size(), 1u);
    EXPECT_EQ(r.missing[0].record, "k-2");
}

TEST(RunnerVerify, AFailingOrTruncatedReadBackIsAnErrorNotALoss) {
    auto failing = [](const std::string&, std::chrono::nanoseconds, const std::string&, size_t) -> Result<RunResult> {
        RunResult r;
        r.exit_code = 2;
        r.output = "connection refused\n";
        return r;
    };
    auto r = run_verify(verify("get k- --prefix"), records(3), expand, "", failing);
    EXPECT_TRUE(r.missing.empty());
    EXPECT_NE(r.error.find("exit 2: connection refused"), std::string::npos) << r.error;
    auto truncated = [](const std::string&, std::chrono::nanoseconds, const std::string&, size_t) -> Result<RunResult> {
        RunResult r;
        r.exit_code = 0;
        r.truncated = true;
        return r;
    };
    r = run_verify(verify("get k- --prefix"), records(3), expand, "", truncated);
    EXPECT_NE(r.error.find("printed more than"), std::string::npos) << r.error;
}

ServiceRecovery rec(std::string host, std::chrono::nanoseconds rto, bool ready = true) {
    return {"etcd", std::move(host), 42, rto, ready, ready ? "" : "not ready after 30s"};
}

TEST(RunnerVerify, RtoIsJudgedPerServiceAndNotReadyAlwaysFails) {
    plan::Expect e;
    e.rto = 5s;
    auto out =
        judge(e, {{"fire", rec("kv-1", 2s)}, {"fire", rec("kv-2", 7s)}, {"fire", rec("kv-3", 1s, false)}}, {}, {});
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].name, "rto etcd@kv-1");
    EXPECT_TRUE(out[0].held) << out[0].message;
    EXPECT_FALSE(out[1].held);
    EXPECT_NE(out[1].message.find("ready 7s after power returned, 2s over expect.rto 5s"), std::string::npos)
        << out[1].message;
    EXPECT_FALSE(out[2].held);
    EXPECT_NE(out[2].message.find("did not become ready"), std::string::npos) << out[2].message;
    // Without expect.rto a service that came back holds; one that did not still fails.
    out = judge(plan::Expect{}, {{"fire", rec("kv-1", 90s)}, {"fire", rec("kv-3", 1s, false)}}, {}, {});
    EXPECT_TRUE(out[0].held);
    EXPECT_FALSE(out[1].held);
}

VerifyResult lost(std::vector<int> which, size_t of) {
    VerifyResult v;
    v.name = "readback";
    v.probe = "put";
    v.acknowledged = of;
    for (int i : which) v.missing.push_back({"k-" + std::to_string(i), std::chrono::seconds(i)});
    return v;
}

TEST(RunnerVerify, RpoAsACountOfRecords) {
    plan::Expect e;  // verify steps but no rpo: nothing acknowledged may be lost
    auto out = judge(e, {}, {lost({}, 9)}, {});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].held);
    EXPECT_NE(out[0].message.find("all 9 acknowledged records read back"), std::string::npos);
    out = judge(e, {}, {lost({4, 5}, 9)}, {});
    EXPECT_FALSE(out[0].held);
    EXPECT_NE(out[0].message.find("2 of 9 acknowledged records lost (k-4, k-5, first acknowledged at T+4s); "
                                  "expect.rpo allows 0"),
              std::string::npos)
        << out[0].message;
    e.rpo_records = 2;
    EXPECT_TRUE(judge(e, {}, {lost({4, 5}, 9)}, {})[0].held);
}

TEST(RunnerVerify, RpoAsATimeWindowBeforeAFault) {
    plan::Expect e;
    e.rpo_window = 2s;
    std::vector<FaultWindow> faults{{"fire", 6s}};
    // Acknowledged at T+5s and T+6s, the fault at T+6s: within 2 s before it.
    auto out = judge(e, {}, {lost({5, 6}, 9)}, faults);
    EXPECT_TRUE(out[0].held) << out[0].message;
    // T+3s is 3 s before the fault; T+8s was acknowledged while it was in force: both outside.
    out = judge(e, {}, {lost({3, 5, 8}, 9)}, faults);
    EXPECT_FALSE(out[0].held);
    EXPECT_NE(out[0].message.find("2 acknowledged outside the expect.rpo window of 2s before a fault: k-3, k-8"),
              std::string::npos)
        << out[0].message;
}

TEST(RunnerVerify, AReadBackThatFailedFailsItsRpo) {
    VerifyResult v = lost({}, 3);
    v.error = "timed out";
    auto out = judge(plan::Expect{}, {}, {v}, {});
    EXPECT_FALSE(out[0].held);
    EXPECT_NE(out[0].message.find("could not read back the records: timed out"), std::string::npos);
}

}  // namespace
}  // namespace inj::runner
