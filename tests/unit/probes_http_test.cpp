// http: and prometheus: probe attempts for real over loopback, against a small HTTP server
// (tests/support/http_server.hpp): status, body match, HEAD, a server that never answers (the
// timeout), nothing listening, a /metrics page, and a Prometheus query API answer.
#include <gtest/gtest.h>

#include <map>

#include "probes/checks.hpp"
#include "support/http_server.hpp"

using namespace inj::probes;
using namespace std::chrono_literals;

using TinyServer = inj::test::TinyHttpServer;

TEST(HttpProbe, StatusAndBodyAreJudgedOnARealAnswer) {
    TinyServer srv({{"/health", {200, "status: ready"}}, {"/down", {503, "draining"}}});
    HttpCheck c;
    EXPECT_TRUE(run_http_check(c, srv.url("/health"), 2s, "").ok);
    auto down = run_http_check(c, srv.url("/down"), 2s, "");
    EXPECT_FALSE(down.ok);
    EXPECT_EQ(down.detail, "status 503, expected 2xx");
    c.body_contains = "ready";
    EXPECT_TRUE(run_http_check(c, srv.url("/health"), 2s, "").ok);
    c.body_contains = "green";
    auto lacks = run_http_check(c, srv.url("/health"), 2s, "");
    EXPECT_FALSE(lacks.ok);
    EXPECT_EQ(lacks.detail, "status 200 but the body lacks \"green\"");
    HttpCheck want503;
    want503.statuses = {503};
    EXPECT_TRUE(run_http_check(want503, srv.url("/down"), 2s, "").ok);
}

TEST(HttpProbe, HeadAndPostAreSentAsSuch) {
    TinyServer srv({{"/x", {200, "body"}}});
    HttpCheck c;
    c.method = "HEAD";
    EXPECT_TRUE(run_http_check(c, srv.url("/x"), 2s, "").ok);
    EXPECT_EQ(srv.last_method(), "HEAD");
    c.method = "POST";
    EXPECT_TRUE(run_http_check(c, srv.url("/x"), 2s, "").ok);
    EXPECT_EQ(srv.last_method(), "POST");
}

TEST(HttpProbe, ASilentServerFailsAtTheTimeoutAndNothingListeningFailsAtOnce) {
    TinyServer srv({});
    HttpCheck c;
    auto t0 = std::chrono::steady_clock::now();
    auto hang = run_http_check(c, srv.url("/hang"), 300ms, "");
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_FALSE(hang.ok);
    EXPECT_NE(hang.detail.find("timed out"), std::string::npos) << hang.detail;
    EXPECT_GE(took, 290ms);
    EXPECT_LT(took, 3s);
    // A port nothing listens on: the server's own port once it is gone.
    std::string dead;
    {
        TinyServer gone({});
        dead = gone.url("/");
    }
    auto refused = run_http_check(c, dead, 2s, "");
    EXPECT_FALSE(refused.ok);
    EXPECT_NE(refused.detail.find("GET " + dead), std::string::npos) << refused.detail;
}

TEST(MetricProbe, ReadsAMetricsEndpoint) {
    TinyServer srv(
        {{"/metrics",
          {200, "# TYPE errors_total counter\nerrors_total{code=\"500\"} 3\nerrors_total{code=\"404\"} 9\n"}},
         {"/broken", {200, "errors_total{code=\"500\" 3\n"}}});
    MetricCheck c;
    c.source = MetricCheck::Source::metrics;
    c.query = R"(errors_total{code="500"})";
    c.below = 5;
    auto ok = run_metric_check(c, srv.url("/metrics"), 2s, "");
    EXPECT_TRUE(ok.ok) << ok.detail;
    EXPECT_EQ(ok.detail, R"(errors_total{code="500"} = 3)");
    c.below = 3;
    auto over = run_metric_check(c, srv.url("/metrics"), 2s, "");
    EXPECT_FALSE(over.ok);
    EXPECT_EQ(over.detail, R"(errors_total{code="500"} = 3, not below 3)");
    auto broken = run_metric_check(c, srv.url("/broken"), 2s, "");
    EXPECT_FALSE(broken.ok);
    EXPECT_NE(broken.detail.find("metrics: line 1"), std::string::npos) << broken.detail;
    auto missing = run_metric_check(c, srv.url("/nope"), 2s, "");
    EXPECT_FALSE(missing.ok);
    EXPECT_NE(missing.detail.find("status 404"), std::string::npos) << missing.detail;
}

TEST(MetricProbe, AsksAPrometheusQueryApi) {
    const std::string answer =
        R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"web"},"value":[1,"1"]}]}})";
    TinyServer srv({{"/api/v1/query?query=up%7Bjob%3D%22web%22%7D", {200, answer}},
                    {"/api/v1/query?query=bad%28", {400, R"({"status":"error","error":"parse error"})"}}});
    MetricCheck c;
    c.query = R"(up{job="web"})";
    c.above = 0.5;
    auto ok = run_metric_check(c, srv.url(""), 2s, "");
    EXPECT_TRUE(ok.ok) << ok.detail;
    c.query = "bad(";
    auto bad = run_metric_check(c, srv.url("/"), 2s, "");
    EXPECT_FALSE(bad.ok);
    EXPECT_EQ(bad.detail, "prometheus: query failed: parse error");
}
