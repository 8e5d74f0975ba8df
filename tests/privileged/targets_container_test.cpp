// Real targets: Podman containers resolved through inspect and /proc (and through podman's
// Docker-compatible API for the Docker shape), and the watcher putting them back when the runner
// is SIGKILLed in the middle of a freeze and of a kill-mode power cut. "Serves" is an HTTP GET
// from another namespace the test made, on lab addresses only.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/proc.hpp"
#include "support/container_world.hpp"
#include "support/test_support.hpp"
#include "targets/container.hpp"
#include "targets/watcher.hpp"

namespace inj::targets {
namespace {

using namespace std::chrono_literals;

std::vector<nlohmann::json> events(const std::string& record) {
    std::vector<nlohmann::json> out;
    std::ifstream in(record);
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
}

bool wait_undone(const std::string& record, std::chrono::seconds bound) {
    auto until = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < until) {
        auto ev = events(record);
        if (!ev.empty() && ev.back()["event"] == "undone") return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

std::vector<std::string> with_podman(std::vector<std::string> args) {
    auto v = test::podman();
    v.insert(v.end(), args.begin(), args.end());
    return v;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// A "runner" child that starts a watcher for `spec`, does `act`, says so on `sync`, then waits to
// be killed. Returns its pid once it has acted, or 0.
template <typename Act>
pid_t runner_that(const WatchSpec& base, Act act) {
    int sync[2];
    if (::pipe(sync) != 0) return 0;
    pid_t pid = ::fork();
    if (pid == 0) {
        WatchSpec spec = base;
        spec.runner = ::getpid();
        auto w = Watcher::start(spec, test::binary_path("injector/injector"));
        char c = w.ok() && act() ? 'A' : 'E';
        (void)!::write(sync[1], &c, 1);
        if (c == 'A') ::pause();
        ::_exit(1);
    }
    ::close(sync[1]);
    char c = 0;
    bool acted = ::read(sync[0], &c, 1) == 1 && c == 'A';
    ::close(sync[0]);
    if (!acted) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return 0;
    }
    return pid;
}

class TargetsContainers : public ::testing::Test {
protected:
    void SetUp() override {
        INJ_REQUIRE_PRIVILEGE();
        char t[] = "/tmp/inj-test-vol-XXXXXX";
        ASSERT_NE(::mkdtemp(t), nullptr);
        volume_ = t;
        record_ = volume_ + ".watch.jsonl";
        auto r = world_.create(volume_);
        ASSERT_TRUE(r.ok()) << r.error().message();
    }
    void TearDown() override {
        auto r = world_.remove();
        EXPECT_TRUE(r.ok()) << r.error().message();
        if (!volume_.empty()) std::system(("rm -rf '" + volume_ + "' '" + record_ + "'").c_str());
    }
    Container resolved() {
        auto c = resolve_container(world_.name(0), podman_runtime());
        EXPECT_TRUE(c.ok()) << c.error().message();
        return c.ok() ? *c : Container{};
    }

    void freeze_and_lose_the_runner(const std::string& hierarchy, const std::string& frozen, const std::string& thawed);

    test::ContainerWorld world_{"tg", 1, 240};
    std::string volume_, record_;
};

TEST_F(TargetsContainers, ResolvesARealContainerAndRefusesWhatDoesNotResolve) {
    Container c = resolved();
    auto id = run(with_podman({"inspect", "-f", "{{.Id}}", world_.name(0)}), 30s);
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(c.inspect.id, trimmed(id->output));
    EXPECT_EQ(c.inspect.name, world_.name(0));
    EXPECT_TRUE(c.inspect.init);
    EXPECT_EQ(comm_of(c.main_pid), "podman-init");  // catatonit, copied in by podman
    EXPECT_EQ(comm_of(c.service_pid), "python3");
    EXPECT_EQ(c.netns, world_.server_ns(0));
    EXPECT_TRUE(c.netns_survives_restart);
    EXPECT_TRUE(same_file(c.netns, "/proc/" + std::to_string(c.service_pid) + "/ns/net"));
    for (const char* h : {"unified", "freezer", "pids", "blkio"})
        EXPECT_EQ(c.cgroups[h], std::string("/sys/fs/cgroup/") + h + world_.cgroup_parent() + "/libpod-" + c.inspect.id)
            << h;
    ASSERT_EQ(c.inspect.mounts.size(), 1u);
    EXPECT_EQ(c.inspect.mounts[0].source, volume_);
    EXPECT_EQ(c.inspect.mounts[0].destination, "/data");
    EXPECT_EQ(c.start_command().back(), c.inspect.id);

    auto none = resolve_container("inj-test-no-such-container", podman_runtime());
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message().find("container inj-test-no-such-container (no such container"), std::string::npos)
        << none.error().message();

    auto stop = run(c.stop_command(5), 60s);
    ASSERT_TRUE(stop.ok() && stop->exit_code == 0) << (stop.ok() ? stop->output : stop.error().message());
    auto stopped = resolve_container(world_.name(0), podman_runtime());
    ASSERT_FALSE(stopped.ok());
    EXPECT_NE(stopped.error().message().find("not running"), std::string::npos) << stopped.error().message();
    EXPECT_FALSE(world_.serves(0));
    auto start = run(c.start_command(), 60s);
    ASSERT_TRUE(start.ok() && start->exit_code == 0);
    EXPECT_TRUE(world_.await_serving(20s).ok());
}

TEST_F(TargetsContainers, DockerShapedInspectFromPodmansDockerApiResolvesTheSame) {
    Container c = resolved();
    // podman's Docker-compatible API answers GET /containers/NAME/json with what `docker inspect`
    // prints (one object instead of a one-element array).
    const std::string sock = volume_ + ".sock", conf = volume_ + ".conf";
    std::ofstream(conf) << "[engine]\ncgroup_manager = \"cgroupfs\"\nruntime = \"runc\"\nevents_logger = \"file\"\n";
    SpawnSpec s;
    s.argv = {"env", "CONTAINERS_CONF=" + conf, "podman", "system", "service", "--time=0", "unix://" + sock};
    auto svc = spawn(s);
    ASSERT_TRUE(svc.ok()) << svc.error().message();
    std::string body;
    for (int i = 0; i < 100 && body.find('{') == std::string::npos; ++i) {
        std::this_thread::sleep_for(50ms);
        auto r = run({"curl", "-sf", "--unix-socket", sock, "http://d/v1.41/containers/" + world_.name(0) + "/json"},
                     10s, {}, 4 << 20);
        if (r.ok() && r->exit_code == 0) body = r->output;
    }
    ::kill(*svc, SIGTERM);
    reap_children({*svc}, 5000ms);
    ::unlink(sock.c_str());
    ::unlink(conf.c_str());
    ASSERT_NE(body.find('{'), std::string::npos) << "no answer from podman's Docker API";
    auto in = parse_inspect(body, ContainerRuntime::Kind::docker, world_.name(0));
    ASSERT_TRUE(in.ok()) << in.error().message();
    EXPECT_EQ(in->name, world_.name(0));
    auto d = resolve_inspected(*in, docker_runtime());
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_EQ(d->inspect.id, c.inspect.id);
    EXPECT_EQ(d->main_pid, c.main_pid);
    EXPECT_EQ(d->service_pid, c.service_pid);
    EXPECT_EQ(d->netns, c.netns);
    EXPECT_EQ(d->cgroups, c.cgroups);
    ASSERT_EQ(d->inspect.mounts.size(), 1u);
    EXPECT_EQ(d->inspect.mounts[0].source, volume_);
    EXPECT_EQ(d->start_command(), (std::vector<std::string>{"docker", "start", c.inspect.id}));
}

// Freezes the container through `hierarchy` ("freezer": v1 freezer.state; "unified": v2
// cgroup.freeze) from a runner that is then SIGKILLed; the watcher must thaw it and the same
// service process must answer again.
void TargetsContainers::freeze_and_lose_the_runner(const std::string& hierarchy, const std::string& frozen,
                                                   const std::string& thawed) {
    Container c = resolved();
    const std::string dir = c.cgroups[hierarchy];
    ASSERT_FALSE(dir.empty()) << hierarchy;
    pid_t runner = runner_that(WatchSpec{0, {dir}, {}, record_}, [&] { return freeze_cgroup(dir).ok(); });
    ASSERT_NE(runner, 0);
    EXPECT_EQ(freezer_state(dir), frozen);
    EXPECT_FALSE(world_.serves(0, 700ms)) << "a frozen container answered";
    ::kill(runner, SIGKILL);
    ::waitpid(runner, nullptr, 0);
    ASSERT_TRUE(wait_undone(record_, 20s));
    auto up = world_.await_serving(10s);
    ASSERT_TRUE(up.ok()) << up.error().message();
    EXPECT_EQ(freezer_state(dir), thawed);
    auto ev = events(record_);
    ASSERT_GE(ev.size(), 4u);
    EXPECT_EQ(ev[1]["event"], "runner_lost");
    EXPECT_EQ(ev[2]["event"], "thaw");
    EXPECT_EQ(ev[2]["cgroup"], dir);
    EXPECT_EQ(ev[2]["ok"], true);
    // The same process serves: thawed, not restarted.
    auto again = resolve_container(world_.name(0), podman_runtime());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->service_pid, c.service_pid);
}

TEST_F(TargetsContainers, WatcherThawsAFrozenContainerWhenTheRunnerIsKilled) {
    freeze_and_lose_the_runner("freezer", "FROZEN", "THAWED");
}

TEST_F(TargetsContainers, WatcherThawsACgroupV2FrozenContainerWhenTheRunnerIsKilled) {
    freeze_and_lose_the_runner("unified", "1", "0");
}

TEST_F(TargetsContainers, WatcherRestartsAKilledContainerWhenTheRunnerIsKilled) {
    Container c = resolved();
    WatchSpec spec{0, {}, {}, record_};
    spec.container_runtime = c.runtime.command;
    spec.containers = {c.inspect.id};
    pid_t runner = runner_that(spec, [&] { return kill_container_processes(c).ok(); });
    ASSERT_NE(runner, 0);
    // Every process of its cgroup is gone: nothing answers.
    for (int i = 0; i < 100 && pid_alive(c.service_pid); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(pid_alive(c.service_pid));
    EXPECT_FALSE(pid_alive(c.main_pid));
    EXPECT_FALSE(world_.serves(0, 300ms));
    ::kill(runner, SIGKILL);
    ::waitpid(runner, nullptr, 0);
    ASSERT_TRUE(wait_undone(record_, 60s));
    auto ev = events(record_);
    ASSERT_GE(ev.size(), 4u);
    EXPECT_EQ(ev[2]["event"], "containers");
    EXPECT_EQ(ev[2]["ok"], true) << ev[2].dump();
    auto up = world_.await_serving(20s);
    ASSERT_TRUE(up.ok()) << up.error().message();
    auto again = resolve_container(world_.name(0), podman_runtime());
    ASSERT_TRUE(again.ok()) << again.error().message();
    EXPECT_NE(again->service_pid, c.service_pid);
    EXPECT_EQ(again->netns, c.netns);
}

}  // namespace
}  // namespace inj::targets
