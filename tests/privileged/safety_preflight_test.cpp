// Preflight refusals through the real `injector run`: each one exits 3 and touches nothing (no
// new network namespace, no lab state): blast radius, protected target, abort path, a missing
// CAP_NET_ADMIN, and the one-run-per-machine lock.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/proc.hpp"
#include "lab/lab.hpp"
#include "plan/loader.hpp"
#include "safety/preflight.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Three zones, one host each, a service that needs no network; short enough that a run the
// preflight wrongly lets through still ends (and heals) within seconds.
std::string plan_text(const std::string& name, const std::string& safety, const std::string& probe_in = "control",
                      const std::string& probe_target = "{addr:h2}:9") {
    return "name: " + name +
           "\n"
           "topology:\n"
           "  zones:\n"
           "    - { name: z1 }\n"
           "    - { name: z2 }\n"
           "    - { name: z3 }\n"
           "  hosts:\n"
           "    - { name: h1, zone: z1 }\n"
           "    - { name: h2, zone: z2 }\n"
           "    - { name: h3, zone: z3 }\n"
           "lab:\n"
           "  services:\n"
           "    - { name: idle, hosts: [h1, h2, h3], command: sleep 600 }\n"
           "steady_state:\n"
           "  probes:\n"
           "    - { name: p, tcp: \"" +
           probe_target + "\", in: " + probe_in +
           ", every: 500ms }\n"
           "method:\n"
           "  - { name: cut-z1, fault: sever, at: 1s, duration: 1s, target: { zone: z1 } }\n"
           "safety:\n"
           "  max_duration: 10s\n" +
           safety;
}

std::string netns_list() {
    auto r = inj::run({"ip", "netns", "list"}, 10s);
    return r ? r->output : "?";
}

struct Result {
    int exit_code = -1;
    std::string output;
};

class Preflight : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        dir_ = fs::temp_directory_path() / ("inj-preflight-" + std::to_string(getpid()));
        fs::create_directories(dir_ / "state");
        // A private state directory: these runs must not meet other runs' locks or journals.
        const char* prev = std::getenv("INJECTOR_STATE_DIR");
        if (prev) prev_state_ = prev;
        setenv("INJECTOR_STATE_DIR", (dir_ / "state").c_str(), 1);
    }
    void TearDown() override {
        if (prev_state_)
            setenv("INJECTOR_STATE_DIR", prev_state_->c_str(), 1);
        else
            unsetenv("INJECTOR_STATE_DIR");
        std::error_code ec;
        if (!dir_.empty()) fs::remove_all(dir_, ec);
    }

    std::string write(const std::string& name, const std::string& text) {
        auto path = (dir_ / (name + ".yaml")).string();
        std::ofstream(path) << text;
        return path;
    }

    static Result run_injector(const std::string& plan) {
        auto r = inj::run({inj::test::binary_path("injector/injector"), "--log-level", "warn", "run", plan}, 2min);
        if (!r) return {-1, r.error().message()};
        return {r->exit_code, r->output};
    }

    // Runs the plan and checks the refusal contract: exit 3, the reason in the output, and no
    // namespace or lab state created.
    void expect_refused(const std::string& path, const std::vector<std::string>& parts,
                        Result (*runner)(const std::string&) = &Preflight::run_injector) {
        auto loaded = inj::plan::load_file(path);
        ASSERT_TRUE(loaded.plan.has_value()) << (loaded.errors.empty() ? "" : loaded.errors[0].str());
        std::string lab_dir = "/run/injector/labs/" + inj::lab::id_for(*loaded.plan);
        ASSERT_FALSE(fs::exists(lab_dir)) << "a lab of this plan is already up";
        std::string before = netns_list();
        Result r = runner(path);
        EXPECT_EQ(r.exit_code, 3) << r.output;
        for (auto& p : parts) EXPECT_NE(r.output.find(p), std::string::npos) << "'" << p << "' not in:\n" << r.output;
        EXPECT_EQ(netns_list(), before) << "the refused run created namespaces";
        EXPECT_FALSE(fs::exists(lab_dir)) << "the refused run left lab state " << lab_dir;
    }

    fs::path dir_;
    std::optional<std::string> prev_state_;
};

// `injector run` in a child that lost CAP_NET_ADMIN from its bounding, effective, permitted,
// inheritable and ambient sets, so the exec'd binary cannot regain it (root included).
Result run_without_net_admin(const std::string& plan) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return {-1, "pipe failed"};
    pid_t pid = fork();
    if (pid < 0) return {-1, "fork failed"};
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(out[1], STDERR_FILENO);
        if (prctl(PR_CAPBSET_DROP, CAP_NET_ADMIN, 0, 0, 0) != 0) _exit(120);
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[2] = {};
        if (syscall(SYS_capget, &hdr, data) != 0) _exit(121);
        uint32_t bit = 1u << (CAP_NET_ADMIN % 32);
        auto& d = data[CAP_NET_ADMIN / 32];
        d.effective &= ~bit;
        d.permitted &= ~bit;
        d.inheritable &= ~bit;
        if (syscall(SYS_capset, &hdr, data) != 0) _exit(122);
        std::string bin = inj::test::binary_path("injector/injector");
        execl(bin.c_str(), bin.c_str(), "--log-level", "warn", "run", plan.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    close(out[1]);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    close(out[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), text};
}

}  // namespace

TEST_F(Preflight, BlastRadiusRefused) {
    auto path = write("blast", plan_text("preflight-blast", "  blast_radius: { max_hosts: 0 }\n"));
    expect_refused(path, {"safety.blast_radius.max_hosts is 0", "T+1s..T+2s", "reaches 1", "hosts cut off: h1"});
}

TEST_F(Preflight, ProtectedTargetRefused) {
    auto path = write("protected", plan_text("preflight-protected", "  protected:\n    - { zone: z1 }\n"));
    expect_refused(path, {"fault cut-z1", "would touch protected zone z1", path + ":18:5"});
}

TEST_F(Preflight, AbortPathRefused) {
    auto path = write("abort", plan_text("preflight-abort", "  abort_when:\n    - { probe: p, failures_in_a_row: 3 }\n",
                                         "h2", "{addr:h1}:9"));
    expect_refused(path, {"abort_when probe p (in h2", "T+1s..T+2s", "h2 <-> h1"});
}

TEST_F(Preflight, MissingNetAdminRefused) {
    auto path = write("nocap", plan_text("preflight-nocap", ""));
    expect_refused(path, {"CAP_NET_ADMIN"}, &run_without_net_admin);
}

TEST_F(Preflight, SecondRunRefusedNamingTheHolder) {
    // The machine-wide lock, as a real second run meets it: no private state directory.
    unsetenv("INJECTOR_STATE_DIR");
    std::string id = "preflight-holder-" + std::to_string(getpid());
    auto lock = inj::safety::RunLock::acquire(id);
    ASSERT_TRUE(lock.ok()) << "another run holds the machine lock: " << lock.error().message();
    auto path = write("locked", plan_text("preflight-locked", ""));
    expect_refused(path, {id});
}
