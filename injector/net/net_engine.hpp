// The network engine: sever and degrade_link faults as rules of the netfault classifier, attached at tcx ingress
// of every lab host's bridge port in the fabric. Inject and heal are single map writes.
// It also holds the rules of power_loss faults (their network part), which the power engine
// arms and disarms through inject()/heal() of this engine: one classifier per run.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "net/classifier.hpp"
#include "net/compile.hpp"
#include "net/delay_line.hpp"
#include "net/mechanism.hpp"
#include "net/tcx_link.hpp"
#include "runner/engine.hpp"

namespace inj::net {

class NetEngine : public Engine {
public:
    NetEngine() = default;
    ~NetEngine() override { release(); }

    std::string_view name() const override { return "net"; }
    bool handles(plan::FaultKind kind) const override {
        return kind == plan::FaultKind::sever || kind == plan::FaultKind::degrade_link;
    }
    bool serves(plan::FaultKind kind) const override {
        return handles(kind) || kind == plan::FaultKind::power_loss;
    }
    Result<void> prepare(const plan::Plan& plan, const lab::LabState& lab, uint64_t run_deadline_ns) override;
    Result<void> inject(size_t index, uint64_t deadline_ns) override;
    Result<void> heal(size_t index) override;
    Result<void> heal_all() noexcept override;
    std::vector<FaultCounters> counters() const override;
    void release() noexcept override;

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
    Result<void> prepare_degrade(const plan::Plan& plan, const lab::LabState& lab);

    Tables tables_;
    std::vector<std::string> fault_names_;  // plan.method names, by index
    std::string fabric_;                    // namespace the links are attached in (for the audit)
    // "fault NAME (rule N)" for the audit trail.
    std::string describe(size_t index) const;
    std::string describe_rule(int rule) const;
    // Declared before the links so it is destroyed after them: links detach first, then the
    // program and maps go.
    std::optional<Classifier> classifier_;
    std::unique_ptr<DelayLine> delay_;
    std::vector<TcxLink> links_;
    std::vector<TcxLink> tap_links_;         // netfault_reinject on the delay line's taps
    Mechanisms mech_;
    std::vector<std::string> shaped_ports_;  // fabric ports with our root qdisc
    std::vector<std::string> csum_off_;      // host namespaces whose eth0 checksums we turned to software
};

}  // namespace inj::net
