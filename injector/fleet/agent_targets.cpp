// The agent's partial Targets view (agent_targets.hpp).
#include "fleet/agent_targets.hpp"

#include <unistd.h>

#include <algorithm>

#include "lab/lab.hpp"
#include "lab/targets.hpp"
#include "targets/bound.hpp"
#include "targets/cgroups.hpp"

namespace inj::fleet {
namespace {

// An agent judges its host's packets where the host sends them (every rule) and, for a dark
// host's rules only, where they arrive: a dark host hears nothing, even from a host no agent
// judges for it (a power loss needs an agent on its dark hosts only). Cuts and degrades stay
// with their senders' agents (both ends of each have one; a degrade applied twice would double).
std::vector<targets::JudgePoint> both_ways(std::vector<targets::JudgePoint> egress) {
    const size_t n = egress.size();
    for (size_t i = 0; i < n; ++i) {
        targets::JudgePoint in = egress[i];
        in.ingress = true;
        in.isolations_only = true;
        egress.push_back(std::move(in));
    }
    return egress;
}

// One host of a provider's view, judged at egress of its own interface; the rest delegated.
class OneHost : public targets::Targets {
public:
    OneHost(std::unique_ptr<targets::Targets> inner, targets::Host h) : inner_(std::move(inner)) {
        // A lab judges at the fabric, which is no agent's: the host's own interface instead.
        if (h.judges.empty() || std::any_of(h.judges.begin(), h.judges.end(), [](auto& j) { return j.ingress; }))
            h.judges = {{h.netns, h.interface, false}};
        h.judges = both_ways(std::move(h.judges));
        hosts_.push_back(std::move(h));
    }
    const std::vector<targets::Host>& hosts() const override { return hosts_; }
    bool partial() const override { return true; }
    std::vector<targets::ServiceInstance> services() const override {
        auto all = inner_->services();
        std::erase_if(all, [&](const targets::ServiceInstance& s) { return s.host != hosts_[0].name; });
        return all;
    }
    Result<std::vector<targets::ServiceInstance>> restart(const std::vector<std::string>& hosts,
                                                          const std::string& service) override {
        std::vector<std::string> mine;
        for (auto& h : hosts)
            if (h == hosts_[0].name) mine.push_back(h);
        if (mine.empty()) return std::vector<targets::ServiceInstance>{};
        return inner_->restart(mine, service);
    }
    Result<void> await_ready(const targets::ServiceInstance& s, std::chrono::steady_clock::time_point deadline,
                             const std::atomic<bool>* cancel) const override {
        return inner_->await_ready(s, deadline, cancel);
    }
    std::chrono::nanoseconds ready_timeout() const override { return inner_->ready_timeout(); }
    std::string describe() const override { return "host " + hosts_[0].name + " of " + inner_->describe(); }
    std::string id() const override { return inner_->id(); }
    std::optional<targets::WatchSpec> watch_spec(pid_t owner, const std::string& record) const override {
        if (auto w = inner_->watch_spec(owner, record)) return w;  // a bound view holds this host only
        // A lab host: its services are the lab's to start again (`recover`), but a host frozen
        // by an agent that died would hang everything that touches it: thawed at once.
        if (hosts_[0].cgroup.empty()) return std::nullopt;
        targets::WatchSpec w;
        w.runner = owner;
        w.record = record;
        w.thaw = {hosts_[0].cgroup};
        return w;
    }
    std::vector<std::string> touched() const override { return inner_->touched(); }
    // This host's volumes, served by the view it stands for; the copy here learns their fault
    // filesystems' controls (the engines find them through it).
    Result<void> serve_volumes(const std::vector<std::pair<std::string, std::string>>& volumes,
                               const std::string& dir) override {
        std::vector<std::pair<std::string, std::string>> mine;
        for (auto& v : volumes)
            if (v.first == hosts_[0].name) mine.push_back(v);
        if (mine.empty()) return {};
        auto r = inner_->serve_volumes(mine, dir);
        refresh_volumes();
        return r;
    }
    Result<void> release() override {
        auto r = inner_->release();
        refresh_volumes();
        return r;
    }

private:
    void refresh_volumes() {
        if (const targets::Host* h = inner_->host(hosts_[0].name)) hosts_[0].volumes = h->volumes;
    }
    std::unique_ptr<targets::Targets> inner_;
    std::vector<targets::Host> hosts_;
};

// The machine the agent runs on, when the plan says nothing more of the host: its namespace and
// interface, no processes.
class ThisMachine : public targets::Targets {
public:
    ThisMachine(const plan::Host& ph, const std::string& interface) {
        targets::Host h;
        h.name = ph.name;
        h.zone = ph.zone;
        h.power_domain = ph.power_domain;
        h.interface = interface;
        h.judges = both_ways({{"", interface, false}});  // "": the agent's own namespace
        hosts_.push_back(std::move(h));
    }
    const std::vector<targets::Host>& hosts() const override { return hosts_; }
    bool partial() const override { return true; }
    std::vector<targets::ServiceInstance> services() const override { return {}; }
    Result<std::vector<targets::ServiceInstance>> restart(const std::vector<std::string>&,
                                                          const std::string&) override {
        return plain_error("agent", "host " + hosts_[0].name +
                                        " is this machine with no processes named in the plan "
                                        "(bind it to a container or a cgroup to restart anything)");
    }
    Result<void> await_ready(const targets::ServiceInstance&, std::chrono::steady_clock::time_point,
                             const std::atomic<bool>*) const override {
        return {};
    }
    std::string describe() const override {
        return "host " + hosts_[0].name + " (this machine, interface " + hosts_[0].interface + ")";
    }

private:
    std::vector<targets::Host> hosts_;
};

// The plan's hosts, each on a machine of its own that its agent acts on.
class ControllerView : public targets::Targets {
public:
    explicit ControllerView(const plan::Plan& plan) {
        for (auto& ph : plan.topology.hosts) {
            targets::Host h;
            h.name = ph.name;
            h.zone = ph.zone;
            h.power_domain = ph.power_domain;
            hosts_.push_back(std::move(h));
        }
    }
    const std::vector<targets::Host>& hosts() const override { return hosts_; }
    std::vector<targets::ServiceInstance> services() const override { return {}; }
    Result<std::vector<targets::ServiceInstance>> restart(const std::vector<std::string>&,
                                                          const std::string&) override {
        return plain_error("fleet", "the controller restarts nothing: each host's agent does");
    }
    Result<void> await_ready(const targets::ServiceInstance&, std::chrono::steady_clock::time_point,
                             const std::atomic<bool>*) const override {
        return {};
    }
    std::string describe() const override {
        return std::to_string(hosts_.size()) + " hosts of the fleet (bound by their agents)";
    }
    // Each host's agent serves its volumes when it loads the run (the fault filesystem over the
    // real directory, its service restarted onto it) and puts them back when the run ends.
    Result<void> serve_volumes(const std::vector<std::pair<std::string, std::string>>&, const std::string&) override {
        return {};
    }

private:
    std::vector<targets::Host> hosts_;
};

// Whether some fault takes down the processes of `host` (a kill, a freeze, a stopped service).
bool processes_targeted(const plan::Plan& plan, const std::string& host) {
    for (auto& f : plan.method) {
        if (!f.restarts()) continue;
        auto hosts = plan::selected_hosts(plan.topology, f.target);
        if (std::find(hosts.begin(), hosts.end(), host) != hosts.end()) return true;
    }
    return false;
}

}  // namespace

std::unique_ptr<targets::Targets> one_host_view(std::unique_ptr<targets::Targets> inner, const std::string& host) {
    const targets::Host* h = inner->host(host);
    targets::Host copy = h ? *h : targets::Host{};
    copy.name = host;
    return std::make_unique<OneHost>(std::move(inner), std::move(copy));
}

Result<std::unique_ptr<targets::Targets>> agent_targets(const plan::Plan& plan, const std::string& host,
                                                        const std::string& interface) {
    const plan::Host* ph = plan.topology.host(host);
    if (!ph) return plain_error("agent", "host " + host + " is not in the plan");
    std::unique_ptr<targets::Targets> view;
    if (ph->binding.bound()) {
        auto bh = targets::resolve_binding(*ph);
        if (!bh) return bh.error();
        view = std::make_unique<targets::BoundTargets>(plan, std::vector<targets::BoundHost>{std::move(*bh)});
        view = one_host_view(std::move(view), host);
    } else if (auto lab = lab::load(lab::id_for(plan)); lab && lab->host(host)) {
        view = one_host_view(std::make_unique<lab::LabTargets>(plan, std::move(*lab)), host);
    } else {
        view = std::make_unique<ThisMachine>(*ph, interface);
    }
    const targets::Host* h = view->host(host);
    if (h && !h->cgroup.empty() && ::access(h->cgroup.c_str(), F_OK) != 0)
        return plain_error("agent", "host " + host + "'s cgroup " + h->cgroup +
                                        " is not there for this agent (started through `ip netns exec`? it remounts "
                                        "/sys without the cgroup hierarchy: enter the namespace with `nsenter --net=` "
                                        "instead)");
    if (processes_targeted(plan, host))
        if (h && targets::pid_in_cgroup(getpid(), h->cgroup))
            return plain_error("agent",
                               "host " + host + "'s cgroup " + h->cgroup + " holds this agent (pid " +
                                   std::to_string(getpid()) +
                                   "): a fault that kills or freezes the host would take the agent with it; run "
                                   "the agent outside the host's cgroup");
    return view;
}

std::unique_ptr<targets::Targets> controller_view(const plan::Plan& plan) {
    return std::make_unique<ControllerView>(plan);
}

std::vector<std::string> check_probe_places(const plan::Plan& plan) {
    std::vector<std::string> out;
    if (!plan.topology.bound()) return out;  // a lab is on the controller's machine
    const std::string why =
        ": in fleet mode the controller runs it on its own machine, and a bound host lives on "
        "its agent's (use in: control)";
    for (auto& p : plan.probes)
        if (p.in != "control") out.push_back("probe " + p.name + " (" + p.mark.str() + ") runs in host " + p.in + why);
    for (auto& v : plan.verify)
        if (v.in != "control") out.push_back("verify " + v.name + " (" + v.mark.str() + ") runs in host " + v.in + why);
    return out;
}

}  // namespace inj::fleet
