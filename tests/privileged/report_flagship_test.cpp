// The three faces of a real run, end to end through the `injector` binary on the lab: the zone-sever
// flagship on a pseudo-terminal (the live view) with its metrics scraped while it runs, the
// pangyo-fire power drill with --output json, the zone-isolate-all violation as plain lines. Each
// run leaves report.html, junit.xml and a journal the schema accepts.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "common/proc.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& p) {
    std::ifstream f(p);
    return std::string((std::istreambuf_iterator<char>(f)), {});
}

std::string tmpdir() {
    static std::string d = [] {
        auto p = fs::temp_directory_path() / ("inj-report-priv-" + std::to_string(getpid()));
        fs::create_directories(p);
        return p.string();
    }();
    return d;
}

// The scratch directory goes when the test program ends.
struct RemoveTmpdir {
    RemoveTmpdir() { tmpdir(); }  // the path is made first, so it outlives this object
    ~RemoveTmpdir() {
        std::error_code ec;
        fs::remove_all(tmpdir(), ec);
    }
} remove_tmpdir_at_exit;

uint16_t free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

std::string scrape(uint16_t port) {
    auto out = inj::test::http_exchange(port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    auto body = out.find("\r\n\r\n");
    return body == std::string::npos ? "" : out.substr(body + 4);
}

// The run's journal validates against the schema; its reports validate and parse.
void check_artifacts(const std::string& run_dir, const std::string& plan) {
    auto journal = run_dir + "/journal.jsonl";
    ASSERT_TRUE(fs::exists(journal)) << run_dir;
    for (auto f : {"/report.html", "/junit.xml", "/report.json"}) EXPECT_TRUE(fs::exists(run_dir + f)) << run_dir + f;
    const std::string py =
        "import json,sys,jsonschema\n"
        "v=jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))\n"
        "bad=0\n"
        "for n,l in enumerate(open(sys.argv[2]),1):\n"
        "  for e in v.iter_errors(json.loads(l)):\n"
        "    bad+=1; print(n,e.message)\n"
        "print('errors',bad)\n"
        "sys.exit(1 if bad else 0)\n";
    auto script = tmpdir() + "/validate.py";
    std::ofstream(script) << py;
    auto r = inj::run(
        {"/usr/bin/python3", script, inj::test::source_path("injector/report/journal.schema.json"), journal}, 60s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 0) << r->output;
    r = inj::run(
        {"xmllint", "--noout", "--schema", inj::test::source_path("injector/report/junit.xsd"), run_dir + "/junit.xml"},
        30s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 0) << r->output;
    r = inj::run({"/usr/bin/python3", "-c",
                  "import sys\nfrom junitparser import JUnitXml\nx=JUnitXml.fromfile(sys.argv[1])\n"
                  "for s in x: print('suite',s.name,s.tests,s.failures,s.errors)",
                  run_dir + "/junit.xml"},
                 30s);
    ASSERT_TRUE(r);
    EXPECT_NE(r->output.find("suite " + plan + " "), std::string::npos) << r->output;
    auto html = slurp(run_dir + "/report.html");
    EXPECT_NE(html.find("<svg"), std::string::npos);
    EXPECT_NE(html.find("class=\"fault\""), std::string::npos);
    EXPECT_NE(html.find("Blast radius (preflight preview)"), std::string::npos);
}

std::string leftovers() {
    auto r = inj::run_shell(inj::test::source_path("scripts/check-clean.sh"), 30s);
    if (!r) return r.error().message();
    return r->exit_code == 0 ? "" : r->output;
}

TEST(ReportFlagship, ZoneSeverOnATerminalWithMetricsScrapedDuringTheRun) {
    INJ_REQUIRE_PRIVILEGE();
    const uint16_t port = free_port();
    const std::string run_id = "report-sever-" + std::to_string(getpid());
    const std::string typescript = tmpdir() + "/sever.typescript";
    const std::string ci = tmpdir() + "/ci";
    const std::string keep = tmpdir() + "/kept";
    std::string cmd = inj::test::binary_path("injector/injector") + " run " +
                      inj::test::source_path("experiments/zone-sever.yaml") + " --run-id " + run_id +
                      " --metrics 127.0.0.1:" + std::to_string(port) + " --junit " + ci + "/junit.xml --html " + ci +
                      "/report.html --report-dir " + keep;
    // script(1) gives the run a pseudo-terminal: the live view draws there, into the typescript.
    std::atomic<bool> done{false};
    std::vector<std::string> scrapes;
    std::thread scraper([&] {
        while (!done) {
            auto s = scrape(port);
            if (!s.empty()) scrapes.push_back(s);
            std::this_thread::sleep_for(1s);
        }
    });
    auto r = inj::run({"script", "-qfec", cmd, typescript}, 5min);
    done = true;
    scraper.join();
    ASSERT_TRUE(r) << r.error().message();
    auto tty = slurp(typescript);
    EXPECT_EQ(r->exit_code, 0) << tty.substr(tty.size() > 4000 ? tty.size() - 4000 : 0);
    // The live view: drawn in place with the fault in force and the probe's health.
    EXPECT_TRUE(std::regex_search(tty, std::regex("\033\\[[0-9]+F"))) << "no in-place redraw";
    EXPECT_NE(tty.find("IN FORCE since T+5.0s"), std::string::npos);
    EXPECT_NE(tty.find("faults in force: 1"), std::string::npos);
    EXPECT_TRUE(std::regex_search(tty, std::regex("kv-write +[0-9]+/[0-9]+ +ok"))) << "no probe line";
    EXPECT_TRUE(std::regex_search(tty, std::regex("HELD(\033\\[0m)? \\(exit 0\\)"))) << "no summary";

    // Metrics were served while the run was active, with the fault in force in some scrape.
    ASSERT_FALSE(scrapes.empty()) << "never scraped";
    std::string mid;
    for (auto& s : scrapes)
        if (s.find("fault=\"cut-pangyo\",kind=\"sever\"} 1\n") != std::string::npos) mid = s;
    ASSERT_FALSE(mid.empty()) << scrapes.back();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        mid, m, std::regex("injector_fault_dropped_packets_total\\{[^}]*fault=\"cut-pangyo\"\\} ([0-9]+)")));
    EXPECT_GT(std::stoull(m[1]), 0u) << mid;
    EXPECT_NE(mid.find("phase=\"timeline\"} 1"), std::string::npos);
    std::ofstream(tmpdir() + "/mid.prom") << mid;
    auto pc = inj::run_shell("promtool check metrics < " + tmpdir() + "/mid.prom", 30s);
    ASSERT_TRUE(pc);
    EXPECT_EQ(pc->exit_code, 0) << pc->output;
    // ... and not after it.
    EXPECT_EQ(scrape(port), "");

    check_artifacts("/run/injector/runs/" + run_id, "zone-sever");
    check_artifacts(keep + "/" + run_id, "zone-sever");
    EXPECT_TRUE(fs::exists(ci + "/junit.xml"));
    EXPECT_TRUE(fs::exists(ci + "/report.html"));
    EXPECT_EQ(leftovers(), "");
}

