// Probe attempts (exec and TCP connect, from the control position or inside a lab host) and the
// sampler threads that run them on schedule.
#include "runner/probe.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/log.hpp"
#include "common/netns.hpp"
#include "common/proc.hpp"
#include "common/tcp.hpp"
#include "plan/template.hpp"
#include "probes/checks.hpp"
#include "targets/targets.hpp"

namespace inj::runner {
namespace {

using Wall = std::chrono::steady_clock;  // an attempt's own latency is always the machine's

// Last line of command output, for a failure's detail.
std::string tail_line(const std::string& out) {
    std::string s = out;
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    auto nl = s.rfind('\n');
    if (nl != std::string::npos) s = s.substr(nl + 1);
    if (s.size() > 200) s = s.substr(0, 200) + "...";
    return s;
}

// Connects to "addr:port"; empty on success, else the reason.
std::string tcp_probe(const std::string& target, std::chrono::nanoseconds timeout) {
    auto hp = parse_host_port(target);
    if (!hp) return hp.error().message();
    auto r = tcp_connect(hp->first, hp->second, std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    return r ? std::string() : r.error().message();
}

}  // namespace

TargetsProbeExecutor::TargetsProbeExecutor(const plan::Plan& plan, const targets::Targets& targets, std::string run_id)
    : plan_(plan), targets_(targets), run_id_(std::move(run_id)) {}

ProbeSample TargetsProbeExecutor::attempt(const plan::Probe& probe, uint64_t seq) {
    ProbeSample s;
    s.seq = seq;
    s.at = Wall::now();
    plan::TemplateContext ctx;
    ctx.plan = &plan_;
    ctx.host = probe.in == "control" ? std::string() : probe.in;
    ctx.volume_path = [this](const std::string& h, const std::string& v) {
        auto* vol = targets_.volume(h, v);
        return vol ? vol->path : std::string();
    };
    ctx.vars = {{"seq", std::to_string(seq)}, {"run", run_id_}, {"lab", targets_.id()}};
    auto text = plan::expand_template(probe.target, ctx);
    if (!text) {
        s.detail = text.error().message();
        return s;
    }
    std::string netns;
    if (probe.in != "control") {
        auto* h = targets_.host(probe.in);
        if (!h) {
            s.detail = "host " + probe.in + " is not in " + targets_.describe();
            return s;
        }
        netns = h->netns;
    }
    if (probe.http || probe.metric) {  // http: and prometheus: probes (probes/checks.hpp)
        auto o = probe.http ? probes::run_http_check(*probe.http, *text, probe.timeout, netns)
                            : probes::run_metric_check(*probe.metric, *text, probe.timeout, netns);
        s.latency = Wall::now() - s.at, s.ok = o.ok, s.detail = o.ok ? "" : o.detail;
        return s;
    }
    if (probe.kind == plan::Probe::Kind::exec) {
        auto r = run_shell(*text, probe.timeout, netns);
        s.latency = Wall::now() - s.at;
        if (!r) {
            s.detail = r.error().message();
        } else if (r->timed_out) {
            s.detail = "timed out after " + format_duration(probe.timeout);
        } else if (r->exit_code != 0) {
            s.detail = "exit " + std::to_string(r->exit_code) + ": " + tail_line(r->output);
        } else {
            s.ok = true;
            if (probe.acknowledges) {
                // Expanded with the very context of the command that was acknowledged.
                auto ack = plan::expand_template(*probe.acknowledges, ctx);
                if (ack)
                    s.ack = *ack;
                else
                    s.detail = "acknowledges: " + ack.error().message();
            }
        }
        return s;
    }
    std::string err;
    if (netns.empty()) {
        err = tcp_probe(*text, probe.timeout);
    } else {
        auto g = NetnsGuard::enter(netns);
        err = g ? tcp_probe(*text, probe.timeout) : g.error().message();
    }
    s.latency = Wall::now() - s.at;
    s.ok = err.empty();
    s.detail = err;
    return s;
}

ProbeSampler::ProbeSampler(const plan::Probe& probe, ProbeExecutor& exec, Sink sink, Clock& clock)
    : probe_(probe), exec_(exec), sink_(std::move(sink)), clock_(clock), stop_fd_(eventfd(0, EFD_CLOEXEC)) {}

ProbeSampler::~ProbeSampler() { stop(); }

void ProbeSampler::start() {
    if (thread_.joinable()) return;
    // A member from here, before the thread runs: a simulated clock must not move past the first
    // attempt while the thread is still starting.
    thread_ = std::thread([this, m = Clock::Member(clock_)] { loop(); });
}

void ProbeSampler::stop() {
    uint64_t one = 1;
    stopping_ = true;
    if (stop_fd_ && write(stop_fd_.get(), &one, sizeof one) < 0) {
        // An eventfd's counter cannot overflow from one write: nothing to do but join.
    }
    if (thread_.joinable()) thread_.join();
}

std::vector<ProbeSample> ProbeSampler::samples() const {
    std::lock_guard lk(mu_);
    return samples_;
}

std::vector<ProbeSample> ProbeSampler::recent(SteadyTime since) const {
    std::lock_guard lk(mu_);
    auto it = std::lower_bound(samples_.begin(), samples_.end(), since,
                               [](const ProbeSample& s, SteadyTime t) { return s.at < t; });
    return {it, samples_.end()};
}

void ProbeSampler::loop() {
    uint64_t seq = 0;
    auto next = clock_.now();
    // Without its eventfd (out of descriptors) the sampler still runs; stop() then takes effect
    // at the next attempt's instant instead of at once.
    if (!stop_fd_)
        log::get("runner")->warn("probe {}: no eventfd; stopping it waits for its next attempt", probe_.name);
    while (!stopping_ && !clock_.wait_until(next, stop_fd_.get())) {
        auto at = clock_.now();
        auto s = exec_.attempt(probe_, ++seq);
        s.at = at;  // the run's time (an executor stamps the machine's)
        {
            std::lock_guard lk(mu_);
            samples_.push_back(s);
        }
        if (sink_) sink_(probe_, s);
        // Fixed cadence; an attempt slower than `every` starts the next one at once.
        next += std::chrono::duration_cast<Clock::time_point::duration>(probe_.every);
        auto now = clock_.now();
        if (next < now) next = now;
    }
}

SettleResult settle(const plan::Probe& probe, ProbeExecutor& exec, int needed, std::chrono::nanoseconds budget,
                    const std::atomic<bool>* cancel, Clock& clock) {
    constexpr uint64_t kSettleSeqBase = 1000000000;
    SettleResult r;
    auto end = clock.now() + std::chrono::duration_cast<Clock::time_point::duration>(budget);
    int streak = 0;
    // Settling attempts number {seq} far from the sampler's: a record they write must never take
    // the name of an acknowledged one (the check after the faults would rewrite drill-1 after a
    // power cut lost it, and the read-back would not see the loss).
    uint64_t seq = kSettleSeqBase;
    while (clock.now() < end && !(cancel && cancel->load())) {
        auto at = clock.now();
        r.last = exec.attempt(probe, ++seq);
        r.last.at = at;
        ++r.attempts;
        streak = r.last.ok ? streak + 1 : 0;
        if (streak >= needed) {
            r.ok = true;
            return r;
        }
        clock.wait_until(
            std::min(clock.now() + std::chrono::duration_cast<Clock::time_point::duration>(probe.every), end));
    }
    return r;
}

}  // namespace inj::runner
