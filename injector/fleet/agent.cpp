// The agent's loop: desired state in (watch + resync), the registry's engines acting on this
// host at the agreed instant, status out; a separate keepalive thread tracks whether etcd is
// reachable, which is the local half of the dead man's switch.
#include "fleet/agent.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "common/audit.hpp"
#include "common/duration.hpp"
#include "common/log.hpp"
#include "common/paths.hpp"
#include "faultfs/faultfs.hpp"
#include "faults/facilities.hpp"
#include "fleet/agent_checks.hpp"
#include "fleet/agent_metrics.hpp"
#include "fleet/agent_targets.hpp"
#include "fleet/etcd_client.hpp"
#include "fleet/protocol.hpp"
#include "net/classifier.hpp"
#include "net/compile.hpp"
#include "net/net_engine.hpp"
#include "plan/loader.hpp"
#include "report/http_server.hpp"
#include "runner/engine.hpp"
#include "targets/targets.hpp"
#include "targets/watcher.hpp"

namespace inj::fleet {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Error::op of a load that a check refused (as opposed to one that failed).
const char* const kRefused = "refused";
// Prefix of a refusal because etcd could not say whether the lease lives (not the document's fault).
const std::string kLeaseUnknown = "cannot check the desired state's lease: ";
// The engine reports of all faults in one status document, at most (etcd takes 1.5 MiB a value).
constexpr size_t kMaxStatusReportsBytes = 256 * 1024;

// Realtime instant -> CLOCK_MONOTONIC instant (what bpf_ktime_get_ns compares against).
uint64_t to_mono(uint64_t real_ns) {
    uint64_t now_real = realtime_ns();
    uint64_t now_mono = monotonic_ns();
    if (real_ns <= now_real) return now_mono;
    return now_mono + (real_ns - now_real);
}

// Real-time priority for the few microseconds around an activation, so a busy machine does not
// make this agent write late (the spread across agents is what a fleet step is judged by).
struct PunctualScope {
    bool raised = false;
    PunctualScope() {
        sched_param sp{};
        sp.sched_priority = 1;
        raised = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
    }
    ~PunctualScope() {
        if (!raised) return;
        sched_param sp{};
        pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
    }
};

void sleep_until_real(uint64_t real_ns) {
    timespec ts{static_cast<time_t>(real_ns / 1'000'000'000ull), static_cast<long>(real_ns % 1'000'000'000ull)};
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, nullptr) == EINTR) {}
}

// What the agent has loaded for one run: the plan, this host's view of it, and the registry's
// engines prepared on that view (declared in this order: engines go before the view, the view
// before the plan).
struct Loaded {
    std::string run;
    std::unique_ptr<plan::Plan> plan;
    std::unique_ptr<targets::Targets> targets;
    EngineSet engines;
    std::map<size_t, AppliedFault> applied;  // by plan.method index
    uint64_t generation = 0;
    bool settled = true;  // as last published

    Engine* engine_of(size_t index) const {
        return index < engines.of_fault.size() ? engines.of_fault[index] : nullptr;
    }
    bool all_settled() const {
        for (auto* e : engines.all())
            if (!e->settled()) return false;
        return true;
    }
    // Everything back (links and disks first, as the runner's abort does).
    Result<void> heal_all() noexcept {
        std::string failed;
        for (auto* e : engines.all())
            if (auto r = e->heal_all(); !r) failed += (failed.empty() ? "" : "; ") + r.error().message();
        if (!failed.empty()) return plain_error("agent revert", failed);
        return {};
    }
    void release() noexcept {
        for (auto* e : engines.all()) e->release();
        live = false;
    }
    bool live = true;  // engines prepared and not yet released
    // A bound host: thaws and starts it again if this agent dies mid-fault (kill -9, OOM).
    std::optional<targets::Watcher> watcher;

    // After the engines: served volumes taken down (services restarted on their real
    // directories), then the watcher stands down when everything is back (`restored`), or undoes
    // everything once more. An error when something could not be put back.
    Result<void> put_back(bool restored) {
        auto r = targets ? targets->release() : Result<void>();
        if (!watcher) return r;
        auto w = restored && r ? watcher->done() : watcher->undo();
        watcher.reset();
        if (!r) return r;
        return w;
    }

