// Plan loader: YAML structure, types, unknown keys, required keys, names, durations.
#include "plan_test_util.hpp"

using namespace inj::plan;
using namespace inj::plan::test;

TEST(PlanLoader, BasePlanLoads) {
    Plan p = load_ok(kBase);
    EXPECT_EQ(p.name, "base");
    EXPECT_EQ(p.file, "t.yaml");
    ASSERT_EQ(p.topology.zones.size(), 3u);
    ASSERT_EQ(p.method.size(), 1u);
}

TEST(PlanLoader, ErrorStrIsFileLineColPathMessage) {
    PlanError e{Mark{"p.yaml", 3, 7}, "method[2].target.zone", "unknown zone 'x'"};
    EXPECT_EQ(e.str(), "p.yaml:3:7: method[2].target.zone: unknown zone 'x'");
    PlanError syntax{Mark{"p.yaml", 1, 2}, "", "YAML syntax: bad"};
    EXPECT_EQ(syntax.str(), "p.yaml:1:2: YAML syntax: bad");
}

TEST(PlanLoader, SyntaxErrorHasYamlMarkOneBased) {
    std::string y = "name: x\ntopology: [a, b\n";
    auto r = load(y);
    ASSERT_EQ(r.errors.size(), 1u) << dump(r);
    EXPECT_FALSE(r.plan);
    EXPECT_EQ(r.errors[0].path, "");
    EXPECT_NE(r.errors[0].message.find("YAML syntax"), std::string::npos);
    EXPECT_EQ(r.errors[0].mark.line, 3);  // the flow list is still open at the end of the text
}

TEST(PlanLoader, EmptyDocumentIsAnError) {
    auto r = load("# nothing\n");
    expect_error(r, "1:1", "", "the plan is empty");
}

TEST(PlanLoader, RootMustBeAMap) {
    auto r = load("- a\n- b\n");
    expect_error(r, "1:1", "", "expected a map, got a list");
}

TEST(PlanLoader, TwoDocumentsAreRefused) {
    auto r = load(kBase + "---\nname: other\n");
    expect_error(r, pos(kBase + "---\nname: other\n", "name: other"), "", "one YAML document");
}

TEST(PlanLoader, UnknownRootKeyListsAllowedKeys) {
    std::string y = with(kBase, "safety:", "hypothesis: { rto: 30s }\nsafety:");
    auto r = load(y);
    expect_error(r, pos(y, "hypothesis:"), "hypothesis", "unknown key 'hypothesis'");
    expect_error(r, pos(y, "hypothesis:"), "hypothesis",
                 "allowed here: name, description, topology, lab, steady_state, method, safety, verify, expect");
}

TEST(PlanLoader, UnknownNestedKeySuggestsTheNearOne) {
    std::string y = with(kBase, "{ name: z2 }", "{ name: z2, subnett: 198.18.4.0/22 }");
    auto r = load(y);
    expect_error(r, pos(y, "subnett"), "topology.zones[1].subnett", "did you mean 'subnet'?");
}

TEST(PlanLoader, DuplicateKeyIsAnError) {
    std::string y = with(kBase, "  max_duration: 1m", "  max_duration: 1m\n  max_duration: 2m");
    auto r = load(y);
    expect_error(r, pos(y, "max_duration", 1), "safety.max_duration", "duplicate key 'max_duration'");
}

TEST(PlanLoader, MissingNameAtRoot) {
    std::string y = with(kBase, "name: base\n", "description: no name\n");
    auto r = load(y);
    expect_error(r, "1:1", "name", "missing required key 'name'");
}

TEST(PlanLoader, PlanNameMustBePlain) {
    std::string y = with(kBase, "name: base", "name: Base_Plan");
    auto r = load(y);
    expect_error(r, pos(y, "Base_Plan"), "name", "'Base_Plan' is not a valid name");
}

TEST(PlanLoader, MissingSafetyIsReportedAtTheRoot) {
    std::string y = with(kBase, "safety:\n  max_duration: 1m\n", "");
    auto r = load(y);
    expect_error(r, "1:1", "safety", "missing required key 'safety'");
}

