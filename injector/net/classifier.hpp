// Owner of the loaded netfault program and its maps: load, install a plan's tables, arm and
// disarm rules (one map write each), read counters. Attaching is TcxLink's job.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/result.hpp"
#include "net/compile.hpp"

#include "netfault_abi.h"

struct netfault;  // the bpftool skeleton (netfault.skel.h), kept out of this header

namespace inj::net {

class Classifier {
public:
    // Opens and loads the program (the verifier runs here). libbpf's messages go to the "net"
    // logger; the verifier's log at debug, and at error when the load fails.
    static Result<Classifier> load();

    Classifier(Classifier&&) noexcept;
    Classifier& operator=(Classifier&&) noexcept;
    ~Classifier();

    // Writes prefixes (with their domains' rule masks) and disarmed rules, then the control entry
    // last, so the program never sees half a table set. Replaces what an earlier install wrote.
    // `t` must come from net::compile (it carries the folded masks).
    Result<void> install(const Tables& t, uint64_t run_deadline_ns);
    // Puts rule bit `rule` in force until deadline_ns (CLOCK_MONOTONIC), keeping its direction
    // and share from install(). Arming and disarming also keep the control entry's armed-rule
    // summary, which lets the program pass every packet after one read while none is armed.
    Result<void> arm(int rule, uint64_t deadline_ns);
    Result<void> disarm(int rule);
    // Disarms every installed rule; tries them all and returns the first failure.
    Result<void> disarm_all();

    // Counters of one rule, summed over CPUs.
    Result<nf_rule_stats> rule_stats(int rule) const;
    // What degrade rule `rule` did, summed over CPUs.
    Result<nf_degrade_stats> degrade_stats(int rule) const;
    // Global counters (enum nf_stat_index), summed over CPUs.
    Result<std::array<uint64_t, NF_STAT_MAX>> stats() const;
    // Zeroes every counter (rule and global); for tests and benchmarks.
    Result<void> reset_stats();

    int prog_fd() const;
    // Dark hosts' rules only (NF_RULE_ISOLATE; netfault_isolate): for a fleet agent's host's own
    // interface at ingress, so a dark host hears nothing even from senders no agent judges for it.
    int isolations_fd() const;
    // The delay line's re-entry program (netfault_reinject), for tcx ingress of its taps.
    int reinject_fd() const;
    // Kernel id of the loaded program, as `bpftool prog` / `bpftool link` show it.
    uint32_t prog_id() const;
    size_t rule_count() const { return rules_.size(); }
    // Rules in force as last written by arm()/disarm() (for the audit trail of a heal).
    std::vector<int> armed_rules() const {
        std::vector<int> out;
        for (size_t i = 0; i < rules_.size(); ++i)
            if (rules_[i].flags & NF_RULE_ARMED) out.push_back(static_cast<int>(i));
        return out;
    }

private:
    struct SkelDeleter {
        void operator()(::netfault* s) const noexcept;
    };
    explicit Classifier(::netfault* s);
    Result<void> write_rule(int rule);
    Result<void> write_armed(uint64_t armed);

    std::unique_ptr<::netfault, SkelDeleter> skel_;
    std::vector<nf_rule> rules_;  // as installed, ARMED/deadline as last written
    std::vector<Cidr> prefixes_;  // what install() put in the tries, to replace
    nf_control ctl_{};            // the control entry as last written
    int ncpus_ = 1;
};

}  // namespace inj::net
