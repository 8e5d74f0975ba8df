// The reports rendered from stored journals of real flagship runs (tests/data/journals, recorded
// on the lab): the journal schema accepts them, JUnit validates against the XSD and parses in a
// real JUnit consumer (junitparser), the HTML is self-contained and renders in a real headless
// browser whose screenshot shows the timeline's fault shading.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "common/proc.hpp"
#include "report/render.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;

namespace inj::report {
namespace {

const char* kPython = "/usr/bin/python3";  // Debian's, with python3-jsonschema and python3-junitparser

std::string journal(const std::string& name) { return test::source_path("tests/data/journals/" + name + ".jsonl"); }

RunView view(const std::string& name) {
    auto v = load_journal(journal(name));
    EXPECT_TRUE(v) << name;
    return v ? *v : RunView{};
}

std::string tmpdir() {
    static std::string d = [] {
        auto p = std::filesystem::temp_directory_path() / ("inj-report-test-" + std::to_string(getpid()));
        std::filesystem::create_directories(p);
        return p.string();
    }();
    return d;
}

// The scratch directory goes when the test program ends.
struct RemoveTmpdir {
    RemoveTmpdir() { tmpdir(); }  // the path is made first, so it outlives this object
    ~RemoveTmpdir() {
        std::error_code ec;
        std::filesystem::remove_all(tmpdir(), ec);
    }
} remove_tmpdir_at_exit;

std::string write_tmp(const std::string& name, const std::string& text) {
    auto p = tmpdir() + "/" + name;
    std::ofstream(p) << text;
    return p;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

TEST(ReportView, ZoneSeverJournalHasEveryPart) {
    auto v = view("zone-sever");
    EXPECT_EQ(v.plan_name, "zone-sever");
    EXPECT_EQ(v.verdict, "held");
    EXPECT_EQ(v.exit_code, 0);
    EXPECT_TRUE(v.complete);
    ASSERT_EQ(v.faults.size(), 1u);
    auto& f = v.faults[0];
    EXPECT_EQ(f.kind, "sever");
    EXPECT_EQ(f.target, "zone pangyo");
    ASSERT_TRUE(f.planned_at_ms && f.injected_at_ms && f.healed_at_ms);
    EXPECT_DOUBLE_EQ(*f.planned_at_ms, 5000.0);
    EXPECT_NEAR(*f.injected_at_ms, 5000.0, 100.0);  // actual vs planned time
    EXPECT_NEAR(*f.healed_at_ms - *f.injected_at_ms, 30000.0, 200.0);
    EXPECT_GT(f.dropped, 0u);
    EXPECT_GT(f.drops.size(), 10u);  // the counters timeline
    ASSERT_EQ(v.probes.size(), 1u);
    EXPECT_GT(v.probes[0].samples.size(), 40u);
    ASSERT_TRUE(v.probes[0].result.is_object());
    EXPECT_TRUE(v.probes[0].result["held"].get<bool>());
    EXPECT_GE(v.guards.size(), 5u);
    for (auto& g : v.guards) EXPECT_FALSE(g.tripped) << g.name;
    ASSERT_TRUE(v.preflight.is_object());
    EXPECT_EQ(v.preflight["moments"][0]["cut_off"][0], "kv-1");
    EXPECT_EQ(v.environment.value("injector_version", ""), "0.1.0");
    EXPECT_TRUE(v.other.empty());
}

TEST(ReportView, OldJournalOfAnAbortedRunStillRenders) {
    // Written before plan/guards/slo events existed: the abort and the guard are still found.
    auto v = view("old-aborted");
    EXPECT_EQ(v.verdict, "aborted");
    ASSERT_TRUE(v.abort);
    EXPECT_EQ(v.abort->guard, "abort_when");
    ASSERT_FALSE(v.guards.empty());
    EXPECT_TRUE(v.guards.back().tripped);
    auto junit = render_junit(v);
    EXPECT_NE(junit.find("guard abort_when stopped the run at T+1.6s: abort_when: probe b1-up failed 3 times in a row"),
              std::string::npos)
        << junit;
}

TEST(ReportView, AbortedRunNamesTheGuardThatStoppedIt) {
    auto v = view("aborted");
    EXPECT_EQ(v.verdict, "aborted");
    EXPECT_EQ(v.exit_code, 2);
    ASSERT_TRUE(v.abort);
    size_t tripped = 0;
    for (auto& g : v.guards) {
        if (!g.tripped) continue;
        ++tripped;
        EXPECT_EQ(g.name, "abort_when");
        EXPECT_EQ(g.probe, "b1-up");
        EXPECT_NEAR(g.at_ms, v.abort->at_ms, 0.001);
    }
    EXPECT_EQ(tripped, 1u);
    // The fault in force was healed by the abort.
    for (auto& f : v.faults)
        if (f.injected_at_ms) {
            EXPECT_TRUE(f.healed_at_ms) << f.name;
        }
    auto junit = render_junit(v);
    EXPECT_NE(junit.find("classname=\"guard-probe.guard\" name=\"abort_when b1-up\""), std::string::npos) << junit;
    EXPECT_NE(junit.find("<failure message=\"guard abort_when stopped the run at T+"), std::string::npos) << junit;
    EXPECT_NE(render_html(v).find("class=\"abort-mark\""), std::string::npos);
}

// New fault kinds and events render without code changes: by name, kind and parameters, and
// unknown events listed.
TEST(ReportView, UnknownFaultKindsAndEventsAreShown) {
    std::vector<nlohmann::json> ev = {
        {{"t", "2026-11-25T10:00:00.000Z"},
         {"mono_ns", 1000},
         {"run", "r1"},
         {"event", "run_start"},
         {"plan", "p"},
         {"plan_file", "p.yaml"},
         {"pid", 1},
         {"max_duration_ms", 60000}},
        {{"t", "2026-11-25T10:00:00.001Z"},
         {"mono_ns", 2000},
         {"run", "r1"},
         {"event", "plan"},
         {"name", "p"},
         {"file", "p.yaml"},
         {"max_duration_ms", 60000},
         {"probes", nlohmann::json::array()},
         {"topology", nlohmann::json::object()},
         {"faults",
          {{{"name", "slow-disk"},
            {"kind", "degrade_storage"},
            {"at_ms", 1000},
            {"duration_ms", 2000},
            {"target", "host kv-1"},
            {"params", {{"latency", "200ms"}, {"errno", "EIO"}}}}}}},
        {{"t", "2026-11-25T10:00:00.002Z"},
         {"mono_ns", 3000},
         {"run", "r1"},
         {"event", "timeline_start"},
         {"t0_mono_ns", 3000}},
        {{"t", "2026-11-25T10:00:01.000Z"},
         {"mono_ns", 1000003000},
         {"run", "r1"},
         {"event", "inject"},
         {"fault", "slow-disk"},
         {"kind", "degrade_storage"},
         {"at_ms", 1000.0},
         {"lead_ms", 466.0},
         {"ok", true}},
        {{"t", "2026-11-25T10:00:01.500Z"},
         {"mono_ns", 1500003000},
         {"run", "r1"},
         {"event", "fleet_activation"},
         {"spread_ms", 3.5},
         {"agents", 12}},
        {{"t", "2026-11-25T10:00:03.000Z"},
         {"mono_ns", 3000003000},
         {"run", "r1"},
         {"event", "heal"},
         {"fault", "slow-disk"},
         {"at_ms", 3000.0},
         {"ok", true}},
        {{"t", "2026-11-25T10:00:04.000Z"},
         {"mono_ns", 4000003000},
         {"run", "r1"},
         {"event", "expectation"},
         {"name", "rpo"},
         {"ok", false},
         {"target", "kv-write"},
         {"message", "3 acknowledged records lost (rpo: 0), written T+0.9s..T+1.0s"}},
        {{"t", "2026-11-25T10:00:05.000Z"},
         {"mono_ns", 5000003000},
         {"run", "r1"},
         {"event", "verdict"},
         {"verdict", "violated"},
         {"exit_code", 1},
         {"reason", "rpo not met"}},
    };
    auto v = build_view(ev);
    ASSERT_EQ(v.faults.size(), 1u);
    EXPECT_EQ(v.faults[0].kind, "degrade_storage");
    ASSERT_EQ(v.other.size(), 1u);
    EXPECT_EQ(v.other[0]["event"], "fleet_activation");
    EXPECT_NEAR(v.at_ms(v.other[0]), 1500.0, 0.01);
    auto text = render_text(v);
    EXPECT_NE(text.find("slow-disk"), std::string::npos);
    EXPECT_NE(text.find("errno=EIO"), std::string::npos) << text;
    EXPECT_NE(text.find("fleet_activation"), std::string::npos) << text;
    EXPECT_NE(text.find("in force T+1.0s (asked 466ms ahead)"), std::string::npos) << text;
    EXPECT_NE(text.find("NOT MET rpo"), std::string::npos) << text;
    auto html = render_html(v);
    EXPECT_NE(html.find("degrade_storage"), std::string::npos);
    EXPECT_NE(html.find("latency: 200ms"), std::string::npos);
    EXPECT_NE(html.find("spread_ms=3.5"), std::string::npos);
    EXPECT_NE(html.find("asked 466ms ahead (fleet activation lead)"), std::string::npos);
    auto junit = render_junit(v);
    EXPECT_NE(junit.find("classname=\"p.expect\" name=\"rpo kv-write\""), std::string::npos) << junit;
    EXPECT_NE(junit.find("message=\"3 acknowledged records lost (rpo: 0), written T+0.9s..T+1.0s\""), std::string::npos)
        << junit;
}

// A large lab's blast-radius preview stays readable: one bar per zone instead of a box per host.
TEST(Html, LargeLabsGetOneBarPerZoneInTheBlastRadiusPreview) {
    nlohmann::json hosts = nlohmann::json::array();
    std::vector<std::string> cut;
    for (int i = 0; i < 60; ++i) {
        std::string name = "h" + std::to_string(i);
        hosts.push_back({{"name", name}, {"zone", i < 40 ? "big" : "small"}});
        if (i >= 40) cut.push_back(name);
    }
    std::vector<nlohmann::json> ev = {
        {{"t", "2026-11-25T10:00:00.000Z"},
         {"mono_ns", 1},
         {"run", "r"},
         {"event", "plan"},
         {"name", "p"},
         {"file", "p.yaml"},
         {"max_duration_ms", 1000},
         {"faults", nlohmann::json::array()},
         {"probes", nlohmann::json::array()},
         {"topology", {{"zones", {{{"name", "big"}}, {{"name", "small"}}}}, {"hosts", hosts}}}},
        {{"t", "2026-11-25T10:00:00.000Z"},
         {"mono_ns", 2},
         {"run", "r"},
         {"event", "preflight"},
         {"moments", {{{"from_ms", 0}, {"to_ms", 1000}, {"faults", {"f"}}, {"cut_off", cut}, {"hosts_total", 60}}}}},
    };
    auto html = render_html(build_view(ev));
    EXPECT_NE(html.find("0/40 cut off"), std::string::npos);
    EXPECT_NE(html.find("20/20 cut off"), std::string::npos);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(html, m, std::regex("class=\"blast\" width=\"([0-9.]+)\"")));
    EXPECT_LT(std::stod(m[1]), 800.0);
}

TEST(JournalSchema, AcceptsTheFlagshipJournalsAndRejectsABrokenLine) {
    auto schema = test::source_path("injector/report/journal.schema.json");
    // Validates every line of every file given; prints one line per problem, then the count.
    const std::string py =
        "import json,sys,jsonschema\n"
        "v=jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))\n"
        "v.check_schema(v.schema)\n"
        "bad=0\n"
        "for p in sys.argv[2:]:\n"
        "  for n,l in enumerate(open(p),1):\n"
        "    for e in v.iter_errors(json.loads(l)):\n"
        "      bad+=1; print(p,n,e.message)\n"
        "print('errors',bad)\n"
        "sys.exit(1 if bad else 0)\n";
    auto script = write_tmp("validate.py", py);
    std::string files;
    for (auto n : {"zone-sever", "pangyo-fire", "zone-isolate-all", "aborted"}) files += " " + quote(journal(n));
    auto r = run_shell(std::string(kPython) + " " + script + " " + quote(schema) + files, 60s);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->exit_code, 0) << r->output;
    EXPECT_NE(r->output.find("errors 0"), std::string::npos) << r->output;

