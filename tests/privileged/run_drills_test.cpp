// The drill library (experiments/) run for real through the `injector` binary, each checked
// against the verdict its header promises and the reason it gives; with them, the http: and
// prometheus: probes against real servers in lab hosts (python3's http.server, Debian's
// Prometheus) through real cuts.
#include <gtest/gtest.h>

#include <regex>

#include "run_support.hpp"

using inj::test::expect_verdict;
using inj::test::leftovers;
using inj::test::run_plan;

namespace {

// The drill with `from` replaced by `to`, written to a temporary file that the caller removes.
std::string variant(const std::string& drill, const std::string& from, const std::string& to) {
    std::ifstream in(inj::test::source_path(drill));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << drill << " lacks '" << from << "'";
    if (at != std::string::npos) text.replace(at, from.size(), to);
    auto path = std::filesystem::temp_directory_path() / ("inj-drill-" + std::to_string(getpid()) + ".yaml");
    std::ofstream(path) << text;
    return path.string();
}

const nlohmann::json* probe_named(const nlohmann::json& report, const std::string& name) {
    for (auto& p : report["probes"])
        if (p["name"] == name) return &p;
    return nullptr;
}

}  // namespace

// A sever of the zone the console lives in makes the http probe fail from the desk's namespace:
// the run ends violated, naming the probe.
TEST(Drills, OpsToolsSingleHomedLosesTheConsoleAndNamesTheProbe) {
    INJ_REQUIRE_PRIVILEGE();
    auto r = run_plan("experiments/ops-tools-single-homed.yaml");
    expect_verdict(r, "violated", "ops-console broke its SLO at T+");
    auto* p = probe_named(r.report, "ops-console");
    ASSERT_NE(p, nullptr) << r.report.dump();
    EXPECT_FALSE((*p)["held"].get<bool>());
    EXPECT_GE((*p)["violated_at_ms"].get<double>(), 5000.0);
    // Real requests: most attempts outside the cut succeeded, the ones inside it failed.
    EXPECT_GT((*p)["attempts"].get<int>(), 30) << p->dump();
    EXPECT_GT(r.report["faults"][0]["dropped"].get<uint64_t>(), 0u);
    EXPECT_EQ(leftovers(), "");
}

// The control case: the same drill cutting a zone the console does not depend on holds.
TEST(Drills, OpsToolsSurviveACutOfAnotherZone) {
    INJ_REQUIRE_PRIVILEGE();
    auto plan =
        variant("experiments/ops-tools-single-homed.yaml", "target: { zone: pangyo }", "target: { zone: gasan }");
    auto r = run_plan(plan);
    std::filesystem::remove(plan);
    expect_verdict(r, "held");
    auto* p = probe_named(r.report, "ops-console");
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE((*p)["held"].get<bool>()) << p->dump();
    EXPECT_GT((*p)["attempts"].get<int>(), 30) << p->dump();
    EXPECT_EQ(leftovers(), "");
}

