// The plan's JSON Schema: docs/plan.schema.json is what `injector schema` generates from the
// registry (so a new kind cannot be missing from it), every plan in experiments/ passes it, and
// it refuses what the loader refuses in shape (an unknown key, a wrong enum, a missing field).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/proc.hpp"
#include "faults/registry.hpp"
#include "plan/load/schema.hpp"
#include "plan/loader.hpp"
#include "support/test_support.hpp"

using namespace inj;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Validates each YAML file against the schema; prints "FILE: ok" or "FILE: bad PATH: MESSAGE".
const char* kValidate =
    "import json,sys,yaml,jsonschema\n"
    "v=jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))\n"
    "v.check_schema(v.schema)\n"
    "for p in sys.argv[2:]:\n"
    "  errs=list(v.iter_errors(yaml.safe_load(open(p))))\n"
    "  print(p+': '+('ok' if not errs else 'bad '+'; '.join('/'.join(map(str,e.path))+': '+e.message for e in "
    "errs)))\n";

std::string validate(const std::vector<std::string>& files) {
    auto dir = std::filesystem::temp_directory_path() / ("inj-schema-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "validate.py") << kValidate;
    std::string cmd = "/usr/bin/python3 '" + (dir / "validate.py").string() + "' '" +
                      test::source_path("docs/plan.schema.json") + "'";
    for (auto& f : files) cmd += " '" + f + "'";
    auto r = run_shell(cmd + " 2>&1", 60s);
    std::filesystem::remove_all(dir);
    return r ? r->output : r.error().message();
}

std::string write_plan(const std::string& name, const std::string& text) {
    auto p = std::filesystem::temp_directory_path() / ("inj-schema-plan-" + std::to_string(getpid()) + "-" + name);
    std::ofstream(p) << text;
    return p.string();
}

}  // namespace

TEST(PlanSchema, TheShippedSchemaIsWhatTheRegistryGenerates) {
    auto shipped = nlohmann::json::parse(slurp(test::source_path("docs/plan.schema.json")), nullptr, false);
    ASSERT_FALSE(shipped.is_discarded()) << "docs/plan.schema.json is not JSON";
    EXPECT_EQ(shipped, plan::plan_schema())
        << "docs/plan.schema.json is stale: regenerate it with `injector schema > docs/plan.schema.json`";
    // Every kind of the registry is one branch of a method entry.
    auto& kinds = shipped["properties"]["method"]["items"]["properties"]["fault"]["enum"];
    EXPECT_EQ(kinds.size(), faults::kinds().size());
    for (const faults::Kind* k : faults::kinds())
        EXPECT_NE(std::find(kinds.begin(), kinds.end(), k->name), kinds.end()) << k->name;
}

TEST(PlanSchema, EveryExperimentPassesAndNamesItsSchema) {
    std::vector<std::string> files;
    for (auto& e : std::filesystem::directory_iterator(test::source_path("experiments")))
        if (e.path().extension() == ".yaml") files.push_back(e.path().string());
    ASSERT_GE(files.size(), 5u);
    std::string out = validate(files);
    for (auto& f : files) {
        EXPECT_NE(out.find(f + ": ok"), std::string::npos) << out;
        // An editor with a YAML language server finds the schema from the file itself.
        EXPECT_NE(slurp(f).find("# yaml-language-server: $schema=../docs/plan.schema.json"), std::string::npos) << f;
    }
}

TEST(PlanSchema, RefusesWhatIsMisshapen) {
    std::string base = slurp(test::source_path("experiments/zone-sever.yaml"));
    auto edit = [&](const std::string& from, const std::string& to) {
        std::string s = base;
        auto at = s.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        if (at != std::string::npos) s.replace(at, from.size(), to);
        return s;
    };
    auto typo = write_plan("typo.yaml", edit("    direction: both", "    directoin: both"));
    auto kind = write_plan("kind.yaml", edit("fault: sever", "fault: meteor"));
    auto mode = write_plan("mode.yaml", edit("    direction: both", "    direction: sideways"));
    auto nodur = write_plan("nodur.yaml", edit("    duration: 30s", ""));
    auto out = validate({typo, kind, mode, nodur});
    EXPECT_NE(out.find(typo + ": bad"), std::string::npos) << out;
    EXPECT_NE(out.find("'directoin' was unexpected"), std::string::npos) << out;
    EXPECT_NE(out.find(kind + ": bad"), std::string::npos) << out;
    EXPECT_NE(out.find(mode + ": bad"), std::string::npos) << out;
    EXPECT_NE(out.find(nodur + ": bad"), std::string::npos) << out;
    EXPECT_NE(out.find("'duration' is a required property"), std::string::npos) << out;
    for (auto& f : {typo, kind, mode, nodur}) std::filesystem::remove(f);
}

// Host groups (count:, a list of power domains) are in the schema's shape; a count below 1 is not.
TEST(PlanSchema, TakesHostGroups) {
    const std::string plan = R"(name: groups
topology:
  zones:
    - { name: z1, power_domains: [a, b] }
  hosts:
    - { name: g, count: 4, zone: z1 }
    - { name: w, count: 2, zone: z1, power_domain: [b, a] }
    - { name: x, zone: z1, power_domain: a }
safety:
  max_duration: 1m
method:
  - { name: f1, fault: sever, at: 1s, duration: 10s, target: { host: g-1 } }
)";
    EXPECT_TRUE(plan::load_string(plan, "groups.yaml").ok());
    auto good = write_plan("groups.yaml", plan);
    auto zero = write_plan("zero.yaml",
                           plan.substr(0, plan.find("count: 4")) + "count: 0" + plan.substr(plan.find("count: 4") + 8));
    auto out = validate({good, zero});
    EXPECT_NE(out.find(good + ": ok"), std::string::npos) << out;
    EXPECT_NE(out.find(zero + ": bad"), std::string::npos) << out;
    EXPECT_NE(out.find("0 is less than the minimum of 1"), std::string::npos) << out;
    for (auto& f : {good, zero}) std::filesystem::remove(f);
}