    // The schema has teeth: a verdict outside the list, a probe without its time, a line without
    // the envelope.
    auto broken = write_tmp(
        "broken.jsonl",
        R"({"t":"2026-11-25T10:00:00.000Z","mono_ns":1,"run":"r","event":"verdict","verdict":"fine","exit_code":0,"reason":""})"
        "\n"
        R"({"t":"2026-11-25T10:00:00.000Z","mono_ns":1,"run":"r","event":"probe","probe":"p","seq":1,"ok":true,"latency_ms":1})"
        "\n"
        R"({"event":"heal","fault":"f","at_ms":1,"ok":true})"
        "\n");
    r = run_shell(std::string(kPython) + " " + script + " " + quote(schema) + " " + quote(broken), 60s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 1) << r->output;
    EXPECT_NE(r->output.find("errors 5"), std::string::npos) << r->output;  // the third line lacks 3 fields
    // Unknown events and fields are allowed (consumers ignore them).
    auto future = write_tmp(
        "future.jsonl",
        R"({"t":"2026-11-25T10:00:00.000Z","mono_ns":1,"run":"r","event":"fleet_activation","spread_ms":3})"
        "\n"
        R"({"t":"2026-11-25T10:00:00.000Z","mono_ns":1,"run":"r","event":"heal","fault":"f","at_ms":1,"ok":true,"new_field":[1]})"
        "\n");
    r = run_shell(std::string(kPython) + " " + script + " " + quote(schema) + " " + quote(future), 60s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 0) << r->output;
}

TEST(Junit, ValidatesAgainstTheXsdAndParsesInJunitparser) {
    auto xsd = test::source_path("injector/report/junit.xsd");
    for (auto n : {"zone-sever", "pangyo-fire", "zone-isolate-all", "old-aborted", "aborted"}) {
        auto path = write_tmp(std::string(n) + ".xml", render_junit(view(n)));
        auto r = run({"xmllint", "--noout", "--schema", xsd, path}, 30s);
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(r->exit_code, 0) << n << ": " << r->output;
    }
    // junitparser reads what CI tools read: the suites, the counts, each case's result.
    const std::string py =
        "import sys\n"
        "from junitparser import JUnitXml, Failure, Error, Skipped\n"
        "x=JUnitXml.fromfile(sys.argv[1])\n"
        "for s in x:\n"
        "  print('suite',s.name,s.tests,s.failures,s.errors)\n"
        "  for c in s:\n"
        "    r=[type(o).__name__+': '+(o.message or '') for o in c.result]\n"
        "    print('case',c.classname,'|',c.name,'|',r)\n";
    auto script = write_tmp("junit.py", py);
    auto path = write_tmp("violated.xml", render_junit(view("zone-isolate-all")));
    auto r = run({kPython, script, path}, 30s);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->exit_code, 0) << r->output;
    EXPECT_NE(r->output.find("suite zone-isolate-all"), std::string::npos) << r->output;
    // The SLO case failed, saying what broke, when and by how much.
    std::regex slo(
        "case zone-isolate-all.slo \\| kv-write \\| \\[\"Failure: probe kv-write broke its SLO at T\\+11.1s: "
        "success rate 0.64 over 10s, below 0.90 \\(7 of 11 ok\\); worst window 0.00 at T\\+[0-9.]+s, 0.90 short "
        "of the SLO's 0.90\"\\]");
    EXPECT_TRUE(std::regex_search(r->output, slo)) << r->output;
    // Guards and faults pass, one case each.
    EXPECT_NE(r->output.find("case zone-isolate-all.guard | max_duration | []"), std::string::npos) << r->output;
    EXPECT_NE(r->output.find("case zone-isolate-all.fault | isolate-gasan (sever) | []"), std::string::npos)
        << r->output;
    EXPECT_NE(r->output.find("case zone-isolate-all.run | cleanup | []"), std::string::npos) << r->output;

