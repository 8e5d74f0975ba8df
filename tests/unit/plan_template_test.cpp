// Command templates: every placeholder, {each:...}, brace escapes, and the errors.
#include "plan/limits.hpp"
#include "plan_test_util.hpp"

#include "plan/template.hpp"

using namespace inj;
using namespace inj::plan;
using namespace inj::plan::test;

namespace {

// h1 (z1, dual-stack) and h2 run "kv" (port 2379, volume data); "web" runs on h3 with no port.
Plan sample() {
    std::string y = with(kBase, "{ name: z1, subnet: 198.18.0.0/22 }",
                         "{ name: z1, subnet: 198.18.0.0/22, subnet6: \"2001:2:0:1::/64\", power_domains: [z1-a] }");
    y = with(y, "safety:",
             "lab:\n  services:\n"
             "    - { name: kv, hosts: [h1, h2], port: 2379, volume: data, command: run }\n"
             "    - { name: web, hosts: [h3], command: run }\n"
             "safety:");
    return load_ok(y);
}

TemplateContext ctx(const Plan& p, const std::string& host = "h1") {
    TemplateContext c;
    c.plan = &p;
    c.host = host;
    c.volume = "data";
    c.volume_path = [](const std::string& h, const std::string& v) { return "/lab/" + h + "/" + v; };
    c.vars = {{"seq", "7"}, {"lab", "l1"}};
    return c;
}

std::string expand(const Plan& p, const std::string& t, const std::string& host = "h1") {
    auto r = expand_template(t, ctx(p, host));
    EXPECT_TRUE(r.ok()) << t << ": " << (r.ok() ? "" : r.error().message());
    return r.ok() ? r.value() : "<error>";
}

std::string expand_error(const Plan& p, const std::string& t, const std::string& host = "h1") {
    auto r = expand_template(t, ctx(p, host));
    EXPECT_FALSE(r.ok()) << t << " expanded to " << (r.ok() ? r.value() : "");
    return r.ok() ? "" : r.error().message();
}

}  // namespace

TEST(PlanTemplate, CurrentHostPlaceholders) {
    Plan p = sample();
    EXPECT_EQ(expand(p, "{host} {addr} {addr6} {zone} {power_domain} {volume}"),
              "h1 198.18.0.2 2001:2:0:1::2 z1 z1-a /lab/h1/data");
    EXPECT_EQ(expand(p, "{host}@{zone}", "h3"), "h3@z3");
}

TEST(PlanTemplate, NamedHostAddresses) {
    Plan p = sample();
    EXPECT_EQ(expand(p, "{addr:h2}:80 [{addr6:h1}]:80"), "198.18.4.2:80 [2001:2:0:1::2]:80");
}

TEST(PlanTemplate, ServiceLists) {
    Plan p = sample();
    EXPECT_EQ(expand(p, "{addrs:kv}"), "198.18.0.2,198.18.4.2");
    EXPECT_EQ(expand(p, "{endpoints:kv}"), "198.18.0.2:2379,198.18.4.2:2379");
    EXPECT_EQ(expand(p, "{urls:kv}"), "http://198.18.0.2:2379,http://198.18.4.2:2379");
    EXPECT_EQ(expand(p, "{addrs:web}"), "198.18.8.2");
}

TEST(PlanTemplate, EachExpandsThePatternPerHost) {
    Plan p = sample();
    EXPECT_EQ(expand(p, "--initial-cluster {each:kv:{host}=http://{addr}:2380}"),
              "--initial-cluster h1=http://198.18.0.2:2380,h2=http://198.18.4.2:2380");
    // Inside {each}, {volume} is the listed service's volume on that host.
    EXPECT_EQ(expand(p, "{each:kv:{volume}}", "h3"), "/lab/h1/data,/lab/h2/data");
}

TEST(PlanTemplate, VarsAndEscapes) {
    Plan p = sample();
    EXPECT_EQ(expand(p, "put k{seq} in {lab}"), "put k7 in l1");
    EXPECT_EQ(expand(p, "awk '{{print $1}}' {{host}} }}{{"), "awk '{print $1}' {host} }{");
    EXPECT_EQ(expand(p, "{{{host}}}"), "{h1}");
    EXPECT_EQ(expand(p, "no placeholders"), "no placeholders");
    EXPECT_EQ(expand(p, ""), "");
}

TEST(PlanTemplate, UnknownPlaceholderIsAnErrorNamingIt) {
    Plan p = sample();
    std::string e = expand_error(p, "run {hots}");
    EXPECT_NE(e.find("unknown placeholder {hots}"), std::string::npos) << e;
    EXPECT_NE(e.find("template 'run {hots}'"), std::string::npos) << e;
    EXPECT_NE(expand_error(p, "{host:h1}").find("unknown placeholder {host:h1}"), std::string::npos);
}