// A real Prometheus (Debian's) in ansan scrapes the controller in pangyo; the power loss of
// pangyo makes Prometheus see it down (the PromQL probe fails on the value, not on a connection)
// and the /metrics probe fail to connect. Power returns and the controller's RTO is met.
TEST(Drills, SwitchoverControllerInTheBurningZoneIsSeenDownByPrometheus) {
    INJ_REQUIRE_PRIVILEGE();
    if (std::system("command -v prometheus >/dev/null") != 0)
        GTEST_SKIP() << "prometheus is not installed (install-deps.sh test)";
    auto r = run_plan("experiments/switchover-controller-in-burning-zone.yaml");
    expect_verdict(r, "violated", "controller-");
    for (const char* name : {"controller-up", "controller-ready"}) {
        auto* p = probe_named(r.report, name);
        ASSERT_NE(p, nullptr) << name;
        EXPECT_FALSE((*p)["held"].get<bool>()) << p->dump();
        EXPECT_GE((*p)["violated_at_ms"].get<double>(), 8000.0) << p->dump();
        EXPECT_GT((*p)["successes"].get<int>(), 5) << p->dump();  // it held before the fire
    }
    // What the journal says the probes saw: Prometheus answering that the controller is down.
    std::ifstream j(r.report["journal"].get<std::string>());
    std::string line;
    bool saw_down = false, saw_unreachable = false;
    while (std::getline(j, line)) {
        auto e = nlohmann::json::parse(line, nullptr, false);
        if (e.is_discarded() || e.value("event", "") != "probe" || e.value("ok", true)) continue;
        std::string detail = e.value("detail", "");
        if (e["probe"] == "controller-up" &&
            detail.find("up{instance=\"198.18.0.2:8080\",job=\"switchover-controller\"} = 0, not above 0.5") == 0)
            saw_down = true;
        if (e["probe"] == "controller-ready" && detail.find("GET http://198.18.0.2:8080/metrics: ") == 0)
            saw_unreachable = true;
    }
    EXPECT_TRUE(saw_down) << r.report["journal"];
    EXPECT_TRUE(saw_unreachable) << r.report["journal"];
    ASSERT_EQ(r.report["expectations"].size(), 1u) << r.report.dump();
    EXPECT_TRUE(r.report["expectations"][0]["held"].get<bool>()) << r.report.dump();
    EXPECT_EQ(leftovers(), "");
}

// Half the flows between ansan and gasan black-holed: etcd writes hold through pangyo, while the
// probe opening a new connection across the link every 250 ms loses many of them.
TEST(Drills, GrayInterDcLinkHoldsWhileNewConnectionsAcrossItFail) {
    INJ_REQUIRE_PRIVILEGE();
    auto r = run_plan("experiments/gray-inter-dc-link.yaml");
    expect_verdict(r, "held");
    auto* kv = probe_named(r.report, "kv-write");
    auto* wan = probe_named(r.report, "wan-http");
    ASSERT_TRUE(kv && wan) << r.report.dump();
    EXPECT_TRUE((*kv)["held"].get<bool>()) << kv->dump();
    // The link was gray, not down and not healthy: some connections across it failed, some not.
    int attempts = (*wan)["attempts"].get<int>(), ok = (*wan)["successes"].get<int>();
    EXPECT_GT(attempts, 100) << wan->dump();
    EXPECT_LT(ok, attempts - 20) << wan->dump();
    EXPECT_GT(ok, attempts / 4) << wan->dump();
    EXPECT_GT(r.report["faults"][0]["dropped"].get<uint64_t>(), 0u);
    EXPECT_EQ(leftovers(), "");
}

// Every etcd volume of pangyo slowed through faultfs: the quorum outside pangyo keeps writes
// succeeding, and pangyo still answers connects.
TEST(Drills, ZoneStorageBrownoutKeepsWritesSucceeding) {
    INJ_REQUIRE_PRIVILEGE();
    auto r = run_plan("experiments/zone-storage-brownout.yaml");
    expect_verdict(r, "held");
    auto& f = r.report["faults"][0];
    EXPECT_EQ(f["kind"], "degrade_storage");
    // The disks were really slow: the two pangyo daemons served the members' I/O under the fault.
    EXPECT_GT(f["passed"].get<uint64_t>(), 0u) << f.dump();
    for (auto& p : r.report["probes"]) EXPECT_TRUE(p["held"].get<bool>()) << p.dump();
    EXPECT_EQ(leftovers(), "");
}

namespace {

// The rename-without-dirsync drill's fault: its crash point fired after a rename of data/*, and
// the volume's account of the cut lists the renames it undid.
const nlohmann::json& crash_fault(const nlohmann::json& report) {
    const auto& f = report["faults"][0];
    EXPECT_EQ(f["kind"], "power_loss") << f.dump();
    const auto& c = f["engine"]["crash_point"];
    EXPECT_TRUE(c.value("fired", false)) << f.dump();
    EXPECT_EQ(c.value("operation", ""), "rename") << c.dump();
    EXPECT_EQ(c.value("when", ""), "after") << c.dump();
    EXPECT_EQ(c.value("nth", 0), 3) << c.dump();
    EXPECT_EQ(c.value("volume", ""), "ledger") << c.dump();
    EXPECT_GE(c.value("loss_applied_us", -1.0), 0.0) << c.dump();
    return f;
}

}  // namespace

