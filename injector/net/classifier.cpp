// Skeleton ownership and map writes for the netfault classifier. libbpf's conventions (NULL +
// errno, negative codes) become Result errors here.
#include "net/classifier.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cstdarg>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>

#include "common/log.hpp"
#include "netfault.skel.h"

namespace inj::net {
namespace {

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
    va_list copy;
    va_copy(copy, args);
    int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    if (n <= 0) return 0;
    std::string msg(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(msg.data(), msg.size(), fmt, args);
    msg.resize(static_cast<size_t>(n));
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    auto l = log::get("net");
    switch (level) {
        case LIBBPF_WARN: l->warn("libbpf: {}", msg); break;
        case LIBBPF_INFO: l->debug("libbpf: {}", msg); break;
        case LIBBPF_DEBUG: l->trace("libbpf: {}", msg); break;
    }
    return n;
}

void install_print_callback() {
    static std::once_flag once;
    std::call_once(once, [] { libbpf_set_print(libbpf_print); });
}

void log_lines(spdlog::level::level_enum lvl, const char* text, size_t max_lines) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(std::move(line));
    size_t from = lines.size() > max_lines ? lines.size() - max_lines : 0;
    auto l = log::get("net");
    if (from) l->log(lvl, "verifier: ... {} earlier lines omitted", from);
    for (size_t i = from; i < lines.size(); ++i) l->log(lvl, "verifier: {}", lines[i]);
}

constexpr uint32_t kLogStats = 4;  // BPF_LOG_STATS: instruction counts, cheap on success
constexpr uint32_t kLogFull = 1;   // BPF_LOG_LEVEL1: the instruction trace, for failures only

int map_fd(bpf_map* m) { return bpf_map__fd(m); }

Result<void> update(int fd, const void* key, const void* value, const char* what) {
    if (bpf_map_update_elem(fd, key, value, BPF_ANY) != 0) return errno_error("bpf_map_update_elem", what);
    return {};
}

}  // namespace

void Classifier::SkelDeleter::operator()(::netfault* s) const noexcept { netfault__destroy(s); }

Classifier::Classifier(::netfault* s) : skel_(s) {
    int n = libbpf_num_possible_cpus();
    ncpus_ = n > 0 ? n : 1;
}
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;
Classifier::~Classifier() = default;

Result<Classifier> Classifier::load() {
    install_print_callback();
    ::netfault* s = netfault__open();
    if (!s) return errno_error("netfault__open");
    std::string vlog(64 * 1024, '\0');
    bpf_program__set_log_buf(s->progs.netfault_classify, vlog.data(), vlog.size());
    bpf_program__set_log_level(s->progs.netfault_classify, kLogStats);
    int rc = netfault__load(s);
    if (rc == 0) {
        log_lines(spdlog::level::debug, vlog.c_str(), 50);
        return Classifier(s);
    }
    netfault__destroy(s);

    // A skeleton loads once: reopen and load again with the full trace so the error says
    // which instruction the verifier refused and why.
    log::get("net")->error("the kernel refused the netfault program ({}); verifier log follows",
                           std::strerror(rc < 0 ? -rc : rc));
    if (::netfault* again = netfault__open()) {
        std::string full(16 * 1024 * 1024, '\0');
        bpf_program__set_log_buf(again->progs.netfault_classify, full.data(), full.size());
        bpf_program__set_log_level(again->progs.netfault_classify, kLogFull | kLogStats);
        netfault__load(again);
        log_lines(spdlog::level::err, full.c_str(), 200);
        netfault__destroy(again);
    } else {
        log_lines(spdlog::level::err, vlog.c_str(), 200);
    }
    return libbpf_error(rc, "load netfault program", "see the verifier log in the net log");
}

int Classifier::prog_fd() const { return bpf_program__fd(skel_->progs.netfault_classify); }
int Classifier::isolations_fd() const { return bpf_program__fd(skel_->progs.netfault_isolate); }

uint32_t Classifier::prog_id() const {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(prog_fd(), &info, &len) != 0) return 0;
    return info.id;
}