    // Every fault's services back? Empty when so, else what is not. A service restored in a
    // hurry (a revert does not wait for readiness) is back as far as this agent can tell.
    std::string not_back() const {
        std::string out;
        for (auto& [i, a] : applied)
            if (Engine* e = live ? engine_of(i) : nullptr)
                for (auto& r : e->recoveries(i))
                    if (!r.ready && r.awaited) out += (out.empty() ? "" : "; ") + r.service + " not ready: " + r.error;
        return out;
    }
};

// Where an agent keeps the control sockets and logs of the fault filesystems it serves for a run:
// state_root()/agents/<host>-<run>/.
std::string served_path(const std::string& host, const std::string& run) {
    return state_root() + "/agents/" + host + "-" + run;
}
// The same, made (with its parents) for the daemons' sockets and logs.
std::string served_dir(const std::string& host, const std::string& run) {
    const std::string dir = served_path(host, run);
    ::mkdir(state_root().c_str(), 0755);
    ::mkdir((state_root() + "/agents").c_str(), 0700);
    ::mkdir(dir.c_str(), 0700);
    return dir;
}

// Where an agent's watcher records what it did: state_root()/agents/<host>-<run>.watch.jsonl.
std::string watch_record(const std::string& host, const std::string& run) {
    const std::string dir = state_root() + "/agents";
    ::mkdir(state_root().c_str(), 0755);
    ::mkdir(dir.c_str(), 0700);
    return dir + "/" + host + "-" + run + ".watch.jsonl";
}

class AgentLoop {
public:
    AgentLoop(const AgentOptions& o, EtcdClient c, const std::atomic<bool>& stop)
        : opts_(o), client_(std::move(c)), stop_(stop), log_(log::get("agent")) {
        limits_.max_fault_duration = o.max_fault_duration;
    }

    int run();

private:
    // Health probe and registration; false when etcd would not take it.
    bool start();
    void keepalive_loop();
    bool register_agent();
    void on_events(const std::vector<WatchEvent>& evs);
    void take(const std::optional<KeyValue>& kv);
    std::string judge(const KeyValue& kv);
    std::vector<KeepReachable> keep_reachable() const;
    Result<void> load(const Desired& d);
    void apply(const Desired& d);
    void revert(const std::string& why);
    void collect();
    nlohmann::json report_of(const Engine& e, size_t index, size_t& left) const;
    void publish(const std::string& state, const std::string& reason);
    uint64_t next_activation(const Desired& d) const;

    AgentOptions opts_;
    EtcdClient client_;
    const std::atomic<bool>& stop_;
    std::shared_ptr<spdlog::logger> log_;
    AgentInfo info_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<WatchEvent> events_;  // from the watch thread
    bool resync_ = true;             // re-read the desired key (start, watch reconnect, contact back)
    std::atomic<int64_t> lease_{0};
    std::atomic<int64_t> last_contact_ns_{0};  // monotonic ns of the last successful etcd call
    std::atomic<bool> contact_lost_{false};
    std::atomic<Watch*> watch_{nullptr};
    SteadyClock::time_point next_resync_{};

    std::optional<Desired> desired_;
    int64_t desired_rev_ = 0;      // store revision desired_ reflects
    int64_t judged_mod_ = 0;       // mod_revision of the desired key last judged
    std::string refused_;          // why that document is refused ("" : obeyed)
    std::set<int64_t> leases_ok_;  // run leases found alive and in range (one etcd question per run)
    AgentLimits limits_;
    std::optional<Loaded> loaded_;
    bool reverted_for_contact_ = false;
    bool confirm_ = false;                       // a step was applied: report it
    std::pair<std::string, uint64_t> failed_;    // (run, generation) whose load failed
    std::pair<std::string, uint64_t> received_;  // (run, generation) of the newest desired state read
    uint64_t received_ns_ = 0;                   // when it was first read (the status reports it)
    std::string step_error_;                     // a step (inject or heal) that failed: reported with its confirmation
    Status last_;                                // the last status of a loaded run
    SteadyClock::time_point next_status_{};
    AgentMetrics metrics_;
    std::unique_ptr<report::LoopbackHttp> http_;  // serves metrics_: last, so it stops first
};

