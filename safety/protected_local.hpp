// What a drill on real targets must never cut on this machine unless the plan says otherwise:
// the interface and gateway of the default route (the way every operator reaches the machine),
// the ports of any listening sshd, and whatever the plan's `protected:` list adds. Parsers of
// /proc are pure (tests feed captured files); local_protected() reads this machine; refusal()
// says, for the interfaces, ports and peers a fault would cut, what protected thing it hits.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/netaddr.hpp"
#include "common/result.hpp"

namespace inj::safety {

// A default route: its interface and gateway (no gateway on a point-to-point default).
struct DefaultRoute {
    std::string interface;
    std::optional<IpAddr> gateway;
};
// The default routes of /proc/net/route (IPv4) and /proc/net/ipv6_route that are up and not a
// reject route (the kernel keeps an unreachable IPv6 default on lo).
std::vector<DefaultRoute> parse_default_routes_v4(std::string_view proc_net_route);
std::vector<DefaultRoute> parse_default_routes_v6(std::string_view proc_net_ipv6_route);

// A listening TCP socket of /proc/net/tcp or tcp6.
struct Listener {
    IpAddr address;  // all zeros: every address
    uint16_t port = 0;
    uint64_t inode = 0;
};
std::vector<Listener> parse_tcp_listeners(std::string_view proc_net_tcp, bool v6);

// One protected thing: an interface, a port (with the address it listens on, if known), or an
// address (a gateway). `why` is said in a refusal.
struct Protected {
    enum class Kind { interface, port, address };
    Kind kind = Kind::interface;
    std::string interface;          // kind interface
    uint16_t port = 0;              // kind port
    std::optional<IpAddr> address;  // kind address; for a port: the listening address
    std::string why;
    std::string describe() const;  // "interface eth0", "port 22", "address 192.0.2.1"
};
using ProtectedList = std::vector<Protected>;

// A plan's `protected:` entry: `interface: NAME` or `port: N`. The error says what is wrong with
// the value (the loader adds file:line:col and the field path).
Result<Protected> parse_protected_entry(const std::string& key, const std::string& value);

// The default routes' interfaces and gateways, and the ports sshd listens on (processes whose
// comm is sshd, their socket inodes matched to /proc/net/tcp{,6}).
ProtectedList protected_from(const std::vector<DefaultRoute>& routes, const std::vector<Listener>& sshd_listeners);
// protected_from() of this machine, read now (in the namespace of the calling thread for
// routes and sockets).
ProtectedList local_protected();
// The listeners among `all` whose socket inode is in `inodes`.
std::vector<Listener> listeners_with_inodes(const std::vector<Listener>& all, const std::set<uint64_t>& inodes);
// Socket inodes held by processes whose /proc/PID/comm is `comm`.
std::set<uint64_t> socket_inodes_of(const std::string& comm);

// What a fault would cut on this machine: the packets through `interfaces`, only those to and from
// `ports` when ports is not empty, only those exchanged with `peers` when peers is not empty.
// `addresses` are the addresses of the cut interfaces (a listener bound to one of them is cut with
// them; one bound to every address is cut by any interface). A cut narrowed to peers hits a
// protected interface or port only through a protected address among the peers (a gateway): the
// operator's own path is what must stay.
struct Cut {
    std::vector<std::string> interfaces;
    std::vector<uint16_t> ports;  // empty: every port
    std::vector<IpAddr> addresses;
    std::vector<Cidr> peers;
};
// The refusal naming every protected thing the cut would hit, or nothing when it hits none.
std::optional<std::string> refusal(const ProtectedList& protect, const Cut& cut);

}  // namespace inj::safety