Result<void> Classifier::install(const Tables& t, uint64_t run_deadline_ns) {
    if (t.rules.size() > NF_MAX_RULES) return plain_error("install", "more rules than NF_MAX_RULES");
    const uint32_t zero_key = 0;
    const int ctl_fd = map_fd(skel_->maps.control);
    const int v4_fd = map_fd(skel_->maps.endpoints_v4);
    const int v6_fd = map_fd(skel_->maps.endpoints_v6);
    const int rule_fd = map_fd(skel_->maps.rules);

    // Control first: with installed == 0 the program ignores the tables while they change.
    nf_control ctl{};
    INJ_TRY(update(ctl_fd, &zero_key, &ctl, "control"));
    ctl_ = ctl;
    if (t.indexed != t.prefixes.size()) return plain_error("install", "tables without their index (use net::compile)");

    for (auto& c : prefixes_) {
        int rc;
        if (c.addr.v6) {
            nf_lpm_v6 k{static_cast<__u32>(c.prefix), {}};
            std::memcpy(k.addr, c.addr.bytes.data(), 16);
            rc = bpf_map_delete_elem(v6_fd, &k);
        } else {
            nf_lpm_v4 k{static_cast<__u32>(c.prefix), c.addr.v4_be()};
            rc = bpf_map_delete_elem(v4_fd, &k);
        }
        if (rc != 0 && errno != ENOENT) return errno_error("bpf_map_delete_elem", "endpoints " + c.str());
    }
    prefixes_.clear();
    const nf_rule no_rule{};
    for (uint32_t i = 0; i < rules_.size(); ++i) INJ_TRY(update(rule_fd, &i, &no_rule, "rules"));
    rules_.clear();

    for (auto& p : t.prefixes) {
        Cidr c = p.cidr.network();
        if (c.addr.v6) {
            nf_lpm_v6 k{static_cast<__u32>(c.prefix), {}};
            std::memcpy(k.addr, c.addr.bytes.data(), 16);
            INJ_TRY(update(v6_fd, &k, &p.ep, "endpoints_v6"));
        } else {
            nf_lpm_v4 k{static_cast<__u32>(c.prefix), c.addr.v4_be()};
            INJ_TRY(update(v4_fd, &k, &p.ep, "endpoints_v4"));
        }
        prefixes_.push_back(c);
    }
    const int deg_fd = map_fd(skel_->maps.degrades);
    const int lossy_fd = map_fd(skel_->maps.loss_state);
    for (uint32_t i = 0; i < NF_MAX_RULES; ++i) {
        nf_degrade dg = i < t.degrades.size() ? t.degrades[i] : nf_degrade{};
        const uint32_t good = 0;
        INJ_TRY(update(deg_fd, &i, &dg, "degrades"));
        INJ_TRY(update(lossy_fd, &i, &good, "loss_state"));
    }
    for (uint32_t i = 0; i < t.rules.size(); ++i) {
        nf_rule r = t.rules[i];
        r.flags &= ~NF_RULE_ARMED;  // installing never puts a fault in force
        r.deadline_ns = 0;
        INJ_TRY(update(rule_fd, &i, &r, "rules"));
        rules_.push_back(r);
        if (r.share != 0xffffffffu) ctl.partial |= 1ull << i;
        if (r.proto != 0 || r.port_lo != 0 || r.port_hi != 65535) ctl.filtered |= 1ull << i;
        if (r.flags & NF_RULE_DEGRADE) ctl.degrade |= 1ull << i;
    }
    ctl.installed = t.installed;
    ctl.run_deadline_ns = run_deadline_ns;
    ctl.armed = 0;
    INJ_TRY(update(ctl_fd, &zero_key, &ctl, "control"));
    ctl_ = ctl;
    return {};
}

Result<void> Classifier::write_rule(int rule) {
    uint32_t key = static_cast<uint32_t>(rule);
    return update(map_fd(skel_->maps.rules), &key, &rules_[key], "rules");
}

Result<void> Classifier::write_armed(uint64_t armed) {
    nf_control next = ctl_;
    next.armed = armed;
    const uint32_t zero_key = 0;
    INJ_TRY(update(map_fd(skel_->maps.control), &zero_key, &next, "control"));
    ctl_ = next;
    return {};
}

