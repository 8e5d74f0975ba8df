// Helpers of the lab's privileged tests (see lab_support.hpp).
#include "privileged/lab_support.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <filesystem>

#include "common/netns.hpp"
#include "common/proc.hpp"
#include "lab/cgroup.hpp"

namespace inj::lab::test {

plan::Plan make_plan(const std::string& name, const std::vector<ZoneSpec>& zones, bool v6) {
    plan::Plan p;
    p.name = name;
    p.file = "<test " + name + ">";
    p.lab.ready_timeout = std::chrono::seconds(60);
    for (size_t i = 0; i < zones.size(); ++i) {
        plan::Zone z;
        z.name = zones[i].name;
        z.power_domains = {z.name + "-a"};
        z.subnet = Cidr{*IpAddr::parse("198.18." + std::to_string(4 * i) + ".0"), 22};
        if (v6) z.subnet6 = *Cidr::parse("2001:2:0:" + std::to_string(i + 1) + "::/64");
        p.topology.zones.push_back(z);
        p.topology.power_domains.push_back({z.name + "-a", z.name, {}});
        uint64_t n = 2;
        for (auto& hn : zones[i].hosts) {
            plan::Host h;
            h.name = hn;
            h.zone = z.name;
            h.power_domain = z.name + "-a";
            h.addresses.push_back(Cidr{z.subnet->nth(n), 22});
            if (v6) h.addresses.push_back(Cidr{z.subnet6->nth(n), 64});
            ++n;
            p.topology.hosts.push_back(h);
        }
    }
    return p;
}

std::vector<std::string> traces_of(const std::string& id) {
    std::vector<std::string> out;
    std::string prefix = "inj-" + id + "-";
    if (DIR* d = opendir("/run/netns")) {
        while (dirent* e = readdir(d))
            if (std::string(e->d_name).rfind(prefix, 0) == 0) out.push_back("netns " + std::string(e->d_name));
        closedir(d);
    }
    std::string ctl = "inj" + id + "c";
    if (if_nametoindex(ctl.c_str()) != 0) out.push_back("link " + ctl);
    auto routes = run({"ip", "route", "show", "dev", ctl}, std::chrono::seconds(10));
    if (routes && routes->exit_code == 0 && !routes->output.empty()) out.push_back("routes: " + routes->output);
    auto cg2 = cgroup::v2_mount();
    std::error_code ec;
    if (cg2 && std::filesystem::exists(*cg2 + "/injector/" + id, ec))
        out.push_back("cgroup " + *cg2 + "/injector/" + id);
    if (std::filesystem::exists(labs_root() + "/" + id, ec)) out.push_back("state " + labs_root() + "/" + id);
    return out;
}

namespace {

// A socket made inside a namespace stays in it: enter, create, leave.
int socket_in(const std::string& ns, int family) {
    std::optional<NetnsGuard> g;
    if (!ns.empty()) {
        auto r = NetnsGuard::enter(netns_path(ns));
        if (!r) return -1;
        g.emplace(std::move(*r));
    }
    return ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

socklen_t fill(const IpAddr& a, int port, sockaddr_storage* ss) {
    *ss = {};
    if (a.v6) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(static_cast<uint16_t>(port));
        std::copy(a.bytes.begin(), a.bytes.end(), s6->sin6_addr.s6_addr);
        return sizeof *s6;
    }
    auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(static_cast<uint16_t>(port));
    s4->sin_addr.s_addr = a.v4_be();
    return sizeof *s4;
}

}  // namespace

std::string tcp_reach(const std::string& from_ns, const std::string& to_ns, const IpAddr& addr, int port) {
    int family = addr.v6 ? AF_INET6 : AF_INET;
    sockaddr_storage ss;
    socklen_t len = fill(addr, port, &ss);
    int lfd = socket_in(to_ns, family);
    if (lfd < 0) return "listen socket in " + to_ns + ": " + std::strerror(errno);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(lfd, 4) != 0) {
        std::string e = "bind/listen " + addr.str() + " in " + to_ns + ": " + std::strerror(errno);
        ::close(lfd);
        return e;
    }
    int cfd = socket_in(from_ns, family);
    std::string err;
    if (cfd < 0) {
        err = "client socket in " + from_ns + ": " + std::strerror(errno);
    } else {
        timeval tv{3, 0};
        setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (::connect(cfd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
            err = "connect " + (from_ns.empty() ? std::string("root") : from_ns) + " -> " + addr.str() + ":" +
                  std::to_string(port) + ": " + std::strerror(errno);
        } else {
            pollfd p{lfd, POLLIN, 0};
            if (::poll(&p, 1, 3000) != 1) {
                err = "no connection arrived at the listener";
            } else {
                int afd = ::accept(lfd, nullptr, nullptr);
                if (afd < 0)
                    err = std::string("accept: ") + std::strerror(errno);
                else
                    ::close(afd);
            }
        }
        ::close(cfd);
    }
    ::close(lfd);
    return err;
}

Result<LabState> LabFixture::bring_up(const plan::Plan& plan, const UpOptions& opts) {
    ids_.push_back(opts.id.empty() ? id_for(plan) : opts.id);
    return up(plan, opts);
}

void LabFixture::TearDown() {
    for (auto& id : ids_) {
        // A lab the test did not take down itself is removed here from its state file.
        if (auto st = load(id)) {
            auto d = down(*st);
            EXPECT_TRUE(d.ok()) << d.error().message();
            auto left = leftovers(*st);
            ASSERT_TRUE(left.ok()) << left.error().message();
            EXPECT_TRUE(left->empty()) << "lab " << id << " left: " << left->front();
        }
        auto traces = traces_of(id);
        EXPECT_TRUE(traces.empty()) << "lab " << id << " left: " << (traces.empty() ? "" : traces.front());
        std::error_code ec;
        std::filesystem::remove_all(failed_logs_dir(id), ec);
    }
}

}  // namespace inj::lab::test
