// The lab (see lab.hpp): up builds namespaces, veths, bridges, routes and cgroups from a plan with
// a handful of iproute2 batches, starts the services and waits for them; down removes exactly
// what the state file names. The state file is written before anything is created, so every
// partial lab (a failed up, a crashed runner) can be removed from it alone.
#include "lab/lab.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <set>

#include "common/audit.hpp"
#include "common/duration.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"
#include "common/netns.hpp"
#include "common/proc.hpp"
#include "common/ranges.hpp"
#include "faultfs/faultfs.hpp"
#include "lab/cgroup.hpp"
#include "lab/iproute.hpp"
#include "lab/pools.hpp"
#include "lab/ready.hpp"
#include "lab/state.hpp"
#include "plan/template.hpp"

namespace inj::lab {
namespace {

// A simple command runs as `exec CMD`, so the process the lab records (and signals) is the
// service itself, not a shell around it. Compound commands (;, &&, |, &, newlines) keep their
// shell: the cgroup still holds and kills everything they start.
std::string exec_form(const std::string& cmd) {
    auto first = cmd.find_first_not_of(" \t");
    if (first == std::string::npos) return cmd;
    if (cmd.compare(first, 5, "exec ") == 0) return cmd;
    if (cmd.find_first_of(";&|\n`(") != std::string::npos) return cmd;
    return "exec " + cmd.substr(first);
}

auto lg() { return log::get("lab"); }

// The control pair sits at the top of the lab range, away from the zone subnets the loader
// assigns from the bottom; the v6 pair in the last /64 of the v6 lab range (common/ranges.hpp).
const Cidr& kControlNet = control_net_v4();
const Cidr& kControlNet6 = control_net_v6();
constexpr auto kKillBound = std::chrono::seconds(5);
constexpr size_t kLogTailLines = 20;
// ip processes configuring host namespaces at once: enough to hide fork/exec and namespace
// switching latency on a small machine without flooding it.
constexpr int kIpParallel = 4;

bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > 64 || s[0] == '.' || s[0] == '-') return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

bool valid_id(const std::string& s) {
    // "inj" + id + "c" must fit IFNAMSIZ (15 characters).
    if (s.empty() || s.size() > 8) return false;
    for (char c : s)
        if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)))) return false;
    return true;
}

bool path_exists(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}

Result<void> mkdirs(const std::string& dir) {
    for (size_t pos = 1; pos != std::string::npos;) {
        pos = dir.find('/', pos + 1);
        std::string part = dir.substr(0, pos);
        if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return errno_error("mkdir", part);
    }
    return {};
}

