// The live view, fed the events of a stored flagship journal: on a real pseudo-terminal it
// redraws one block in place (cursor up, lines overwritten, never cleared first) at most 4 times a
// second; on a pipe it prints plain lines; with --output json one JSON object per event. And the
// metrics endpoint: Prometheus text that promtool accepts, with the run's values, on loopback only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pty.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <thread>

#include "common/proc.hpp"
#include "report/live.hpp"
#include "report/metrics.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;

namespace inj::report {
namespace {

std::vector<nlohmann::json> events(const std::string& name) {
    std::vector<nlohmann::json> out;
    std::ifstream f(test::source_path("tests/data/journals/" + name + ".jsonl"));
    std::string line;
    while (std::getline(f, line)) out.push_back(nlohmann::json::parse(line));
    return out;
}

// Feeds events up to (not including) the first one of type `until`.
size_t feed_until(runner::RunObserver& o, const std::vector<nlohmann::json>& ev, size_t from,
                  const std::string& until) {
    size_t i = from;
    for (; i < ev.size() && ev[i]["event"] != until; ++i) o.on_event(ev[i]);
    return i;
}

// Drains an fd on a thread (a pty's buffer is small: a writer must never block on it).
struct Drain {
    int fd;
    std::string data;
    std::mutex mu;
    std::atomic<bool> stop{false};
    std::thread t;
    explicit Drain(int f) : fd(f) {
        t = std::thread([this] {
            char buf[4096];
            while (!stop) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n > 0) {
                    std::lock_guard lk(mu);
                    data.append(buf, static_cast<size_t>(n));
                } else {
                    std::this_thread::sleep_for(5ms);
                }
            }
        });
    }
    std::string get() {
        std::lock_guard lk(mu);
        return data;
    }
    // Stops the reader; call before closing the fd it reads.
    void halt() {
        stop = true;
        if (t.joinable()) t.join();
    }
    ~Drain() { halt(); }
};

// What the fd received once `needle` is in it (or after 3 s): the reader thread may lag on a busy
// machine.
std::string wait_for(Drain& d, const std::string& needle) {
    for (int i = 0; i < 300; ++i) {
        auto s = d.get();
        if (s.find(needle) != std::string::npos) return s;
        std::this_thread::sleep_for(10ms);
    }
    return d.get();
}

size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}

