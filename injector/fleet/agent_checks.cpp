// The agent's checks: limits, lease, cuts of what keeps the machine reachable, and the plan hash.
#include "fleet/agent_checks.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace inj::fleet {
namespace {

std::string ms(uint64_t ns) { return std::to_string(ns / 1'000'000) + " ms"; }

// A /proc/net address field: IPv4 is one 32-bit word, IPv6 four, each printed in host order.
std::optional<IpAddr> proc_addr(const std::string& hex) {
    if (hex.size() != 8 && hex.size() != 32) return std::nullopt;
    IpAddr a;
    a.v6 = hex.size() == 32;
    for (size_t w = 0; w < hex.size() / 8; ++w) {
        uint32_t v = 0;
        try {
            v = static_cast<uint32_t>(std::stoul(hex.substr(w * 8, 8), nullptr, 16));
        } catch (const std::exception&) {
            return std::nullopt;
        }
        for (int k = 0; k < 4; ++k) a.bytes[w * 4 + k] = static_cast<uint8_t>(v >> (8 * k));  // little-endian hosts
    }
    return a;
}

std::vector<std::vector<std::string>> table_rows(const std::string& path) {
    std::vector<std::vector<std::string>> rows;
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream ss(line);
        std::vector<std::string> cols;
        for (std::string c; ss >> c;) cols.push_back(c);
        if (!cols.empty()) rows.push_back(std::move(cols));
    }
    return rows;
}

// Socket inodes held by processes named sshd.
std::set<std::string> sshd_sockets(const std::string& proc) {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(proc, ec)) {
        const std::string pid = e.path().filename();
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream comm(e.path() / "comm");
        std::string name;
        if (!std::getline(comm, name) || name != "sshd") continue;
        std::error_code fec;
        for (auto& fd : std::filesystem::directory_iterator(e.path() / "fd", fec)) {
            std::error_code lec;
            auto target = std::filesystem::read_symlink(fd.path(), lec).string();
            if (!lec && target.rfind("socket:[", 0) == 0) out.insert(target.substr(8, target.size() - 9));
        }
    }
    return out;
}

}  // namespace

std::string check_desired(const Desired& d, const AgentLimits& lim, uint64_t now) {
    if (d.lease_ttl_ms < lim.min_lease_ttl_ms || d.lease_ttl_ms > lim.max_lease_ttl_ms)
        return "lease TTL " + std::to_string(d.lease_ttl_ms) + " ms is out of range " +
               std::to_string(lim.min_lease_ttl_ms) + ".." + std::to_string(lim.max_lease_ttl_ms) +
               " ms (the agent's dead man's switch needs one)";
    const uint64_t limit = now + static_cast<uint64_t>(std::chrono::nanoseconds(lim.max_fault_duration).count());
    const std::string max = ms(static_cast<uint64_t>(std::chrono::nanoseconds(lim.max_fault_duration).count()));
    if (d.run_deadline_ns == 0) return "no run deadline";
    if (d.run_deadline_ns > limit)
        return "run deadline " + ms(d.run_deadline_ns - now) +
               " away is past the agent's limit (--max-fault-duration " + max + ")";
    for (auto& f : d.faults) {
        if (!f.armed) continue;
        if (f.deadline_ns == 0) return "fault " + std::to_string(f.index) + " armed without a deadline";
        if (f.deadline_ns > limit)
            return "fault " + std::to_string(f.index) + " deadline " + ms(f.deadline_ns - now) +
                   " away is past the agent's limit (--max-fault-duration " + max + ")";
    }
    return "";
}

std::string check_desired_lease(int64_t lease, int64_t ttl_s, int64_t granted_s, const AgentLimits& lim) {
    if (lease == 0) return "desired state is not bound to a lease (nothing would revert it if the controller died)";
    if (ttl_s <= 0) return "desired state's lease " + std::to_string(lease) + " is not alive";
    if (granted_s * 1000 < lim.min_lease_ttl_ms || granted_s * 1000 > lim.max_lease_ttl_ms)
        return "desired state's lease was granted " + std::to_string(granted_s) + " s, out of range " +
               std::to_string(lim.min_lease_ttl_ms / 1000) + ".." + std::to_string(lim.max_lease_ttl_ms / 1000) + " s";
    return "";
}

