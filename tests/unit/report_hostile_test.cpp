// Output and the metrics endpoint under hostile or absent readers: a live view on a pipe nobody
// reads (or whose reader is gone) never blocks the event caller and finish() returns in bounded
// time; the metrics endpoint serves a scrape while slow clients (slowloris) hold connections,
// answers an oversized request head with 431, and survives clients that reset their connection
// (no SIGPIPE: this test process keeps the default action, so a send without MSG_NOSIGNAL kills
// it).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "report/live.hpp"
#include "report/metrics.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace inj::report {
namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

nlohmann::json probe_event(int i) {
    return {{"event", "probe"},
            {"probe", "p" + std::to_string(i % 500)},
            {"ok", i % 2 == 0},
            {"at_ms", i},
            {"latency_ms", 1.5},
            {"detail", std::string(200, 'x')},
            {"t", "2026-01-01T00:00:00.000Z"}};
}

TEST(HostileOutput, AnUnreadPipeNeverBlocksEventsAndFinishIsBounded) {
    signal(SIGPIPE, SIG_DFL);
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);  // a blocking pipe, as a shell gives
    {
        LiveView v(LiveView::Mode::json, p[1]);
        // Far more than the pipe holds (64 KiB) and than the queue holds (1 MiB).
        auto t = Clock::now();
        for (int i = 0; i < 20000; ++i) v.on_event(probe_event(i));
        EXPECT_LT(ms_since(t), 5000) << "events waited for the reader";
        t = Clock::now();
        v.finish();
        EXPECT_LT(ms_since(t), LiveView::kDrainMs + 1000.0);
        EXPECT_GT(v.dropped(), 0u);
    }
    close(p[0]);
    close(p[1]);
}

TEST(HostileOutput, AClosedPipeDoesNotKillTheProcess) {
    signal(SIGPIPE, SIG_DFL);  // the writer must not raise it (it would end this test)
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    close(p[0]);  // `| head -2` has exited
    LiveView v(LiveView::Mode::lines, p[1]);
    for (int i = 0; i < 100; ++i) v.on_event({{"event", "run_start"}, {"run", "r"}, {"plan", "x"}, {"t", "t"}});
    auto t = Clock::now();
    v.finish();
    EXPECT_LT(ms_since(t), 1000);
    EXPECT_GT(v.dropped(), 0u);
    close(p[1]);
}

TEST(HostileOutput, AReaderThatKeepsUpGetsEverything) {
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    std::string got;
    std::thread reader([&] {
        char buf[4096];
        ssize_t n;
        while ((n = read(p[0], buf, sizeof buf)) > 0) {
            got.append(buf, static_cast<size_t>(n));
            std::this_thread::sleep_for(1ms);  // slow, but reading
        }
    });
    {
        LiveView v(LiveView::Mode::json, p[1]);
        for (int i = 0; i < 2000; ++i) v.on_event(probe_event(i));
        v.finish();
        EXPECT_EQ(v.dropped(), 0u);
    }
    close(p[1]);
    reader.join();
    close(p[0]);
    EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 2000);
}

std::unique_ptr<MetricsServer> server() {
    auto m = MetricsServer::start(*LoopbackHttp::parse_address("127.0.0.1:0", nullptr));
    EXPECT_TRUE(m);
    return m ? std::move(*m) : nullptr;
}

TEST(HostileMetrics, SlowClientsDoNotHoldOffAScrape) {
    auto srv = server();
    ASSERT_TRUE(srv);
    std::vector<int> slow;
    for (size_t i = 0; i < 3 * LoopbackHttp::kMaxConns; ++i) {
        int fd = test::connect_loopback(srv->port());
        ASSERT_GE(fd, 0);
        (void)!send(fd, "GET /met", 8, MSG_NOSIGNAL);  // and never the rest
        slow.push_back(fd);
    }
    std::this_thread::sleep_for(100ms);
    auto t = Clock::now();
    auto r = test::http_exchange(srv->port(), "GET /metrics HTTP/1.1\r\n\r\n");
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK", 0), 0u) << r;
    EXPECT_LT(ms_since(t), 1000);
    // The slow ones are closed by the server: at once (room for newer ones) or at their deadline.
    t = Clock::now();
    for (int fd : slow) {
        timeval tv{5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char c;
        EXPECT_LE(read(fd, &c, 1), 0);
        close(fd);
    }
    EXPECT_LT(ms_since(t), LoopbackHttp::kRequestMs + 1000.0);
}

TEST(HostileMetrics, AnOversizedRequestGets431) {
    auto srv = server();
    ASSERT_TRUE(srv);
    std::string big = "GET /metrics HTTP/1.1\r\nX-Junk: " + std::string(100000, 'a');
    int fd = test::connect_loopback(srv->port());
    ASSERT_GE(fd, 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    (void)!send(fd, big.data(), big.size(), MSG_NOSIGNAL);  // the server stops reading at its limit
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    close(fd);
    EXPECT_EQ(out.rfind("HTTP/1.1 431", 0), 0u) << out.substr(0, 200);
    EXPECT_EQ(test::http_exchange(srv->port(), "GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 OK", 0), 0u);
}

TEST(HostileMetrics, ClientsThatResetDoNotKillTheProcess) {
    signal(SIGPIPE, SIG_DFL);
    auto srv = server();
    ASSERT_TRUE(srv);
    // A large exposition (many probes), so the answer takes several sends and the later ones
    // meet the reset.
    for (int i = 0; i < 3000; ++i) srv->on_event(probe_event(i * 7));
    for (int k = 0; k < 30; ++k) {
        int fd = test::connect_loopback(srv->port());
        ASSERT_GE(fd, 0);
        std::string req = "GET /metrics HTTP/1.1\r\n\r\n";
        (void)!send(fd, req.data(), req.size(), MSG_NOSIGNAL);
        if (k % 2) {
            linger l{1, 0};  // close with RST
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        close(fd);
    }
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(test::http_exchange(srv->port(), "GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 OK", 0), 0u);
}

}  // namespace
}  // namespace inj::report