TEST(LiveView, RedrawsInPlaceOnAPseudoTerminalAtMostFourTimesASecond) {
    int master = -1, slave = -1;
    winsize ws{};
    ws.ws_col = 140;
    ws.ws_row = 40;
    ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, &ws), 0);
    fcntl(master, F_SETFL, O_NONBLOCK);
    Drain drain(master);
    auto ev = events("zone-sever");
    {
        LiveView live(LiveView::Mode::tty, slave);
        // Everything up to the first fault, then the inject: the block shows it in force.
        size_t i = feed_until(live, ev, 0, "inject");
        live.on_event(ev[i]);
        // A burst of events (all the probe samples to the heal) must not make it draw faster.
        auto start = std::chrono::steady_clock::now();
        size_t j = feed_until(live, ev, i + 1, "heal");
        auto frame = live.frame();
        std::this_thread::sleep_for(1500ms);
        auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        auto out = drain.get();
        // Pictures drawn: each ends with "clear below" (ESC [ J).
        size_t pictures = count(out, "\033[J");
        EXPECT_GE(pictures, 3u) << out;
        EXPECT_LE(static_cast<double>(pictures), 4.0 * elapsed + 3)
            << "redraws too often: " << pictures << " in " << elapsed << " s";
        // In place: the cursor goes back up over the block and each line is overwritten.
        EXPECT_NE(out.find("\033[?25l"), std::string::npos);
        EXPECT_TRUE(std::regex_search(out, std::regex("\033\\[[0-9]+F"))) << "no cursor-up";
        EXPECT_GT(count(out, "\033[2K"), 10u);
        EXPECT_EQ(out.find("\033[2J"), std::string::npos) << "cleared the screen (flicker)";
        // The content: timeline with the current step, the fault in force, probe health, time left.
        std::string all;
        for (auto& l : frame) all += l + "\n";
        EXPECT_NE(all.find("zone-sever"), std::string::npos) << all;
        EXPECT_NE(all.find("[timeline]"), std::string::npos) << all;
        EXPECT_TRUE(std::regex_search(
            all, std::regex("> T\\+5\\.0s +cut-pangyo +sever +zone pangyo +IN FORCE since T\\+5\\.0s, heals in")))
            << all;
        EXPECT_NE(all.find("faults in force: 1"), std::string::npos) << all;
        EXPECT_TRUE(std::regex_search(all, std::regex("kv-write +[0-9]+/[0-9]+ +ok +window"))) << all;
        EXPECT_TRUE(std::regex_search(all, std::regex("left \\(max_duration 3m00s\\)"))) << all;
        EXPECT_NE(out.find("inject cut-pangyo (sever)"), std::string::npos) << "the step scrolls above the block";
        for (size_t k = j; k < ev.size(); ++k) live.on_event(ev[k]);
        live.finish();
    }
    auto out = wait_for(drain, "\033[?25h");
    EXPECT_NE(out.find("\033[?25h"), std::string::npos) << "cursor not restored";
    EXPECT_NE(out.find("verdict: held"), std::string::npos);
    EXPECT_NE(out.find("heal cut-pangyo"), std::string::npos);
    drain.halt();
    close(slave);
    close(master);
}

TEST(LiveView, PlainLinesWhenNotATerminal) {
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    Drain drain(p[0]);
    {
        LiveView live(LiveView::Mode::lines, p[1]);
        for (auto& e : events("zone-isolate-all")) live.on_event(e);
        live.finish();
    }
    auto out = wait_for(drain, "verdict violated");
    EXPECT_EQ(out.find('\033'), std::string::npos) << "escape sequences on a pipe";
    EXPECT_TRUE(std::regex_search(out, std::regex("\\n[0-9:.]+ T\\+5\\.0s inject isolate-pangyo \\(sever\\)\\n")))
        << out;
    EXPECT_NE(out.find("probe kv-write failing: exit 1"), std::string::npos) << out;
    EXPECT_NE(out.find("probe kv-write ok again"), std::string::npos) << out;
    EXPECT_NE(out.find("SLO BROKEN: success rate 0.64"), std::string::npos) << out;
    EXPECT_NE(out.find("verdict violated (exit 1)"), std::string::npos) << out;
    // One line per step, not per probe attempt.
    EXPECT_LT(count(out, "\n"), 40u) << out;
    close(p[1]);
}

TEST(LiveView, QuietPrintsNothing) {
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    {
        LiveView live(LiveView::Mode::quiet, p[1]);
        for (auto& e : events("zone-sever")) live.on_event(e);
        live.log_line("12:00:00.000 info  [runner] something");
        live.finish();
    }
    char buf[64];
    EXPECT_LE(read(p[0], buf, sizeof buf), 0);
    close(p[0]);
    close(p[1]);
}

TEST(LiveView, JsonLinesOnePerEvent) {
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    Drain drain(p[0]);
    auto ev = events("pangyo-fire");
    {
        LiveView live(LiveView::Mode::json, p[1]);
        for (auto& e : ev) live.on_event(e);
        live.finish();
    }
    std::istringstream in(wait_for(drain, "\"event\":\"run_end\""));
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << line;
        EXPECT_EQ(j["event"], ev[n]["event"]);
        ++n;
    }
    EXPECT_EQ(n, ev.size());
    close(p[1]);
}

// One HTTP GET on loopback; returns the whole response.
std::string http_get(uint16_t port, const std::string& path) {
    return test::http_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}