TEST(ReportFlagship, PangyoFireWithJsonOutput) {
    INJ_REQUIRE_PRIVILEGE();
    const std::string run_id = "report-fire-" + std::to_string(getpid());
    const std::string out = tmpdir() + "/fire.jsonl";
    auto r = inj::run_shell(inj::test::binary_path("injector/injector") + " --log-level warn run " +
                                inj::test::source_path("experiments/pangyo-fire.yaml") + " --run-id " + run_id +
                                " --output json > " + out,
                            5min);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->exit_code, 0) << r->output;
    std::ifstream f(out);
    std::string line;
    std::vector<nlohmann::json> lines;
    while (std::getline(f, line)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
        lines.push_back(j);
    }
    ASSERT_GT(lines.size(), 50u);
    EXPECT_EQ(lines.front()["event"], "run_start");
    auto& outcome = lines.back();
    EXPECT_EQ(outcome["event"], "outcome");
    EXPECT_EQ(outcome["verdict"], "held");
    EXPECT_EQ(outcome["reports"]["junit"], "/run/injector/runs/" + run_id + "/junit.xml");
    // The restore runs in the background after the heal: its RTO comes as a recovery event, and
    // the RTO and RPO expectations as expectation events.
    bool recovered = false, heal_seen = false;
    std::set<std::string> expectations;
    for (auto& l : lines) {
        if (l["event"] == "heal") heal_seen = true;
        if (l["event"] == "recovery" && l["service"] == "etcd" && l["ready"] == true) recovered = heal_seen;
        if (l["event"] == "expectation" && l["ok"] == true) expectations.insert(l["name"].get<std::string>());
    }
    EXPECT_TRUE(recovered) << "no recovery event for etcd after the heal";
    EXPECT_EQ(expectations, (std::set<std::string>{"rto etcd@kv-1", "rpo acknowledged-writes"}));
    check_artifacts("/run/injector/runs/" + run_id, "pangyo-fire");
    auto junit = slurp("/run/injector/runs/" + run_id + "/junit.xml");
    EXPECT_NE(junit.find("classname=\"pangyo-fire.recovery\" name=\"etcd@kv-1 after pangyo-power\""), std::string::npos)
        << junit;
    EXPECT_NE(slurp("/run/injector/runs/" + run_id + "/report.html").find("RTO etcd@kv-1"), std::string::npos);
    EXPECT_EQ(leftovers(), "");
}

TEST(ReportFlagship, ZoneIsolateAllAsPlainLinesWithAFailingJunitCase) {
    INJ_REQUIRE_PRIVILEGE();
    const std::string run_id = "report-isolate-" + std::to_string(getpid());
    const std::string out = tmpdir() + "/isolate.log";
    auto r = inj::run_shell(inj::test::binary_path("injector/injector") + " run " +
                                inj::test::source_path("experiments/zone-isolate-all.yaml") + " --run-id " + run_id +
                                " > " + out + " 2>&1",
                            5min);
    ASSERT_TRUE(r) << r.error().message();
    auto log = slurp(out);
    EXPECT_EQ(r->exit_code, 1) << log;
    EXPECT_EQ(log.find('\033'), std::string::npos) << "escape sequences in a log";
    EXPECT_TRUE(std::regex_search(log, std::regex("T\\+5\\.0s inject isolate-pangyo \\(sever\\)"))) << log;
    EXPECT_NE(log.find("probe kv-write failing"), std::string::npos) << log;
    EXPECT_NE(log.find("VIOLATED (exit 1)"), std::string::npos) << log;
    check_artifacts("/run/injector/runs/" + run_id, "zone-isolate-all");
    auto junit = slurp("/run/injector/runs/" + run_id + "/junit.xml");
    EXPECT_TRUE(std::regex_search(
        junit, std::regex("<failure message=\"probe kv-write broke its SLO at T\\+[0-9.]+s: success rate")))
        << junit;
    EXPECT_EQ(leftovers(), "");
}

}  // namespace
