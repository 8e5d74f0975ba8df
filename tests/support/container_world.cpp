// The container world of the privileged target tests and benchmarks (see container_world.hpp).
#include "support/container_world.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "common/fd.hpp"
#include "common/netns.hpp"
#include "common/proc.hpp"

namespace inj::test {
namespace {

using Clock = std::chrono::steady_clock;

Result<RunResult> must(const std::vector<std::string>& argv, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    auto r = run(argv, timeout);
    if (!r) return r;
    if (r->exit_code != 0) {
        std::string cmd;
        for (auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
        return plain_error(cmd, "exit " + std::to_string(r->exit_code) + ": " + r->output.substr(0, 400));
    }
    return r;
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

bool exists(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}

// One blocking-with-deadline HTTP/1.0 GET, in whatever namespace this thread is in.
bool http_ok(const std::string& ip, int port, std::chrono::milliseconds timeout) {
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!s) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    auto until = Clock::now() + timeout;
    auto left = [&] {
        return int(
            std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count()));
    };
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 && errno != EINPROGRESS) return false;
    pollfd p{s.get(), POLLOUT, 0};
    if (::poll(&p, 1, left()) != 1) return false;
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return false;
    const char req[] = "GET / HTTP/1.0\r\n\r\n";
    if (::send(s.get(), req, sizeof(req) - 1, MSG_NOSIGNAL) != ssize_t(sizeof(req) - 1)) return false;
    std::string got;
    char buf[256];
    while (got.size() < 12) {
        pollfd q{s.get(), POLLIN, 0};
        if (::poll(&q, 1, left()) != 1) return false;
        ssize_t n = ::recv(s.get(), buf, sizeof(buf), 0);
        if (n <= 0) return false;
        got.append(buf, size_t(n));
    }
    return got.compare(9, 3, "200") == 0;
}

}  // namespace

std::vector<std::string> podman() {
    return {"podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"};
}

ContainerWorld::ContainerWorld(std::string tag, int count, int octet)
    : tag_(std::move(tag)), count_(count), octet_(octet) {
    std::string id = std::to_string(::getpid());
    client_ns_ = netns_path("inj-" + tag_ + "-cli-" + id);
    parent_ = "/inj-test-" + tag_ + "-" + id;
}

ContainerWorld::~ContainerWorld() {
    if (created_) (void)remove();
}

std::string ContainerWorld::name(int i) const {
    return "inj-test-" + tag_ + "-" + std::to_string(::getpid()) + "-" + std::to_string(i);
}
std::string ContainerWorld::server_ip(int i) const {
    return "198.19." + std::to_string(octet_) + "." + std::to_string(4 * i + 1);
}
std::string ContainerWorld::server_ns(int i) const {
    return netns_path("inj-" + tag_ + "-s" + std::to_string(i) + "-" + std::to_string(::getpid()));
}

