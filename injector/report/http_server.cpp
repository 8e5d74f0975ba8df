// The loopback HTTP responder (see http_server.hpp).
#include "report/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>
#include <vector>

namespace inj::report {

std::string prom_label(const std::string& v) {
    std::string o;
    for (char c : v) {
        if (c == '\\')
            o += "\\\\";
        else if (c == '"')
            o += "\\\"";
        else if (c == '\n')
            o += "\\n";
        else
            o += c;
    }
    return o;
}

std::string prom_num(double v) {
    std::ostringstream os;
    os.precision(10);
    os << v;
    return os.str();
}

std::string prom_family(const char* name, const char* type, const char* help) {
    return std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

std::optional<LoopbackHttp::Address> LoopbackHttp::parse_address(const std::string& text, std::string* why) {
    auto fail = [&](const std::string& w) -> std::optional<Address> {
        if (why) *why = w;
        return std::nullopt;
    };
    Address a;
    std::string host, port;
    if (!text.empty() && text[0] == '[') {
        auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return fail("expected [ADDRESS]:PORT, got \"" + text + "\"");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos)
            return fail("expected ADDRESS:PORT (e.g. 127.0.0.1:9464), got \"" + text + "\"");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) > 65535)
        return fail("port must be a number 0..65535, got \"" + port + "\"");
    a.port = static_cast<uint16_t>(std::stoul(port));
    if (host == "localhost") host = "127.0.0.1";
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        if ((ntohl(v4.s_addr) >> 24) != 127)
            return fail(host + " is not a loopback address: metrics are served on 127.0.0.0/8 or [::1] only");
    } else if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&v6))
            return fail(host + " is not a loopback address: metrics are served on 127.0.0.0/8 or [::1] only");
        a.v6 = true;
    } else {
        return fail("\"" + host + "\" is not a numeric loopback address (127.0.0.1, ::1 or localhost)");
    }
    a.host = host;
    return a;
}

Result<std::unique_ptr<LoopbackHttp>> LoopbackHttp::start(const Address& a, std::function<std::string()> render) {
    std::unique_ptr<LoopbackHttp> m(new LoopbackHttp());
    m->addr_ = a;
    m->render_ = std::move(render);
    int fd = socket(a.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return errno_error("socket", "metrics");
    m->listen_fd_ = fd;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len;
    if (a.v6) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a.port);
        inet_pton(AF_INET6, a.host.c_str(), &s6->sin6_addr);
        len = sizeof *s6;
    } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a.port);
        inet_pton(AF_INET, a.host.c_str(), &s4->sin_addr);
        len = sizeof *s4;
    }
    std::string where = (a.v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return errno_error("bind", where);
    if (listen(fd, 16) != 0) return errno_error("listen", where);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
        m->port_ = ntohs(a.v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                              : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    m->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->stop_fd_ < 0) return errno_error("eventfd", "metrics");
    auto* raw = m.get();
    m->thread_ = std::thread([raw] { raw->serve(); });
    return m;
}

LoopbackHttp::~LoopbackHttp() {
    if (stop_fd_ >= 0) {
        uint64_t one = 1;
        (void)!write(stop_fd_, &one, sizeof one);
    }
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
    if (stop_fd_ >= 0) close(stop_fd_);
}

std::string LoopbackHttp::url() const {
    return "http" + std::string("://") + (addr_.v6 ? "[" + addr_.host + "]" : addr_.host) + ":" +
           std::to_string(port_) + "/metrics";
}

// One thread serves every connection from one poll loop, so a slow client (slowloris) delays
// nobody: at most kMaxConns connections at once (a new one closes the oldest), each with
// kMaxRequest bytes of request head and kRequestMs for the whole exchange; sends never block and
// never raise SIGPIPE (a client that resets its connection only loses its answer).
void LoopbackHttp::serve() {
    struct Conn {
        int fd;
        std::chrono::steady_clock::time_point deadline;
        std::string in, out;
        size_t sent = 0;
    };
    std::vector<Conn> conns;
    auto drop = [&](size_t i) {
        close(conns[i].fd);
        conns.erase(conns.begin() + static_cast<long>(i));
    };
    while (true) {
        std::vector<pollfd> p = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        auto now = std::chrono::steady_clock::now();
        int timeout = -1;
        for (auto& c : conns) {
            p.push_back({c.fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - now).count() + 1;
            timeout = timeout < 0 ? static_cast<int>(std::max<long long>(left, 0))
                                  : std::min(timeout, static_cast<int>(std::max<long long>(left, 0)));
        }
        if (poll(p.data(), p.size(), timeout) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[1].revents) break;
        now = std::chrono::steady_clock::now();
        // Walk backwards: drop() shifts the connections after i.
        for (size_t i = conns.size(); i-- > 0;) {
            auto& c = conns[i];
            short ev = p[i + 2].revents;
            if (ev && c.out.empty()) {
                char buf[1024];
                ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n > 0) c.in.append(buf, static_cast<size_t>(n));
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                    drop(i);
                    continue;
                }
                if (c.in.find("\r\n\r\n") != std::string::npos || c.in.size() >= kMaxRequest) c.out = answer(c.in);
            } else if (ev && !c.out.empty()) {
                ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0) c.sent += static_cast<size_t>(n);
                if ((n < 0 && errno != EAGAIN && errno != EINTR) || c.sent == c.out.size()) {
                    drop(i);
                    continue;
                }
            }
            if (now >= c.deadline) drop(i);
        }
        if (p[0].revents & POLLIN) {
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            // Full: the oldest connection makes room, so idle holders cannot lock scrapes out.
            if (fd >= 0 && conns.size() >= kMaxConns) drop(0);
            if (fd >= 0) conns.push_back({fd, now + std::chrono::milliseconds(kRequestMs), {}, {}, 0});
        }
    }
    for (auto& c : conns) close(c.fd);
}

// The answer to one request head (complete, or cut at kMaxRequest bytes).
std::string LoopbackHttp::answer(const std::string& req) {
    std::string status = "200 OK", body;
    if (req.find("\r\n\r\n") == std::string::npos) {
        status = "431 Request Header Fields Too Large";
        body = "the request head is limited to " + std::to_string(kMaxRequest) + " bytes\n";
    } else {
        std::string path;
        if (req.rfind("GET ", 0) == 0) path = req.substr(4, req.find(' ', 4) - 4);
        if (path == "/metrics" || path == "/") {
            body = render_();
        } else {
            status = req.rfind("GET ", 0) == 0 ? "404 Not Found" : "405 Method Not Allowed";
            body = "only GET /metrics is served here\n";
        }
    }
    return "HTTP/1.1 " + status + "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n" +
           "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace inj::report