    // The power drill: the RTO of the restored member is a case of its own, with its time.
    path = write_tmp("fire.xml", render_junit(view("pangyo-fire")));
    r = run({kPython, script, path}, 30s);
    ASSERT_TRUE(r);
    EXPECT_NE(r->output.find("case pangyo-fire.recovery | etcd@kv-1 after pangyo-power | []"), std::string::npos)
        << r->output;
    EXPECT_NE(r->output.find("suite pangyo-fire"), std::string::npos);
    EXPECT_NE(r->output.find(" 0 0"), std::string::npos) << r->output;  // no failures, no errors
}

TEST(Html, IsSelfContained) {
    for (auto n : {"zone-sever", "pangyo-fire", "zone-isolate-all", "old-aborted"}) {
        auto html = render_html(view(n));
        // Nothing a browser would fetch: no URL at all except the SVG namespace, no src/href/url().
        std::string rest = std::regex_replace(html, std::regex("xmlns=\"http://www.w3.org/2000/svg\""), "");
        EXPECT_FALSE(std::regex_search(rest, std::regex("https?://"))) << n;
        EXPECT_FALSE(std::regex_search(rest, std::regex("(src|href)\\s*=|url\\(|@import|<script|<link"))) << n;
        EXPECT_NE(html.find("<svg"), std::string::npos) << n;
        EXPECT_NE(html.find("class=\"fault\""), std::string::npos) << n;
    }
    auto html = render_html(view("zone-sever"));
    // The plan's own URLs (etcd's listen URLs) are still readable, as text.
    EXPECT_NE(html.find("http&#58;&#47;&#47;{addr}:2379"), std::string::npos);
    for (auto part : {"class=\"rate\"", "class=\"latency\"", "class=\"heal-mark\"", "class=\"planned\"",
                      "Blast radius (preflight preview)", "class=\"blast\"", "Guards", "Environment"})
        EXPECT_NE(html.find(part), std::string::npos) << part;
    auto fire = render_html(view("pangyo-fire"));
    EXPECT_NE(fire.find("class=\"rto\""), std::string::npos);
    EXPECT_NE(fire.find("RTO etcd@kv-1"), std::string::npos);
    EXPECT_NE(render_html(view("zone-isolate-all")).find("SLO broken T+11.1s"), std::string::npos);
    auto aborted = render_html(view("old-aborted"));
    EXPECT_NE(aborted.find("class=\"abort-mark\""), std::string::npos);
}