// The rule is written before the summary names it and is kept armed until after the summary
// drops it, so a packet never sees the summary claim a rule the rules array does not hold.
Result<void> Classifier::arm(int rule, uint64_t deadline_ns) {
    if (rule < 0 || static_cast<size_t>(rule) >= rules_.size())
        return plain_error("arm", "rule " + std::to_string(rule) + " is not installed");
    rules_[rule].flags |= NF_RULE_ARMED;
    rules_[rule].deadline_ns = deadline_ns;
    INJ_TRY(write_rule(rule));
    return write_armed(ctl_.armed | (1ull << rule));
}

Result<void> Classifier::disarm(int rule) {
    if (rule < 0 || static_cast<size_t>(rule) >= rules_.size())
        return plain_error("disarm", "rule " + std::to_string(rule) + " is not installed");
    INJ_TRY(write_armed(ctl_.armed & ~(1ull << rule)));
    rules_[rule].flags &= ~NF_RULE_ARMED;
    rules_[rule].deadline_ns = 0;
    return write_rule(rule);
}

Result<void> Classifier::disarm_all() {
    Result<void> first;
    for (size_t i = 0; i < rules_.size(); ++i) {
        auto r = disarm(static_cast<int>(i));
        if (!r.ok() && first.ok()) first = r;
    }
    return first;
}

Result<nf_rule_stats> Classifier::rule_stats(int rule) const {
    if (rule < 0 || rule >= NF_MAX_RULES) return plain_error("rule_stats", "rule out of range");
    std::vector<nf_rule_stats> per_cpu(ncpus_);
    uint32_t key = static_cast<uint32_t>(rule);
    if (bpf_map_lookup_elem(map_fd(skel_->maps.rule_stats), &key, per_cpu.data()) != 0)
        return errno_error("bpf_map_lookup_elem", "rule_stats");
    nf_rule_stats sum{};
    for (auto& s : per_cpu) {
        sum.dropped += s.dropped;
        sum.passed += s.passed;
        sum.expired += s.expired;
    }
    return sum;
}

Result<nf_degrade_stats> Classifier::degrade_stats(int rule) const {
    if (rule < 0 || rule >= NF_MAX_RULES) return plain_error("degrade_stats", "rule out of range");
    std::vector<nf_degrade_stats> per_cpu(ncpus_);
    uint32_t key = static_cast<uint32_t>(rule);
    if (bpf_map_lookup_elem(map_fd(skel_->maps.degrade_stats), &key, per_cpu.data()) != 0)
        return errno_error("bpf_map_lookup_elem", "degrade_stats");
    nf_degrade_stats sum{};
    for (auto& s : per_cpu) {
        sum.lost += s.lost;
        sum.corrupted += s.corrupted;
        sum.duplicated += s.duplicated;
        sum.delayed += s.delayed;
        sum.capped += s.capped;
    }
    return sum;
}

int Classifier::reinject_fd() const { return bpf_program__fd(skel_->progs.netfault_reinject); }

Result<std::array<uint64_t, NF_STAT_MAX>> Classifier::stats() const {
    std::array<uint64_t, NF_STAT_MAX> out{};
    std::vector<uint64_t> per_cpu(ncpus_);
    for (uint32_t k = 0; k < NF_STAT_MAX; ++k) {
        if (bpf_map_lookup_elem(map_fd(skel_->maps.stats), &k, per_cpu.data()) != 0)
            return errno_error("bpf_map_lookup_elem", "stats");
        for (uint64_t v : per_cpu) out[k] += v;
    }
    return out;
}

Result<void> Classifier::reset_stats() {
    std::vector<nf_rule_stats> zero_rules(ncpus_);
    std::vector<uint64_t> zero_stats(ncpus_);
    for (uint32_t k = 0; k < NF_MAX_RULES; ++k)
        INJ_TRY(update(map_fd(skel_->maps.rule_stats), &k, zero_rules.data(), "rule_stats"));
    for (uint32_t k = 0; k < NF_STAT_MAX; ++k)
        INJ_TRY(update(map_fd(skel_->maps.stats), &k, zero_stats.data(), "stats"));
    std::vector<nf_degrade_stats> zero_deg(ncpus_);
    for (uint32_t k = 0; k < NF_MAX_RULES; ++k)
        INJ_TRY(update(map_fd(skel_->maps.degrade_stats), &k, zero_deg.data(), "degrade_stats"));
    return {};
}

}  // namespace inj::net
