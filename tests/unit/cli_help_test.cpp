// The command line's habits, checked on the built injector binary: every subcommand of the
// command table (a new one is covered without touching this file) answers --help and -h with
// exit 0 and lists its own options; --version names the version, git revision and BPF ABI;
// unknown options exit 64; the generated bash completion loads and completes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli/commands.hpp"
#include "common/proc.hpp"
#include "netfault_abi.h"
#include "support/test_support.hpp"

using namespace std::chrono_literals;

namespace {

std::string injector() { return inj::test::binary_path("injector/injector"); }

inj::RunResult run_injector(std::vector<std::string> args) {
    args.insert(args.begin(), injector());
    auto r = inj::run(args, 30s, {}, 1 << 20);
    if (!r) ADD_FAILURE() << r.error().message();
    return r ? *r : inj::RunResult{};
}

// Runs a bash script with the generated completion sourced; returns its output.
inj::RunResult run_bash(const std::string& script) {
    std::string all = "set -u\nsource '" + inj::test::binary_path("injector.bash") + "'\n" + script;
    auto r = inj::run({"bash", "-c", all}, 30s, {}, 1 << 20);
    if (!r) ADD_FAILURE() << r.error().message();
    return r ? *r : inj::RunResult{};
}

// The words bash would offer for the command line `words` (completing its last word).
std::string complete(const std::string& words, const std::string& cwd = ".") {
    auto r = run_bash("cd '" + cwd + "'\nCOMP_WORDS=(" + words +
                      ")\nCOMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
                      "_injector\nprintf '%s\\n' \"${COMPREPLY[@]}\" | sort\n");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
}

TEST(CliHelp, EverySubcommandAnswersHelpWithItsOptions) {
    ASSERT_GE(inj::cli::commands().size(), 10u);
    for (auto& c : inj::cli::commands()) {
        for (const char* flag : {"--help", "-h"}) {
            auto r = run_injector({c.name, flag});
            EXPECT_EQ(r.exit_code, 0) << c.name << " " << flag << ": " << r.output;
            EXPECT_EQ(r.output.rfind(std::string("usage: injector ") + c.name, 0), 0u) << r.output;
            auto opts = c.options();
            for (auto& o : opts.options())
                EXPECT_NE(r.output.find("--" + o->long_name()), std::string::npos)
                    << c.name << " " << flag << " does not list --" << o->long_name() << ":\n"
                    << r.output;
        }
        // `help CMD` prints the same text as `CMD --help`.
        auto via_help = run_injector({"help", c.name});
        EXPECT_EQ(via_help.exit_code, 0) << via_help.output;
        EXPECT_EQ(via_help.output, run_injector({c.name, "--help"}).output) << c.name;
    }
}

TEST(CliHelp, UsageListsEveryVisibleCommandAndNoHiddenOne) {
    auto r = run_injector({"help"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output, run_injector({"--help"}).output);
    for (auto& c : inj::cli::commands()) {
        bool listed = r.output.find(std::string("\n  ") + c.name + " ") != std::string::npos ||
                      r.output.find(std::string("\n  ") + c.name + "\n") != std::string::npos;
        EXPECT_EQ(listed, !c.hidden) << c.name << ":\n" << r.output;
    }
}

TEST(CliHelp, VersionNamesTheGitRevisionAndTheBpfAbi) {
    auto r = run_injector({"--version"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.rfind("injector " + std::string(INJ_PROJECT_VERSION) + "\n", 0), 0u) << r.output;
    EXPECT_NE(r.output.find("netfault BPF ABI: " + std::to_string(NF_ABI_VERSION) + "\n"), std::string::npos)
        << r.output;
    auto at = r.output.find("git revision: ");
    ASSERT_NE(at, std::string::npos) << r.output;
    std::string rev = r.output.substr(at + 14, r.output.find('\n', at) - at - 14);
    // Built from this checkout: the revision names a commit of it (maybe -dirty). Not compared
    // with HEAD, which moves on a commit made after the build.
    auto git = inj::run({"git", "-C", INJ_SOURCE_DIR, "rev-parse", "--git-dir"}, 30s);
    if (git && git->exit_code == 0) {
        std::string commit = rev.substr(0, rev.find('-'));
        EXPECT_GE(commit.size(), 12u) << rev;
        auto known = inj::run({"git", "-C", INJ_SOURCE_DIR, "cat-file", "-e", commit + "^{commit}"}, 30s);
        ASSERT_TRUE(known);
        EXPECT_EQ(known->exit_code, 0) << rev << " is not a commit of " << INJ_SOURCE_DIR << ": " << known->output;
    } else {
        EXPECT_EQ(rev, "unknown");
    }
    EXPECT_EQ(run_injector({"version"}).output, r.output);
}

TEST(CliHelp, UnknownOptionsAndCommandsExit64) {
    for (auto& c : inj::cli::commands()) {
        if (std::string(c.name) == "faultfs") continue;  // parses its own arguments, checked below
        auto r = run_injector({c.name, "--no-such-option"});
        EXPECT_EQ(r.exit_code, 64) << c.name << ": " << r.output;
        EXPECT_NE(r.output.find("--no-such-option"), std::string::npos) << c.name << ": " << r.output;
    }
    auto fs = run_injector({"faultfs", "--no-such-option"});
    EXPECT_EQ(fs.exit_code, 64) << fs.output;
    auto r = run_injector({"--no-such-option"});
    EXPECT_EQ(r.exit_code, 64);
    EXPECT_NE(r.output.find("unknown option --no-such-option"), std::string::npos) << r.output;
    r = run_injector({"no-such-command"});
    EXPECT_EQ(r.exit_code, 64);
    EXPECT_NE(r.output.find("unknown command no-such-command"), std::string::npos) << r.output;
    r = run_injector({"help", "no-such-command"});
    EXPECT_EQ(r.exit_code, 64) << r.output;
}

TEST(CliHelp, FleetOptionsAreCheckedBeforeAnythingRuns) {
    const std::string plan = std::string(INJ_SOURCE_DIR) + "/experiments/zone-sever.yaml";
    for (const char* lead : {"0", "-5", "60001", "fast", "150ms", "1e3", ""}) {
        auto r = run_injector({"run", plan, "--fleet", "http://198.18.0.1:1", "--activation-lead", lead});
        EXPECT_EQ(r.exit_code, 64) << lead << ": " << r.output;
        EXPECT_NE(r.output.find("--activation-lead must be auto or 1..60000"), std::string::npos) << r.output;
    }
    for (auto extra : {std::vector<std::string>{"--activation-lead", "300"}, {"--lease-ttl", "5"}}) {
        std::vector<std::string> args = {"run", plan};
        args.insert(args.end(), extra.begin(), extra.end());
        auto r = run_injector(args);
        EXPECT_EQ(r.exit_code, 64) << extra[0] << ": " << r.output;
        EXPECT_NE(r.output.find("apply to fleet mode only"), std::string::npos) << r.output;
    }
    // An agent serves metrics on loopback only, refused before it reaches for etcd.
    for (const char* addr : {"0.0.0.0:9465", "198.18.0.2:9465", "127.0.0.1", "127.0.0.1:70000"}) {
        auto r = run_injector({"agent", "--etcd", "http://198.18.0.1:1", "--host", "kv-1", "--metrics", addr});
        EXPECT_EQ(r.exit_code, 64) << addr << ": " << r.output;
        EXPECT_NE(r.output.find("--metrics"), std::string::npos) << r.output;
    }
}

TEST(CliHelp, ManPageHasEveryVisibleCommandAndRenders) {
    std::ifstream f(inj::test::binary_path("injector.1"));
    std::string man((std::istreambuf_iterator<char>(f)), {});
    ASSERT_EQ(man.find(".TH INJECTOR 1"), man.find(".TH")) << "build/injector.1 missing or not a man page";
    for (auto& c : inj::cli::commands())
        EXPECT_EQ(man.find(std::string(".SS ") + c.name + "\n") != std::string::npos, !c.hidden) << c.name;
    if (access("/usr/bin/groff", X_OK) != 0) GTEST_SKIP() << "groff missing: the roff is not rendered";
    auto r =
        inj::run({"groff", "-man", "-Tutf8", "-ww", "-P-cbou", inj::test::binary_path("injector.1")}, 30s, {}, 1 << 20);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 0) << r->output;
    EXPECT_EQ(r->output.find("warning"), std::string::npos) << r->output;
    EXPECT_NE(r->output.find("EXIT STATUS"), std::string::npos);
}

TEST(CliCompletion, LoadsAndRegistersForInjector) {
    auto n = inj::run({"bash", "-n", inj::test::binary_path("injector.bash")}, 30s);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->exit_code, 0) << n->output;
    auto r = run_bash("complete -p injector\n");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output, "complete -F _injector injector\n");
}