TEST(PlanLoader, MissingMaxDurationIsReportedAtTheSafetyKey) {
    std::string y = with(kBase, "  max_duration: 1m\n", "");
    auto r = load(y);
    expect_error(r, pos(y, "safety:"), "safety.max_duration", "missing required key 'max_duration'");
}

TEST(PlanLoader, UnparseableDurationNamesTheText) {
    std::string y = with(kBase, "max_duration: 1m", "max_duration: 5 minutes");
    auto r = load(y);
    expect_error(r, pos(y, "5 minutes"), "safety.max_duration", "bad duration '5 minutes'");
}

TEST(PlanLoader, NegativeDurationIsRefused) {
    std::string y = with(kBase, "at: 1s", "at: -1s");
    auto r = load(y);
    expect_error(r, pos(y, "-1s"), "method[0].at", "bad duration '-1s': negative duration");
}

TEST(PlanLoader, DurationWithoutUnitIsRefused) {
    std::string y = with(kBase, "max_duration: 1m", "max_duration: 60");
    auto r = load(y);
    expect_error(r, pos(y, "60"), "safety.max_duration", "missing unit");
}

TEST(PlanLoader, MapWhereListExpected) {
    std::string y = with(kBase, "  zones:\n", "  zones:\n    a: b\n  xzones:\n");
    auto r = load(y);
    expect_error(r, pos(y, "a: b"), "topology.zones", "expected a list, got a map");
}

TEST(PlanLoader, ListWhereStringExpected) {
    std::string y = with(kBase, "name: base", "name: [a, b]");
    auto r = load(y);
    expect_error(r, pos(y, "[a, b]"), "name", "expected a string, got a list");
}

TEST(PlanLoader, StringWhereNumberExpected) {
    std::string y = with(kBase, "target: { zone: z1 }", "target: { zone: z1 }, share: half");
    auto r = load(y);
    expect_error(r, pos(y, "half"), "method[0].share", "expected a number, got 'half'");
}

TEST(PlanLoader, ScalarWhereMapExpected) {
    std::string y = with(kBase, "safety:\n  max_duration: 1m", "safety: 1m");
    auto r = load(y);
    expect_error(r, pos(y, "1m"), "safety", "expected a map, got '1m'");
}

TEST(PlanLoader, ErrorsAreCollectedAcrossIndependentItemsInFileOrder) {
    std::string y = with(kBase, "{ name: z2 }", "{ name: z2, bogus: 1 }");
    y = with(y, "{ name: z3 }", "{ name: Z3 }");
    y = with(y, "max_duration: 1m", "max_duration: soon");
    auto r = load(y);
    EXPECT_GE(r.errors.size(), 3u) << dump(r);
    expect_error(r, pos(y, "bogus"), "topology.zones[1].bogus", "unknown key 'bogus'");
    expect_error(r, pos(y, "Z3"), "topology.zones[2].name", "not a valid name");
    expect_error(r, pos(y, "soon"), "safety.max_duration", "bad duration 'soon'");
    for (size_t i = 1; i < r.errors.size(); ++i) EXPECT_LE(r.errors[i - 1].mark.line, r.errors[i].mark.line) << dump(r);
}

TEST(PlanLoader, LoadFileReadsAndNamesTheFile) {
    auto path = ::testing::TempDir() + "/plan_loader_file.yaml";
    {
        std::FILE* f = std::fopen(path.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::string y = with(kBase, "max_duration: 1m", "max_duration: x");
        std::fputs(y.c_str(), f);
        std::fclose(f);
    }
    auto r = load_file(path);
    ASSERT_EQ(r.errors.size(), 1u) << dump(r);
    EXPECT_EQ(r.errors[0].mark.file, path);
    EXPECT_EQ(r.errors[0].str().rfind(path + ":12:17: safety.max_duration: bad duration 'x'", 0), 0u)
        << r.errors[0].str();
    std::remove(path.c_str());
}

TEST(PlanLoader, LoadFileOfAMissingFile) {
    auto r = load_file("/nonexistent/plan.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_FALSE(r.plan);
    EXPECT_EQ(r.errors[0].str().rfind("/nonexistent/plan.yaml: cannot read the plan", 0), 0u) << r.errors[0].str();
}
