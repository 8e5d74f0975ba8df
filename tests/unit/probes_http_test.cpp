// http: and prometheus: probe attempts for real over loopback, against a small HTTP server this
// test runs: status, body match, HEAD, a server that never answers (the timeout), nothing
// listening, a /metrics page, and a Prometheus query API answer.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "probes/checks.hpp"

using namespace inj::probes;
using namespace std::chrono_literals;

namespace {

// Answers GET/HEAD/POST by path from a table; "/hang" reads the request and never answers.
class TinyServer {
public:
    explicit TinyServer(std::map<std::string, std::pair<int, std::string>> routes) : routes_(std::move(routes)) {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t len = sizeof a;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        EXPECT_EQ(listen(fd_, 16), 0);
        thread_ = std::thread([this] { loop(); });
    }
    ~TinyServer() {
        stop_ = true;
        thread_.join();
        close(fd_);
    }
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
    std::string last_method() const {
        std::lock_guard lk(mu_);
        return last_method_;
    }

private:
    void loop() {
        std::vector<int> held;  // /hang connections, closed at the end
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0) continue;
            int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            char buf[4096];
            ssize_t n = read(c, buf, sizeof buf);
            std::string req(buf, n > 0 ? static_cast<size_t>(n) : 0);
            std::string method = req.substr(0, req.find(' '));
            size_t p1 = req.find(' ') + 1;
            std::string path = req.substr(p1, req.find(' ', p1) - p1);
            {
                std::lock_guard lk(mu_);
                last_method_ = method;
            }
            if (path == "/hang") {
                held.push_back(c);
                continue;
            }
            auto it = routes_.find(path);
            int status = it == routes_.end() ? 404 : it->second.first;
            std::string body = it == routes_.end() ? "not found" : it->second.second;
            std::string resp = "HTTP/1.1 " + std::to_string(status) +
                               " X\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\nConnection: close\r\n\r\n" + (method == "HEAD" ? "" : body);
            (void)!write(c, resp.data(), resp.size());
            close(c);
        }
        for (int c : held) close(c);
    }
    std::map<std::string, std::pair<int, std::string>> routes_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::string last_method_;
    std::thread thread_;
};

}  // namespace

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
