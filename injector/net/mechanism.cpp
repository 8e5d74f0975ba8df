// Capability probes and the choice of mechanisms (see mechanism.hpp).
#include "net/mechanism.hpp"

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "common/proc.hpp"

namespace inj::net {
namespace {

// True when `script` succeeds inside a new, empty network namespace (nothing here is touched).
bool probe(const std::string& script) {
    auto r = run({"unshare", "-n", "/bin/sh", "-c", script}, std::chrono::seconds(10));
    return r.ok() && r.value().exit_code == 0;
}

}  // namespace

const Capabilities& capabilities() {
    static Capabilities caps;
    static std::once_flag once;
    std::call_once(once, [] {
        caps.probed = probe("true");
        if (!caps.probed) return;
        caps.fq = probe("tc qdisc add dev lo root fq");
        caps.htb = probe(
            "tc qdisc add dev lo root handle 1: htb && "
            "tc class add dev lo parent 1: classid 1:1 htb rate 1mbit && "
            "tc filter add dev lo parent 1: protocol all prio 1 u32 match mark 1 0xffffffff classid 1:1");
        caps.tun = access("/dev/net/tun", R_OK | W_OK) == 0;
    });
    return caps;
}

Result<Mechanisms> choose_mechanisms(const plan::Plan& plan, const Capabilities& caps) {
    Mechanisms m;
    const plan::Fault* latency = nullptr;
    const plan::Fault* rate = nullptr;
    for (auto& f : plan.method) {
        auto effect = f.net();
        if (!effect || effect->kind != plan::NetEffect::Kind::degrade) continue;
        if (effect->link->delay.count() > 0 && !latency) latency = &f;
        if (effect->link->rate_bps > 0 && !rate) rate = &f;
        if (effect->link->corrupt > 0) m.corrupt = true;
    }
    std::string missing;
    if (latency) {
        if (caps.fq)
            m.latency = Mechanisms::Latency::edt;
        else if (caps.tun)
            m.latency = Mechanisms::Latency::delay_line;
        else
            missing +=
                "fault " + latency->name + " (" + latency->mark.str() +
                ") adds latency, which needs sch_fq (EDT) or /dev/net/tun (the delay line); this kernel has neither";
    }
    if (rate) {
        if (caps.htb)
            m.rate = true;
        else
            missing += std::string(missing.empty() ? "" : "; ") + "fault " + rate->name + " (" + rate->mark.str() +
                       ") caps the rate, which needs sch_htb and the u32 classifier; this kernel lacks them";
    }
    if (!missing.empty()) {
        if (!caps.probed) missing += " (the capability probe could not run: it needs root)";
        return plain_error("degrade_link", missing);
    }
    return m;
}

Result<Mechanisms> choose_mechanisms(const plan::Plan& plan) {
    for (auto& f : plan.method)
        if (auto effect = f.net(); effect && effect->kind == plan::NetEffect::Kind::degrade)
            return choose_mechanisms(plan, capabilities());
    return Mechanisms{};
}

std::string describe_degrade(const plan::LinkDegrade& d) {
    auto pct = [](double p) {
        char b[32];
        std::snprintf(b, sizeof b, "%g%%", p * 100.0);
        return std::string(b);
    };
    std::vector<std::string> parts;
    if (d.loss > 0) {
        std::string s = "loss " + pct(d.loss);
        if (d.loss_burst > 1.0) {
            char b[48];
            std::snprintf(b, sizeof b, " (bursts of %g on average)", d.loss_burst);
            s += b;
        }
        parts.push_back(s);
    }
    if (d.delay.count() > 0)
        parts.push_back("latency " + format_duration(d.delay) +
                        (d.jitter.count() ? " +- " + format_duration(d.jitter) : ""));
    if (d.rate_bps) {
        char b[48];
        std::snprintf(b, sizeof b, "rate cap %g mbit/s", static_cast<double>(d.rate_bps) / 1e6);
        parts.push_back(b);
    }
    if (d.corrupt > 0) parts.push_back("corrupt " + pct(d.corrupt));
    if (d.duplicate > 0) parts.push_back("duplicate " + pct(d.duplicate));
    std::string s;
    for (auto& p : parts) s += (s.empty() ? "" : ", ") + p;
    const char* proto = d.protocol == 6    ? "tcp"
                        : d.protocol == 17 ? "udp"
                        : d.protocol == 1  ? "icmp"
                        : d.protocol == 58 ? "icmpv6"
                                           : nullptr;
    if (proto) s += std::string(" on ") + proto;
    if (d.port_lo != 0 || d.port_hi != 65535)
        s += (proto ? " " : " on ") + std::string("port ") + std::to_string(d.port_lo) +
             (d.port_hi != d.port_lo ? "-" + std::to_string(d.port_hi) : "");
    return s;
}

std::vector<std::string> Mechanisms::describe() const {
    std::vector<std::string> out;
    if (latency == Latency::edt) out.push_back("latency: EDT (skb->tstamp, sch_fq on the receiving ports)");
    if (latency == Latency::delay_line)
        out.push_back("latency: delay line (no sch_fq here: packets go through a tap and a userspace thread)");
    if (rate) out.push_back("rate cap: HTB class per fault on each receiving port, selected by a u32 mark match");
    if (corrupt)
        out.push_back("corruption: hosts send with software checksums (tx offload off), a byte flipped in BPF");
    return out;
}

}  // namespace inj::net
