// IPv4/IPv6 addresses and prefixes as the plan, the lab and the BPF maps see them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// lab_range_v4/v6 lived here; code that still finds them through this header keeps building.
#include "common/ranges.hpp"

namespace inj {

struct IpAddr {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses bytes[0..3]

    static std::optional<IpAddr> parse(std::string_view text);
    std::string str() const;
    int bits() const { return v6 ? 128 : 32; }
    uint32_t v4_be() const;  // IPv4 address in network byte order, as the kernel stores it
    bool operator==(const IpAddr&) const = default;
    auto operator<=>(const IpAddr&) const = default;
};

struct Cidr {
    IpAddr addr;
    int prefix = 0;

    // Accepts "198.18.0.5/24", "2001:2::1/64" and bare addresses (host prefix).
    static std::optional<Cidr> parse(std::string_view text, std::string* why = nullptr);
    std::string str() const;
    Cidr network() const;  // host bits cleared
    bool contains(const IpAddr& a) const;
    bool contains(const Cidr& c) const;  // c lies entirely inside this prefix
    bool overlaps(const Cidr& c) const;
    IpAddr nth(uint64_t n) const;  // network address + n
    bool operator==(const Cidr&) const = default;
    auto operator<=>(const Cidr&) const = default;
};

}  // namespace inj
