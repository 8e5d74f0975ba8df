// FleetEngine: publish desired state, agree on activation instants, collect confirmations.
#include "fleet/fleet_engine.hpp"

#include <cmath>
#include <sstream>

#include "common/audit.hpp"
#include "common/log.hpp"
#include "common/netaddr.hpp"
#include "faults/registry.hpp"
#include "fleet/agent_checks.hpp"
#include "fleet/survey.hpp"
#include "plan/reader.hpp"

namespace inj::fleet {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string list(const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

}  // namespace

std::vector<std::string> hosts_needing_agents(const plan::Plan& plan, const net::Tables& tables) {
    const auto& hosts = plan.topology.hosts;
    std::vector<bool> need(hosts.size(), false);
    // Over host groups (every member judged alike), not host pairs: 32,000 hosts are a billion.
    const auto groups = net::host_groups(plan, tables);
    for (size_t i = 0; i < plan.method.size(); ++i) {
        const auto& f = plan.method[i];
        const auto e = f.net();
        // Packets are judged where they are sent: both ends of every cut or degraded pair. A dark
        // host (an isolation) sends nothing at all, which its own agent enforces alone: nothing
        // it would answer leaves it, so no connection to it can form.
        if (e && (e->kind == plan::NetEffect::Kind::cut || e->kind == plan::NetEffect::Kind::degrade))
            for (auto& c : net::group_cuts(plan, tables, groups, i, e->kind == plan::NetEffect::Kind::degrade)) {
                for (size_t h : groups[c.from].hosts) need[h] = true;
                for (size_t h : groups[c.to].hosts) need[h] = true;
            }
        // Processes and disks are acted on where they are: the target hosts.
        if (f.restarts() || f.volume() || f.isolates())
            for (auto& h : plan::selected_hosts(plan.topology, f.target))
                if (int idx = plan.topology.host_index(h); idx >= 0) need[static_cast<size_t>(idx)] = true;
        // What a power loss's cascades cut is judged by the hosts behind them: a dark zone switch
        // isolates its whole zone (its hosts judge themselves, as dark ones do); a dark powered
        // link cuts its two zones apart (judged where sent, at both ends).
        if (f.isolates())
            for (auto& c : plan::cascades(plan.topology, f.target))
                for (size_t h = 0; h < hosts.size(); ++h)
                    if (hosts[h].zone == c.a || (c.kind == plan::Cascade::Kind::link && hosts[h].zone == c.b))
                        need[h] = true;
    }
    std::vector<std::string> out;
    for (size_t h = 0; h < hosts.size(); ++h)
        if (need[h]) out.push_back(hosts[h].name);
    return out;
}

std::string agents_needed_line(const plan::Plan& plan, const net::Tables& tables) {
    const auto need = hosts_needing_agents(plan, tables);
    const size_t all = plan.topology.hosts.size();
    if (need.empty()) return "fleet mode (--fleet): no host needs an agent (no fault acts on a host)";
    return "fleet mode (--fleet): agents needed on " + std::to_string(need.size()) + " of " + std::to_string(all) +
           (all == 1 ? " host: " : " hosts: ") + plan::join_known(need);
}

std::vector<std::string> check_control_path(const plan::Plan& plan, const net::Tables& tables,
                                            const std::string& endpoints) {
    std::vector<std::string> problems;
    auto eps = endpoint_addrs(endpoints);
    const auto agents = hosts_needing_agents(plan, tables);
    for (size_t i = 0; i < plan.method.size(); ++i) {
        if (i >= tables.rule_of_fault.size() || tables.rule_of_fault[i] < 0) continue;
        // A dark host's agent exempts its etcd endpoints from the isolation (agent_checks.hpp).
        if (plan.method[i].isolates()) continue;
        uint64_t armed = 1ull << tables.rule_of_fault[i];
        for (auto& h : agents) {
            auto* host = plan.topology.host(h);
            if (!host || host->addresses.empty()) continue;
            for (auto& ep : eps) {
                const IpAddr& ha = host->addresses[0].addr;
                if (ha.v6 != ep.v6) continue;
                bool out = net::drops(tables, ha, ep, armed), in = net::drops(tables, ep, ha, armed);
                if (out || in)
                    problems.push_back("fault " + plan.method[i].name + " (" + plan.method[i].mark.str() +
                                       ") cuts agent host " + h + " from etcd endpoint " + ep.str() +
                                       ": the tool's own control traffic must stay outside every cut (protect the "
                                       "etcd zone)");
            }
        }
    }
    return problems;
}

Desired FleetEngine::desired_now() const {
    Desired d;
    d.run = run_;
    d.generation = generation_;
    d.lease_ttl_ms = opts_.lease_ttl_s * 1000;
    d.run_deadline_ns = run_deadline_real_;
    d.plan_sha256 = plan_sha256_;
    for (auto& [i, s] : state_) d.faults.push_back(s);
    return d;
}

std::map<std::string, Status> trusted_statuses(const std::vector<KeyValue>& statuses,
                                               const std::vector<KeyValue>& registrations) {
    std::map<std::string, int64_t> lease_of;
    for (auto& kv : registrations)
        if (kv.lease && kv.key.rfind(kAgentsPrefix, 0) == 0) lease_of[kv.key.substr(kAgentsPrefix.size())] = kv.lease;
    std::map<std::string, Status> out;
    for (auto& kv : statuses) {
        auto s = status_from_json(kv.value);
        if (!s || kv.key != status_key(s->host)) continue;
        auto it = lease_of.find(s->host);
        if (it == lease_of.end() || it->second != kv.lease) continue;
        out[s->host] = *s;
    }
    return out;
}

Result<std::map<std::string, Status>> FleetEngine::read_statuses() const {
    auto kvs = client_->get_prefix(kStatusPrefix);
    if (!kvs) return kvs.error();
    auto regs = client_->get_prefix(kAgentsPrefix);
    if (!regs) return regs.error();
    return trusted_statuses(*kvs, *regs);
}

Result<void> FleetEngine::prepare(const plan::Plan& plan, targets::Targets&, uint64_t run_deadline_ns) {
    auto log = log::get("fleet");
    release();
    keepalive_stop_ = false;
    lease_lost_ = false;
    run_ = opts_.run_id.empty() ? audit::run() : opts_.run_id;
    if (run_.empty()) run_ = "run-" + std::to_string(realtime_ns());
    auto tables = net::compile(plan);
    if (!tables) return tables.error();
    hosts_ = hosts_needing_agents(plan, *tables);
    deliveries_.clear();  // a run's leads come from its own steps
    skew_warned_.clear();
    fault_names_.clear();
    merge_of_.clear();
    state_.clear();
    for (size_t i = 0; i < plan.method.size(); ++i) {
        fault_names_.push_back(plan.method[i].name);
        merge_of_.push_back(faults::kind_of(plan.method[i]).merge_reports);
        state_[i] = FaultState{i, false, 0, 0};  // every kind: the agents run its engine
    }
    uint64_t mono = monotonic_ns();
    run_deadline_real_ = realtime_ns() + (run_deadline_ns > mono ? run_deadline_ns - mono : 0);

    if (opts_.plan_text.empty()) return plain_error("fleet: no validated plan text to publish");
    plan_sha256_ = sha256_hex(opts_.plan_text);
    auto c = EtcdClient::connect(opts_.endpoints, std::chrono::milliseconds(2000), opts_.security);
    if (!c) return c.error();
    client_.emplace(std::move(*c));

    // Every host a fault touches needs a live, healthy agent (what `injector agents` checks too;
    // a host another run drives is refused by the claim below).
    auto agents = client_->get_prefix(kAgentsPrefix);
    if (!agents) return agents.error();
    const auto ready = readiness(survey_of(*agents, {}, {}), hosts_);
    if (!ready.missing.empty())
        return plain_error("fleet: no agent registered for host(s) " + list(ready.missing) + " under " + kAgentsPrefix +
                           " (start `injector agent --host NAME` there)");
    if (!ready.unhealthy.empty()) return plain_error("fleet: unhealthy agent(s): " + list(ready.unhealthy));

    // The run lease: every desired key hangs on it, so the controller's death reverts the fleet.
    auto lease = client_->lease_grant(opts_.lease_ttl_s);
    if (!lease) return lease.error();
    lease_ = *lease;
    keepalive_ = std::thread([this] {
        auto kc = EtcdClient::connect(opts_.endpoints, std::chrono::milliseconds(1000), opts_.security);
        const auto every = std::chrono::milliseconds(opts_.lease_ttl_s * 1000 / 3);
        while (!keepalive_stop_) {
            if (kc) {
                auto ttl = kc->lease_keepalive(lease_);
                if (ttl && *ttl == 0 && !lease_lost_) {
                    lease_lost_ = true;
                    log::get("fleet")->error("run lease {} expired: the agents have reverted", lease_);
                }
            } else {
                kc = EtcdClient::connect(opts_.endpoints, std::chrono::milliseconds(1000), opts_.security);
            }
            for (auto t = SteadyClock::now() + every; SteadyClock::now() < t && !keepalive_stop_;)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });

    if (auto r = client_->put(plan_key(run_), opts_.plan_text, lease_); !r) return r.error();

    // Claim every host in one transaction: a host some other run still drives is refused.
    std::vector<TxnCompare> cmp;
    std::vector<TxnOp> ops;
    generation_ = 1;
    const std::string doc = to_json(desired_now());
    const uint64_t published = realtime_ns();
    for (auto& h : hosts_) {
        cmp.push_back(TxnCompare::absent(desired_key(h)));
        ops.push_back(TxnOp::put(desired_key(h), doc, lease_));
    }
    auto claimed = client_->txn(cmp, ops);
    if (!claimed) return claimed.error();
    if (!*claimed) {
        std::vector<std::string> held;
        for (auto& h : hosts_)
            if (auto kv = client_->get(desired_key(h)); kv && *kv)
                if (auto d = desired_from_json((*kv)->value)) held.push_back(h + " (run " + d->run + ")");
        hosts_.clear();  // nothing of ours to delete on release
        return plain_error("fleet: host(s) already driven by another run: " + list(held));
    }
    audit::record("fleet_publish", "run " + run_ + ": desired state for " + std::to_string(hosts_.size()) + " hosts",
                  true);
    // Wait until every agent has loaded the plan and attached (generation 1, nothing armed).
    auto deadline = SteadyClock::now() + opts_.prepare_timeout;
    while (true) {
        auto st = read_statuses();
        if (!st) return st.error();
        std::vector<std::string> waiting, failed;
        for (auto& h : hosts_) {
            auto it = st->find(h);
            if (it == st->end() || it->second.run != run_ || it->second.generation < 1)
                waiting.push_back(h);
            else if (it->second.state == "error" || it->second.state == "refused")
                failed.push_back(h + " (" + it->second.state + "): " + it->second.reason);
        }
        if (!failed.empty()) return plain_error("fleet: agent(s) could not load the plan: " + list(failed));
        if (waiting.empty()) {
            note_delivery(*st, published);
            std::lock_guard lk(mu_);
            last_status_ = *st;
            break;
        }
        if (SteadyClock::now() > deadline)
            return plain_error("fleet: agent(s) did not load the plan within " +
                               std::to_string(opts_.prepare_timeout.count()) + " ms: " + list(waiting));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    log->info("run {}: {} agents ready, lease {} ({} s)", run_, hosts_.size(), lease_, opts_.lease_ttl_s);
    return {};
}

Result<std::map<std::string, Status>> FleetEngine::publish_and_wait(std::chrono::milliseconds timeout) {
    if (!client_ || hosts_.empty()) return plain_error("fleet: engine not prepared");
    ++generation_;
    const std::string doc = to_json(desired_now());
    const uint64_t published = realtime_ns();
    // etcd allows 128 operations per transaction by default.
    for (size_t i = 0; i < hosts_.size(); i += 100) {
        std::vector<TxnOp> ops;
        for (size_t k = i; k < std::min(hosts_.size(), i + 100); ++k)
            ops.push_back(TxnOp::put(desired_key(hosts_[k]), doc, lease_));
        auto r = client_->txn({}, ops);
        if (!r) return r.error();
    }
    auto deadline = SteadyClock::now() + timeout;
    while (true) {
        auto st = read_statuses();
        if (st) {
            std::vector<std::string> waiting, failed;
            for (auto& h : hosts_) {
                auto it = st->find(h);
                if (it == st->end() || it->second.run != run_ || it->second.generation < generation_)
                    waiting.push_back(h);
                else if (it->second.state != "ready")
                    failed.push_back(h + " (" + it->second.state + ": " + it->second.reason + ")");
            }
            if (waiting.empty()) {
                note_delivery(*st, published);
                std::lock_guard lk(mu_);
                last_status_ = *st;
                status_read_ = SteadyClock::now();
                if (!failed.empty()) return plain_error("fleet: agent(s) did not apply the step: " + list(failed));
                return *st;
            }
            if (SteadyClock::now() > deadline)
                return plain_error("fleet: agent(s) did not confirm step " + std::to_string(generation_) + " within " +
                                   std::to_string(timeout.count()) + " ms: " + list(waiting));
        } else if (SteadyClock::now() > deadline) {
            return st.error();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

std::chrono::milliseconds choose_lead(const std::deque<double>& delivery_ms, std::chrono::milliseconds floor,
                                      std::chrono::milliseconds cap) {
    double worst = 0;
    for (double d : delivery_ms) worst = std::max(worst, d);
    auto want = std::chrono::milliseconds(static_cast<int64_t>(std::ceil(std::min(2 * worst + 10, 1e9))));
    return std::max(floor, std::min(cap, want));
}

double slowest_delivery(const std::map<std::string, Status>& st, const std::string& run, uint64_t generation,
                        uint64_t publish_ns) {
    double worst = 0;
    for (auto& [h, s] : st)
        if (s.run == run && s.generation == generation && s.received_ns > publish_ns)
            worst = std::max(worst, static_cast<double>(s.received_ns - publish_ns) / 1e6);
    return worst;
}

std::map<std::string, double> clock_skews(const std::map<std::string, Status>& st, const std::string& run,
                                          uint64_t generation, uint64_t publish_ns, uint64_t read_ns) {
    std::map<std::string, double> out;
    for (auto& [h, s] : st) {
        if (s.run != run || s.generation != generation || !s.received_ns) continue;
        if (s.received_ns < publish_ns)
            out[h] = -static_cast<double>(publish_ns - s.received_ns) / 1e6;
        else if (s.received_ns > read_ns)
            out[h] = static_cast<double>(s.received_ns - read_ns) / 1e6;
    }
    return out;
}

void FleetEngine::note_delivery(const std::map<std::string, Status>& st, uint64_t publish_ns) {
    const uint64_t read_ns = realtime_ns();  // after the statuses were read: still a bound
    last_skew_ms_ = 0;
    for (auto& [h, ms] : clock_skews(st, run_, generation_, publish_ns, read_ns)) {
        last_skew_ms_ = std::max(last_skew_ms_, std::fabs(ms));
        if (std::fabs(ms) >= 10 && skew_warned_.insert(h).second)
            log::get("fleet")->warn(
                "agent {}'s clock is at least {:.1f} ms {} the controller's: its agreed instants are off by as much "
                "(check NTP on both)",
                h, std::fabs(ms), ms < 0 ? "behind" : "ahead of");
    }
    deliveries_.push_back(slowest_delivery(st, run_, generation_, publish_ns));
    while (deliveries_.size() > 4) deliveries_.pop_front();
}

std::chrono::milliseconds FleetEngine::next_lead() const {
    if (!opts_.adaptive_lead) return opts_.activation_lead;
    return choose_lead(deliveries_, opts_.activation_lead, opts_.max_activation_lead);
}

namespace {
StepSpread spread_of(const std::map<std::string, Status>& st, size_t index, uint64_t planned) {
    StepSpread s;
    s.planned_ns = planned;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (auto& [h, x] : st)
        for (auto& f : x.faults)
            if (f.index == index && f.applied_ns) {
                lo = std::min(lo, f.applied_ns);
                hi = std::max(hi, f.applied_ns);
                ++s.agents;
            }
    if (s.agents) {
        s.spread_ms = static_cast<double>(hi - lo) / 1e6;
        s.late_max_ms = hi > planned ? static_cast<double>(hi - planned) / 1e6 : 0;
    }
    return s;
}
}  // namespace

Result<void> FleetEngine::inject(size_t index, uint64_t deadline_ns) {
    auto it = state_.find(index);
    if (it == state_.end()) return plain_error("fleet: fault " + std::to_string(index) + " is not in the run");
    if (lease_lost_) return plain_error("fleet: the run lease expired; the agents have reverted");
    uint64_t now_real = realtime_ns(), now_mono = monotonic_ns();
    const auto lead = next_lead();
    it->second.armed = true;
    it->second.at_ns = now_real + static_cast<uint64_t>(std::chrono::nanoseconds(lead).count());
    it->second.deadline_ns = now_real + (deadline_ns > now_mono ? deadline_ns - now_mono : 0);
    auto st = publish_and_wait(lead + opts_.confirm_timeout);
    audit::record("fleet_arm",
                  "run " + run_ + " fault " + fault_names_[index] + " on " + std::to_string(hosts_.size()) + " hosts",
                  st.ok() ? Result<void>{} : Result<void>{st.error()}, {}, audit::Sync::page_cache);
    if (!st) return st.error();
    inject_spread_[index] = spread_of(*st, index, it->second.at_ns);
    inject_spread_[index].lead_ms = static_cast<double>(lead.count());
    inject_spread_[index].delivery_max_ms = deliveries_.back();
    inject_spread_[index].clock_skew_ms = last_skew_ms_;
    return {};
}

Result<void> FleetEngine::heal(size_t index) {
    auto it = state_.find(index);
    if (it == state_.end()) return plain_error("fleet: fault " + std::to_string(index) + " is not in the run");
    it->second.armed = false;
    it->second.at_ns = realtime_ns();  // at once: a heal is never held back
    auto st = publish_and_wait(opts_.confirm_timeout);
    audit::record("fleet_disarm", "run " + run_ + " fault " + fault_names_[index],
                  st.ok() ? Result<void>{} : Result<void>{st.error()}, {}, audit::Sync::page_cache);
    if (!st) return st.error();
    heal_spread_[index] = spread_of(*st, index, it->second.at_ns);
    heal_spread_[index].delivery_max_ms = deliveries_.back();
    heal_spread_[index].clock_skew_ms = last_skew_ms_;
    return {};
}

Result<void> FleetEngine::heal_all() noexcept {
    try {
        if (!client_ || hosts_.empty()) return {};
        bool any = false;
        for (auto& [i, s] : state_)
            if (s.armed) {
                s.armed = false;
                s.at_ns = realtime_ns();
                any = true;
            }
        if (!any) return {};
        auto st = publish_and_wait(opts_.confirm_timeout);
        if (!st) return st.error();
        return {};
    } catch (const std::exception& e) {
        return plain_error("fleet heal_all", e.what());
    }
}

void FleetEngine::refresh_statuses() const {
    if (client_ && !hosts_.empty() && SteadyClock::now() - status_read_ > std::chrono::milliseconds(100)) {
        if (auto st = read_statuses(); st) {
            // Keep statuses of this run only: a reverted agent's last report stays valid.
            for (auto& [h, s] : *st)
                if (s.run == run_) last_status_[h] = s;
        }
        status_read_ = SteadyClock::now();
    }
}

bool FleetEngine::settled() const {
    std::lock_guard lk(mu_);
    if (!client_ || hosts_.empty() || lease_lost_) return true;
    refresh_statuses();
    for (auto& h : hosts_) {
        auto it = last_status_.find(h);
        // An agent that is gone has nothing left to report: the missing recoveries say so.
        if (it != last_status_.end() && it->second.run == run_ && !it->second.settled) return false;
    }
    return true;
}

std::vector<ServiceRecovery> FleetEngine::recoveries(size_t index) const {
    std::lock_guard lk(mu_);
    std::vector<ServiceRecovery> out;
    for (auto& h : hosts_) {  // plan order
        auto it = last_status_.find(h);
        if (it == last_status_.end() || it->second.run != run_) continue;
        for (auto& f : it->second.faults)
            if (f.index == index)
                for (auto& r : f.recoveries)
                    out.push_back({r.service, h, r.pid, std::chrono::nanoseconds(r.rto_ns), r.ready, r.error});
    }
    return out;
}

std::vector<FaultCounters> FleetEngine::counters() const {
    std::lock_guard lk(mu_);
    refresh_statuses();
    std::vector<FaultCounters> out;
    for (auto& [i, s] : state_) {
        FaultCounters c;
        c.fault = fault_names_[i];
        for (auto& [h, st] : last_status_)
            for (auto& f : st.faults)
                if (f.index == i) {
                    c.dropped += f.dropped;
                    c.passed += f.passed;
                    c.expired += f.expired;
                }
        out.push_back(c);
    }
    return out;
}

std::optional<StepSpread> FleetEngine::last_inject_spread(size_t index) const {
    auto it = inject_spread_.find(index);
    if (it == inject_spread_.end()) return std::nullopt;
    return it->second;
}

nlohmann::json FleetEngine::fault_report(size_t index) const {
    nlohmann::json j = {{"agents", hosts_.size()}, {"lease_ttl_s", opts_.lease_ttl_s}};
    auto one = [](const StepSpread& s) {
        return nlohmann::json{{"agents_confirmed", s.agents},         {"spread_ms", s.spread_ms},
                              {"late_max_ms", s.late_max_ms},         {"lead_ms", s.lead_ms},
                              {"delivery_max_ms", s.delivery_max_ms}, {"clock_skew_ms", s.clock_skew_ms}};
    };
    if (auto it = inject_spread_.find(index); it != inject_spread_.end()) j["activation"] = one(it->second);
    if (auto it = heal_spread_.find(index); it != heal_spread_.end()) j["heal"] = one(it->second);
    std::lock_guard lk(mu_);
    auto hosts = host_reports(index);
    if (hosts.empty()) return j;
    // The kind's summary first: the fleet's own fields keep their meaning whatever it names.
    if (index < merge_of_.size() && merge_of_[index]) {
        const nlohmann::json summary = merge_of_[index](hosts);
        for (auto& [k, v] : summary.items())
            if (!j.contains(k)) j[k] = v;
    }
    j["hosts"] = std::move(hosts);
    return j;
}

std::map<std::string, nlohmann::json> FleetEngine::host_reports(size_t index) const {
    std::map<std::string, nlohmann::json> out;
    for (auto& h : hosts_) {
        auto it = last_status_.find(h);
        if (it == last_status_.end() || it->second.run != run_) continue;
        for (auto& f : it->second.faults) {
            if (f.index != index) continue;
            if (!f.report_error.empty()) {
                log::get("fleet")->warn("host {}: the agent's report of fault {} is ignored: {}", h,
                                        index < fault_names_.size() ? fault_names_[index] : std::to_string(index),
                                        f.report_error);
                out[h] = {{"error", "report ignored: " + f.report_error}};
            } else if (f.report.is_object()) {
                out[h] = f.report;
            }
        }
    }
    return out;
}

void FleetEngine::release() noexcept {
    keepalive_stop_ = true;
    if (keepalive_.joinable()) keepalive_.join();
    try {
        if (client_ && lease_) {
            // Deleting the keys reverts the agents now; revoking the lease would too.
            std::vector<TxnOp> ops;
            for (auto& h : hosts_) ops.push_back(TxnOp::del(desired_key(h)));
            ops.push_back(TxnOp::del(plan_key(run_)));
            auto r = client_->txn({}, ops);
            auto rv = client_->lease_revoke(lease_);
            audit::record("fleet_release",
                          "run " + run_ + ": desired state of " + std::to_string(hosts_.size()) + " hosts removed",
                          r.ok() ? Result<void>{} : Result<void>{r.error()});
            if (!r || !rv) log::get("fleet")->warn("release: {}", !r ? r.error().message() : rv.error().message());
        }
    } catch (const std::exception& e) {
        log::get("fleet")->error("release: {}", e.what());
    }
    lease_ = 0;
    hosts_.clear();
    client_.reset();
}

EngineSet fleet_engines(const plan::Plan& plan, FleetOptions o) {
    EngineSet set;
    set.own.push_back(std::make_unique<FleetEngine>(std::move(o)));
    set.of_fault.assign(plan.method.size(), set.own.back().get());
    return set;
}

}  // namespace inj::fleet
