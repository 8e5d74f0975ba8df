// The probes' parsers on fixtures (tests/data/metrics): the text exposition format, series
// selectors, Prometheus query answers, and the judging of values and HTTP answers. Malformed
// and random input must give an error, never a crash (run under ASan by sanitize-unit.sh).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "probes/checks.hpp"
#include "probes/exposition.hpp"
#include "support/test_support.hpp"

using namespace inj::probes;

namespace {

std::string fixture(const std::string& name) {
    std::ifstream f(inj::test::source_path("tests/data/metrics/" + name));
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_FALSE(ss.str().empty()) << name;
    return ss.str();
}

MetricCheck bounds(std::optional<double> above, std::optional<double> below, const std::string& q = "q") {
    MetricCheck c;
    c.query = q;
    c.above = above;
    c.below = below;
    return c;
}

}  // namespace

TEST(Exposition, ParsesEverySampleOfTheFixture) {
    auto r = parse_exposition(fixture("service.prom"));
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_EQ(r->size(), 12u);
    EXPECT_EQ((*r)[0].name, "http_requests_total");
    EXPECT_EQ((*r)[0].labels.at("code"), "200");
    EXPECT_EQ((*r)[0].value, 1027);  // the timestamp after it is not the value
    EXPECT_EQ((*r)[3].name, "queue_depth");
    EXPECT_EQ((*r)[3].value, 4.5);
    EXPECT_EQ((*r)[4].labels.at("path"), "C:\\DIR\\FILE.TXT");
    EXPECT_EQ((*r)[4].labels.at("error"), "Cannot find file:\n\"FILE.TXT\"");
    EXPECT_EQ((*r)[4].value, 1.458255915e9);
    EXPECT_EQ((*r)[6].value, 144320);
    EXPECT_EQ((*r)[6].labels.at("le"), "+Inf");
    EXPECT_EQ((*r)[9].name, "trailing_comma");
    EXPECT_TRUE(std::isinf((*r)[9].value) && (*r)[9].value < 0);
    EXPECT_TRUE(std::isnan((*r)[10].value));
    EXPECT_EQ((*r)[11].name, "indented_total");
    EXPECT_EQ((*r)[11].value, 12);
}

TEST(Exposition, AcceptsCrlfLineEnds) {
    auto r = parse_exposition(fixture("crlf.prom"));
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[1].value, 2);
}

TEST(Exposition, MalformedLinesAreErrorsNamingTheLine) {
    const std::vector<std::pair<std::string, std::string>> bad{
        {"up", "expected a blank before the value"},
        {"up ", "bad sample value"},
        {"up one", "bad sample value"},
        {"up 1 2 3", "unexpected text after the timestamp"},
        {"up 1 12a", "bad timestamp"},
        {"up{ 1", "expected a label name"},
        {"up{a} 1", "expected '=' after label a"},
        {"up{a=x} 1", "expected '\"'"},
        {"up{a=\"x} 1", "unterminated label value"},
        {"up{a=\"x\\", "unterminated label value"},
        {"up{a=\"x\" b=\"y\"} 1", "expected ',' or '}'"},
        {"up{a=\"x\",a=\"y\"} 1", "label a given twice"},
        {"9up 1", "expected a metric name"},
        {"up inf", "bad sample value"},
        {"up 0x10", "bad sample value"},
        {"up{", "expected a label name"},
        {std::string("up\0 1", 5), "expected a blank before the value"},
    };
    for (auto& [text, why] : bad) {
        auto r = parse_exposition("ok 1\n" + text + "\n");
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_NE(r.error().message().find("line 2: " + why), std::string::npos) << text << ": " << r.error().message();
    }
}

TEST(Exposition, RandomBytesAndMutationsNeverCrash) {
    const std::string base = fixture("service.prom");
    std::mt19937 rng(18);
    int parsed = 0, refused = 0;
    for (int i = 0; i < 3000; ++i) {
        std::string s = base;
        if (i % 3 == 0) {
            s.resize(rng() % 300);
            for (auto& c : s) c = static_cast<char>(rng());
        } else {
            for (int k = 0; k < 1 + i % 8; ++k) s[rng() % s.size()] = "{}\"=,\\ \n#x9.+-"[rng() % 15];
            if (i % 5 == 0) s.resize(rng() % s.size());
        }
        auto r = parse_exposition(s);
        if (r.ok())
            ++parsed;
        else {
            ++refused;
            EXPECT_EQ(r.error().message().rfind("metrics: line ", 0), 0u) << r.error().message();
        }
        auto sel = parse_selector(s.substr(0, 80));
        if (!sel.ok()) {
            EXPECT_EQ(sel.error().message().rfind("selector '", 0), 0u);
        }
    }
    // Both outcomes happen: the mutations reach the parser's error paths and its success path.
    EXPECT_GT(parsed, 0);
    EXPECT_GT(refused, 0);
}

TEST(Selector, ParsesNamesAndMatchers) {
    auto s = parse_selector(R"(http_requests_total{code="500", method!="post"})");
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_EQ(s->name, "http_requests_total");
    ASSERT_EQ(s->matchers.size(), 2u);
    EXPECT_FALSE(s->matchers[1].equal);
    auto only_labels = parse_selector(R"({__name__="queue_depth"})");
    ASSERT_TRUE(only_labels.ok());
    EXPECT_TRUE(parse_selector("up").ok());
    EXPECT_TRUE(parse_selector("up{}").ok());
}