// A service that renames over the real name without fsyncing the directory: the power goes right
// after its third rename (a crash point), the renames of the records it acknowledged are undone
// (metadata: volatile), the verify step misses them: exit 1, and the report names the files.
TEST(Drills, RenameWithoutDirsyncLosesAcknowledgedRecordsAndNamesTheFiles) {
    INJ_REQUIRE_PRIVILEGE();
    auto r = run_plan("experiments/rename-without-dirsync.yaml");
    expect_verdict(r, "violated");
    EXPECT_NE(r.report.value("reason", "").find("expectation rpo"), std::string::npos) << r.report.dump();
    const auto& f = crash_fault(r.report);
    ASSERT_EQ(r.report["verify"].size(), 1u) << r.report.dump();
    const auto& v = r.report["verify"][0];
    ASSERT_FALSE(v["missing"].empty()) << v.dump();
    // Every missing record is a file whose rename the account says was undone, for want of an
    // fsync of /data.
    ASSERT_TRUE(f["engine"].contains("lost")) << f.dump();
    const auto& lost = f["engine"]["lost"][0];
    EXPECT_EQ(lost["volume"], "ledger");
    std::string entries = lost["account"]["entries"].dump();
    for (auto& m : v["missing"]) {
        std::string name = m["record"].get<std::string>();
        EXPECT_NE(entries.find("/data/" + name + ".tmp -> /data/" + name + "\""), std::string::npos)
            << name << " not in " << entries;
    }
    EXPECT_NE(entries.find("fsync of directory /data"), std::string::npos) << entries;
    // The summary lines (what the terminal report prints) name the lost files too.
    std::string first = v["missing"][0]["record"].get<std::string>();
    EXPECT_NE(lost["summary"].dump().find("rename /data/" + first + ".tmp -> /data/" + first + " undone"),
              std::string::npos)
        << lost["summary"].dump();
    EXPECT_EQ(leftovers(), "");
}

// A crash point that never fires (the service renames far fewer than 100,000 times): nothing
// went dark, so the drill rehearsed nothing; the run, though its steady state held, ends
// not_applied (exit 3) naming the crash point.
TEST(Drills, ACrashPointThatNeverFiresEndsTheRunNotApplied) {
    INJ_REQUIRE_PRIVILEGE();
    auto plan = variant("experiments/rename-without-dirsync.yaml", "nth: 3,", "nth: 100000,");
    auto r = run_plan(plan);
    std::filesystem::remove(plan);
    expect_verdict(r, "not_applied");
    const std::string reason = r.report.value("reason", "");
    EXPECT_NE(reason.find("fault "), std::string::npos) << reason;
    EXPECT_NE(reason.find("never fired: nothing went dark"), std::string::npos) << reason;
    const auto& c = r.report["faults"][0]["engine"]["crash_point"];
    EXPECT_FALSE(c.value("fired", true)) << c.dump();
    EXPECT_EQ(leftovers(), "");
}

// The same service fsyncing the directory before it acknowledges: the crash point fires at the
// same place, nothing acknowledged is lost: exit 0.
TEST(Drills, RenameWithDirsyncKeepsEveryAcknowledgedRecord) {
    INJ_REQUIRE_PRIVILEGE();
    auto plan = variant("experiments/rename-without-dirsync.yaml", "{volume} {addr} 0", "{volume} {addr} 1");
    auto r = run_plan(plan);
    std::filesystem::remove(plan);
    expect_verdict(r, "held");
    crash_fault(r.report);
    ASSERT_EQ(r.report["verify"].size(), 1u) << r.report.dump();
    const auto& v = r.report["verify"][0];
    EXPECT_GE(v["acknowledged"].get<int>(), 2) << v.dump();
    EXPECT_TRUE(v["missing"].empty()) << v.dump();
    EXPECT_EQ(leftovers(), "");
}
