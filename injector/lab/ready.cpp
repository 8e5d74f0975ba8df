// TCP and exec readiness checks (see ready.hpp).
#include "lab/ready.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "common/netaddr.hpp"
#include "common/proc.hpp"

namespace inj::lab::ready {
namespace {

constexpr auto kRetry = std::chrono::milliseconds(100);
constexpr auto kMaxAttempt = std::chrono::milliseconds(2000);

std::chrono::milliseconds left(Deadline d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d - std::chrono::steady_clock::now());
}

}  // namespace

Result<std::pair<std::string, int>> split_host_port(const std::string& target) {
    std::string host, port;
    if (!target.empty() && target[0] == '[') {
        auto close = target.find(']');
        if (close == std::string::npos || close + 1 >= target.size() || target[close + 1] != ':')
            return plain_error("parse tcp target", "expected [addr]:port, got '" + target + "'");
        host = target.substr(1, close - 1);
        port = target.substr(close + 2);
    } else {
        auto colon = target.rfind(':');
        if (colon == std::string::npos) return plain_error("parse tcp target", "expected addr:port, got '" + target + "'");
        host = target.substr(0, colon);
        port = target.substr(colon + 1);
    }
    int p = 0;
    for (char c : port) {
        if (c < '0' || c > '9' || p > 65535) return plain_error("parse tcp target", "bad port in '" + target + "'");
        p = p * 10 + (c - '0');
    }
    if (port.empty() || p == 0 || p > 65535) return plain_error("parse tcp target", "bad port in '" + target + "'");
    if (!IpAddr::parse(host)) return plain_error("parse tcp target", "not an IP address: '" + host + "'");
    return std::make_pair(host, p);
}

Result<void> try_connect(const std::string& addr, int port, std::chrono::milliseconds timeout) {
    auto ip = IpAddr::parse(addr);
    if (!ip) return plain_error("connect", "not an IP address: " + addr);
    sockaddr_storage ss{};
    socklen_t len;
    if (ip->v6) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(static_cast<uint16_t>(port));
        std::copy(ip->bytes.begin(), ip->bytes.end(), s6->sin6_addr.s6_addr);
        len = sizeof *s6;
    } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(static_cast<uint16_t>(port));
        s4->sin_addr.s_addr = ip->v4_be();
        len = sizeof *s4;
    }
    std::string what = addr + ":" + std::to_string(port);
    int fd = ::socket(ip->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno_error("socket", what);
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
    ::close(fd);
    return result;
}

Result<void> wait_tcp(const std::string& target, Deadline deadline) {
    auto hp = split_host_port(target);
    if (!hp) return hp.error();
    while (true) {
        auto budget = std::min(left(deadline), std::chrono::milliseconds(kMaxAttempt));
        auto r = try_connect(hp->first, hp->second, std::max(budget, std::chrono::milliseconds(1)));
        if (r) return {};
        if (left(deadline) <= kRetry) return r;
        std::this_thread::sleep_for(kRetry);
    }
}

Result<void> wait_exec(const std::string& command, const std::string& netns_path, Deadline deadline) {
    while (true) {
        auto budget = std::max(left(deadline), std::chrono::milliseconds(1));
        auto r = run_shell(command, budget, netns_path);
        if (!r) return r.error();  // could not even start it: retrying will not help
        if (r->exit_code == 0) return {};
        if (left(deadline) <= kRetry) {
            std::string out = r->output;
            while (!out.empty() && out.back() == '\n') out.pop_back();
            if (out.size() > 500) out = "..." + out.substr(out.size() - 500);
            std::string why = r->timed_out ? "timed out" : "exit " + std::to_string(r->exit_code);
            return plain_error("`" + command + "`", why + (out.empty() ? "" : ": " + out));
        }
        std::this_thread::sleep_for(kRetry);
    }
}

}  // namespace inj::lab::ready