bool AgentLoop::register_agent() {
    auto lease = client_.lease_grant(opts_.lease_ttl_s);
    if (!lease) {
        log_->warn("agent lease: {}", lease.error().message());
        return false;
    }
    lease_ = *lease;
    if (auto r = client_.put(agent_key(opts_.host), to_json(info_), *lease); !r) {
        log_->warn("register: {}", r.error().message());
        return false;
    }
    metrics_.registered();
    return true;
}

void AgentLoop::keepalive_loop() {
    // Its own connection: a slow status write must not delay the heartbeat, nor the reverse.
    auto c = EtcdClient::connect(opts_.endpoints, std::chrono::milliseconds(500), opts_.security);
    std::optional<EtcdClient> own;
    if (c) own.emplace(std::move(*c));
    const auto every = std::chrono::milliseconds(opts_.lease_ttl_s * 1000 / 4);
    while (!stop_) {
        bool ok = false;
        if (!own) {
            if (auto again = EtcdClient::connect(opts_.endpoints, std::chrono::milliseconds(500), opts_.security);
                again)
                own.emplace(std::move(*again));
        }
        if (own) {
            own->set_timeout(std::chrono::milliseconds(500));
            auto ttl = own->lease_keepalive(lease_);
            if (ttl && *ttl > 0) {
                ok = true;
            } else if (ttl) {
                // The lease expired while we were away: register again under a new one.
                auto l = own->lease_grant(opts_.lease_ttl_s);
                if (l && own->put(agent_key(opts_.host), to_json(info_), *l)) {
                    lease_ = *l;
                    ok = true;
                    metrics_.registered();
                }
            }
        }
        if (ok) {
            last_contact_ns_ = static_cast<int64_t>(monotonic_ns());
            if (contact_lost_.exchange(false)) {
                log_->info("etcd reachable again");
                // The stream may sit on a connection that died meanwhile: open a fresh one.
                if (auto* w = watch_.load()) w->reconnect();
                std::lock_guard lk(mu_);
                resync_ = true;
                cv_.notify_all();
            }
        } else if (!contact_lost_) {
            contact_lost_ = true;
            log_->warn("etcd unreachable");
            cv_.notify_all();
        }
        metrics_.contact(ok, last_contact_ns_);
        for (auto t = SteadyClock::now() + every; SteadyClock::now() < t && !stop_;)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void AgentLoop::on_events(const std::vector<WatchEvent>& evs) {
    std::lock_guard lk(mu_);
    for (auto& e : evs) events_.push_back(e);
    cv_.notify_all();
}

// What keeps this machine reachable, read when a plan is loaded (routes and sessions change).
std::vector<KeepReachable> AgentLoop::keep_reachable() const {
    std::vector<KeepReachable> keep;
    std::string eps;
    for (auto& e : client_.endpoints()) eps += e + ",";
    for (auto& a : endpoint_addrs(eps)) keep.push_back({a, "etcd endpoint"});
    for (auto& a : default_gateways()) keep.push_back({a, "default route via"});
    for (auto& a : ssh_peers()) keep.push_back({a, "SSH session with"});
    return keep;
}

// The checks that need only the document and its key (the plan's come at load).
std::string AgentLoop::judge(const KeyValue& kv) {
    if (!desired_)
        return "malformed desired state (" + std::to_string(kv.value.size()) + " bytes, not a desired document)";
    if (auto why = check_desired(*desired_, limits_, realtime_ns()); !why.empty()) return why;
    if (kv.lease == 0) return check_desired_lease(0, 0, 0, limits_);
    // Every step of a run comes under the run's one lease: asked once. While it lives, the key
    // stays; when it lapses, etcd deletes the key, which reverts this agent.
    if (leases_ok_.count(kv.lease)) return "";
    auto t = client_.lease_ttl(kv.lease);
    if (!t) return kLeaseUnknown + t.error().message();
    auto why = check_desired_lease(kv.lease, t->ttl, t->granted, limits_);
    if (why.empty()) {
        if (leases_ok_.size() >= 64) leases_ok_.clear();
        leases_ok_.insert(kv.lease);
    }
    return why;
}

// A new desired document (or its deletion): parsed and judged once per revision.
void AgentLoop::take(const std::optional<KeyValue>& kv) {
    reverted_for_contact_ = false;
    if (!kv) {
        desired_.reset();
        refused_.clear();
        judged_mod_ = 0;
        return;
    }
    if (kv->mod_revision == judged_mod_) return;
    judged_mod_ = kv->mod_revision;
    desired_ = desired_from_json(kv->value);
    if (desired_ && received_ != std::pair{desired_->run, desired_->generation}) {
        received_ = {desired_->run, desired_->generation};
        received_ns_ = realtime_ns();
    }
    refused_ = judge(*kv);
    if (refused_.empty()) return;
    // etcd did not answer the lease question: judge this document again at the next re-read.
    if (refused_.rfind(kLeaseUnknown, 0) == 0) judged_mod_ = 0;
    log_->error("desired state refused: {}", refused_);
    if (loaded_) revert("the new desired state is refused: " + refused_);
    audit::record("refuse", "desired state for " + opts_.host + ": " + refused_, true);
    publish("refused", refused_);
}

Result<void> AgentLoop::load(const Desired& d) {
    auto kv = client_.get(plan_key(d.run));
    if (!kv) return kv.error();
    if (!*kv) return plain_error("agent", "run " + d.run + " has no plan under " + plan_key(d.run));
    // Only the bytes the controller validated: their hash is in the desired state.
    if (const auto h = sha256_hex((*kv)->value); h != d.plan_sha256)
        return plain_error(kRefused, "plan of run " + d.run + " has SHA-256 " + h + ", the desired state names " +
                                         (d.plan_sha256.empty() ? "none" : d.plan_sha256));
    plan::LoadResult lr;
    try {
        lr = plan::load_string((*kv)->value, "etcd:" + plan_key(d.run));
    } catch (const std::exception& e) {  // whatever the parser does, the agent keeps serving
        return plain_error("agent", "plan of run " + d.run + " could not be parsed: " + e.what());
    }
    if (!lr.ok())
        return plain_error("agent", "plan of run " + d.run + ": " + (lr.errors.empty() ? "" : lr.errors[0].str()));
    Loaded l;
    l.run = d.run;
    l.plan = std::make_unique<plan::Plan>(std::move(*lr.plan));
    auto tables = net::compile(*l.plan);
    if (!tables) return tables.error();
    const auto keep = keep_reachable();
    if (auto why = check_cuts(*l.plan, *tables, opts_.host, keep); !why.empty()) return plain_error(kRefused, why);
    auto view = agent_targets(*l.plan, opts_.host, opts_.interface);
    if (!view) return plain_error(kRefused, view.error().message());
    l.targets = std::move(*view);
    l.engines = faults::make_engines(*l.plan);
    // A dark host keeps what lets this agent bring its power back: the rules of an isolation
    // leave the control path alone (a rule naming it on purpose was refused above).
    std::vector<IpAddr> exempt;
    for (auto& k : keep) exempt.push_back(k.addr);
    for (auto& e : l.engines.shared)
        if (auto* n = dynamic_cast<net::NetEngine*>(e.get())) {
            n->set_exempt(exempt);
            n->use_tables(std::move(*tables));  // checked above: not compiled twice
        }
    // Before anything is touched: a frozen or stopped host must not stay so if this agent dies,
    // and a volume served below is put back on its real directory.
    if (auto spec = l.targets->watch_spec(::getpid(), watch_record(opts_.host, d.run))) {
        spec->scratch = served_path(opts_.host, d.run);  // if made below
        auto w = targets::Watcher::start(*spec, faultfs::binary());
        if (!w) return plain_error("agent", "watcher: " + w.error().message());
        l.watcher.emplace(std::move(*w));
    }
    // This host's volumes the plan degrades or makes volatile: served through the fault
    // filesystem (their service restarted onto it) before the engines prepare on them, as the
    // runner does in local mode.
    std::vector<std::pair<std::string, std::string>> vols;
    for (auto& v : plan::faultfs_volumes(*l.plan))
        if (v.first == opts_.host) vols.push_back(v);
    // A load that fails leaves the host as it was: volumes back on their real directories, the
    // watcher told so (or, if they could not be put back, undoing everything once more).
    auto give_up = [&](Error e) -> Result<void> {
        (void)l.heal_all();
        l.release();
        if (l.put_back(true)) ::unlink(watch_record(opts_.host, d.run).c_str());
        std::error_code ec;
        std::filesystem::remove_all(served_path(opts_.host, d.run), ec);
        return e;
    };
    if (!vols.empty())
        if (auto r = l.targets->serve_volumes(vols, served_dir(opts_.host, d.run)); !r)
            return give_up(plain_error("agent", "volumes: " + r.error().message()));
    const uint64_t deadline = to_mono(d.run_deadline_ns);
    for (auto* e : l.engines.all())
        if (auto r = e->prepare(*l.plan, *l.targets, deadline); !r) return give_up(r.error());
    std::vector<std::string> names;
    for (auto* e : l.engines.all()) names.emplace_back(e->name());
    audit::record("agent_prepare", "run " + d.run + " on " + l.targets->describe(), true, {}, names);
    log_->info("run {}: {} faults prepared on {}", d.run, l.plan->method.size(), l.targets->describe());
    loaded_.emplace(std::move(l));
    return {};
}

void AgentLoop::revert(const std::string& why) {
    if (!loaded_) return;
    uint64_t at = realtime_ns();
    auto r = loaded_->heal_all();
    // Counters and recoveries as the revert left them, before the engines go (the status keeps them).
    collect();
    // Restored: the watcher stands down; else it undoes everything once more (the safe side).
    const std::string not_back = r ? loaded_->not_back() : r.error().message();
    loaded_->release();
    std::string run = loaded_->run;
    const bool watched = loaded_->watcher.has_value();
    auto w = loaded_->put_back(not_back.empty());
    if (!not_back.empty() && watched)
        log_->warn("run {}: the watcher put the host back again ({})", run, not_back);
    else if (w && watched)
        ::unlink(watch_record(opts_.host, run).c_str());  // it did nothing: no record to keep
    if (!w) {
        log_->error("run {}: putting the host back: {}", run, w.error().message());
        if (r) r = w.error();
    }
    std::error_code ec;
    std::filesystem::remove_all(served_path(opts_.host, run), ec);
    for (auto& [i, a] : loaded_->applied)
        if (a.armed) {
            a.armed = false;
            a.applied_ns = at;
        }
    audit::record("revert", "run " + run + " on " + opts_.host + ": " + why, r);
    log_->warn("run {}: reverted ({})", run, why);
    // Keep the last counters in the status: the controller may still want them.
    publish("reverted", why);
    loaded_.reset();
}

uint64_t AgentLoop::next_activation(const Desired& d) const {
    uint64_t next = 0;
    for (auto& f : d.faults) {
        if (!loaded_ || !loaded_->engine_of(f.index)) continue;
        auto it = loaded_->applied.find(f.index);
        bool is_armed = it != loaded_->applied.end() && it->second.armed;
        if (is_armed != f.armed && (!next || f.at_ns < next)) next = f.at_ns;
    }
    return next;
}

void AgentLoop::apply(const Desired& d) {
    if (loaded_ && loaded_->run != d.run) revert("a new run " + d.run + " replaces run " + loaded_->run);
    if (!loaded_) {
        // A load that failed is retried when the desired state changes, not every loop.
        if (failed_ == std::pair{d.run, d.generation}) return;
        if (auto r = load(d); !r) {
            const bool refused = r.error().op == kRefused;
            const std::string why = refused ? r.error().context : r.error().message();
            log_->error("run {}: {}{}", d.run, refused ? "refused: " : "", why);
            loaded_.reset();
            failed_ = {d.run, d.generation};
            publish(refused ? "refused" : "error", why);
            return;
        }
        failed_ = {};
    }
    bool changed = false;
    for (auto& f : d.faults) {
        Engine* e = loaded_->engine_of(f.index);
        if (!e) continue;
        auto& a = loaded_->applied[f.index];
        a.index = f.index;
        if (a.armed == f.armed) continue;
        if (f.at_ns > realtime_ns()) continue;  // not yet: the loop comes back at f.at_ns
        a.applied_ns = realtime_ns();           // the instant this host acted (what the spread compares)
        auto r = f.armed ? e->inject(f.index, to_mono(f.deadline_ns)) : e->heal(f.index);
        // Not tried again: a step half done (some processes killed) is reported, not repeated.
        a.armed = f.armed;
        const std::string& name = loaded_->plan->method[f.index].name;
        audit::record(f.armed ? "inject" : "heal", "run " + d.run + " fault " + name + " on " + opts_.host, r, {},
                      audit::Sync::page_cache);
        if (!r) {
            step_error_ = "fault " + name + ": " + r.error().message();
            log_->error("run {}: {}", d.run, step_error_);
        }
        changed = true;
    }
    if (next_activation(d) == 0 && (changed || loaded_->generation != d.generation)) {
        loaded_->generation = d.generation;
        confirm_ = true;  // published by the loop once it is back at normal priority
    }
}

// The engines' counters and recoveries into the applied faults (kept for the status after a revert).
void AgentLoop::collect() {
    if (!loaded_ || !loaded_->live) return;
    std::map<std::string, FaultCounters> by_name;
    for (auto* e : loaded_->engines.all())
        for (auto& c : e->counters()) {
            auto& t = by_name[c.fault];
            t.dropped += c.dropped;
            t.passed += c.passed;
            t.expired += c.expired;
        }
    size_t reports_left = kMaxStatusReportsBytes;
    for (auto& [i, a] : loaded_->applied) {
        if (i >= loaded_->plan->method.size()) continue;
        if (auto it = by_name.find(loaded_->plan->method[i].name); it != by_name.end()) {
            a.dropped = it->second.dropped;
            a.passed = it->second.passed;
            a.expired = it->second.expired;
        }
        if (Engine* e = loaded_->engine_of(i)) {
            a.recoveries.clear();
            for (auto& r : e->recoveries(i))
                a.recoveries.push_back({r.service, r.pid, static_cast<uint64_t>(r.rto.count()), r.ready, r.error});
            a.report = report_of(*e, i, reports_left);
        }
    }
}

// The engine's own report of a fault on this host (crash point, lost writes...), cut to the
// protocol's bound; past `left` bytes for the whole status only how long it was, so that a plan
// of many faults still fits in one etcd value.
nlohmann::json AgentLoop::report_of(const Engine& e, size_t index, size_t& left) const {
    nlohmann::json r = e.fault_report(index);
    if (!r.is_object()) return nullptr;
    r = bounded_report(r, std::min(left, kMaxFaultReportBytes));
    left -= std::min(left, r.dump().size());
    return r;
}

void AgentLoop::publish(const std::string& state, const std::string& reason) {
    Status st;
    st.host = opts_.host;
    st.state = state;
    st.reason = reason;
    st.updated_ns = realtime_ns();
    if (!loaded_ && desired_) {
        st.run = desired_->run;
        st.generation = desired_->generation;
    }
    if (loaded_) {
        // Settled read before the recoveries: a restore that ends in between is reported as
        // unsettled with its recoveries, never as settled without them.
        loaded_->settled = !loaded_->live || loaded_->all_settled();
        st.settled = loaded_->settled;
        collect();
        st.run = loaded_->run;
        st.generation = loaded_->generation;
        for (auto& [i, a] : loaded_->applied) st.faults.push_back(a);
    } else if (!last_.run.empty() && desired_ && last_.run == desired_->run) {
        st.faults = last_.faults;  // a reverted run's last counters and recoveries
    }
    if (received_ == std::pair{st.run, st.generation}) st.received_ns = received_ns_;
    next_status_ = SteadyClock::now() + opts_.status_every;
    if (loaded_) last_ = st;
    std::map<size_t, AgentMetrics::FaultName> names;
    if (loaded_)
        for (auto& a : st.faults)
            if (a.index < loaded_->plan->method.size())
                names[a.index] = {loaded_->plan->method[a.index].name, loaded_->plan->method[a.index].kind()};
    metrics_.published(st, std::move(names));
    auto r = client_.put(status_key(opts_.host), to_json(st), lease_);
    if (!r)
        log_->warn("status: {}", r.error().message());
    else
        last_contact_ns_ = static_cast<int64_t>(monotonic_ns());
    metrics_.written(st.state, r.ok());
}

bool AgentLoop::start() {
    info_.host = opts_.host;
    info_.pid = getpid();
    info_.interface = opts_.interface;
    info_.started_ns = realtime_ns();
    // Healthy means: this host can load the classifier (capabilities, BTF, verifier).
    if (auto probe = net::Classifier::load(); probe) {
        info_.healthy = true;
    } else {
        info_.error = probe.error().message();
        log_->error("unhealthy: {}", info_.error);
    }
    // Short: a write to an unreachable etcd must not hold up the loop (it tries each endpoint).
    client_.set_timeout(std::chrono::milliseconds(500));
    metrics_.started(info_);
    if (opts_.metrics) {
        auto h = report::LoopbackHttp::start(*opts_.metrics,
                                             [this] { return metrics_.render(static_cast<int64_t>(monotonic_ns())); });
        if (!h) {
            log_->error("metrics: {}", h.error().message());
            return false;
        }
        http_ = std::move(*h);
        log_->info("metrics on {}", http_->url());
    }
    if (!register_agent()) return false;
    last_contact_ns_ = static_cast<int64_t>(monotonic_ns());
    metrics_.contact(true, last_contact_ns_);
    log_->info("agent {} registered (pid {}, lease {})", opts_.host, info_.pid, lease_.load());
    return true;
}

int AgentLoop::run() {
    if (!start()) return 3;
    std::thread ka([this] { keepalive_loop(); });
    Watch watch(
        client_.endpoints(), desired_key(opts_.host), false, 0,
        [this](const std::vector<WatchEvent>& evs) { on_events(evs); },
        [this](bool up) {
            if (!up) return;
            std::lock_guard lk(mu_);
            resync_ = true;  // events may have been missed while the stream was down
            cv_.notify_all();
        },
        opts_.security);
    watch_ = &watch;
    // A restarted agent starts clean and reconciles here (resync_ is true).
    while (!stop_) {
        bool resync = false;
        std::deque<WatchEvent> evs;
        {
            std::unique_lock lk(mu_);
            auto wake = SteadyClock::now() + std::chrono::milliseconds(100);
            if (desired_ && loaded_)
                if (uint64_t at = next_activation(*desired_); at) {
                    uint64_t now = realtime_ns();
                    auto in = std::chrono::nanoseconds(at > now ? at - now : 0);
                    wake = std::min(wake, SteadyClock::now() + in - std::chrono::milliseconds(2));
                }
            cv_.wait_until(lk, wake, [&] { return stop_ || resync_ || !events_.empty(); });
            std::swap(evs, events_);
            std::swap(resync, resync_);
        }
        if (stop_) break;
        // Belt and braces behind the watch: re-read the desired state every 2 s.
        if (SteadyClock::now() >= next_resync_) {
            resync = true;
            next_resync_ = SteadyClock::now() + std::chrono::seconds(2);
        }
        // First (before anything that may block on etcd), the local half of the dead man's switch: no etcd for longer
        // than the run's lease TTL.
        if (loaded_ && desired_ && desired_->lease_ttl_ms > 0) {
            uint64_t since = monotonic_ns() - static_cast<uint64_t>(last_contact_ns_.load());
            if (since > static_cast<uint64_t>(desired_->lease_ttl_ms) * 1'000'000ull) {
                revert("etcd unreachable for " + std::to_string(since / 1'000'000) + " ms (lease TTL " +
                       std::to_string(desired_->lease_ttl_ms) + " ms)");
                reverted_for_contact_ = true;
            }
        }
        // Watch events and re-reads are ordered by revision: nothing older than what is applied
        // may replace it (an event queued before a re-read that saw a later state).
        for (auto& e : evs) {
            if (e.kv.mod_revision <= desired_rev_) continue;
            desired_rev_ = e.kv.mod_revision;
            take(e.type == WatchEvent::Type::del ? std::nullopt : std::optional<KeyValue>(e.kv));
        }
        if (resync && !contact_lost_) {
            int64_t rev = 0;
            if (auto kv = client_.get(desired_key(opts_.host), &rev); kv) {
                if (rev >= desired_rev_) {
                    desired_rev_ = rev;
                    take(*kv);
                }
            }  // else: the periodic re-read tries again; the keepalive thread tracks contact
        }
        if (!desired_) {
            if (loaded_) revert("desired state gone (run ended or its lease lapsed)");
            continue;
        }
        if (!refused_.empty()) continue;      // until the controller writes another document
        if (reverted_for_contact_) continue;  // until etcd answers again (resync)
        std::optional<PunctualScope> punctual;
        if (uint64_t at = next_activation(*desired_); at && at > realtime_ns()) {
            // The agreed instant is close: sleep to it exactly, then write.
            if (at - realtime_ns() < 3'000'000ull) {
                punctual.emplace();
                sleep_until_real(at);
            }
        }
        try {
            apply(*desired_);
        } catch (const std::exception& e) {  // nothing from etcd may end the agent
            log_->error("run {}: {}", desired_->run, e.what());
            failed_ = {desired_->run, desired_->generation};
            publish("error", std::string("applying the desired state failed: ") + e.what());
        }
        punctual.reset();
        if (confirm_) {
            confirm_ = false;
            const std::string err = std::exchange(step_error_, {});
            metrics_.stepped();
            publish(err.empty() ? "ready" : "error", err);
        }
        // Counters while a run is loaded, and at once when a restore has finished; not while
        // etcd is away (a write would only block), nor just before an agreed instant (a slow
        // write would make this agent late).
        const uint64_t due = next_activation(*desired_);
        const bool instant_near = due && due < realtime_ns() + 50'000'000ull;
        if (loaded_ && !contact_lost_ && !instant_near &&
            (SteadyClock::now() >= next_status_ || (loaded_->live && loaded_->settled != loaded_->all_settled())))
            publish("ready", "");
    }
    watch_ = nullptr;
    watch.stop();
    if (loaded_) revert("agent stopping");
    // Gone from the registry at once (the lease would drop the keys a TTL later anyway).
    (void)client_.del(status_key(opts_.host));
    (void)client_.del(agent_key(opts_.host));
    (void)client_.lease_revoke(lease_);
    ka.join();
    return 0;
}

}  // namespace

void add_agent_options(boost::program_options::options_description& d) {
    namespace po = boost::program_options;
    d.add_options()("etcd", po::value<std::string>()->default_value(""), "etcd endpoints")(
        "host", po::value<std::string>()->default_value(""), "the plan host this agent stands for")(
        "interface", po::value<std::string>()->default_value("eth0"), "interface to attach to (tcx egress)")(
        "lease-ttl", po::value<int>()->default_value(2), "the agent's registration lease, seconds")(
        "max-fault-duration", po::value<std::string>()->default_value("1h"),
        "refuse desired states whose deadlines lie further away than this")(
        "metrics", po::value<std::string>(),
        "serve Prometheus metrics at ADDR:PORT (loopback only, e.g. 127.0.0.1:9465)");
    add_etcd_options(d);
}

Result<AgentOptions> agent_options_from(const boost::program_options::variables_map& vm) {
    AgentOptions o;
    o.endpoints = vm["etcd"].as<std::string>();
    o.host = vm["host"].as<std::string>();
    o.interface = vm["interface"].as<std::string>();
    o.lease_ttl_s = vm["lease-ttl"].as<int>();
    if (o.endpoints.empty() || o.host.empty()) return plain_error("agent needs --etcd ENDPOINTS and --host NAME");
    if (o.lease_ttl_s < 2) return plain_error("--lease-ttl must be at least 2 seconds");
    std::string why;
    std::optional<Duration> max;
    try {  // the duration parser may still throw on some malformed text (".s")
        max = parse_duration(vm["max-fault-duration"].as<std::string>(), &why);
    } catch (const std::exception&) {
        why = "not a duration: " + vm["max-fault-duration"].as<std::string>();
    }
    if (!max || max->count() <= 0) return plain_error("--max-fault-duration", why.empty() ? "must be positive" : why);
    o.max_fault_duration = std::chrono::duration_cast<std::chrono::milliseconds>(*max);
    if (vm.count("metrics")) {
        o.metrics = report::LoopbackHttp::parse_address(vm["metrics"].as<std::string>(), &why);
        if (!o.metrics) return plain_error("--metrics", why);
    }
    auto sec = etcd_security_from(vm);
    if (!sec) return sec.error();
    o.security = *sec;
    return o;
}

Result<int> run_agent(const AgentOptions& opts, const std::atomic<bool>& stop) {
    if (opts.host.empty()) return plain_error("agent", "--host is required");
    auto c = EtcdClient::connect(opts.endpoints, std::chrono::milliseconds(2000), opts.security);
    if (!c) return c.error();
    audit::set_run_if_unset("agent-" + opts.host);
    AgentLoop loop(opts, std::move(*c), stop);
    return loop.run();
}

}  // namespace inj::fleet
