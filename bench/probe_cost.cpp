// What one attempt of an http: or prometheus: probe costs, against a loopback server in this
// process, with a bare TCP connect (what a tcp: probe does) to the same server as the baseline
// measured in the same run. Medians of N attempts, modes interleaved attempt by attempt.
// Usage: probe_cost [N] (default 500). No privilege needed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "common/tcp.hpp"
#include "probes/checks.hpp"
#include "support/http_server.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A /metrics page of `series` counters with two labels each.
std::string metrics_page(int series) {
    std::string s = "# TYPE requests_total counter\n";
    for (int i = 0; i < series; ++i)
        s += "requests_total{code=\"" + std::to_string(200 + i % 5) + "\",shard=\"" + std::to_string(i) + "\"} " +
             std::to_string(i * 7) + "\n";
    return s;
}

double median_us(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    int n = argc > 1 ? std::atoi(argv[1]) : 500;
    const std::string answer =
        R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"web"},"value":[1,"1"]}]}})";
    inj::test::TinyHttpServer srv({{"/health", {200, "ok"}},
                                   {"/metrics-100", {200, metrics_page(100)}},
                                   {"/metrics-10000", {200, metrics_page(10000)}},
                                   {"/api/v1/query?query=up", {200, answer}}});
    auto addr = *inj::IpAddr::parse("127.0.0.1");
    inj::probes::HttpCheck http;
    inj::probes::MetricCheck api;
    api.query = "up";
    api.above = 0.5;
    inj::probes::MetricCheck page = api;
    page.source = inj::probes::MetricCheck::Source::metrics;
    page.query = R"(requests_total{shard="7"})";
    page.above = -1;
    struct Mode {
        const char* name;
        std::function<bool()> attempt;
        std::vector<double> us;
        int failed = 0;
    };
    std::vector<Mode> modes{
        {"tcp connect (baseline)", [&] { return tcp_connect(addr, srv.port(), 2000ms).ok(); }, {}, 0},
        {"http GET /health", [&] { return run_http_check(http, srv.url("/health"), 2s, "").ok; }, {}, 0},
        {"prometheus query API", [&] { return run_metric_check(api, srv.url(""), 2s, "").ok; }, {}, 0},
        {"/metrics, 100 series", [&] { return run_metric_check(page, srv.url("/metrics-100"), 2s, "").ok; }, {}, 0},
        {"/metrics, 10,000 series",
         [&] { return run_metric_check(page, srv.url("/metrics-10000"), 2s, "").ok; },
         {},
         0},
    };
    for (int i = 0; i < n; ++i)
        for (auto& m : modes) {
            auto t0 = Clock::now();
            bool ok = m.attempt();
            m.us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
            m.failed += !ok;
        }
    double base = median_us(modes[0].us);
    std::printf("| attempt | median us | x tcp connect | failed |\n|---|---:|---:|---:|\n");
    for (auto& m : modes) {
        double med = median_us(m.us);
        std::printf("| %s | %.0f | %.1f | %d of %d |\n", m.name, med, med / base, m.failed, n);
    }
    return 0;
}
