// The network engine: every fault's network part (plan::NetEffect) as rules of the netfault
// classifier, attached at tcx ingress of every target host's judge point (in a lab, its bridge
// port in the fabric). Inject and heal are single map writes. It applies the kinds that are only a
// rule (sever, degrade_link), and kinds with more to do (power_loss) arm and disarm their rules
// through LinkRules: one classifier per run.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "faults/parts.hpp"
#include "net/classifier.hpp"
#include "net/compile.hpp"
#include "net/delay_line.hpp"
#include "net/mechanism.hpp"
#include "net/tcx_link.hpp"
#include "runner/engine.hpp"

namespace inj::net {

class NetEngine : public Engine, public faults::LinkRules {
public:
    NetEngine() = default;
    ~NetEngine() override { release(); }

    std::string_view name() const override { return "net"; }
    Result<void> prepare(const plan::Plan& plan, targets::Targets& targets, uint64_t run_deadline_ns) override;
    Result<void> inject(size_t index, uint64_t deadline_ns) override;
    Result<void> heal(size_t index) override;
    Result<void> heal_all() noexcept override;
    std::vector<FaultCounters> counters() const override;
    void release() noexcept override;
    // LinkRules: a fault's rules (its own and the cascades it feeds), for kinds that drive them.
    Result<void> arm(size_t fault, uint64_t deadline_ns) override { return inject(fault, deadline_ns); }
    Result<void> disarm(size_t fault) override { return heal(fault); }

    // Addresses no rule may touch (net::exempt), applied at every prepare(): a fleet agent's own
    // control path, so that the power_loss of its host leaves it able to restore power.
    void set_exempt(std::vector<IpAddr> addrs) { exempt_ = std::move(addrs); }
    // Tables already compiled from the plan the next prepare() gets (a caller that checked them
    // first), so it does not compile them again; used once.
    void use_tables(Tables t) { precompiled_ = std::move(t); }
    // The compiled tables (for dry runs and reports); empty before prepare().
    const Tables& tables() const { return tables_; }
    // What prepare() created, for the run journal: kernel ids of the tcx links and program.
    std::vector<uint32_t> link_ids() const;
    uint32_t prog_id() const { return classifier_ ? classifier_->prog_id() : 0; }
    // The mechanisms prepare() chose for degrade_link faults.
    const Mechanisms& mechanisms() const { return mech_; }
    // What degrade_link fault `index` did so far (zeros for other faults).
    nf_degrade_stats degrade_stats(size_t index) const;
    // The delay line's account of fault `index` (zeros without one).
    DelayLine::Stats delay_stats(size_t index) const;

private:
    Result<int> rule_for(size_t index) const;
    // prepare()'s degrade_link part: delay line, shaping, checksums; fills the degrade entries.
    Result<void> prepare_degrade(const plan::Plan& plan, const targets::Targets& targets);

    Tables tables_;
    std::vector<IpAddr> exempt_;
    std::optional<Tables> precompiled_;
    std::vector<std::string> fault_names_;  // plan.method names, by index
    std::string fabric_;                    // namespace the judge points share (the delay line, the shaper)
    // "fault NAME (rule N)" for the audit trail.
    std::string describe(size_t index) const;
    std::string describe_rule(int rule) const;
    // Declared before the links so it is destroyed after them: links detach first, then the
    // program and maps go.
    std::optional<Classifier> classifier_;
    std::unique_ptr<DelayLine> delay_;
    std::vector<TcxLink> links_;
    std::vector<TcxLink> tap_links_;  // netfault_reinject on the delay line's taps
    Mechanisms mech_;
    std::vector<std::string> shaped_ports_;  // fabric ports with our root qdisc
    std::vector<std::pair<std::string, std::string>>
        csum_off_;  // (netns, ifname) whose checksums we turned to software
};

}  // namespace inj::net
