// NetEngine: compile, load, install, attach at prepare; arm/disarm afterwards.
#include "net/net_engine.hpp"

#include <chrono>
#include <set>
#include <unordered_set>

#include "common/audit.hpp"
#include "common/log.hpp"
#include "common/netns.hpp"
#include "net/shaper.hpp"
#include "targets/procfs.hpp"
#include "targets/targets.hpp"

namespace inj::net {
namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Result<void> NetEngine::prepare(const plan::Plan& plan, targets::Targets& targets, uint64_t run_deadline_ns) {
    auto log = log::get("net");
    release();
    auto t0 = std::chrono::steady_clock::now();
    if (precompiled_) {
        tables_ = std::move(*precompiled_);
        precompiled_.reset();
    } else {
        auto tables = compile(plan);
        if (!tables.ok()) return tables.error();
        tables_ = std::move(tables.value());
    }
    for (auto& a : exempt_) exempt(tables_, a);
    if (!exempt_.empty()) log->info("{} addresses exempt from every rule (the control path)", exempt_.size());
    fault_names_.clear();
    for (auto& f : plan.method) fault_names_.push_back(f.name);
    double t_compile = ms_since(t0);

    auto t1 = std::chrono::steady_clock::now();
    auto cls = Classifier::load();
    if (!cls.ok()) {
        audit::record("bpf_prog_load", "netfault", false, cls.error().message());
        return cls.error();
    }
    classifier_.emplace(std::move(cls.value()));
    audit::record("bpf_prog_load", "netfault prog id " + std::to_string(classifier_->prog_id()), true);
    double t_load = ms_since(t1);

    if (auto r = prepare_degrade(plan, targets); !r.ok()) {
        release();
        return r.error();
    }

    auto t2 = std::chrono::steady_clock::now();
    if (auto r = classifier_->install(tables_, run_deadline_ns); !r.ok()) {
        release();
        return r.error();
    }
    double t_install = ms_since(t2);

    auto t3 = std::chrono::steady_clock::now();
    fabric_ = targets.judge_netns();
    // One audit record for the whole attach (hundreds of ports are one action of the run).
    std::vector<std::string> attached;
    const std::string what =
        "tcx at the judge points of " + targets.describe() + ", prog id " + std::to_string(classifier_->prog_id());
    std::set<std::string> seen;  // hosts sharing a namespace share its interfaces: judged once
    for (auto& h : targets.hosts())
        for (auto& j : h.judges) {
            if (!seen.insert(j.netns + "\n" + j.ifname + (j.ingress ? "\ni" : "\ne")).second) continue;
            auto link = TcxLink::attach(j.isolations_only ? classifier_->isolations_fd() : classifier_->prog_fd(),
                                        j.netns, j.ifname, j.ingress);
            if (!link.ok()) {
                Error e = link.error();
                e.context += " (host " + h.name + ")";
                audit::record("tcx_attach", what, false, e.message(), attached);
                release();
                return e;
            }
            attached.push_back(std::string(j.ingress ? "ingress " : "egress ") +
                               (j.isolations_only ? "(dark hosts only) " : "") + j.ifname + " (" + h.name +
                               ") link id " + std::to_string(link.value().id()));
            links_.push_back(std::move(link.value()));
        }
    audit::record("tcx_attach", what, true, {}, attached);
    double t_attach = ms_since(t3);
    log->info("{} rules, {} prefixes, {} domains; compile {:.1f} ms, load {:.1f} ms, install {:.1f} ms",
              tables_.rules.size(), tables_.prefixes.size(), tables_.domains.size(), t_compile, t_load, t_install);
    log->info("attached at tcx of {} judge points of {} in {:.1f} ms", links_.size(), targets.describe(), t_attach);
    return {};
}

Result<void> NetEngine::prepare_degrade(const plan::Plan& plan, const targets::Targets& targets) {
    auto log = log::get("net");
    mech_ = {};
    bool any = false;
    for (auto& f : plan.method) {
        auto effect = f.net();
        any = any || (effect && effect->kind == plan::NetEffect::Kind::degrade);
    }
    if (!any) return {};
    auto m = choose_mechanisms(plan);
    if (!m.ok()) return m.error();
    mech_ = m.value();
    for (auto& line : mech_.describe()) log->info("degrade_link {}", line);
    // Delay-line taps and shapers live beside the judge points, so the classifier can redirect
    // to them: they need the judge points in one namespace (a lab's fabric). Loss, duplication
    // and corruption are the classifier's own verdicts and work at any judge point.
    const std::string fabric = targets.judge_netns();
    auto needs_fabric = [&](const char* what) {
        return plain_error("net",
                           std::string("degrade_link ") + what +
                               " needs every host judged in one namespace (a lab's fabric, or one host's own); " +
                               targets.describe() + " has none (loss works there)");
    };

    std::vector<DelayLine::Spec> delays;
    std::vector<RateCap> caps;
    bool any_delay = false;
    for (size_t i = 0; i < plan.method.size(); ++i) {
        int rule = tables_.rule_of_fault[i];
        auto effect = plan.method[i].net();
        if (rule < 0 || !effect || effect->kind != plan::NetEffect::Kind::degrade) continue;
        nf_degrade& dg = tables_.degrades[rule];
        any_delay = any_delay || dg.delay_ns;
        if (dg.delay_ns && mech_.latency == Mechanisms::Latency::delay_line)
            delays.push_back({rule, dg.delay_ns, dg.jitter_ns});
        if (effect->link->rate_bps) caps.push_back({rule, effect->link->rate_bps});
    }
    const bool edt = mech_.latency == Mechanisms::Latency::edt;
    if ((!delays.empty() || (edt && any_delay)) && fabric.empty()) return needs_fabric("latency");
    if (!caps.empty() && fabric.empty()) return needs_fabric("rate");
    // A rate cap replaces the root qdisc of each judged interface: never this machine's own
    // (its real NICs may carry a qdisc of the user's that removal would not give back).
    if ((!caps.empty() || (edt && any_delay)) && targets::same_file(fabric, "/proc/self/ns/net"))
        return plain_error(
            "net",
            "degrade_link rate (or EDT latency) would replace the root qdisc of this machine's own interfaces (" +
                targets.describe() + "); rate caps work on labs, containers and namespaces");
    if (!delays.empty()) {
        auto dl = DelayLine::start(fabric, delays);
        if (!dl.ok()) {
            audit::record("tap_create", "delay line in " + fabric, false, dl.error().message());
            return dl.error();
        }
        delay_ = std::move(dl.value());
        std::vector<std::string> taps;
        for (auto& d : delays) {
            nf_degrade& dg = tables_.degrades[d.rule];
            dg.delay_ifindex = static_cast<uint32_t>(delay_->ifindex(d.rule));
            dg.delay_ns = 0;  // the delay line holds the packet; no delivery time on top
            dg.jitter_ns = 0;
            auto link = TcxLink::attach(classifier_->reinject_fd(), fabric, delay_->ifname(d.rule), true);
            if (!link.ok()) return link.error();
            taps.push_back(delay_->ifname(d.rule) + " ifindex " + std::to_string(dg.delay_ifindex) + " link id " +
                           std::to_string(link.value().id()));
            tap_links_.push_back(std::move(link.value()));
        }
        audit::record("tap_create", "delay line in " + fabric + " (taps die with this process)", true, {}, taps);
    }
    if (!fabric.empty() && (!caps.empty() || edt)) {  // never shapes a namespace it was not given
        std::vector<std::string> ports;               // once each: pooled hosts share a port
        std::unordered_set<std::string> seen;
        for (auto& h : targets.hosts())
            for (auto& j : h.judges)
                if (seen.insert(j.ifname).second) ports.push_back(j.ifname);
        auto lines = shaper_lines(ports, caps, mech_.latency == Mechanisms::Latency::edt);
        auto r = shaper_install(fabric, lines);
        shaped_ports_ = ports;  // a partial batch is removed too
        audit::record("qdisc_add", "egress of " + std::to_string(ports.size()) + " host ports in " + fabric, r, lines);
        if (!r.ok()) return r;
    }
    if (mech_.corrupt) {
        std::vector<std::string> done;
        std::unordered_set<std::string> seen;
        for (auto& h : targets.hosts()) {
            if (!seen.insert(h.netns + "/" + h.interface).second) continue;  // a pool's, done once
            auto r = set_tx_checksum(h.netns, h.interface, false);
            if (!r.ok()) {
                audit::record("tx_checksum_off", "eth0 of lab hosts", false, r.error().message(), done);
                return r;
            }
            csum_off_.push_back({h.netns, h.interface});
            done.push_back(h.netns + "/" + h.interface);
        }
        audit::record("tx_checksum_off", "eth0 of " + std::to_string(done.size()) + " lab hosts", true, {}, done);
    }
    return {};
}

nf_degrade_stats NetEngine::degrade_stats(size_t index) const {
    if (!classifier_ || index >= tables_.rule_of_fault.size() || tables_.rule_of_fault[index] < 0) return {};
    auto s = classifier_->degrade_stats(tables_.rule_of_fault[index]);
    return s.ok() ? s.value() : nf_degrade_stats{};
}

DelayLine::Stats NetEngine::delay_stats(size_t index) const {
    if (!delay_ || index >= tables_.rule_of_fault.size() || tables_.rule_of_fault[index] < 0) return {};
    return delay_->stats(tables_.rule_of_fault[index]);
}

Result<int> NetEngine::rule_for(size_t index) const {
    if (!classifier_) return plain_error("net", "engine not prepared");
    if (index >= tables_.rule_of_fault.size() || tables_.rule_of_fault[index] < 0)
        return plain_error("net",
                           "fault " + std::to_string(index) + " has no classifier rule (its kind has no network part)");
    return tables_.rule_of_fault[index];
}

namespace {
// The fault's own rule first, then its cascades (powered links), lowest bit first.
std::vector<int> bits_of(uint64_t mask, int own) {
    std::vector<int> out{own};
    for (int b = 0; b < 64; ++b)
        if (((mask >> b) & 1) && b != own) out.push_back(b);
    return out;
}
}  // namespace

Result<void> NetEngine::inject(size_t index, uint64_t deadline_ns) {
    auto rule = rule_for(index);
    if (!rule.ok()) return rule.error();
    Result<void> r;
    for (int b : bits_of(tables_.fault_mask[index], rule.value()))
        if (r = classifier_->arm(b, deadline_ns); !r) break;
    // After the map write: the audit's fdatasync must not delay the fault itself.
    audit::record("arm", describe(index), r, {}, audit::Sync::page_cache);
    return r;
}

Result<void> NetEngine::heal(size_t index) {
    auto rule = rule_for(index);
    if (!rule.ok()) return rule.error();
    Result<void> r;
    for (int b : bits_of(tables_.fault_mask[index], rule.value()))
        if (auto d = classifier_->disarm(b); !d && r) r = d;  // every rule, even after a failure
    audit::record("disarm", describe(index), r, {}, audit::Sync::page_cache);
    return r;
}

Result<void> NetEngine::heal_all() noexcept {
    if (!classifier_) return {};
    try {
        std::vector<int> armed = classifier_->armed_rules();
        // Every map write first, then one record: an abort clears all faults before any fsync.
        auto r = classifier_->disarm_all();
        if (!armed.empty() || !r.ok()) {
            std::vector<std::string> what;
            for (int rule : armed) what.push_back(describe_rule(rule));
            audit::record("disarm_all", "netfault prog id " + std::to_string(classifier_->prog_id()), r, what);
        }
        return r;
    } catch (const std::exception& e) {  // allocation failure building the error text
        return plain_error("net heal_all", e.what());
    }
}

std::vector<FaultCounters> NetEngine::counters() const {
    std::vector<FaultCounters> out;
    if (!classifier_) return out;
    for (size_t i = 0; i < tables_.rule_of_fault.size(); ++i) {
        int rule = tables_.rule_of_fault[i];
        if (rule < 0) continue;
        FaultCounters c;
        c.fault = i < fault_names_.size() ? fault_names_[i] : std::to_string(i);
        for (int b : bits_of(tables_.fault_mask[i], rule)) {
            if (auto s = classifier_->rule_stats(b); s.ok()) {
                c.dropped += s.value().dropped;
                c.passed += s.value().passed;
                c.expired += s.value().expired;
            } else {
                log::get("net")->warn("counters of fault {}: {}", c.fault, s.error().message());
            }
        }
        // A degrade rule drops only by its loss; the rest it lets through, degraded.
        c.dropped += degrade_stats(i).lost;
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<uint32_t> NetEngine::link_ids() const {
    std::vector<uint32_t> ids;
    for (auto& l : links_) ids.push_back(l.id());
    return ids;
}

std::string NetEngine::describe_rule(int rule) const {
    std::string names;
    for (size_t i = 0; i < tables_.fault_mask.size(); ++i)
        if (((tables_.fault_mask[i] >> rule) & 1) && i < fault_names_.size())
            names += (names.empty() ? "" : ",") + fault_names_[i];
    return "fault " + (names.empty() ? "?" : names) + " (rule " + std::to_string(rule) + ")";
}

std::string NetEngine::describe(size_t index) const {
    std::string name = index < fault_names_.size() ? fault_names_[index] : std::to_string(index);
    int rule = index < tables_.rule_of_fault.size() ? tables_.rule_of_fault[index] : -1;
    return "fault " + name + " (rule " + std::to_string(rule) + ")";
}

void NetEngine::release() noexcept {
    try {
        std::vector<std::string> detached;
        for (auto& l : links_) detached.push_back(l.ifname() + " link id " + std::to_string(l.id()));
        uint32_t prog = classifier_ ? classifier_->prog_id() : 0;
        size_t n = links_.size();
        links_.clear();  // detach before the program goes
        if (n) audit::record("tcx_detach", "tcx ingress in " + fabric_, true, {}, detached);
        // Nothing is redirected to the taps any more: held frames go on, then the taps go.
        tap_links_.clear();
        if (delay_) {
            delay_.reset();
            audit::record("tap_remove", "delay line in " + fabric_, true);
        }
        if (!shaped_ports_.empty()) {
            auto r = shaper_remove(fabric_, shaped_ports_);
            audit::record("qdisc_del",
                          "egress of " + std::to_string(shaped_ports_.size()) + " host ports in " + fabric_, r);
            shaped_ports_.clear();
        }
        if (!csum_off_.empty()) {
            std::vector<std::string> failed;
            for (auto& [ns, ifname] : csum_off_)
                if (!set_tx_checksum(ns, ifname, true).ok()) failed.push_back(ns + "/" + ifname);
            audit::record("tx_checksum_on", "eth0 of " + std::to_string(csum_off_.size()) + " lab hosts",
                          failed.empty(), failed.empty() ? "" : "namespaces gone or refused", failed);
            csum_off_.clear();
        }
        mech_ = {};
        if (classifier_ || n) log::get("net")->info("detached {} tcx links", n);
        if (classifier_) {
            classifier_.reset();
            audit::record("bpf_prog_unload", "netfault prog id " + std::to_string(prog), true);
        }
    } catch (const std::exception& e) {  // allocation failure in the audit text: still let go
        links_.clear();
        tap_links_.clear();
        delay_.reset();
        classifier_.reset();
        log::get("net")->error("release: {}", e.what());
    }
}

}  // namespace inj::net
