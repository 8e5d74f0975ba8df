// The plan keys of http: and prometheus: probes (plan/probe_http.cpp): what loads, and every bad
// value refused at its file:line:col with its field path; `injector validate` exits 64 on them.
#include <filesystem>
#include <fstream>

#include "common/proc.hpp"
#include "plan/json.hpp"
#include "plan/probe_http.hpp"
#include "plan_test_util.hpp"
#include "support/test_support.hpp"

using namespace inj::plan;
using namespace inj::plan::test;
using namespace std::chrono_literals;

namespace {

// kBase with one probe whose body (the lines after `- name: p`) is `probe`.
std::string with_probe(const std::string& probe) { return kBase + "steady_state:\n  probes:\n    - name: p\n" + probe; }

}  // namespace

TEST(PlanProbes, HttpProbeLoadsWithItsFields) {
    Plan p = load_ok(with_probe(R"(      in: h2
      timeout: 500ms
      http:
        url: "http://{addr:h1}:8080/healthz"
        method: HEAD
        status: [200, 204]
)"));
    ASSERT_EQ(p.probes.size(), 1u);
    const Probe& pr = p.probes[0];
    EXPECT_EQ(pr.kind, Probe::Kind::http);
    EXPECT_EQ(pr.target, "http://{addr:h1}:8080/healthz");
    ASSERT_TRUE(pr.http.has_value());
    EXPECT_EQ(pr.http->method, "HEAD");
    EXPECT_EQ(pr.http->statuses, (std::vector<int>{200, 204}));
    EXPECT_FALSE(pr.http->body_contains.has_value());
    EXPECT_EQ(pr.timeout, 500ms);
    EXPECT_EQ(pr.in, "h2");
}

TEST(PlanProbes, HttpShorthandIsAUrlWithDefaults) {
    Plan p = load_ok(with_probe("      http: http://198.18.0.2:80/\n"));
    ASSERT_TRUE(p.probes[0].http.has_value());
    EXPECT_EQ(p.probes[0].http->method, "GET");
    EXPECT_TRUE(p.probes[0].http->statuses.empty());  // any 2xx
    EXPECT_EQ(p.probes[0].target, "http://198.18.0.2:80/");
    EXPECT_STREQ(probe_kind_name(p.probes[0].kind), "http");
}

TEST(PlanProbes, PrometheusProbesLoadBothSources) {
    Plan p = load_ok(with_probe(R"(      prometheus:
        url: http://127.0.0.1:9090
        query: 'sum(rate(http_requests_total{code=~"5.."}[1m]))'
        below: 0.5
    - name: q
      in: h3
      prometheus: { metrics: "http://{addr:h1}:9100/metrics", query: 'up{job="web"}', above: 0, below: 2 }
)"));
    ASSERT_EQ(p.probes.size(), 2u);
    const Probe& a = p.probes[0];
    EXPECT_EQ(a.kind, Probe::Kind::prometheus);
    ASSERT_TRUE(a.metric.has_value());
    EXPECT_EQ(a.metric->source, inj::probes::MetricCheck::Source::prometheus);
    EXPECT_EQ(a.metric->query, R"(sum(rate(http_requests_total{code=~"5.."}[1m])))");
    EXPECT_EQ(a.metric->below, 0.5);
    EXPECT_FALSE(a.metric->above.has_value());
    const Probe& b = p.probes[1];
    EXPECT_EQ(b.metric->source, inj::probes::MetricCheck::Source::metrics);
    EXPECT_EQ(b.target, "http://{addr:h1}:9100/metrics");
    EXPECT_EQ(b.metric->above, 0);
    EXPECT_EQ(b.metric->below, 2);
}

TEST(PlanProbes, HttpProbesWorkInSloAndAbortWhen) {
    std::string y = with(kBase, "  max_duration: 1m\n",
                         "  max_duration: 1m\n  abort_when:\n    - { probe: p, failures_in_a_row: 3 }\n") +
                    "steady_state:\n  probes:\n    - name: p\n      http: http://198.18.4.2:80/\n"
                    "      slo: { success_rate: 0.9, max_latency: 200ms }\n";
    Plan p = load_ok(y);
    ASSERT_EQ(p.safety.abort_when.size(), 1u);
    EXPECT_EQ(p.safety.abort_when[0].probe, "p");
    EXPECT_EQ(p.probes[0].slo.success_rate, 0.9);
}

TEST(PlanProbes, BadValuesAreRefusedWhereTheyAre) {
    struct Case {
        std::string probe, at, path, message;
    };
    const std::vector<Case> cases{
        {"      http: { url: http://198.18.0.2/, colour: red }\n", "colour", "steady_state.probes[0].http.colour",
         "unknown key 'colour' (allowed: body_contains, method, status, url)"},
        {"      http: { url: \"htp://198.18.0.2/\" }\n", "\"htp:", "steady_state.probes[0].http.url",
         "is not an http:// or https:// URL"},
        {"      http: { url: \"http:///x\" }\n", "\"http:///", "steady_state.probes[0].http.url", "names no host"},
        {"      http: { url: \"http://198.18.0.2:99999/\" }\n", "\"http://198", "steady_state.probes[0].http.url",
         "bad port"},
        {"      http: { url: \"http://198.18.0.2/a b\" }\n", "\"http://198", "steady_state.probes[0].http.url",
         "holds a blank"},
        {"      http: { url: \"http://{addr:h1/\" }\n", "\"http://", "steady_state.probes[0].http.url",
         "'{' that no '}' closes"},
        {"      http: { url: http://198.18.0.2/, status: 600 }\n", "600", "steady_state.probes[0].http.status",
         "status 600 is outside 100..599"},
        {"      http: { url: http://198.18.0.2/, status: [200, 99] }\n", "99", "steady_state.probes[0].http.status[1]",
         "outside 100..599"},
        {"      http: { url: http://198.18.0.2/, status: ok }\n", "ok", "steady_state.probes[0].http.status",
         "expected an HTTP status code"},
        {"      http: { url: http://198.18.0.2/, method: PATCH }\n", "PATCH", "steady_state.probes[0].http.method",
         "not GET, HEAD or POST"},
        {"      http: { url: http://198.18.0.2/, method: HEAD, body_contains: ok }\n", "ok }",
         "steady_state.probes[0].http.body_contains", "a HEAD request has no body"},
        {"      http: { method: GET }\n", "{ method", "steady_state.probes[0].http", "needs 'url'"},
        {"      http: [a]\n", "[a]", "steady_state.probes[0].http", "expected a URL or a map"},
        {"      http: http://198.18.0.2/\n      timeout: -1s\n", "-1s", "steady_state.probes[0].timeout",
         "bad duration"},
        {"      http: http://198.18.0.2/\n      acknowledges: \"r-{seq}\"\n", "acknowledges",
         "steady_state.probes[0].acknowledges", "only an exec probe acknowledges"},
        {"      http: http://{addr:h9}/\n", "http://{addr:h9}", "steady_state.probes[0].http", "h9"},
        {"      prometheus: { url: http://127.0.0.1:9090, query: up }\n", "{ url", "steady_state.probes[0].prometheus",
         "needs a bound"},
        {"      prometheus: { url: http://127.0.0.1:9090, query: up, above: 5, below: 1 }\n", "5,",
         "steady_state.probes[0].prometheus.above", "above must be less than below"},
        {"      prometheus: { url: http://127.0.0.1:9090, metrics: http://127.0.0.1:1/, query: up, below: 1 }\n",
         "{ url", "steady_state.probes[0].prometheus", "exactly one of 'url'"},
        {"      prometheus: { url: http://127.0.0.1:9090, below: 1 }\n", "{ url", "steady_state.probes[0].prometheus",
         "needs 'query'"},
        {"      prometheus: { metrics: http://127.0.0.1:1/, query: 'rate(x[1m])', below: 1 }\n", "'rate",
         "steady_state.probes[0].prometheus.query", "not PromQL"},
        {"      prometheus: { url: http://127.0.0.1:9090, query: up, below: .nan }\n", ".nan",
         "steady_state.probes[0].prometheus.below", "expected a finite number"},
        {"      prometheus: { url: http://127.0.0.1:9090, query: up, below: 1, step: 5s }\n", "step",
         "steady_state.probes[0].prometheus.step", "unknown key 'step'"},
        {"      http: http://198.18.0.2/\n      tcp: \"198.18.0.2:80\"\n", "- name: p", "steady_state.probes[0]",
         "exactly one of 'exec', 'tcp', 'http' or 'prometheus'"},
    };
    for (auto& c : cases) {
        SCOPED_TRACE(c.probe);
        std::string y = with_probe(c.probe);
        std::string where = c.at == "- name: p" ? pos_in(y, "- name: p", "name") : pos(y, c.at);
        expect_error(load(y), where, c.path, c.message);
    }
}

TEST(PlanProbes, ValidateExitsSixtyFourNamingTheField) {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("inj-plan-probes-" + std::to_string(getpid()));
    fs::create_directories(dir);
    std::string y = with_probe("      http: { url: http://198.18.0.2/, status: 700 }\n");
    std::ofstream(dir / "bad.yaml") << y;
    auto r = inj::run({inj::test::binary_path("injector/injector"), "validate", (dir / "bad.yaml").string()}, 30s);
    fs::remove_all(dir);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->exit_code, 64) << r->output;
    EXPECT_NE(r->output.find("bad.yaml:" + pos(y, "700") + ": steady_state.probes[0].http.status: status 700"),
              std::string::npos)
        << r->output;
}

TEST(PlanProbes, UrlShapes) {
    for (const char* ok : {"http://198.18.0.2/", "https://example.test:8443/x?y=1#z", "http://[2001:2::5]:80/",
                           "http://{addr}:8080/metrics", "http://user@198.18.0.2/", "http://h"})
        EXPECT_EQ(check_url_shape(ok), "") << ok;
    for (const char* bad : {"", "ftp://x/", "http://", "http://:80/", "http://[2001:2::5/", "http://h:0/",
                            "http://h:port/", "http://h/\x01", "http://[::1]x/"})
        EXPECT_NE(check_url_shape(bad), "") << bad;
}

// The journal's plan event names the kinds, so reports show an http or prometheus probe as such.
TEST(PlanProbes, TheJournalNamesTheNewKinds) {
    Plan p =
        load_ok(with_probe("      http: http://198.18.0.2/\n    - name: q\n      prometheus: { url: "
                           "http://127.0.0.1:9090, query: up, above: 0 }\n"));
    auto j = plan_json(p);
    ASSERT_EQ(j["probes"].size(), 2u) << j.dump();
    EXPECT_EQ(j["probes"][0]["kind"], "http");
    EXPECT_EQ(j["probes"][0]["target"], "http://198.18.0.2/");
    EXPECT_EQ(j["probes"][1]["kind"], "prometheus");
}