int rm_entry(const char* path, const struct stat*, int, struct FTW*) {
    return ::remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

// rm -rf; a missing path is success.
Result<void> remove_tree(const std::string& path) {
    if (!path_exists(path)) return {};
    if (::nftw(path.c_str(), rm_entry, 32, FTW_DEPTH | FTW_PHYS) != 0) return errno_error("remove", path);
    return {};
}

std::string tail_of(const std::string& file, size_t lines) {
    std::ifstream in(file);
    std::deque<std::string> last;
    std::string l;
    while (std::getline(in, l)) {
        last.push_back(l);
        if (last.size() > lines) last.pop_front();
    }
    std::string out;
    for (auto& x : last) out += "\n  | " + x;
    return out;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string out;
    for (auto& s : v) out += (out.empty() ? "" : sep) + s;
    return out;
}

// An exclusive lock on labs_root()/.lock: two concurrent `lab up` must not both see the range
// free and both claim it.
class RootLock {
public:
    static Result<RootLock> take() {
        std::string file = labs_root() + "/.lock";
        INJ_ASSIGN_OR_RETURN(Fd fd, open_fd(file, O_RDWR | O_CREAT, 0644));
        if (::flock(fd.get(), LOCK_EX) != 0) return errno_error("flock", file);
        return RootLock(std::move(fd));
    }

private:
    explicit RootLock(Fd fd) : fd_(std::move(fd)) {}
    Fd fd_;  // closing it releases the lock
};

// Gateway of a zone segment: the first address, held by the zone bridge in the fabric.
Cidr gateway_of(const Cidr& subnet) { return Cidr{subnet.nth(1), subnet.prefix}; }

// Every name and address of the lab, computed from the plan before anything is created, and the
// checks that the plan stays inside the lab ranges.
Result<LabState> plan_state(const plan::Plan& plan, const std::string& id, const std::string& cg2) {
    LabState s;
    s.id = id;
    s.plan_name = plan.name;
    s.plan_file = plan.file;
    s.dir = labs_root() + "/" + id;
    s.phase = "creating";
    s.fabric_netns = "inj-" + id + "-fabric";
    s.control_if = "inj" + id + "c";
    s.control_port = "ctl";
    s.control_addr = Cidr{kControlNet.nth(1), kControlNet.prefix};
    s.control_gateway = Cidr{kControlNet.nth(2), kControlNet.prefix};
    s.cgroup_root = cg2 + "/injector/" + id;
    s.routes.push_back(lab_range_v4());

    auto bad = [&](const std::string& what) { return plain_error("lab " + plan.name, what); };
    bool v6 = false;
    const auto& topo = plan.topology;
    for (size_t i = 0; i < topo.zones.size(); ++i) {
        const auto& z = topo.zones[i];
        if (!z.subnet) return bad("zone " + z.name + " has no subnet (the plan loader assigns one)");
        if (!lab_range_v4().contains(*z.subnet))
            return bad("zone " + z.name + " subnet " + z.subnet->str() + " is outside " + lab_range_v4().str());
        if (z.subnet->overlaps(kControlNet))
            return bad("zone " + z.name + " subnet " + z.subnet->str() + " overlaps the control pair " +
                       kControlNet.str());
        if (z.subnet->prefix > 30) return bad("zone " + z.name + " subnet " + z.subnet->str() + " is too small");
        if (z.subnet6) {
            v6 = true;
            if (!lab_range_v6().contains(*z.subnet6))
                return bad("zone " + z.name + " subnet6 " + z.subnet6->str() + " is outside " + lab_range_v6().str());
            if (z.subnet6->overlaps(kControlNet6))
                return bad("zone " + z.name + " subnet6 " + z.subnet6->str() + " overlaps the control pair " +
                           kControlNet6.str());
        }
        for (size_t k = 0; k < i; ++k) {
            const auto& o = topo.zones[k];
            if (o.subnet && o.subnet->overlaps(*z.subnet))
                return bad("zones " + o.name + " and " + z.name + " have overlapping subnets");
            if (o.subnet6 && z.subnet6 && o.subnet6->overlaps(*z.subnet6))
                return bad("zones " + o.name + " and " + z.name + " have overlapping subnet6");
        }
    }
    std::set<std::string> names;
    const std::vector<bool> idle = idle_hosts(plan);
    std::map<std::string, int> pools;  // zone/power domain -> pool number
    for (size_t i = 0; i < topo.hosts.size(); ++i) {
        const auto& h = topo.hosts[i];
        if (!valid_name(h.name)) return bad("host name '" + h.name + "' is not usable as a namespace name");
        if (!names.insert(h.name).second) return bad("host " + h.name + " appears twice");
        const plan::Zone* z = topo.zone(h.zone);
        if (!z) return bad("host " + h.name + " is in unknown zone " + h.zone);
        if (h.addresses.empty()) return bad("host " + h.name + " has no address (the plan loader assigns one)");
        HostRuntime hr;
        hr.name = h.name;
        hr.index = static_cast<int>(i);
        hr.netns = "inj-" + id + "-" + h.name;
        hr.fabric_port = "h" + std::to_string(i);
        // Hosts are grouped by power domain, so a whole domain's processes can be killed or
        // frozen with one write (cgroup.kill of the domain's cgroup kills its subtree).
        hr.cgroup = s.power_domain_cgroup(h.power_domain) + "/" + h.name;
        if (idle[i]) {
            int pool = pools.try_emplace(h.zone + "/" + h.power_domain, static_cast<int>(pools.size())).first->second;
            hr.pooled = true;
            hr.netns = pool_netns(id, pool);
            hr.fabric_port = pool_port(pool);
            hr.cgroup = s.power_domain_cgroup(h.power_domain) + "/" + kPoolCgroupLeaf;
        }
        for (const auto& a : h.addresses) {
            // The address takes its zone's prefix so the gateway is on-link whatever prefix the
            // plan wrote.
            const std::optional<Cidr>& sn = a.addr.v6 ? z->subnet6 : z->subnet;
            if (!sn || !sn->contains(a.addr))
                return bad("host " + h.name + " address " + a.str() + " is outside its zone " + z->name + "'s subnet");
            if (a.addr == sn->nth(0) || a.addr == sn->nth(1))
                return bad("host " + h.name + " address " + a.addr.str() +
                           " is the network or gateway address of zone " + z->name);
            hr.addresses.push_back(Cidr{a.addr, sn->prefix});
        }
        s.hosts.push_back(std::move(hr));
    }
    if (v6) {
        s.control_addr6 = Cidr{kControlNet6.nth(1), 126};
        s.control_gateway6 = Cidr{kControlNet6.nth(2), 126};
        s.routes.push_back(lab_range_v6());
    }
    for (const auto& svc : plan.lab.services) {
        if (!valid_name(svc.name)) return bad("service name '" + svc.name + "' is not usable in a file name");
        if (svc.volume && !valid_name(*svc.volume))
            return bad("volume name '" + *svc.volume + "' is not usable as a directory name");
        for (const auto& hn : svc.hosts)
            if (!topo.host(hn)) return bad("service " + svc.name + " names unknown host " + hn);
    }
    return s;
}

// Refuses when another lab is up or anything in the root namespace already uses the lab ranges.
Result<void> check_free(const LabState& s) {
    for (const auto& other : list()) {
        auto o = load(other);
        std::string plan = o ? o->plan_name : "?";
        if (other == s.id)
            return plain_error("lab up", "lab " + other + " of plan " + plan + " is already up (state " + labs_root() +
                                             "/" + other + "); take it down first");
        return plain_error("lab up", "another lab is up: " + other + " of plan " + plan + "; only one lab can own " +
                                         lab_range_v4().str() + " at a time");
    }
    for (const auto& range : s.routes) {
        auto used = ip::overlapping(range);
        if (!used) return used.error();
        if (!used->empty()) {
            std::vector<std::string> what;
            for (auto& e : *used) what.push_back(e.what);
            return plain_error("lab up", range.str() + " is already in use in the root namespace (" + join(what, "; ") +
                                             "); refusing to take it over");
        }
    }
    return {};
}

Result<void> write_sysctl(const std::string& key_path, const std::string& value) {
    std::ofstream f(key_path);
    f << value;
    f.flush();
    if (!f) return errno_error("write", key_path);
    return {};
}

// Namespaces, veths, bridges, addresses, routes. Each namespace is configured by one `ip -batch`.
Result<void> build_network(const plan::Plan& plan, const LabState& s) {
    const auto& topo = plan.topology;
    std::string ipdir = s.dir + "/ip";
    INJ_TRY(mkdirs(ipdir));

    // Root: the namespaces, and every veth created straight into its namespaces, so no lab
    // interface ever appears in the root namespace except the control end.
    // One namespace per host, or per pool of idle hosts (pools.hpp).
    const std::vector<const HostRuntime*> own = distinct_namespaces(s);
    std::vector<std::string> root{"netns add " + s.fabric_netns};
    for (auto* h : own) root.push_back("netns add " + h->netns);
    root.push_back("link add " + s.control_if + " type veth peer name " + s.control_port + " netns " + s.fabric_netns);
    for (auto* h : own)
        root.push_back("link add eth0 netns " + h->netns + " type veth peer name " + h->fabric_port + " netns " +
                       s.fabric_netns);
    root.push_back("addr add " + s.control_addr.str() + " dev " + s.control_if);
    if (s.control_addr6) root.push_back("addr add " + s.control_addr6->str() + " dev " + s.control_if + " nodad");
    root.push_back("link set " + s.control_if + " up");
    {
        // One ip process creates every namespace and veth pair: one audit record for each kind.
        auto r = ip::batch(root, ipdir + "/root.batch");
        std::vector<std::string> namespaces{s.fabric_netns},
            links{s.control_if + " <-> " + s.fabric_netns + "/" + s.control_port};
        for (auto* h : own) {
            namespaces.push_back(h->netns);
            links.push_back(h->netns + "/eth0 <-> " + s.fabric_netns + "/" + h->fabric_port);
        }
        audit::record("netns_create", "lab " + s.id + ": " + std::to_string(namespaces.size()) + " namespaces", r,
                      namespaces);
        audit::record("link_create", "lab " + s.id + ": " + std::to_string(links.size()) + " veth pairs", r, links);
        INJ_TRY(r);
    }

    {
        // Forwarding only inside the fabric: the root namespace's settings are never touched.
        auto g = NetnsGuard::enter(netns_path(s.fabric_netns));
        if (!g) return g.error();
        INJ_TRY(write_sysctl("/proc/sys/net/ipv4/ip_forward", "1"));
        if (s.control_addr6) {
            INJ_TRY(write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1"));
            // The fabric solicits neighbours for forwarded packets from its link-local address;
            // while that is tentative (DAD, about 2 s) the first packets to each host are lost.
            // The fabric's interfaces are all its own, so there is nothing to detect.
            for (const std::string& dev : {std::string("default"), std::string("all"), s.control_port})
                INJ_TRY(write_sysctl("/proc/sys/net/ipv6/conf/" + dev + "/accept_dad", "0"));
        }
    }
    std::vector<std::string> fabric{"link set lo up"};
    for (size_t i = 0; i < topo.zones.size(); ++i) {
        const auto& z = topo.zones[i];
        std::string br = "z" + std::to_string(i);
        // Without snooping the bridge floods multicast: with it, IPv6 neighbour solicitations
        // are dropped until each host's MLD report has arrived (up to a second after up).
        fabric.push_back("link add " + br + " type bridge mcast_snooping 0");
        fabric.push_back("addr add " + gateway_of(*z.subnet).str() + " dev " + br);
        if (z.subnet6) fabric.push_back("addr add " + gateway_of(*z.subnet6).str() + " dev " + br + " nodad");
        fabric.push_back("link set " + br + " up");
    }
    std::map<std::string, int> zone_index;
    for (size_t i = 0; i < topo.zones.size(); ++i) zone_index[topo.zones[i].name] = static_cast<int>(i);
    for (auto* h : own)
        fabric.push_back("link set " + h->fabric_port + " master z" +
                         std::to_string(zone_index[topo.hosts[h->index].zone]) + " up");
    fabric.push_back("addr add " + s.control_gateway.str() + " dev " + s.control_port);
    if (s.control_gateway6)
        fabric.push_back("addr add " + s.control_gateway6->str() + " dev " + s.control_port + " nodad");
    fabric.push_back("link set " + s.control_port + " up");
    {
        auto r = ip::batch(fabric, ipdir + "/fabric.batch", s.fabric_netns);
        std::vector<std::string> bridges;
        for (size_t i = 0; i < topo.zones.size(); ++i)
            bridges.push_back("z" + std::to_string(i) + " (zone " + topo.zones[i].name + ")");
        audit::record("bridge_create", s.fabric_netns, r, bridges);
        INJ_TRY(r);
    }

    // Each namespace's addresses: its host's, or every address of its pool's hosts.
    std::map<std::string, std::vector<const HostRuntime*>> members;
    for (auto& h : s.hosts) members[h.netns].push_back(&h);
    std::vector<ip::Job> jobs;
    for (auto* h : own) {
        const plan::Zone* z = topo.zone(topo.hosts[h->index].zone);
        ip::Job job{{"link set lo up"}, ipdir + "/" + (h->pooled ? h->fabric_port : h->name) + ".batch", h->netns};
        for (auto* m : members[h->netns])
            for (auto& a : m->addresses)
                job.lines.push_back("addr add " + a.str() + " dev eth0" + (a.addr.v6 ? " nodad" : ""));
        job.lines.push_back("link set eth0 up");
        job.lines.push_back("route add default via " + z->subnet->nth(1).str() + " dev eth0");
        if (z->subnet6) job.lines.push_back("route add default via " + z->subnet6->nth(1).str() + " dev eth0");
        jobs.push_back(std::move(job));
    }
    {
        auto r = ip::batch_all(jobs, kIpParallel);
        std::vector<std::string> configured;
        for (auto& j : jobs) configured.push_back(j.netns);
        audit::record("netns_configure",
                      "lab " + s.id + ": addresses and default routes of " + std::to_string(jobs.size()) + " hosts", r,
                      configured);
        INJ_TRY(r);
    }

    // Last, the root routes into the lab: they only appear once the lab can carry them.
    std::vector<std::string> routes;
    for (auto& r : s.routes) {
        const Cidr& via = r.addr.v6 ? *s.control_gateway6 : s.control_gateway;
        routes.push_back("route add " + r.str() + " via " + via.addr.str() + " dev " + s.control_if);
    }
    auto r = ip::batch(routes, ipdir + "/routes.batch");
    audit::record("route_add", "root namespace via " + s.control_if, r, routes);
    return r;
}

// Spawns one service on one host, inside the host's namespace and cgroup, and records it in
// the state file (a crash right after still lets down/recover find the process through its
// cgroup, and the state names it).
Result<ServiceProcess> spawn_service(const plan::Plan& plan, LabState& s, const plan::Service& svc,
                                     const std::string& hn) {
    const HostRuntime* h = s.host(hn);
    if (!h) return plain_error("start service " + svc.name, "unknown host " + hn);
    auto cmd = expand(svc.command, plan, s, hn, svc.volume.value_or(""));
    if (!cmd) return plain_error("service " + svc.name + " on " + hn, "command: " + cmd.error().message());
    std::string log = s.dir + "/logs/" + svc.name + "-" + hn + ".log";
    SpawnSpec spec;
    spec.argv = {"/bin/sh", "-c", exec_form(*cmd)};
    spec.netns = netns_path(h->netns);
    spec.cgroup_procs = h->cgroup + "/cgroup.procs";
    spec.output = log;
    spec.new_session = true;  // outlives `injector lab up`; ended through its cgroup
    auto pid = spawn(spec);
    audit::record("service_start", svc.name + " on " + hn + (pid ? " pid " + std::to_string(*pid) : std::string()),
                  pid.ok(), pid ? std::string() : pid.error().message(), {*cmd});
    if (!pid) return plain_error("start service " + svc.name + " on " + hn, pid.error().message());
    lg()->info("lab {}: started {} on {} (pid {}): {}", s.id, svc.name, hn, *pid, *cmd);
    ServiceProcess p{svc.name, hn, *pid, log};
    // A restart replaces the entry of the process it stands in for.
    auto same = [&](const ServiceProcess& x) { return x.service == svc.name && x.host == hn; };
    if (auto it = std::find_if(s.services.begin(), s.services.end(), same); it != s.services.end())
        *it = p;
    else
        s.services.push_back(p);
    INJ_TRY(state::save(s));
    return p;
}

const plan::Service* service_of(const plan::Plan& plan, const std::string& name) {
    for (auto& svc : plan.lab.services)
        if (svc.name == name) return &svc;
    return nullptr;
}

// Starts each service on its hosts (all hosts of a service before waiting on any of them: a
// cluster's members need each other to become ready), then waits for its readiness check.
Result<void> start_services(const plan::Plan& plan, LabState& s) {
    auto lab_deadline = std::chrono::steady_clock::now() + plan.lab.ready_timeout;
    for (const auto& svc : plan.lab.services) {
        std::vector<ServiceProcess> started;
        for (const auto& hn : svc.hosts) {
            auto p = spawn_service(plan, s, svc, hn);
            if (!p) return p.error();
            started.push_back(*p);
        }
        if (svc.ready.kind == plan::Check::Kind::none) continue;
        for (const ServiceProcess& p : started) {
            INJ_TRY(await_ready(plan, s, p, lab_deadline));
            lg()->info("lab {}: {} on {} is ready", s.id, svc.name, p.host);
        }
    }
    return {};
}

// Moves the logs of a failed up out of the lab directory (which down removes) so the error can
// point at them; rewrites the log paths in `err` to the new place.
Error keep_failed_logs(const LabState& s, Error err) {
    std::string from = s.dir + "/logs";
    std::string to = failed_logs_dir(s.id);
    if (!path_exists(from)) return err;
    (void)remove_tree(to);
    if (!mkdirs(to.substr(0, to.rfind('/'))) || ::rename(from.c_str(), to.c_str()) != 0) {
        lg()->warn("lab {}: could not keep logs of the failed up in {}: {}", s.id, to, std::strerror(errno));
        return err;
    }
    for (std::string* field : {&err.op, &err.context})
        for (size_t pos; (pos = field->find(from)) != std::string::npos;) field->replace(pos, from.size(), to);
    return err;
}

}  // namespace

std::string labs_root() { return "/run/injector/labs"; }

Result<void> await_ready(const plan::Plan& plan, const LabState& s, const ServiceProcess& p,
                         std::chrono::steady_clock::time_point lab_deadline, const std::atomic<bool>* cancel) {
    const plan::Service* svc = service_of(plan, p.service);
    if (!svc) return plain_error("service " + p.service, "not in the plan");
    if (svc->ready.kind == plan::Check::Kind::none) return {};
    // The check's own timeout, cut short where the caller's deadline ends first.
    auto start = std::chrono::steady_clock::now();
    auto deadline = std::min(start + svc->ready.timeout, lab_deadline);
    auto budget = std::chrono::duration_cast<Duration>(deadline - start);
    auto target = expand(svc->ready.target, plan, s, p.host, svc->volume.value_or(""));
    if (!target)
        return plain_error("service " + svc->name + " on " + p.host, "ready check: " + target.error().message());
    Result<void> r;
    if (svc->ready.kind == plan::Check::Kind::tcp) {
        r = ready::wait_tcp(*target, deadline, cancel);
    } else {
        std::string where = svc->ready.in.empty() ? p.host : svc->ready.in;
        std::string ns;
        if (where != "control") {
            const HostRuntime* h = s.host(where);
            if (!h) return plain_error("service " + svc->name, "ready check runs in unknown host " + where);
            ns = netns_path(h->netns);
        }
        r = ready::wait_exec(*target, ns, deadline, cancel);
    }
    if (r) return {};
    std::string exited;
    int status = 0;
    if (::waitpid(p.pid, &status, WNOHANG) == p.pid)
        exited = WIFEXITED(status) ? " (its process exited with status " + std::to_string(WEXITSTATUS(status)) + ")"
                                   : " (its process was killed by signal " + std::to_string(WTERMSIG(status)) + ")";
    return plain_error("service " + svc->name + " on " + p.host + " not ready after " + format_duration(budget) +
                       exited + ": " + r.error().message() + "; log: " + p.log + tail_of(p.log, kLogTailLines));
}

Result<std::vector<ServiceProcess>> restart_services(const plan::Plan& plan, LabState& s,
                                                     const std::vector<std::string>& hosts, const std::string& only) {
    std::vector<ServiceProcess> out;
    for (const auto& hn : hosts)
        for (const auto& svc : plan.lab.services) {
            if (std::find(svc.hosts.begin(), svc.hosts.end(), hn) == svc.hosts.end()) continue;
            if (!only.empty() && svc.name != only) continue;
            auto p = spawn_service(plan, s, svc, hn);
            if (!p) return p.error();
            out.push_back(*p);
        }
    return out;
}

std::string failed_logs_dir(const std::string& id) { return "/run/injector/failed-labs/" + id; }

const HostRuntime* LabState::host(const std::string& name) const {
    for (auto& h : hosts)
        if (h.name == name) return &h;
    return nullptr;
}

const FaultfsMount* LabState::faultfs_of(const std::string& host, const std::string& volume) const {
    for (auto& m : faultfs)
        if (m.host == host && m.volume == volume) return &m;
    return nullptr;
}

std::string LabState::volume_path(const std::string& host, const std::string& volume) const {
    return dir + "/volumes/" + host + "/" + volume;
}

std::string id_for(const plan::Plan& plan) {
    // FNV-1a: stable across builds and machines (std::hash is not), so `lab down PLAN` from
    // another binary finds the lab `lab up PLAN` made.
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : plan.name) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return std::string(buf, 6);
}

