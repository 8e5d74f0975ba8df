// Pieces the lab benchmarks share: the benchmark topology as a plan, a scope guard that always
// takes the lab down, Ctrl-C handling that lets that guard run, and medians.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "common/netaddr.hpp"
#include "common/proc.hpp"
#include "lab/lab.hpp"
#include "plan/model.hpp"
#include "support/lab_plans.hpp"

namespace inj::bench {

// Set by SIGINT/SIGTERM: the benchmarks stop between repetitions and tear the lab down, instead
// of dying with namespaces left behind.
inline std::atomic<bool> g_stop{false};

inline void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_stop.store(true); };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

using test::zone_subnet;  // zone i's segment, as the plan loader would assign it

// `zones` zones z0..z{n-1} (one power domain each) and `hosts` hosts h0..h{n-1} spread round-robin
// over them, each with its zone's next address (nth(2), nth(3), ...). No faults, no services.
inline plan::Plan make_topology(const std::string& name, int zones, int hosts) {
    plan::Plan p;
    p.name = name;
    p.file = "<" + name + ">";
    p.safety.max_duration = std::chrono::minutes(10);
    for (int z = 0; z < zones; ++z) {
        plan::Zone zone;
        zone.name = "z" + std::to_string(z);
        zone.power_domains = {zone.name + "-pd"};
        zone.subnet = zone_subnet(z);
        p.topology.zones.push_back(zone);
        p.topology.power_domains.push_back({zone.name + "-pd", zone.name, {}});
    }
    std::vector<int> in_zone(zones, 0);
    for (int h = 0; h < hosts; ++h) {
        int z = h % zones;
        plan::Host host;
        host.name = "h" + std::to_string(h);
        host.zone = "z" + std::to_string(z);
        host.power_domain = host.zone + "-pd";
        host.addresses.push_back(Cidr{zone_subnet(z).nth(2 + in_zone[z]++), 22});
        p.topology.hosts.push_back(std::move(host));
    }
    return p;
}

// Owns a lab that is up: down() in the destructor, whatever path leaves the scope.
class LabScope {
public:
    // Brings the lab up. Only one lab may own the lab range at a time, and other programs
    // (tests) may hold it briefly, so "another lab is up" is retried for a while.
    static Result<LabScope> up(const plan::Plan& plan, const std::string& id, bool services = false) {
        lab::UpOptions o;
        o.id = id;
        o.start_services = services;
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
        for (bool told = false;; told = true) {
            auto s = lab::up(plan, o);
            if (s.ok()) return LabScope(std::move(s.value()));
            bool busy = s.error().message().find("another lab is up") != std::string::npos ||
                        s.error().message().find("already in use") != std::string::npos;
            if (!busy || g_stop.load() || std::chrono::steady_clock::now() > until) return s.error();
            if (!told) std::fprintf(stderr, "waiting for the lab range: %s\n", s.error().message().c_str());
            std::this_thread::sleep_for(std::chrono::seconds(2));
        }
    }
    LabScope(LabScope&& o) noexcept : state_(std::move(o.state_)), owned_(o.owned_) { o.owned_ = false; }
    LabScope& operator=(LabScope&&) = delete;
    ~LabScope() { (void)down(); }

    const lab::LabState& state() const { return state_; }

    // Takes the lab down and checks nothing of it is left; an error names what is.
    Result<void> down() {
        if (!owned_) return {};
        owned_ = false;
        auto r = lab::down(state_);
        if (!r.ok()) {
            std::fprintf(stderr, "lab down %s: %s\n", state_.id.c_str(), r.error().message().c_str());
            return r;
        }
        auto left = lab::leftovers(state_);
        if (!left.ok()) return left.error();
        if (!left->empty()) {
            std::string what;
            for (auto& l : *left) what += "\n  " + l;
            std::fprintf(stderr, "lab %s left behind:%s\n", state_.id.c_str(), what.c_str());
            return plain_error("lab down " + state_.id, "left behind:" + what);
        }
        return {};
    }

private:
    explicit LabScope(lab::LabState s) : state_(std::move(s)), owned_(true) {}
    lab::LabState state_;
    bool owned_ = false;
};

// Namespaces named after lab `id` still listed by `ip netns list` (the brief's final check).
inline std::vector<std::string> netns_left(const std::string& id) {
    std::vector<std::string> out;
    auto r = run({"ip", "netns", "list"}, std::chrono::seconds(5));
    if (!r.ok()) return {"(ip netns list failed: " + r.error().message() + ")"};
    std::string prefix = "inj-" + id + "-";
    size_t pos = 0;
    const std::string& o = r->output;
    while (pos < o.size()) {
        size_t end = o.find('\n', pos);
        if (end == std::string::npos) end = o.size();
        std::string line = o.substr(pos, end - pos);
        if (line.rfind(prefix, 0) == 0) out.push_back(line);
        pos = end + 1;
    }
    return out;
}

template <typename T>
double median(std::vector<T> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? static_cast<double>(v[n / 2])
                 : (static_cast<double>(v[n / 2 - 1]) + static_cast<double>(v[n / 2])) / 2;
}

}  // namespace inj::bench
