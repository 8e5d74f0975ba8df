// Probe attempts (exec and TCP connect, from the control position or inside a lab host) and the
// sampler threads that run them on schedule.
#include "runner/probe.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/log.hpp"
#include "common/netns.hpp"
#include "common/proc.hpp"
#include "lab/lab.hpp"
#include "plan/template.hpp"

namespace inj::runner {
namespace {

using Clock = std::chrono::steady_clock;

// Last line of command output, for a failure's detail.
std::string tail_line(const std::string& out) {
    std::string s = out;
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    auto nl = s.rfind('\n');
    if (nl != std::string::npos) s = s.substr(nl + 1);
    if (s.size() > 200) s = s.substr(0, 200) + "...";
    return s;
}

// Splits "addr:port" / "[v6]:port".
bool split_host_port(const std::string& t, std::string* host, int* port) {
    std::string h, p;
    if (!t.empty() && t.front() == '[') {
        auto rb = t.find(']');
        if (rb == std::string::npos || rb + 1 >= t.size() || t[rb + 1] != ':') return false;
        h = t.substr(1, rb - 1);
        p = t.substr(rb + 2);
    } else {
        auto c = t.rfind(':');
        if (c == std::string::npos) return false;
        h = t.substr(0, c);
        p = t.substr(c + 1);
    }
    if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos) return false;
    *host = h;
    *port = std::stoi(p);
    return *port > 0 && *port < 65536;
}

// Non-blocking connect bounded by timeout. Returns empty on success, else the reason.
std::string tcp_connect(const std::string& target, std::chrono::nanoseconds timeout) {
    std::string host;
    int port = 0;
    if (!split_host_port(target, &host, &port)) return "bad tcp target \"" + target + "\"";
    auto ip = IpAddr::parse(host);
    if (!ip) return "not an address: " + host;
    sockaddr_storage ss{};
    socklen_t len;
    if (ip->v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<uint16_t>(port));
        std::memcpy(&a->sin6_addr, ip->bytes.data(), 16);
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<uint16_t>(port));
        std::memcpy(&a->sin_addr, ip->bytes.data(), 4);
        len = sizeof *a;
    }
    int fd = socket(ip->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::string("socket: ") + std::strerror(errno);
    std::string err;
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        if (errno != EINPROGRESS) {
            err = std::string("connect: ") + std::strerror(errno);
        } else {
            pollfd p{fd, POLLOUT, 0};
            int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
            int pr = poll(&p, 1, ms);
            if (pr == 0) {
                err = "connect timed out";
            } else if (pr < 0) {
                err = std::string("poll: ") + std::strerror(errno);
            } else {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr) err = std::string("connect: ") + std::strerror(soerr);
            }
        }
    }
    close(fd);
    return err;
}

}  // namespace

LabProbeExecutor::LabProbeExecutor(const plan::Plan& plan, const lab::LabState& lab, std::string run_id)
    : plan_(plan), lab_(lab), run_id_(std::move(run_id)) {}

ProbeSample LabProbeExecutor::attempt(const plan::Probe& probe, uint64_t seq) {
    ProbeSample s;
    s.seq = seq;
    s.at = Clock::now();
    plan::TemplateContext ctx;
    ctx.plan = &plan_;
    ctx.host = probe.in == "control" ? std::string() : probe.in;
    ctx.volume_path = [this](const std::string& h, const std::string& v) { return lab_.volume_path(h, v); };
    ctx.vars = {{"seq", std::to_string(seq)}, {"run", run_id_}, {"lab", lab_.id}};
    auto text = plan::expand_template(probe.target, ctx);
    if (!text) {
        s.detail = text.error().message();
        return s;
    }
    std::string netns;
    if (probe.in != "control") {
        auto* h = lab_.host(probe.in);
        if (!h) {
            s.detail = "host " + probe.in + " is not in the lab";
            return s;
        }
        netns = netns_path(h->netns);
    }
    if (probe.kind == plan::Probe::Kind::exec) {
        auto r = run_shell(*text, probe.timeout, netns);
        s.latency = Clock::now() - s.at;
        if (!r) {
            s.detail = r.error().message();
        } else if (r->timed_out) {
            s.detail = "timed out after " + format_duration(probe.timeout);
        } else if (r->exit_code != 0) {
            s.detail = "exit " + std::to_string(r->exit_code) + ": " + tail_line(r->output);
        } else {
            s.ok = true;
        }
        return s;
    }
    std::string err;
    if (netns.empty()) {
        err = tcp_connect(*text, probe.timeout);
    } else {
        auto g = NetnsGuard::enter(netns);
        err = g ? tcp_connect(*text, probe.timeout) : g.error().message();
    }
    s.latency = Clock::now() - s.at;
    s.ok = err.empty();
    s.detail = err;
    return s;
}

ProbeSampler::ProbeSampler(const plan::Probe& probe, ProbeExecutor& exec, Sink sink)
    : probe_(probe), exec_(exec), sink_(std::move(sink)) {}

ProbeSampler::~ProbeSampler() { stop(); }

void ProbeSampler::start() { thread_ = std::thread([this] { loop(); }); }

void ProbeSampler::stop() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
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
    auto next = Clock::now();
    while (true) {
        {
            std::unique_lock lk(mu_);
            if (cv_.wait_until(lk, next, [this] { return stopping_; })) return;
        }
        auto s = exec_.attempt(probe_, ++seq);
        {
            std::lock_guard lk(mu_);
            samples_.push_back(s);
        }
        if (sink_) sink_(probe_, s);
        // Fixed cadence; an attempt slower than `every` starts the next one at once.
        next += std::chrono::duration_cast<Clock::duration>(probe_.every);
        auto now = Clock::now();
        if (next < now) next = now;
    }
}

SettleResult settle(const plan::Probe& probe, ProbeExecutor& exec, int needed,
                    std::chrono::nanoseconds budget, const std::atomic<bool>* cancel) {
    SettleResult r;
    auto end = Clock::now() + budget;
    int streak = 0;
    uint64_t seq = 0;
    while (Clock::now() < end && !(cancel && cancel->load())) {
        r.last = exec.attempt(probe, ++seq);
        ++r.attempts;
        streak = r.last.ok ? streak + 1 : 0;
        if (streak >= needed) {
            r.ok = true;
            return r;
        }
        auto wait = std::min<std::chrono::nanoseconds>(probe.every, end - Clock::now());
        if (wait.count() > 0) std::this_thread::sleep_for(wait);
    }
    return r;
}

}  // namespace inj::runner