TEST(Metrics, OnlyLoopbackAddresses) {
    std::string why;
    EXPECT_TRUE(LoopbackHttp::parse_address("127.0.0.1:9464", &why));
    EXPECT_TRUE(LoopbackHttp::parse_address("localhost:9464", &why));
    auto v6 = LoopbackHttp::parse_address("[::1]:9464", &why);
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->v6);
    for (auto bad :
         {"0.0.0.0:9464", "198.18.0.2:9464", "[::]:9464", "10.0.0.1:80", "9464", "127.0.0.1:99999", "example:1"}) {
        EXPECT_FALSE(LoopbackHttp::parse_address(bad, &why)) << bad;
        EXPECT_FALSE(why.empty());
    }
    LoopbackHttp::parse_address("0.0.0.0:9464", &why);
    EXPECT_NE(why.find("not a loopback address"), std::string::npos) << why;
}

TEST(Metrics, ServesPrometheusTextThatPromtoolAccepts) {
    auto addr = LoopbackHttp::parse_address("127.0.0.1:0", nullptr);
    ASSERT_TRUE(addr);
    auto m = MetricsServer::start(*addr);
    ASSERT_TRUE(m) << m.error().message();
    auto& srv = **m;
    ASSERT_GT(srv.port(), 0);
    auto ev = events("zone-sever");
    size_t i = feed_until(srv, ev, 0, "heal");  // mid-fault: cut-pangyo in force
    auto resp = http_get(srv.port(), "/metrics");
    ASSERT_EQ(resp.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << resp;
    EXPECT_NE(resp.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
    auto body = resp.substr(resp.find("\r\n\r\n") + 4);
    const std::string run = "run=\"rep-zone-sever-120123\",plan=\"zone-sever\"";
    EXPECT_NE(body.find("injector_faults_active{" + run + "} 1\n"), std::string::npos) << body;
    EXPECT_NE(body.find("injector_fault_active{" + run + ",fault=\"cut-pangyo\",kind=\"sever\"} 1\n"),
              std::string::npos)
        << body;
    EXPECT_NE(body.find("injector_run_phase{" + run + ",phase=\"timeline\"} 1\n"), std::string::npos) << body;
    std::smatch mm;
    ASSERT_TRUE(std::regex_search(
        body, mm, std::regex("injector_fault_dropped_packets_total\\{[^}]*fault=\"cut-pangyo\"\\} ([0-9]+)")));
    EXPECT_GT(std::stoull(mm[1]), 0u);
    ASSERT_TRUE(
        std::regex_search(body, mm, std::regex("injector_probe_attempts_total\\{[^}]*probe=\"kv-write\"\\} ([0-9]+)")));
    EXPECT_GT(std::stoull(mm[1]), 10u);
    EXPECT_TRUE(
        std::regex_search(body, std::regex("injector_probe_latency_seconds\\{[^}]*probe=\"kv-write\"\\} 0\\.[0-9]+")));
    EXPECT_NE(body.find("injector_probe_slo_success_rate{" + run + ",probe=\"kv-write\"} 0.9\n"), std::string::npos)
        << body;

    // promtool, Prometheus' own checker, accepts the exposition.
    auto file = std::filesystem::temp_directory_path() / ("inj-metrics-" + std::to_string(getpid()) + ".txt");
    std::ofstream(file) << body;
    auto r = run_shell("promtool check metrics < " + file.string(), 30s);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->exit_code, 0) << r->output;
    std::filesystem::remove(file);

    // After the heal: nothing in force.
    for (; i < ev.size() && ev[i]["event"] != "slo"; ++i) srv.on_event(ev[i]);
    body = http_get(srv.port(), "/metrics");
    EXPECT_NE(body.find("injector_faults_active{" + run + "} 0\n"), std::string::npos) << body;
    EXPECT_NE(http_get(srv.port(), "/other").find("404 Not Found"), std::string::npos);
}

}  // namespace
}  // namespace inj::report