std::string check_cuts(const plan::Plan& plan, const net::Tables& tables, const std::string& host,
                       const std::vector<KeepReachable>& keep) {
    const plan::Host* h = plan.topology.host(host);
    if (!h) return "host " + host + " is not in the plan";
    for (size_t i = 0; i < plan.method.size(); ++i) {
        if (i >= tables.rule_of_fault.size() || tables.rule_of_fault[i] < 0) continue;
        // An isolation (a dark host) leaves the control path alone: the agent exempts it.
        if (plan.method[i].isolates()) continue;
        const uint64_t armed = 1ull << tables.rule_of_fault[i];
        for (auto& own : h->addresses)
            for (auto& k : keep) {
                if (k.addr.v6 != own.addr.v6 || k.addr == own.addr) continue;
                if (net::drops(tables, own.addr, k.addr, armed) || net::drops(tables, k.addr, own.addr, armed))
                    return "fault " + plan.method[i].name + " would cut this host (" + own.addr.str() + ") from its " +
                           k.what + " " + k.addr.str();
            }
    }
    return "";
}

std::vector<IpAddr> endpoint_addrs(const std::string& endpoints) {
    std::vector<IpAddr> out;
    std::stringstream ss(endpoints);
    std::string ep;
    while (std::getline(ss, ep, ',')) {
        if (auto p = ep.find("://"); p != std::string::npos) ep = ep.substr(p + 3);
        std::string host = ep;
        if (!host.empty() && host[0] == '[')
            host = host.substr(1, host.find(']') - 1);
        else if (auto c = host.rfind(':'); c != std::string::npos && host.find(':') == c)
            host = host.substr(0, c);
        if (auto a = IpAddr::parse(host)) {
            out.push_back(*a);
            continue;
        }
        // A name: what it resolves to now is where the agent's etcd traffic goes (the client
        // resolves it the same way), so every address of it is kept reachable.
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        if (host.empty() || ::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) continue;
        for (addrinfo* r = res; r; r = r->ai_next) {
            char buf[INET6_ADDRSTRLEN] = {};
            const void* src = r->ai_family == AF_INET
                                  ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(r->ai_addr)->sin_addr)
                                  : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(r->ai_addr)->sin6_addr);
            if (::inet_ntop(r->ai_family, src, buf, sizeof buf))
                if (auto a = IpAddr::parse(buf); a && std::find(out.begin(), out.end(), *a) == out.end())
                    out.push_back(*a);
        }
        ::freeaddrinfo(res);
    }
    return out;
}

std::vector<IpAddr> default_gateways(const std::string& proc) {
    std::vector<IpAddr> out;
    // net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ...
    for (auto& r : table_rows(proc + "/net/route"))
        if (r.size() >= 8 && r[1] == "00000000" && r[7] == "00000000" && r[2] != "00000000")
            if (auto a = proc_addr(r[2])) out.push_back(*a);
    // net/ipv6_route: dest prefix src prefix next_hop metric refcnt use flags iface (plain hex).
    for (auto& r : table_rows(proc + "/net/ipv6_route")) {
        if (r.size() < 5 || r[0] != std::string(32, '0') || r[1] != "00" || r[4] == std::string(32, '0')) continue;
        IpAddr a;
        a.v6 = true;
        bool ok = r[4].size() == 32;
        for (size_t i = 0; ok && i < 16; ++i) {
            try {
                a.bytes[i] = static_cast<uint8_t>(std::stoul(r[4].substr(i * 2, 2), nullptr, 16));
            } catch (const std::exception&) {
                ok = false;
            }
        }
        if (ok) out.push_back(a);
    }
    return out;
}

std::vector<IpAddr> ssh_peers(const std::string& proc) {
    auto sockets = sshd_sockets(proc);
    if (sockets.empty()) return {};
    // net/tcp: sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    auto rows = table_rows(proc + "/net/tcp");
    for (auto& r : table_rows(proc + "/net/tcp6")) rows.push_back(r);
    std::set<std::string> ports;
    for (auto& r : rows)
        if (r.size() >= 10 && r[3] == "0A" && sockets.count(r[9])) ports.insert(r[1].substr(r[1].find(':') + 1));
    std::vector<IpAddr> out;
    for (auto& r : rows) {
        if (r.size() < 4 || r[3] != "01") continue;
        auto colon = r[1].find(':'), rcolon = r[2].find(':');
        if (colon == std::string::npos || rcolon == std::string::npos || !ports.count(r[1].substr(colon + 1))) continue;
        if (auto a = proc_addr(r[2].substr(0, rcolon))) out.push_back(*a);
    }
    return out;
}

std::string sha256_hex(const std::string& bytes) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

}  // namespace inj::fleet
