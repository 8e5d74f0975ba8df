// Plan loader: a volatile volume's loss model (`loss: { model, torn_sectors, survive, metadata,
// writeback, seed }`) and power_loss crash points (`at: { op, path, nth, when }`), each key read
// and each bad value refused at file:line:col naming the field; the schema and `injector plan`
// describe them.
#include <gtest/gtest.h>

#include <functional>
#include <sstream>

#include "faultfs/control.hpp"
#include "faults/power_loss/crash_at.hpp"
#include "faults/registry.hpp"
#include "net/compile.hpp"
#include "plan/json.hpp"
#include "plan/load/schema.hpp"
#include "plan_test_util.hpp"
#include "report/plan_preview.hpp"
#include "storage/storage_engine.hpp"

namespace inj::plan::test {
namespace {

// kBase with service kv on h1 and h2, its volume `volume` (YAML), and `fault` as the only fault.
std::string durable_plan(
    const std::string& volume,
    const std::string& fault = "{ name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }") {
    std::string y = with(kBase, "safety:",
                         "lab:\n  services:\n    - { name: kv, hosts: [h1, h2], volume: " + volume +
                             ", command: \"kv --dir {volume}\" }\nsafety:");
    return with(y, "  - { name: f1, fault: sever, at: 1s, duration: 10s, target: { zone: z1 } }", "  - " + fault);
}

const std::string kVolatile = "{ name: data, volatile: true }";

std::string crash_plan(const std::string& at, const std::string& extra = "") {
    return durable_plan(
        kVolatile, "{ name: cut, fault: power_loss, target: { host: h1 }, duration: 10s, at: " + at + extra + " }");
}

// A bad value in `text` (inserted into a plan by `wrap`): the error sits at `needle` inside it,
// on `prefix` + `field`, and says `message`.
struct BadValue {
    const char* text;
    const char* needle;
    const char* field;
    const char* message;
};
void expect_bad_values(const std::vector<BadValue>& cases, const std::function<std::string(const std::string&)>& wrap,
                       const std::string& prefix) {
    for (auto& c : cases) {
        SCOPED_TRACE(c.text);
        std::string y = wrap(c.text);
        expect_error(load(y), pos_in(y, c.text, c.needle), prefix + c.field, c.message);
    }
}

TEST(PlanDurability, EveryLossKeyIsRead) {
    Plan p = load_ok(durable_plan(
        "{ name: data, volatile: true, loss: { model: torn, torn_sectors: 3, metadata: volatile, writeback: 30s, "
        "seed: 42 } }"));
    const VolumeLoss& l = p.lab.services[0].volume_loss;
    EXPECT_EQ(l.model, VolumeLoss::Model::torn);
    EXPECT_EQ(l.torn_sectors, 3u);
    EXPECT_TRUE(l.metadata_volatile);
    EXPECT_EQ(l.writeback, std::chrono::seconds(30));
    EXPECT_EQ(l.seed, 42u);

    Plan r = load_ok(
        durable_plan("{ name: data, volatile: true, loss: { model: reorder, survive: 20%, metadata: durable } }"));
    EXPECT_EQ(r.lab.services[0].volume_loss.model, VolumeLoss::Model::reorder);
    EXPECT_DOUBLE_EQ(r.lab.services[0].volume_loss.survive, 0.2);
    EXPECT_FALSE(r.lab.services[0].volume_loss.metadata_volatile);
}

TEST(PlanDurability, DefaultsAreTodaysModel) {
    Plan p = load_ok(durable_plan(kVolatile));
    const VolumeLoss& l = p.lab.services[0].volume_loss;
    EXPECT_EQ(l.model, VolumeLoss::Model::unsynced);
    EXPECT_FALSE(l.metadata_volatile);
    EXPECT_EQ(l.writeback.count(), 0);
    EXPECT_EQ(l.seed, 0u);
}

TEST(PlanDurability, TheModelReachesTheDaemonsSettings) {
    Plan p =
        load_ok(durable_plan("{ name: data, volatile: true, loss: { model: torn, torn_sectors: 0, metadata: volatile, "
                             "writeback: 2s, seed: 7 } }"));
    faultfs::Settings s;
    faultfs::to_settings(storage::to_loss(p.lab.services[0].volume_loss), s);
    EXPECT_TRUE(s.flags & faultfs::kFlagVolatile);
    EXPECT_TRUE(s.flags & faultfs::kFlagMetadataVolatile);
    EXPECT_EQ(s.loss_model, uint32_t(faultfs::kLossTorn));
    EXPECT_EQ(s.torn_sectors, 0u);  // 0: a random subset of each write's pages
    EXPECT_EQ(s.writeback_ns, 2000000000u);
    EXPECT_EQ(s.loss_seed, 7u);
    Plan r = load_ok(durable_plan("{ name: data, volatile: true, loss: { model: reorder, survive: 0.25 } }"));
    faultfs::Settings t;
    faultfs::to_settings(storage::to_loss(r.lab.services[0].volume_loss), t);
    EXPECT_EQ(t.loss_model, uint32_t(faultfs::kLossReorder));
    EXPECT_EQ(t.survive_ppm, 250000u);
    EXPECT_FALSE(t.flags & faultfs::kFlagMetadataVolatile);
}

TEST(PlanDurability, BadLossValuesNameTheField) {
    expect_bad_values(
        {
            {"{ model: tron }", "tron", "model", "unknown loss model 'tron' (did you mean 'torn'?)"},
            {"{ model: [torn] }", "[torn]", "model", "expected a string"},
            {"{ model: torn, torn_sectors: -1 }", "-1", "torn_sectors", "outside 0..1024"},
            {"{ model: torn, torn_sectors: 5000 }", "5000", "torn_sectors", "outside 0..1024"},
            {"{ model: torn, torn_sectors: many }", "many", "torn_sectors", "expected a whole number"},
            {"{ torn_sectors: 4 }", "torn_sectors", "torn_sectors", "applies to model torn only"},
            {"{ model: reorder, survive: 2 }", "2 }", "survive", "outside [0, 1]"},
            {"{ model: torn, survive: 0.5 }", "survive", "survive", "applies to model reorder only"},
            {"{ metadata: volitile }", "volitile", "metadata",
             "unknown metadata mode 'volitile' (did you mean 'volatile'?)"},
            {"{ writeback: soon }", "soon", "writeback", "bad duration 'soon'"},
            {"{ seed: -3 }", "-3", "seed", "seed must be 0 or more"},
            {"{ seed: x }", "x }", "seed", "expected a whole number"},
            {"{ modle: torn }", "modle", "modle", "unknown key 'modle' (did you mean 'model'?)"},
        },
        [](const std::string& v) { return durable_plan("{ name: data, volatile: true, loss: " + v + " }"); },
        "lab.services[0].volume.loss.");
}

TEST(PlanDurability, LossNeedsAVolatileVolume) {
    std::string vol = "{ name: data, loss: { model: torn } }";
    std::string y = durable_plan(vol);
    expect_error(load(y), pos_in(y, vol, "loss"), "lab.services[0].volume.loss",
                 "a loss model needs a volatile volume");
    std::string off = "{ name: data, volatile: false, loss: { model: torn } }";
    std::string z = durable_plan(off);
    expect_error(load(z), pos_in(z, off, "loss"), "lab.services[0].volume.loss", "add volatile: true");
    std::string bad = "{ name: data, volatile: true, loss: unsynced }";
    std::string w = durable_plan(bad);
    expect_error(load(w), pos_in(w, bad, "unsynced"), "lab.services[0].volume.loss", "expected a map");
}

TEST(PlanDurability, CrashPointIsRead) {
    Plan p = load_ok(crash_plan("{ op: rename, path: \"data/*\", nth: 3, when: after }"));
    const auto* s = p.method[0].as<PowerLossSpec>();
    ASSERT_TRUE(s->crash);
    EXPECT_EQ(s->crash->op, "rename");
    EXPECT_EQ(s->crash->path, "data/*");
    EXPECT_EQ(s->crash->nth, 3u);
    EXPECT_TRUE(s->crash->after);
    EXPECT_EQ(p.method[0].at.count(), 0);
    // Defaults: the first match, before the operation, any path.
    Plan q = load_ok(crash_plan("{ op: fsync }"));
    const auto& c = *q.method[0].as<PowerLossSpec>()->crash;
    EXPECT_EQ(c.nth, 1u);
    EXPECT_FALSE(c.after);
    EXPECT_EQ(c.path, "");
    // A time stays a time.
    Plan t = load_ok(crash_plan("2s"));
    EXPECT_FALSE(t.method[0].as<PowerLossSpec>()->crash);
    EXPECT_EQ(t.method[0].at, std::chrono::seconds(2));
}

TEST(PlanDurability, EveryCrashOperationIsOneTheDaemonMatches) {
    auto ops = faults::crash_at_schema()["oneOf"][1]["properties"]["op"]["enum"];
    ASSERT_GE(ops.size(), 10u);
    for (auto& op : ops) {
        EXPECT_NE(faultfs::ops_by_name(op.get<std::string>()), 0u) << op;
        plan::CrashAt c;
        c.op = op.get<std::string>();
        EXPECT_TRUE(faultfs::to_crash_point(faults::crash_rule(c)).ok()) << op;
    }
}

TEST(PlanDurability, BadCrashPointsNameTheField) {
    expect_bad_values(
        {
            {"{ op: renam }", "renam", "op", "unknown operation 'renam' (did you mean 'rename'?)"},
            {"{ op: fsync, nth: 0 }", "0 }", "nth", "nth 0 is outside 1..1000000"},
            {"{ op: fsync, nth: lots }", "lots", "nth", "expected a whole number"},
            {"{ op: fsync, when: durnig }", "durnig", "when", "unknown moment 'durnig'; use before or after"},
            {"{ op: fsync, when: aftr }", "aftr", "when", "(did you mean 'after'?)"},
            {"{ op: fsync, path: \"/etc/*\" }", "\"/etc/*\"", "path", "'/etc/*' is a system directory"},
            {"{ op: fsync, path: \"../x\" }", "\"../x\"", "path", "leaves the volume through '..'"},
            {"{ op: fsync, nht: 2 }", "nht", "nht", "unknown key 'nht' (did you mean 'nth'?)"},
        },
        [](const std::string& at) { return crash_plan(at); }, "method[0].at.");
    std::string y = crash_plan("{ path: \"data/*\" }");
    expect_error(load(y), pos_in(y, "duration: 10s, at:", "at:"), "method[0].at.op", "missing required key 'op'");
}

TEST(PlanDurability, CrashPointIsForPowerLossOnly) {
    std::string y =
        durable_plan(kVolatile, "{ name: s, fault: sever, at: { op: fsync }, duration: 5s, target: { zone: z1 } }");
    expect_error(load(y), pos_in(y, "at: { op", "{ op"), "method[0].at",
                 "a crash point `at: { op, path, nth, when }` is taken by power_loss only, not by sever");
}

TEST(PlanDurability, CrashPointNeedsAVolatileVolumeAndKillMode) {
    std::string y = durable_plan(
        "data", "{ name: cut, fault: power_loss, target: { host: h1 }, duration: 10s, at: { op: fsync } }");
    expect_error(load(y), pos_in(y, "duration: 10s, at:", "at:"), "method[0].at",
                 "a crash point needs a volatile volume on a host this fault darkens (h1 have none");
    std::string z = crash_plan("{ op: fsync }", ", mode: freeze");
    expect_error(load(z), pos_in(z, "duration: 10s, at:", "at:"), "method[0].at", "it needs mode kill");
    std::string w = durable_plan(
        kVolatile, "{ name: cut, fault: power_loss, target: { host: h3 }, duration: 10s, at: { op: fsync } }");
    expect_error(load(w), pos_in(w, "duration: 10s, at:", "at:"), "method[0].at", "h3 have none");
}

TEST(PlanDurability, SchemaDescribesLossAndCrashPoint) {
    auto s = plan_schema();
    auto vol = s["properties"]["lab"]["properties"]["services"]["items"]["properties"]["volume"]["oneOf"][1];
    auto loss = vol["properties"]["loss"];
    EXPECT_EQ(loss["properties"]["model"]["enum"], nlohmann::json({"unsynced", "torn", "reorder"}));
    EXPECT_EQ(loss["properties"]["metadata"]["enum"], nlohmann::json({"durable", "volatile"}));
    EXPECT_FALSE(loss["additionalProperties"].get<bool>());
    bool found = false;
    for (auto& k : s["properties"]["method"]["items"]["allOf"]) {
        if (k["if"]["properties"]["fault"]["const"] != "power_loss") continue;
        auto at = k["then"]["properties"]["at"];
        EXPECT_EQ(at["oneOf"][1]["required"], nlohmann::json({"op"})) << at.dump();
        EXPECT_EQ(at["oneOf"][1]["properties"]["when"]["enum"], nlohmann::json({"before", "after"}));
        found = true;
    }
    EXPECT_TRUE(found);
}

TEST(PlanDurability, PlanPreviewAndJournalDescribeModelAndCrashPoint) {
    Plan p = load_ok(
        durable_plan("{ name: data, volatile: true, loss: { model: torn, torn_sectors: 4, metadata: volatile } }",
                     "{ name: cut, fault: power_loss, target: { host: h1 }, duration: 10s, at: { op: rename, path: "
                     "\"d/*\", when: after } }"));
    std::ostringstream out;
    auto t = net::compile(p);
    ASSERT_TRUE(t.ok()) << t.error().message();
    report::print_plan_preview(out, p, *t, {});
    std::string text = out.str();
    EXPECT_NE(text.find("at most its first 4 sectors land at a power cut (torn)"), std::string::npos) << text;
    EXPECT_NE(text.find("without an fsync of their directory are lost too"), std::string::npos) << text;
    EXPECT_NE(text.find("crash point: the power goes after the 1st rename of d/* on data on h1"), std::string::npos)
        << text;
    auto j = plan_json(p);
    EXPECT_EQ(j["services"][0]["volume"]["loss"]["model"], "torn");
    EXPECT_EQ(j["services"][0]["volume"]["loss"]["metadata"], "volatile");
    EXPECT_EQ(j["services"][0]["volume"]["loss"]["torn_sectors"], 4);
}

}  // namespace
}  // namespace inj::plan::test