Result<std::string> expand(const std::string& tmpl, const plan::Plan& plan, const LabState& lab,
                           const std::string& host, const std::string& volume) {
    plan::TemplateContext ctx;
    ctx.plan = &plan;
    ctx.host = host;
    ctx.volume = volume;
    ctx.volume_path = [&lab](const std::string& h, const std::string& v) { return lab.volume_path(h, v); };
    ctx.vars["lab"] = lab.id;
    return plan::expand_template(tmpl, ctx);
}

// The fault filesystem over every volume the plan degrades or declares volatile, before any
// service opens it. Each daemon is recorded in the state as soon as it serves, so a crash
// between two leaves a record for down/recover.
static Result<void> mount_faultfs(const plan::Plan& plan, LabState& s) {
    auto vols = plan::faultfs_volumes(plan);
    if (vols.empty()) return {};
    INJ_TRY(mkdirs(s.dir + "/faultfs"));
    for (auto& [host, volume] : vols) {
        FaultfsMount m{host, volume, s.volume_path(host, volume), s.dir + "/faultfs/" + host + "." + volume + ".ctl",
                       0};
        auto pid = faultfs::start({m.path, m.control, "", s.dir + "/logs/faultfs-" + host + "-" + volume + ".log"});
        audit::record("faultfs_mount", m.path, pid.ok() ? Result<void>() : Result<void>(pid.error()),
                      pid ? std::vector<std::string>{"daemon pid " + std::to_string(*pid), "control " + m.control}
                          : std::vector<std::string>{});
        if (!pid) return pid.error();
        m.pid = *pid;
        s.faultfs.push_back(m);
        INJ_TRY(state::save(s));
    }
    lg()->info("lab {}: {} volumes served through faultfs", s.id, s.faultfs.size());
    return {};
}