Result<void> ContainerWorld::create(const std::string& volume) {
    if (count_ < 1 || count_ > 63) return plain_error("container world", "1..63 containers");
    created_ = true;
    auto base = [](const std::string& p) { return p.substr(p.rfind('/') + 1); };
    const std::string cli = base(client_ns_);
    INJ_TRY(must({"ip", "netns", "add", cli}));
    INJ_TRY(must({"ip", "-n", cli, "link", "set", "lo", "up"}));
    for (int i = 0; i < count_; ++i) {
        const std::string srv = base(server_ns(i)), veth = "c" + std::to_string(i);
        const std::string client_ip = "198.19." + std::to_string(octet_) + "." + std::to_string(4 * i + 2);
        INJ_TRY(must({"ip", "netns", "add", srv}));
        INJ_TRY(must({"ip", "-n", cli, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", srv}));
        INJ_TRY(must({"ip", "-n", cli, "addr", "add", client_ip + "/30", "dev", veth}));
        INJ_TRY(must({"ip", "-n", cli, "link", "set", veth, "up"}));
        INJ_TRY(must({"ip", "-n", srv, "addr", "add", server_ip(i) + "/30", "dev", "eth0"}));
        INJ_TRY(must({"ip", "-n", srv, "link", "set", "eth0", "up"}));
        INJ_TRY(must({"ip", "-n", srv, "link", "set", "lo", "up"}));
        std::vector<std::string> run_args = {"run",
                                             "-d",
                                             "--name",
                                             name(i),
                                             "--init",
                                             "--network",
                                             "ns:" + server_ns(i),
                                             "--cgroup-parent",
                                             parent_,
                                             "--ulimit",
                                             "nofile=1024:1024",
                                             "--ulimit",
                                             "nproc=4096:4096"};
        if (!volume.empty()) run_args.insert(run_args.end(), {"-v", volume + ":/data"});
        // Every option before --rootfs: what follows its path is the container's command.
        run_args.insert(run_args.end(), {"--rootfs", "/:O", "/usr/bin/python3", "-m", "http.server",
                                         std::to_string(kPort), "--bind", server_ip(i), "--directory", "/tmp"});
        INJ_TRY(must(with(podman(), run_args)));
    }
    auto up = await_serving(std::chrono::seconds(30));
    if (!up) return std::move(up).error();
    return {};
}

Result<void> ContainerWorld::remove() {
    created_ = false;
    std::string left;
    std::vector<std::string> rm = with(podman(), {"rm", "-f", "-t", "0", "--ignore"});
    for (int i = 0; i < count_; ++i) rm.push_back(name(i));
    auto r = run(rm, std::chrono::seconds(120));
    if (!r || r->exit_code != 0)
        left += "podman rm failed: " + (r ? r->output.substr(0, 300) : r.error().message()) + "; ";
    for (int i = 0; i < count_; ++i)
        if (exists(server_ns(i))) (void)run({"ip", "netns", "del", server_ns(i).substr(11)}, std::chrono::seconds(10));
    if (exists(client_ns_)) (void)run({"ip", "netns", "del", client_ns_.substr(11)}, std::chrono::seconds(10));
    // podman leaves the parent and its conmon child in every hierarchy; conmon may outlive rm
    // by a second or two, so the removal is retried for a while.
    auto until = Clock::now() + std::chrono::seconds(10);
    std::vector<std::string> dirs;
    for (const char* h :
         {"unified", "freezer", "pids", "blkio", "cpu", "cpuacct", "cpuset", "memory", "devices", "systemd"}) {
        std::string d = std::string("/sys/fs/cgroup/") + h + parent_;
        if (exists(d)) dirs.push_back(d);
    }
    for (auto& d : dirs) {
        while (exists(d)) {
            (void)run({"find", d, "-mindepth", "1", "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"},
                      std::chrono::seconds(10));
            if (::rmdir(d.c_str()) == 0 || errno == ENOENT) break;
            if (Clock::now() > until) {
                left += d + " still there; ";
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    for (int i = 0; i < count_; ++i)
        if (exists(server_ns(i))) left += server_ns(i) + " still there; ";
    if (exists(client_ns_)) left += client_ns_ + " still there; ";
    if (!left.empty()) return plain_error("remove container world " + tag_, left);
    return {};
}

bool ContainerWorld::serves(int i, std::chrono::milliseconds timeout) const {
    auto g = NetnsGuard::enter(client_ns_);
    return g.ok() && http_ok(server_ip(i), kPort, timeout);
}

Result<std::chrono::nanoseconds> ContainerWorld::await_serving(std::chrono::milliseconds bound,
                                                               std::vector<int> which) const {
    if (which.empty())
        for (int i = 0; i < count_; ++i) which.push_back(i);
    auto start = Clock::now(), until = start + bound;
    auto g = NetnsGuard::enter(client_ns_);
    if (!g) return std::move(g).error();
    std::vector<int> waiting = which;
    while (!waiting.empty()) {
        std::vector<int> still;
        for (int i : waiting)
            if (!http_ok(server_ip(i), kPort, std::chrono::milliseconds(200))) still.push_back(i);
        waiting = still;
        if (waiting.empty()) break;
        if (Clock::now() > until) {
            std::string names;
            for (int i : waiting) names += " " + name(i);
            return plain_error("containers not serving after " + std::to_string(bound.count()) + " ms", names);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return std::chrono::nanoseconds(Clock::now() - start);
}

std::string ContainerWorld::status(int i) const {
    auto r = run(with(podman(), {"inspect", "-f", "{{.State.Status}}", name(i)}), std::chrono::seconds(30));
    if (!r || r->exit_code != 0) return {};
    std::string s = r->output;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace inj::test
