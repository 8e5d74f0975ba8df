// Background runs of the injector binary for the abort-trigger tests.
#include "privileged/guards_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/netns.hpp"
#include "common/paths.hpp"
#include "common/proc.hpp"
#include "common/tcp.hpp"
#include "runner/journal.hpp"
#include "support/test_support.hpp"

namespace inj::test {

std::string small_plan(const std::string& name, const std::string& at, const std::string& duration,
                       const std::string& max_duration, const std::string& extra_safety,
                       const std::string& extra_probes) {
    std::ostringstream y;
    y << "name: " << name << "\n"
      << "topology:\n"
      << "  zones:\n"
      << "    - { name: a, subnet: 198.18.0.0/22 }\n"
      << "    - { name: b, subnet: 198.18.4.0/22 }\n"
      << "  hosts:\n"
      << "    - { name: a1, zone: a }\n"
      << "    - { name: b1, zone: b }\n"
      << "lab:\n"
      << "  services:\n"
      << "    - name: kv\n"
      << "      hosts: [a1, b1]\n"
      << "      volume: data\n"
      << "      command: >-\n"
      << "        etcd --name {host} --data-dir {volume} --listen-client-urls http://{addr}:2379\n"
      << "        --advertise-client-urls http://{addr}:2379 --listen-peer-urls http://{addr}:2380\n"
      << "        --initial-advertise-peer-urls http://{addr}:2380 --initial-cluster {host}=http://{addr}:2380\n"
      << "      ready: { tcp: \"{addr}:2379\", timeout: 20s }\n"
      << "steady_state:\n"
      << "  probes:\n"
      << "    - { name: b1-up, tcp: \"{addr:b1}:2379\", every: 100ms, timeout: 500ms }\n"
      << extra_probes << "method:\n"
      << "  - { name: cut-a, fault: sever, at: " << at << ", duration: " << duration << ", target: { zone: a } }\n"
      << "safety:\n"
      << "  max_duration: " << max_duration << "\n"
      << extra_safety;
    return y.str();
}

BackgroundRun::BackgroundRun(const std::string& plan_yaml, const std::string& run_id)
    : run_id_(run_id + "-" + std::to_string(getpid()) + "-" +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000)) {
    dir_ = std::filesystem::temp_directory_path() / ("inj-guard-" + run_id_);
    std::filesystem::create_directories(dir_);
    plan_path_ = dir_ + "/plan.yaml";
    out_path_ = dir_ + "/out.txt";
    std::ofstream(plan_path_) << plan_yaml;
    SpawnSpec s;
    s.argv = {
        binary_path("injector/injector"), "--log-level", "info", "run", plan_path_, "--run-id", run_id_, "--json"};
    s.output = out_path_;
    auto pid = spawn(s);
    if (pid) pid_ = *pid;
}

BackgroundRun::~BackgroundRun() {
    if (pid_ > 0 && !reaped_) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        (void)run({binary_path("injector/injector"), "recover"}, std::chrono::seconds(60));
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::vector<nlohmann::json> BackgroundRun::journal() const {
    return runner::read_journal(runs_root() + "/" + run_id_ + "/journal.jsonl");
}

std::optional<nlohmann::json> BackgroundRun::wait_event(const std::string& event, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        for (auto& j : journal())
            if (j.value("event", "") == event) return j;
        if (pid_ > 0 && !reaped_ && waitpid(pid_, &exit_code_, WNOHANG) == pid_) {
            reaped_ = true;
            exit_code_ = WIFEXITED(exit_code_) ? WEXITSTATUS(exit_code_) : 128 + WTERMSIG(exit_code_);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
}

int BackgroundRun::wait_exit(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (!reaped_ && std::chrono::steady_clock::now() < end) {
        int st = 0;
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
            reaped_ = true;
            exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return reaped_ ? exit_code_ : -1;
}

nlohmann::json BackgroundRun::report() const {
    std::ifstream f(runs_root() + "/" + run_id_ + "/report.json");
    return nlohmann::json::parse(f, nullptr, false);
}

std::string BackgroundRun::output() const {
    std::ifstream f(out_path_);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string BackgroundRun::lab_id() const {
    for (auto& j : journal())
        if (j.value("event", "") == "lab_up") return j.value("lab", "");
    return {};
}

bool answers(const std::string& netns, const std::string& addr, int port, std::chrono::milliseconds timeout) {
    auto g = NetnsGuard::enter(netns);
    auto ip = IpAddr::parse(addr);
    if (!g || !ip) return false;
    auto r = tcp_connect(*ip, port, timeout);
    return r || r.error().code == ECONNREFUSED;
}

}  // namespace inj::test