TEST(CliCompletion, CompletesSubcommandsOptionsAndValues) {
    EXPECT_EQ(complete("injector re"), "recover\nreport\n");
    EXPECT_EQ(complete("injector --log-level debug va"), "validate\n");
    EXPECT_EQ(complete("injector --log-level w"), "warn\n");
    EXPECT_EQ(complete("injector run --k"), "--keep-lab\n");
    EXPECT_EQ(complete("injector report --format h"), "html\n");
    EXPECT_EQ(complete("injector run x.yaml --output j"), "json\n");
    EXPECT_EQ(complete("injector run x.yaml --fleet e:2379 --activation-lead a"), "auto\n");
    EXPECT_EQ(complete("injector lab st"), "status\n");
    EXPECT_EQ(complete("injector help la"), "lab\n");
    // Every option of every visible command is offered after its command.
    for (auto& c : inj::cli::commands()) {
        if (c.hidden) continue;
        auto words = complete(std::string("injector ") + c.name + " -");
        auto opts = c.options();
        for (auto& o : opts.options())
            EXPECT_NE(words.find("--" + o->long_name() + "\n"), std::string::npos) << c.name << ":\n" << words;
    }
}

TEST(CliCompletion, CompletesPlanFilesAndRunIds) {
    auto dir = std::filesystem::temp_directory_path() / ("inj-cli-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir / "plans");
    std::filesystem::create_directories(dir / "state/runs/20260101-zone-a");
    std::filesystem::create_directories(dir / "state/runs/20260102-zone-b");
    for (auto* f : {"a.yaml", "b.yml", "notes.txt", "journal.jsonl"}) std::ofstream(dir / f) << "x\n";
    EXPECT_EQ(complete("injector plan ''", dir.string()), "a.yaml\nb.yml\nplans\nstate\n");
    EXPECT_EQ(complete("injector lab up ''", dir.string()), "a.yaml\nb.yml\nplans\nstate\n");
    EXPECT_EQ(complete("injector run --report-dir /tmp ''", dir.string()), "a.yaml\nb.yml\nplans\nstate\n");
    auto r = run_bash("cd '" + dir.string() + "'\nexport INJECTOR_STATE_DIR='" + (dir / "state").string() +
                      "'\nCOMP_WORDS=(injector report 2026)\nCOMP_CWORD=2\n_injector\n"
                      "printf '%s\\n' \"${COMPREPLY[@]}\" | sort\n");
    EXPECT_EQ(r.output, "20260101-zone-a\n20260102-zone-b\n");
    EXPECT_EQ(complete("injector report j", dir.string()), "journal.jsonl\n");
    EXPECT_EQ(complete("injector agents --etcd e:2379 --plan a", dir.string()), "a.yaml\n");
    std::filesystem::remove_all(dir);
}

}  // namespace