TEST(Selector, RefusesWhatItCannotMatch) {
    for (const char* bad : {"", "{}", "up{code=~\"5..\"}", "rate(up[1m])", "up > 1", "up{code=\"5\"", "up{=\"x\"}",
                            "up{code}", "sum(up)"}) {
        auto s = parse_selector(bad);
        EXPECT_FALSE(s.ok()) << bad;
    }
    auto re = parse_selector("up{code=~\"5..\"}");
    EXPECT_NE(re.error().message().find("need a Prometheus server"), std::string::npos) << re.error().message();
}

TEST(Selector, SelectsFromTheFixture) {
    const std::string text = fixture("service.prom");
    auto five = select_exposition(text, R"(http_requests_total{code="500"})");
    ASSERT_TRUE(five.ok()) << five.error().message();
    ASSERT_EQ(five->size(), 2u);
    EXPECT_EQ((*five)[0].first, R"(http_requests_total{code="500",method="get"})");
    EXPECT_EQ((*five)[0].second, 3);
    auto not_post = select_exposition(text, R"(http_requests_total{code="500",method!="post"})");
    ASSERT_TRUE(not_post.ok());
    EXPECT_EQ(not_post->size(), 1u);
    // An absent label equals "": {missing=""} matches every sample of the name.
    auto absent = select_exposition(text, R"(queue_depth{missing=""})");
    ASSERT_TRUE(absent.ok());
    EXPECT_EQ(absent->size(), 1u);
    auto by_name = select_exposition(text, R"({__name__="queue_depth"})");
    ASSERT_TRUE(by_name.ok());
    ASSERT_EQ(by_name->size(), 1u);
    EXPECT_EQ((*by_name)[0].second, 4.5);
    auto none = select_exposition(text, "no_such_metric");
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
    EXPECT_FALSE(select_exposition("broken{ 1\n", "up").ok());
}

TEST(QueryResponse, ReadsVectorsAndScalars) {
    auto v = parse_query_response(fixture("query-vector.json"));
    ASSERT_TRUE(v.ok()) << v.error().message();
    ASSERT_EQ(v->size(), 2u);
    EXPECT_EQ((*v)[0].first, R"(up{instance="198.18.0.2:8080",job="web"})");
    EXPECT_EQ((*v)[0].second, 1);
    EXPECT_EQ((*v)[1].second, 0);
    auto s = parse_query_response(fixture("query-scalar.json"));
    ASSERT_TRUE(s.ok()) << s.error().message();
    ASSERT_EQ(s->size(), 1u);
    EXPECT_EQ((*s)[0].second, 0.25);
}

TEST(QueryResponse, ErrorsAndOddShapesAreErrors) {
    auto e = parse_query_response(fixture("query-error.json"));
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.error().message().find("parse error: unexpected end of input"), std::string::npos);
    auto m = parse_query_response(fixture("query-matrix.json"));
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error().message().find("a matrix"), std::string::npos) << m.error().message();
    for (const char* bad :
         {"", "[]", "null", "{\"status\":\"success\"}", "{\"status\":\"success\",\"data\":[]}",
          R"({"status":"success","data":{"resultType":"vector","result":{}}})",
          R"({"status":"success","data":{"resultType":"vector","result":[{"value":[1]}]}})",
          R"({"status":"success","data":{"resultType":"vector","result":[{"value":[1,2]}]}})",
          R"({"status":"success","data":{"resultType":"vector","result":[{"value":[1,"x"]}]}})",
          R"({"status":"success","data":{"resultType":"scalar","result":"1"}})", "{\"status\":",
          // found by fuzz_probes: a status that is not a string threw from json::value()
          R"({"status":7777700000000000000000000000000000000000000000077})", R"({"status":"error","error":["x"]})"}) {
        EXPECT_FALSE(parse_query_response(bad).ok()) << bad;
    }
}

TEST(Judge, ValuesMustAllLieWithinStrictBounds) {
    Series ok{{"a", 1}, {"b", 4.9}};
    EXPECT_EQ(judge_values(bounds(std::nullopt, 5), ok), "");
    EXPECT_EQ(judge_values(bounds(0.5, 5), ok), "");
    EXPECT_EQ(judge_values(bounds(std::nullopt, 4.9), ok), "b = 4.9, not below 4.9");
    EXPECT_EQ(judge_values(bounds(1, std::nullopt), ok), "a = 1, not above 1");
    EXPECT_EQ(judge_values(bounds(0, std::nullopt, "up{job=\"web\"}"), {}), "no sample matches up{job=\"web\"}");
    EXPECT_EQ(judge_values(bounds(0, std::nullopt), {{"x", NAN}}), "x is NaN");
    EXPECT_EQ(judge_values(bounds(std::nullopt, 1e300), {{"x", INFINITY}}), "x = inf, not below 1e+300");
}

TEST(Judge, HttpStatusAndBody) {
    HttpCheck any2xx;
    EXPECT_EQ(judge_http(any2xx, 204, ""), "");
    EXPECT_EQ(judge_http(any2xx, 301, ""), "status 301, expected 2xx");
    HttpCheck listed;
    listed.statuses = {200, 503};
    listed.body_contains = "ready";
    EXPECT_EQ(judge_http(listed, 503, "not ready"), "");
    EXPECT_EQ(judge_http(listed, 404, "ready"), "status 404, expected 200, 503");
    EXPECT_EQ(judge_http(listed, 200, "booting"), "status 200 but the body lacks \"ready\"");
}

TEST(Judge, QueryUrlEscapesThePromql) {
    EXPECT_EQ(query_url("http://127.0.0.1:9090/", R"(up{job="web"} == 1)"),
              "http://127.0.0.1:9090/api/v1/query?query=up%7Bjob%3D%22web%22%7D%20%3D%3D%201");
}
