// Non-blocking connect with poll(2).
#include "common/tcp.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "common/fd.hpp"

namespace inj {

Result<void> tcp_connect(const IpAddr& ip, int port, std::chrono::milliseconds timeout) {
    sockaddr_storage ss{};
    socklen_t len;
    if (ip.v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<uint16_t>(port));
        std::memcpy(&a->sin6_addr, ip.bytes.data(), 16);
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<uint16_t>(port));
        a->sin_addr.s_addr = ip.v4_be();
        len = sizeof *a;
    }
    const std::string what = (ip.v6 ? "[" + ip.str() + "]" : ip.str()) + ":" + std::to_string(port);
    Fd sock(::socket(ip.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!sock) return errno_error("socket", what);
    const int fd = sock.get();
    Result<void> result;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        if (errno != EINPROGRESS) {
            result = errno_error("connect", what);
        } else {
            pollfd p{fd, POLLOUT, 0};
            int pr;
            do pr = ::poll(&p, 1, static_cast<int>(std::max<long long>(timeout.count(), 0)));
            while (pr < 0 && errno == EINTR);
            if (pr == 0) {
                result = Error{ETIMEDOUT, "connect", what};
            } else if (pr < 0) {
                result = errno_error("poll", what);
            } else {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr != 0) result = Error{soerr, "connect", what};
            }
        }
    }
    return result;
}

Result<std::pair<IpAddr, int>> parse_host_port(std::string_view t) {
    std::string_view host, port;
    if (!t.empty() && t.front() == '[') {
        auto rb = t.find(']');
        if (rb == std::string_view::npos || rb + 1 >= t.size() || t[rb + 1] != ':')
            return plain_error("parse address", "bad [address]:port '" + std::string(t) + "'");
        host = t.substr(1, rb - 1);
        port = t.substr(rb + 2);
    } else {
        auto c = t.rfind(':');
        if (c == std::string_view::npos)
            return plain_error("parse address", "missing :port in '" + std::string(t) + "'");
        host = t.substr(0, c);
        port = t.substr(c + 1);
    }
    int p = 0;
    for (char ch : port) {
        if (ch < '0' || ch > '9' || p > 65535)
            return plain_error("parse address", "bad port in '" + std::string(t) + "'");
        p = p * 10 + (ch - '0');
    }
    if (port.empty() || p == 0 || p > 65535)
        return plain_error("parse address", "bad port in '" + std::string(t) + "'");
    auto ip = IpAddr::parse(host);
    if (!ip) return plain_error("parse address", "not an IP address: '" + std::string(host) + "'");
    return std::make_pair(*ip, p);
}

}  // namespace inj