// Unmounts every faultfs of the lab (their users are gone: the cgroups were killed first).
static void unmount_faultfs(const LabState& lab, std::vector<std::string>& failed) {
    for (auto& m : lab.faultfs) {
        auto mounted = faultfs::mounts();
        bool is_mounted = std::find(mounted.begin(), mounted.end(), m.path) != mounted.end();
        pid_t pid = faultfs::daemon_of(m.path);
        if (!is_mounted && pid == 0) continue;
        auto r = faultfs::stop(m.path, pid);
        audit::record("faultfs_unmount", m.path, r, {"daemon pid " + std::to_string(pid)});
        if (!r) failed.push_back(r.error().message());
    }
}

Result<LabState> up(const plan::Plan& plan, const UpOptions& opts) {
    std::string id = opts.id.empty() ? id_for(plan) : opts.id;
    if (!valid_id(id)) return plain_error("lab up", "lab id '" + id + "' must be 1-8 lowercase letters or digits");
    audit::set_run_if_unset("lab-" + id);
    // The plan is checked before the machine is looked at: a bad plan is refused the same way
    // everywhere.
    auto cg2 = cgroup::v2_mount();
    auto planned = plan_state(plan, id, cg2 ? *cg2 : std::string());
    if (!planned) return planned.error();
    if (!cg2) return cg2.error();
    LabState s = std::move(*planned);

    INJ_TRY(mkdirs(labs_root()));
    auto lock = RootLock::take();
    if (!lock) return lock.error();
    INJ_TRY(check_free(s));
    INJ_TRY(mkdirs(s.dir + "/logs"));
    if (auto r = state::save(s); !r) {
        (void)remove_tree(s.dir);
        return r.error();
    }
    auto started = std::chrono::steady_clock::now();
    lg()->info("lab {}: up for plan {} ({} zones, {} hosts) in {}", s.id, plan.name, plan.topology.zones.size(),
               s.hosts.size(), s.dir);

    auto build = [&]() -> Result<void> {
        {
            std::vector<std::string> made;
            Result<void> r;
            for (auto& cg : distinct_cgroups(s)) {
                if (r = cgroup::make(cg); !r) break;
                made.push_back(cg);
            }
            audit::record("cgroup_create", s.cgroup_root, r, made);
            INJ_TRY(r);
        }
        {
            std::vector<std::string> made;
            Result<void> r;
            for (const auto& svc : plan.lab.services)
                if (svc.volume)
                    for (const auto& hn : svc.hosts) {
                        if (r = mkdirs(s.volume_path(hn, *svc.volume)); !r) break;
                        made.push_back(s.volume_path(hn, *svc.volume));
                    }
            if (!made.empty() || !r) audit::record("volume_create", s.dir + "/volumes", r, made);
            INJ_TRY(r);
        }
        INJ_TRY(mount_faultfs(plan, s));
        INJ_TRY(build_network(plan, s));
        lg()->info(
            "lab {}: network up in {} ms", s.id,
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
        if (opts.start_services) INJ_TRY(start_services(plan, s));
        s.phase = "up";
        return state::save(s);
    };
    auto r = build();
    if (!r) {
        Error err = keep_failed_logs(s, r.error());
        lg()->error("lab {}: up failed, removing what was created: {}", s.id, err.message());
        if (auto d = down(s); !d)
            err.context +=
                (err.context.empty() ? "" : "; ") + std::string("cleanup also failed: ") + d.error().message();
        return err;
    }
    return s;
}

Result<void> down(const LabState& lab) {
    std::vector<std::string> failed;
    auto note = [&](const Result<void>& r) {
        if (!r) failed.push_back(r.error().message());
    };
    lg()->info("lab {}: down", lab.id);
    audit::set_run_if_unset("lab-" + lab.id);

    // Processes first (they hold namespaces and volumes), through the lab's cgroup: only what
    // the lab started is ever killed.
    std::vector<pid_t> in_cgroups;  // what was killed, whoever started it (restarts included)
    if (!lab.cgroup_root.empty()) {
        if (path_exists(lab.cgroup_root)) {  // audited only when there is something to remove
            std::vector<std::string> pids;
            for (auto& cg : distinct_cgroups(lab))
                for (pid_t p : cgroup::procs(cg)) {
                    pids.push_back(std::to_string(p) + " (" + cg.substr(cg.rfind('/') + 1) + ")");
                    in_cgroups.push_back(p);
                }
            auto k = cgroup::kill_all(lab.cgroup_root, kKillBound);
            audit::record("cgroup_kill", lab.cgroup_root, k, pids);
            note(k);
            auto rm = cgroup::remove_tree(lab.cgroup_root);
            audit::record("cgroup_remove", lab.cgroup_root, rm);
            note(rm);
        }
        // The shared parent goes only when no other lab uses it; EBUSY/ENOTEMPTY are fine.
        std::string parent = lab.cgroup_root.substr(0, lab.cgroup_root.rfind('/'));
        ::rmdir(parent.c_str());
    }
    // Reap the services when this process started them (the runner, a test, up() failing): no
    // zombies. The cgroup empties in the kernel's exit path before the process becomes a zombie
    // its parent can reap, so one WNOHANG right after the kill may come too early: wait a bound.
    // Services restarted after a power cut are in the cgroups but may not be in `lab.services`.
    for (auto& p : lab.services) in_cgroups.push_back(p.pid);
    reap_children(in_cgroups, kKillBound);
    unmount_faultfs(lab, failed);

    // Deleting the root end removes its peer and the routes through it at once; deleting the
    // namespaces then takes every other lab interface with them.
    if (ip::link_exists(lab.control_if)) {
        auto r = run({"ip", "link", "del", lab.control_if}, std::chrono::seconds(30));
        if (!r)
            note(r.error());
        else if (r->exit_code != 0 && ip::link_exists(lab.control_if))
            failed.push_back("ip link del " + lab.control_if + ": " + r->output);
        bool gone = !ip::link_exists(lab.control_if);
        std::vector<std::string> with;
        for (auto& rt : lab.routes) with.push_back("route " + rt.str());
        audit::record("link_delete", lab.control_if + " (root namespace)", gone,
                      gone ? std::string() : (r ? r->output : r.error().message()), with);
    }
    std::vector<std::string> dels;
    for (auto* h : distinct_namespaces(lab))
        if (ip::netns_exists(h->netns)) dels.push_back("netns del " + h->netns);
    if (ip::netns_exists(lab.fabric_netns)) dels.push_back("netns del " + lab.fabric_netns);
    if (!dels.empty()) {
        // The batch file lives beside the labs, not in the lab dir: down must work without it.
        std::string file = labs_root() + "/.down-" + lab.id + ".batch";
        note(mkdirs(labs_root()));
        auto r = ip::batch(dels, file, {}, true);
        ::unlink(file.c_str());
        std::vector<std::string> names;
        for (auto& d : dels) names.push_back(d.substr(std::string("netns del ").size()));
        audit::record("netns_delete", "lab " + lab.id + ": " + std::to_string(names.size()) + " namespaces", r, names);
        note(r);
    }

    if (failed.empty()) {
        std::vector<std::string> volumes;
        for (auto& h : lab.hosts) {
            std::string d = lab.dir + "/volumes/" + h.name;
            if (path_exists(d)) volumes.push_back(d);
        }
        auto r = remove_tree(lab.dir);
        if (!volumes.empty()) audit::record("volume_remove", lab.dir + "/volumes", r, volumes);
        audit::record("state_remove", lab.dir, r);
        note(r);
    } else {
        lg()->warn("lab {}: keeping state {} because some parts remain", lab.id, lab.dir);
    }
    if (!failed.empty()) return plain_error("lab down " + lab.id, "could not remove: " + join(failed, "; "));
    return {};
}

Result<LabState> load(const std::string& id) {
    if (!valid_id(id)) return plain_error("lab load", "no lab id '" + id + "'");
    return state::read(state::file_of(labs_root() + "/" + id));
}

std::vector<std::string> list() {
    std::vector<std::string> ids;
    DIR* d = ::opendir(labs_root().c_str());
    if (!d) return ids;
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (valid_id(n) && path_exists(state::file_of(labs_root() + "/" + n))) ids.push_back(n);
    }
    ::closedir(d);
    std::sort(ids.begin(), ids.end());
    return ids;
}

}  // namespace inj::lab
