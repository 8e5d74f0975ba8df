// What the tests that run whole plans through the `injector` binary share: running a plan as a
// user would (`injector run PLAN --json`) and checking that nothing of the project remains.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/proc.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;

namespace inj::test {

struct CliRun {
    int exit_code = -1;
    std::string output;
    nlohmann::json report;
};

// Runs `injector run PLAN --json [EXTRA...]` and parses its report; PLAN is relative to the
// source tree unless it is absolute.
inline CliRun run_plan(const std::string& plan, const std::vector<std::string>& extra = {}) {
    CliRun r;
    std::vector<std::string> argv{inj::test::binary_path("injector/injector"),
                                  "--log-level",
                                  "warn",
                                  "run",
                                  plan.rfind("/", 0) == 0 ? plan : inj::test::source_path(plan),
                                  "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto res = inj::run(argv, 5min, "", 4u << 20);
    if (!res) {
        r.output = res.error().message();
        return r;
    }
    r.exit_code = res->exit_code;
    r.output = res->output;
    // The JSON report is the last top-level object printed.
    auto start = r.output.rfind("\n{");
    auto text = start == std::string::npos ? r.output : r.output.substr(start + 1);
    r.report = nlohmann::json::parse(text, nullptr, false);
    return r;
}

// Nothing of the project may remain: namespaces, root links, routes, lab state.
inline std::string leftovers() {
    auto r = inj::run_shell(inj::test::source_path("scripts/check-clean.sh"), 30s);
    if (!r) return r.error().message();
    return r->exit_code == 0 ? "" : r->output;
}

// The run ended as `verdict` says ("held": exit 0; "violated": exit 1, with the reason naming
// `probe` as the one that broke its SLO).
inline void expect_verdict(const CliRun& r, const std::string& verdict, const std::string& probe = "") {
    ASSERT_FALSE(r.report.is_discarded()) << r.output;
    EXPECT_EQ(r.exit_code, verdict == "held" ? 0 : verdict == "not_applied" ? 3 : 1) << r.output;
    EXPECT_EQ(r.report["verdict"], verdict) << r.output;
    if (probe.empty()) return;
    std::string reason = r.report.value("reason", "");
    EXPECT_NE(reason.find("probe " + probe), std::string::npos) << reason;
}

}  // namespace inj::test
