// Protected-by-default things of this machine and the refusal of a cut that hits one (see
// protected_local.hpp).
#include "safety/protected_local.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <sstream>

#include "targets/procfs.hpp"

namespace inj::safety {
namespace {

constexpr unsigned kRtfUp = 0x1, kRtfGateway = 0x2, kRtfReject = 0x200;

std::vector<std::vector<std::string>> rows(std::string_view text) {
    std::vector<std::vector<std::string>> out;
    std::istringstream in{std::string(text)};
    for (std::string line; std::getline(in, line);) {
        std::istringstream ls(line);
        std::vector<std::string> f;
        for (std::string w; ls >> w;) f.push_back(w);
        if (!f.empty()) out.push_back(std::move(f));
    }
    return out;
}

bool hex_to(const std::string& s, unsigned long long* v) {
    if (s.empty() || s.size() > 16) return false;
    char* end;
    *v = std::strtoull(s.c_str(), &end, 16);
    return *end == 0;
}

// 32 hex digits in network order (ipv6_route) or as four host-order words (tcp6).
std::optional<IpAddr> v6_from_hex(const std::string& s, bool host_order_words) {
    if (s.size() != 32) return std::nullopt;
    IpAddr a;
    a.v6 = true;
    for (int i = 0; i < 16; ++i) {
        unsigned long long b;
        if (!hex_to(s.substr(size_t(2 * i), 2), &b)) return std::nullopt;
        int at = host_order_words ? (i / 4) * 4 + (3 - i % 4) : i;
        a.bytes[size_t(at)] = uint8_t(b);
    }
    return a;
}

// 8 hex digits of a little-endian host's u32 holding the address in network order.
std::optional<IpAddr> v4_from_hex(const std::string& s) {
    unsigned long long v;
    if (s.size() != 8 || !hex_to(s, &v)) return std::nullopt;
    IpAddr a;
    for (int i = 0; i < 4; ++i) a.bytes[size_t(i)] = uint8_t(v >> (8 * i));
    return a;
}

bool is_zero(const IpAddr& a) {
    return std::all_of(a.bytes.begin(), a.bytes.begin() + (a.v6 ? 16 : 4), [](uint8_t b) { return b == 0; });
}

bool has(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

std::vector<DefaultRoute> parse_default_routes_v4(std::string_view text) {
    std::vector<DefaultRoute> out;
    for (auto& f : rows(text)) {
        // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
        unsigned long long flags, dest, mask;
        if (f.size() < 8 || !hex_to(f[3], &flags) || !hex_to(f[1], &dest) || !hex_to(f[7], &mask)) continue;
        if (dest != 0 || mask != 0 || !(flags & kRtfUp) || (flags & kRtfReject)) continue;
        DefaultRoute r{f[0], std::nullopt};
        if (flags & kRtfGateway) r.gateway = v4_from_hex(f[2]);
        out.push_back(r);
    }
    return out;
}

std::vector<DefaultRoute> parse_default_routes_v6(std::string_view text) {
    std::vector<DefaultRoute> out;
    for (auto& f : rows(text)) {
        // dest dest_len src src_len next_hop metric refcnt use flags iface
        unsigned long long len, flags;
        if (f.size() < 10 || !hex_to(f[1], &len) || !hex_to(f[8], &flags)) continue;
        auto dest = v6_from_hex(f[0], false);
        if (!dest || !is_zero(*dest) || len != 0 || !(flags & kRtfUp) || (flags & kRtfReject)) continue;
        DefaultRoute r{f[9], std::nullopt};
        if (flags & kRtfGateway) r.gateway = v6_from_hex(f[4], false);
        out.push_back(r);
    }
    return out;
}

std::vector<Listener> parse_tcp_listeners(std::string_view text, bool v6) {
    std::vector<Listener> out;
    for (auto& f : rows(text)) {
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        if (f.size() < 10 || f[3] != "0A") continue;
        size_t colon = f[1].find(':');
        unsigned long long port, inode;
        if (colon == std::string::npos || !hex_to(f[1].substr(colon + 1), &port) || port > 65535) continue;
        auto addr = v6 ? v6_from_hex(f[1].substr(0, colon), true) : v4_from_hex(f[1].substr(0, colon));
        char* end;
        inode = std::strtoull(f[9].c_str(), &end, 10);
        if (!addr || *end != 0) continue;
        out.push_back({*addr, uint16_t(port), inode});
    }
    return out;
}

std::string Protected::describe() const {
    switch (kind) {
        case Kind::interface: return "interface " + interface;
        case Kind::port:
            return "port " + std::to_string(port) +
                   (address && !is_zero(*address) ? " on " + address->str() : std::string());
        case Kind::address: return "address " + (address ? address->str() : std::string("?"));
    }
    return {};
}

Result<Protected> parse_protected_entry(const std::string& key, const std::string& value) {
    Protected p;
    p.why = "named in the plan's protected list";
    if (key == "interface") {
        // What the kernel accepts as a name: 1..15 bytes, no '/', no blank, not "." or "..".
        bool ok = !value.empty() && value.size() < 16 && value != "." && value != ".." &&
                  std::none_of(value.begin(), value.end(), [](char c) { return c == '/' || c <= ' ' || c == ':'; });
        if (!ok)
            return plain_error("protected interface",
                               "\"" + value + "\" is not an interface name (1-15 characters, no '/', ':' or blank)");
        p.kind = Protected::Kind::interface;
        p.interface = value;
        return p;
    }
    if (key == "port") {
        char* end = nullptr;
        long v = value.empty() ? 0 : std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != 0 || v < 1 || v > 65535)
            return plain_error("protected port", "\"" + value + "\" is not a port (1-65535)");
        p.kind = Protected::Kind::port;
        p.port = uint16_t(v);
        return p;
    }
    return plain_error("protected entry", "unknown key \"" + key + "\" (interface or port)");
}

ProtectedList protected_from(const std::vector<DefaultRoute>& routes, const std::vector<Listener>& sshd) {
    ProtectedList out;
    for (auto& r : routes) {
        Protected i{Protected::Kind::interface, r.interface, 0, std::nullopt,
                    "the interface of this machine's default route"};
        bool seen = std::any_of(out.begin(), out.end(), [&](const Protected& p) {
            return p.kind == Protected::Kind::interface && p.interface == r.interface;
        });
        if (!seen) out.push_back(i);
        if (r.gateway)
            out.push_back({Protected::Kind::address,
                           {},
                           0,
                           r.gateway,
                           "the gateway of this machine's default route (via " + r.interface + ")"});
    }
    for (auto& l : sshd)
        out.push_back({Protected::Kind::port, {}, l.port, l.address, "a port a running sshd listens on"});
    return out;
}

std::set<uint64_t> socket_inodes_of(const std::string& comm) {
    std::set<uint64_t> out;
    for (pid_t pid : targets::all_pids()) {
        if (targets::comm_of(pid) != comm) continue;
        std::string fds = "/proc/" + std::to_string(pid) + "/fd";
        DIR* f = ::opendir(fds.c_str());
        if (!f) continue;
        while (dirent* fe = ::readdir(f)) {
            char buf[64];
            ssize_t n = ::readlink((fds + "/" + fe->d_name).c_str(), buf, sizeof(buf) - 1);
            if (n <= 0) continue;
            buf[n] = 0;
            unsigned long long ino;
            if (std::sscanf(buf, "socket:[%llu]", &ino) == 1) out.insert(ino);
        }
        ::closedir(f);
    }
    return out;
}

std::vector<Listener> listeners_with_inodes(const std::vector<Listener>& all, const std::set<uint64_t>& inodes) {
    std::vector<Listener> out;
    for (auto& l : all)
        if (inodes.count(l.inode)) out.push_back(l);
    return out;
}

ProtectedList local_protected() {
    auto text = [](const char* path) {
        auto t = targets::read_small_file(path);
        return t ? *t : std::string();
    };
    auto routes = parse_default_routes_v4(text("/proc/net/route"));
    for (auto& r : parse_default_routes_v6(text("/proc/net/ipv6_route"))) routes.push_back(r);
    auto all = parse_tcp_listeners(text("/proc/net/tcp"), false);
    for (auto& l : parse_tcp_listeners(text("/proc/net/tcp6"), true)) all.push_back(l);
    return protected_from(routes, listeners_with_inodes(all, socket_inodes_of("sshd")));
}

std::optional<std::string> refusal(const ProtectedList& protect, const Cut& cut) {
    std::vector<std::string> hits;
    const bool narrowed = !cut.peers.empty();
    for (auto& p : protect) {
        bool hit = false;
        switch (p.kind) {
            case Protected::Kind::interface: hit = !narrowed && has(cut.interfaces, p.interface); break;
            case Protected::Kind::port: {
                bool port_cut = cut.ports.empty() || std::count(cut.ports.begin(), cut.ports.end(), p.port);
                bool reached = !p.address || is_zero(*p.address) ||
                               std::count(cut.addresses.begin(), cut.addresses.end(), *p.address);
                hit = !narrowed && !cut.interfaces.empty() && port_cut && reached;
                break;
            }
            case Protected::Kind::address:
                hit = p.address && std::any_of(cut.peers.begin(), cut.peers.end(),
                                               [&](const Cidr& c) { return c.contains(*p.address); });
                break;
        }
        if (hit) hits.push_back(p.describe() + " (" + p.why + ")");
    }
    if (hits.empty()) return std::nullopt;
    std::string msg = "refused: the fault would cut ";
    for (size_t i = 0; i < hits.size(); ++i) msg += (i ? "; " : "") + hits[i];
    return msg + ". Name what the fault may cut more narrowly, or leave this machine's own path alone";
}

}  // namespace inj::safety
