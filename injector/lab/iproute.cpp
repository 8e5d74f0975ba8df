// iproute2 batches and JSON queries (see iproute.hpp).
#include "lab/iproute.hpp"

#include <net/if.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "common/netns.hpp"
#include "common/proc.hpp"

namespace inj::lab::ip {
namespace {

constexpr auto kIpTimeout = std::chrono::seconds(60);

Result<nlohmann::json> query(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"ip", "-j"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv, kIpTimeout);
    if (!r) return r.error();
    std::string cmd;
    for (auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    if (r->exit_code != 0) return plain_error(cmd, r->output);
    auto j = nlohmann::json::parse(r->output, nullptr, false);
    if (j.is_discarded() || !j.is_array()) return plain_error(cmd, "unexpected output: " + r->output);
    return j;
}

}  // namespace

Result<void> batch(const std::vector<std::string>& lines, const std::string& file, const std::string& netns,
                   bool force) {
    {
        std::ofstream out(file, std::ios::trunc);
        for (auto& l : lines) out << l << '\n';
        out.flush();
        if (!out) return errno_error("write", file);
    }
    std::vector<std::string> argv{"ip"};
    if (!netns.empty()) argv.insert(argv.end(), {"-n", netns});
    if (force) argv.push_back("-force");
    argv.insert(argv.end(), {"-batch", file});
    auto r = run(argv, kIpTimeout);
    if (!r) return r.error();
    if (r->exit_code != 0) {
        std::string out = r->output;
        while (!out.empty() && out.back() == '\n') out.pop_back();
        return plain_error("ip" + (netns.empty() ? "" : " -n " + netns) + " -batch " + file,
                           r->timed_out ? "timed out" : out);
    }
    return {};
}

Result<void> batch_all(const std::vector<Job>& jobs, int width) {
    struct Running {
        pid_t pid;
        const Job* job;
    };
    std::deque<Running> running;
    Result<void> first_error;
    // Waits for the oldest job; waitpid on that pid only, so children of the caller (services
    // the lab started) are never reaped here by accident.
    auto finish_oldest = [&] {
        Running r = running.front();
        running.pop_front();
        int status = 0;
        while (::waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {}
        std::string out_file = r.job->file + ".out";
        if (first_error.ok() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            std::ifstream in(out_file);
            std::string out((std::istreambuf_iterator<char>(in)), {});
            while (!out.empty() && out.back() == '\n') out.pop_back();
            first_error = plain_error("ip -n " + r.job->netns + " -batch " + r.job->file, out);
        }
        ::unlink(out_file.c_str());
    };
    for (const Job& job : jobs) {
        if (!first_error.ok()) break;
        {
            std::ofstream out(job.file, std::ios::trunc);
            for (auto& l : job.lines) out << l << '\n';
            out.flush();
            if (!out) {
                first_error = errno_error("write", job.file);
                break;
            }
        }
        SpawnSpec spec;
        spec.argv = {"ip", "-n", job.netns, "-batch", job.file};
        spec.output = job.file + ".out";
        spec.die_with_parent = true;  // never configure a lab after the process that owns it died
        ::unlink(spec.output.c_str());
        auto pid = spawn(spec);
        if (!pid) {
            first_error = pid.error();
            break;
        }
        running.push_back({*pid, &job});
        if (static_cast<int>(running.size()) >= width) finish_oldest();
    }
    while (!running.empty()) finish_oldest();
    return first_error;
}

Result<std::vector<Entry>> overlapping(const Cidr& range) {
    std::vector<Entry> out;
    const char* fam = range.addr.v6 ? "-6" : "-4";
    auto routes = query({fam, "route", "show", "table", "all"});
    if (!routes) return routes.error();
    for (auto& r : *routes) {
        std::string dst = r.value("dst", "");
        if (dst.empty() || dst == "default") continue;
        auto c = Cidr::parse(dst);
        if (!c || !c->overlaps(range)) continue;
        std::string dev = r.value("dev", "");
        std::string table = r.value("table", "main");
        out.push_back({*c, dev, "route " + dst + (dev.empty() ? "" : " dev " + dev) + " table " + table});
    }
    auto links = query({fam, "addr", "show"});
    if (!links) return links.error();
    for (auto& l : *links) {
        std::string dev = l.value("ifname", "");
        if (!l.contains("addr_info")) continue;
        for (auto& a : l["addr_info"]) {
            auto ip = IpAddr::parse(a.value("local", ""));
            if (!ip || !range.contains(*ip)) continue;
            Cidr c{*ip, a.value("prefixlen", ip->bits())};
            out.push_back({c, dev, "address " + c.str() + " on " + dev});
        }
    }
    return out;
}

bool link_exists(const std::string& ifname) { return if_nametoindex(ifname.c_str()) != 0; }

bool netns_exists(const std::string& name) {
    struct stat st;
    return ::stat(netns_path(name).c_str(), &st) == 0;
}

}  // namespace inj::lab::ip