TEST(PlanTemplate, ReferenceErrors) {
    Plan p = sample();
    EXPECT_NE(expand_error(p, "{addr:h9}").find("unknown host 'h9'"), std::string::npos);
    EXPECT_NE(expand_error(p, "{endpoints:db}").find("unknown service 'db'"), std::string::npos);
    EXPECT_NE(expand_error(p, "{endpoints:web}").find("needs service 'web' to declare a port"), std::string::npos);
    EXPECT_NE(expand_error(p, "{addr6}", "h2").find("host 'h2' has no IPv6 address"), std::string::npos);
    EXPECT_NE(expand_error(p, "{host}", "").find("{host} needs a current host"), std::string::npos);
    EXPECT_NE(expand_error(p, "{each:kv}").find("needs a pattern"), std::string::npos);
    EXPECT_NE(expand_error(p, "{each:kv:{nope}}").find("unknown placeholder {nope}"), std::string::npos);
}

TEST(PlanTemplate, VolumeWithoutAVolumeIsAnError) {
    Plan p = sample();
    TemplateContext c = ctx(p);
    c.volume.clear();
    auto r = expand_template("{volume}", c);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("no volume is declared"), std::string::npos);
}

TEST(PlanTemplate, BraceErrors) {
    Plan p = sample();
    EXPECT_NE(expand_error(p, "a {host").find("unterminated placeholder '{host'"), std::string::npos);
    EXPECT_NE(expand_error(p, "a } b").find("unmatched '}' at offset 2"), std::string::npos);
    EXPECT_NE(expand_error(p, "a {} b").find("empty placeholder"), std::string::npos);
}

TEST(PlanTemplate, CheckAcceptsWhatExpandAccepts) {
    Plan p = sample();
    std::vector<std::string> vars{"seq", "lab"};
    EXPECT_TRUE(check_template("{host} {addr} {volume} {each:kv:{host}={addr}} {endpoints:kv} {urls:kv} "
                               "{addrs:web} {addr:h2} {addr6:h1} {seq} {lab} {{x}}",
                               p, true, vars)
                    .empty());
}

TEST(PlanTemplate, CheckReportsEveryProblem) {
    Plan p = sample();
    auto problems =
        check_template("{host} {addr:h9} {endpoints:web} {each:db:{x}} {run} {addr6:h2}", p, false, {"seq"});
    ASSERT_EQ(problems.size(), 7u) << testing::PrintToString(problems);
    EXPECT_NE(problems[0].find("{host} refers to the current host"), std::string::npos);
    EXPECT_NE(problems[1].find("unknown host 'h9'"), std::string::npos);
    EXPECT_NE(problems[2].find("needs service 'web' to declare a port"), std::string::npos);
    EXPECT_NE(problems[3].find("unknown service 'db'"), std::string::npos);
    EXPECT_NE(problems[4].find("unknown placeholder {x}"), std::string::npos);  // inside the pattern
    EXPECT_NE(problems[5].find("unknown placeholder {run}"), std::string::npos);
    EXPECT_NE(problems[6].find("host 'h2' has no IPv6 address"), std::string::npos);
}

TEST(PlanTemplate, CheckInsideEachHasACurrentHost) {
    Plan p = sample();
    EXPECT_TRUE(check_template("{each:kv:{host}}", p, false, {}).empty());
}

TEST(PlanTemplate, CheckReportsBraceErrors) {
    Plan p = sample();
    auto problems = check_template("x }", p, true, {});
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("unmatched '}'"), std::string::npos);
}  // Nesting and output are bounded (plan/limits.hpp): a deep {each:} chain would otherwise recurse
// without bound and multiply its output by the host count at every level.
TEST(PlanTemplate, NestingAndOutputAreBounded) {
    Plan p = sample();
    std::string t = "x";
    for (int i = 0; i < limits::kMaxTemplateDepth; ++i) t = "{each:kv:" + t + "}";
    EXPECT_EQ(expand(p, t).size(), 31u);  // 2^4 x's and 15 commas
    EXPECT_TRUE(check_template(t, p, false, {}).empty());
    std::string deeper = "{each:kv:" + t + "}";
    EXPECT_NE(expand_error(p, deeper).find("nests more than"), std::string::npos);
    EXPECT_FALSE(check_template(deeper, p, false, {}).empty());
    std::string deep;  // a fuzzer's input: unterminated, never recursed into
    for (int i = 0; i < 50000; ++i) deep += "{a";
    EXPECT_FALSE(check_template(deep, p, false, {}).empty());
    std::string big = "{each:kv:{each:kv:{each:kv:{each:kv:" + std::string(20000, 'y') + "}}}}";
    EXPECT_NE(expand_error(p, big).find("expands to more than"), std::string::npos);
}