// The page renders in a real browser (Debian's chromium, headless) and its screenshot shows the
// timeline: the fault-window colour fills a good area in the timeline's rows, and the page is not
// blank.
TEST(Html, RendersInHeadlessChromiumWithTheFaultWindowShaded) {
    if (access("/usr/bin/chromium", X_OK) != 0) GTEST_FAIL() << "chromium is not installed (scripts/install-deps.sh)";
    auto path = write_tmp("zone-isolate-all.html", render_html(view("zone-isolate-all")));
    auto png = tmpdir() + "/shot.png";
    auto profile = tmpdir() + "/chromium-profile";
    auto r = run({"chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                  "--user-data-dir=" + profile, "--screenshot=" + png, "--window-size=1200,900", "file://" + path},
                 120s);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->exit_code, 0) << r->output;
    ASSERT_TRUE(std::filesystem::exists(png)) << r->output;
    // Timeline rows: the SVG sits below the title, verdict and legend (about y 200..560 at this size).
    r = run({kPython, test::source_path("tests/support/png_check.py"), png, "e76f51", "150", "600"}, 60s);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->exit_code, 0) << r->output;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r->output, m, std::regex("size (\\d+) (\\d+)"))) << r->output;
    EXPECT_EQ(m[1], "1200");
    ASSERT_TRUE(std::regex_search(r->output, m, std::regex("colours (\\d+)")));
    EXPECT_GT(std::stoi(m[1]), 50) << "blank page? " << r->output;
    ASSERT_TRUE(std::regex_search(r->output, m, std::regex("match (\\d+)")));
    // Three fault bars of ~500x18 px each: thousands of pixels of the fault colour.
    EXPECT_GT(std::stoi(m[1]), 5000) << r->output;
    std::filesystem::remove_all(profile);
}

