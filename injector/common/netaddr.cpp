// Address parsing through inet_pton, prefix arithmetic on byte arrays (same code for v4 and v6).
#include "common/netaddr.hpp"

#include <arpa/inet.h>
#include <cstring>

namespace inj {

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
    std::string s(text);
    IpAddr a;
    if (s.find(':') != std::string::npos) {
        a.v6 = true;
        if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    } else {
        if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    }
    return a;
}

std::string IpAddr::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
    return buf;
}

uint32_t IpAddr::v4_be() const {
    uint32_t v;
    std::memcpy(&v, bytes.data(), 4);
    return v;
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string* why) {
    auto slash = text.find('/');
    auto addr = IpAddr::parse(text.substr(0, slash));
    if (!addr) {
        if (why) *why = "not an IPv4 or IPv6 address";
        return std::nullopt;
    }
    Cidr c{*addr, addr->bits()};
    if (slash != std::string_view::npos) {
        auto p = text.substr(slash + 1);
        if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string_view::npos) {
            if (why) *why = "bad prefix length";
            return std::nullopt;
        }
        c.prefix = std::stoi(std::string(p));
        if (c.prefix > addr->bits()) {
            if (why) *why = "prefix length longer than the address";
            return std::nullopt;
        }
    }
    return c;
}

std::string Cidr::str() const { return addr.str() + "/" + std::to_string(prefix); }

Cidr Cidr::network() const {
    Cidr n = *this;
    for (int i = 0; i < 16; ++i) {
        int keep = prefix - i * 8;
        uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - keep));
        n.addr.bytes[i] &= mask;
    }
    return n;
}

bool Cidr::contains(const IpAddr& a) const {
    if (a.v6 != addr.v6) return false;
    Cidr probe{a, prefix};
    return probe.network().addr == network().addr;
}

bool Cidr::contains(const Cidr& c) const { return c.prefix >= prefix && contains(c.addr); }

bool Cidr::overlaps(const Cidr& c) const { return contains(c) || c.contains(*this); }

IpAddr Cidr::nth(uint64_t n) const {
    IpAddr a = network().addr;
    int last = addr.v6 ? 15 : 3;
    for (int i = last; i >= 0 && n; --i) {
        uint64_t sum = a.bytes[i] + (n & 0xff);
        a.bytes[i] = static_cast<uint8_t>(sum);
        n = (n >> 8) + (sum >> 8);
    }
    return a;
}

}  // namespace inj