TEST(Reports, WrittenNextToTheJournalAndCopied) {
    auto dir = tmpdir() + "/run-x";
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(journal("pangyo-fire"), dir + "/journal.jsonl",
                               std::filesystem::copy_options::overwrite_existing);
    auto files = write_reports(dir + "/journal.jsonl", tmpdir() + "/ci/report.html", tmpdir() + "/ci/junit.xml");
    ASSERT_TRUE(files) << files.error().message();
    EXPECT_EQ(files->html, dir + "/report.html");
    for (auto p : {dir + "/report.html", dir + "/junit.xml", tmpdir() + "/ci/report.html", tmpdir() + "/ci/junit.xml"})
        EXPECT_GT(std::filesystem::file_size(p), 1000u) << p;
    EXPECT_FALSE(write_reports(dir + "/missing.jsonl"));
}

TEST(ReportCli, RegeneratesEachFormatFromAJournal) {
    auto bin = test::binary_path("injector/injector");
    for (auto fmt : {"text", "html", "junit"}) {
        auto out = tmpdir() + "/cli." + fmt;
        auto r = run({bin, "report", journal("zone-isolate-all"), "--format", fmt, "-o", out}, 30s);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->exit_code, 0) << r->output;
        std::ifstream f(out);
        std::string s((std::istreambuf_iterator<char>(f)), {});
        EXPECT_NE(s.find("zone-isolate-all"), std::string::npos) << fmt;
    }
    auto r = run({bin, "report", journal("zone-isolate-all")}, 30s);
    ASSERT_TRUE(r);
    EXPECT_NE(r->output.find("VIOLATED (exit 1)"), std::string::npos) << r->output;
    r = run({bin, "report", journal("zone-isolate-all"), "--format", "pdf"}, 30s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 64);
    r = run({bin, "report", tmpdir() + "/nothing.jsonl"}, 30s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 64);
}

// The run options are checked before anything is touched: a metrics address that is not loopback
// and an unknown output format are usage errors (exit 64).
TEST(RunCli, RefusesANonLoopbackMetricsAddressAndUnknownOutput) {
    auto bin = test::binary_path("injector/injector");
    auto plan = test::source_path("experiments/zone-sever.yaml");
    auto r = run({bin, "run", plan, "--metrics", "0.0.0.0:9464"}, 30s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 64) << r->output;
    EXPECT_NE(r->output.find("0.0.0.0 is not a loopback address"), std::string::npos) << r->output;
    r = run({bin, "run", plan, "--metrics", "198.18.0.2:9464"}, 30s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 64) << r->output;
    r = run({bin, "run", plan, "--output", "yaml"}, 30s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 64) << r->output;
    EXPECT_NE(r->output.find("--output must be text or json"), std::string::npos) << r->output;
}

}  // namespace
}  // namespace inj::report
